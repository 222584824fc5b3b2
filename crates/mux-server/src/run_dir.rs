//! The run directory: the pid lock that keeps one daemon per directory, the `mux` socket, and
//! their removal at exit (reference §2.2).
//!
//! Unlike Cyrus, the pid lock is taken before anything in the directory is touched, so a second
//! instance leaves the first one's files alone, and the socket is bound before the daemon reports
//! that it started.

use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::io::{Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

/// The socket's file name inside the run directory (Cyrus `SOCKET_FILE`).
pub const SOCKET_NAME: &str = "mux";
/// The pid file's name inside the run directory (Cyrus `PID_FILE`).
pub const PID_NAME: &str = "saslauthd.pid";
/// `sun_path` holds 108 bytes including the NUL; Cyrus silently truncates longer paths.
const MAX_SOCKET_PATH: usize = 107;

/// Why the run directory could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    /// Cyrus: `-m requires an absolute pathname`.
    #[error("-m requires an absolute pathname: {0}")]
    NotAbsolute(PathBuf),
    /// The directory is missing and could not be made.
    #[error("can not mkdir {0}: {1}")]
    Mkdir(PathBuf, std::io::Error),
    /// Another daemon holds the pid lock.
    #[error("Another instance of saslauthd is currently running (pid file {0} is locked)")]
    AlreadyRunning(PathBuf),
    /// The pid file could not be opened or written.
    #[error("pid file {0}: {1}")]
    PidFile(PathBuf, std::io::Error),
    /// `<dir>/mux` does not fit in `sun_path`.
    #[error("socket path {0} is longer than {MAX_SOCKET_PATH} bytes")]
    SocketPathTooLong(PathBuf),
    /// Binding or setting up the socket failed.
    #[error("socket {0}: {1}")]
    Socket(PathBuf, std::io::Error),
    /// `--socket-group` names no group.
    #[error("unknown group {0:?}")]
    UnknownGroup(String),
}

impl RunDirError {
    /// The exit status Cyrus uses for this failure (2 for "already running").
    pub fn exit_code(&self) -> u8 {
        if matches!(self, RunDirError::AlreadyRunning(_)) { 2 } else { 1 }
    }
}

/// A run directory whose pid lock this process holds.
pub struct RunDir {
    dir: PathBuf,
    pid_file: Flock<File>,
}

impl RunDir {
    /// Make the directory if needed (mode 0755, last component only, as Cyrus) and take the lock.
    pub fn lock(dir: &Path) -> Result<Self, RunDirError> {
        if !dir.is_absolute() {
            return Err(RunDirError::NotAbsolute(dir.to_owned()));
        }
        if !dir.is_dir() {
            // Explicit chmod: the daemon's umask (077) would otherwise narrow Cyrus's 0755.
            std::fs::DirBuilder::new()
                .mode(0o755)
                .create(dir)
                .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)))
                .map_err(|e| RunDirError::Mkdir(dir.to_owned(), e))?;
        }
        let pid_path = dir.join(PID_NAME);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false) // the running instance's pid must survive our attempt
            .mode(0o644)
            .open(&pid_path)
            .map_err(|e| RunDirError::PidFile(pid_path.clone(), e))?;
        // flock, not fcntl: the lock belongs to the open file, so it survives the daemonizing fork.
        let pid_file = Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
            if errno == nix::errno::Errno::EWOULDBLOCK {
                RunDirError::AlreadyRunning(pid_path.clone())
            } else {
                RunDirError::PidFile(pid_path.clone(), errno.into())
            }
        })?;
        Ok(Self { dir: dir.to_owned(), pid_file })
    }

    /// The socket path, `<dir>/mux`.
    pub fn socket_path(&self) -> PathBuf {
        self.dir.join(SOCKET_NAME)
    }

    /// Replace any stale socket with a new one of the given mode and group.
    pub fn bind(&self, mode: u32, group: Option<&str>) -> Result<UnixListener, RunDirError> {
        let path = self.socket_path();
        if path.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(RunDirError::SocketPathTooLong(path));
        }
        let socket_err = |e: std::io::Error| RunDirError::Socket(path.clone(), e);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(socket_err(e)),
            _ => {}
        }
        // The process umask (077) keeps the socket private until the chmod below.
        let listener = UnixListener::bind(&path).map_err(socket_err)?;
        if let Some(name) = group {
            let group = nix::unistd::Group::from_name(name)
                .ok()
                .flatten()
                .ok_or_else(|| RunDirError::UnknownGroup(name.to_owned()))?;
            nix::unistd::chown(&path, None, Some(group.gid)).map_err(|e| socket_err(e.into()))?;
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(socket_err)?;
        listener.set_nonblocking(true).map_err(socket_err)?;
        Ok(listener)
    }

    /// Write this process's pid (`"%lu\n"`, as Cyrus) into the locked pid file.
    pub fn write_pid(&mut self) -> Result<(), RunDirError> {
        let path = self.dir.join(PID_NAME);
        let file: &mut File = &mut self.pid_file;
        let written = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .and_then(|()| file.sync_data());
        written.map_err(|e| RunDirError::PidFile(path, e))
    }

    /// Remove the socket and the pid file; the lock goes with the file.
    pub fn remove(self) {
        for name in [SOCKET_NAME, PID_NAME] {
            let path = self.dir.join(name);
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!("could not remove {}: {e}", path.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn a_second_lock_fails_and_leaves_the_first_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        let mut first = RunDir::lock(&dir).unwrap();
        let _listener = first.bind(0o777, None).unwrap();
        first.write_pid().unwrap();
        let pid = std::fs::read_to_string(dir.join(PID_NAME)).unwrap();
        assert_eq!(pid, format!("{}\n", std::process::id()));
        let second = RunDir::lock(&dir);
        assert!(matches!(second, Err(RunDirError::AlreadyRunning(_))));
        assert_eq!(second.err().map(|e| e.exit_code()), Some(2));
        assert_eq!(std::fs::read_to_string(dir.join(PID_NAME)).unwrap(), pid, "pid file untouched");
        let meta = std::fs::metadata(dir.join(SOCKET_NAME)).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o777);
        first.remove();
        assert!(!dir.join(SOCKET_NAME).exists() && !dir.join(PID_NAME).exists());
    }

    #[test]
    fn relative_and_overlong_paths_are_refused() {
        assert!(matches!(RunDir::lock(Path::new("run")), Err(RunDirError::NotAbsolute(_))));
        let tmp = tempfile::tempdir().unwrap();
        let long = tmp.path().join("d".repeat(120));
        let run = RunDir::lock(&long).unwrap();
        assert!(matches!(run.bind(0o777, None), Err(RunDirError::SocketPathTooLong(_))));
        let missing_parent = tmp.path().join("a/b");
        assert!(matches!(RunDir::lock(&missing_parent), Err(RunDirError::Mkdir(..))));
    }
}
