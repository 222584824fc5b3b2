//! The run directory: the pid lock that keeps one daemon per directory, the `mux` socket, and
//! their removal at exit (reference §2.2).
//!
//! Unlike Cyrus, the pid lock is taken before anything in the directory is touched, so a second
//! instance leaves the first one's files alone, and the socket is bound before the daemon reports
//! that it started.
//!
//! The daemon starts as root, so the directory must not be anyone else's to arrange: a
//! `saslauthd.pid` symlink planted by another user would have the root daemon truncate its
//! target (issue 15 §4). The directory is refused unless it belongs to root or the daemon's own
//! user and has no group or other write bit (Debian's `root:sasl 0710` and Postfix's chroot copy
//! of it pass); the pid file is opened with `O_NOFOLLOW` and must be a regular file; and every
//! later operation (chown, chmod, unlink) goes through the directory's descriptor without
//! following a symlink.

use nix::fcntl::{AtFlags, Flock, FlockArg, OFlag, openat};
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, fchmodat, fstat};
use nix::unistd::{Uid, UnlinkatFlags, fchownat, unlinkat};
use std::fs::File;
use std::io::{Seek, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
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
    /// The directory exists but cannot be opened or examined.
    #[error("can not open run directory {0}: {1}")]
    Open(PathBuf, std::io::Error),
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
    /// The directory could be arranged by someone other than root or the daemon's user.
    #[error(
        "run directory {0} is {1}: another user could plant a symlink or file there for the daemon \
         (running as root) to follow; make it root's, without group or other write permission \
         (Debian: root:sasl 0710)"
    )]
    Unsafe(PathBuf, String),
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
    /// The directory itself: everything inside is reached through it, never by path.
    fd: OwnedFd,
    pid_file: Flock<File>,
}

impl RunDir {
    /// Make the directory if needed (mode 0755, last component only, as Cyrus) and take the lock.
    pub fn lock(dir: &Path) -> Result<Self, RunDirError> {
        if !dir.is_absolute() {
            return Err(RunDirError::NotAbsolute(dir.to_owned()));
        }
        let created = !dir.is_dir();
        if created {
            std::fs::DirBuilder::new()
                .mode(0o755)
                .create(dir)
                .map_err(|e| RunDirError::Mkdir(dir.to_owned(), e))?;
        }
        // The directory may itself be a symlink (`/var/run/saslauthd` → Postfix's chroot copy is a
        // common set-up): it is followed, and what it leads to is checked.
        let fd =
            nix::fcntl::open(dir, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
                .map_err(|e| RunDirError::Open(dir.to_owned(), e.into()))?;
        if created {
            // Explicit chmod: the daemon's umask (077) would otherwise narrow Cyrus's 0755.
            nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(0o755))
                .map_err(|e| RunDirError::Mkdir(dir.to_owned(), e.into()))?;
        }
        check_ownership(dir, &fd)?;
        let pid_path = dir.join(PID_NAME);
        let pid_err = |e: nix::errno::Errno| {
            let e = if e == nix::errno::Errno::ELOOP {
                std::io::Error::other("it is a symbolic link, which is never followed; remove it")
            } else {
                e.into()
            };
            RunDirError::PidFile(pid_path.clone(), e)
        };
        // O_NOFOLLOW: a symlink is refused (ELOOP), never followed; O_NONBLOCK: a planted FIFO
        // cannot hang the open. No O_TRUNC: the running instance's pid must survive our attempt.
        let flags = OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
        let file =
            File::from(openat(&fd, PID_NAME, flags, Mode::from_bits_truncate(0o644)).map_err(pid_err)?);
        let kind = fstat(&file).map_err(pid_err)?.st_mode & SFlag::S_IFMT.bits();
        if kind != SFlag::S_IFREG.bits() {
            return Err(RunDirError::Unsafe(
                dir.to_owned(),
                format!("holding a {PID_NAME} that is not a regular file"),
            ));
        }
        // flock, not fcntl: the lock belongs to the open file, so it survives the daemonizing fork.
        let pid_file = Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
            if errno == nix::errno::Errno::EWOULDBLOCK {
                RunDirError::AlreadyRunning(pid_path.clone())
            } else {
                RunDirError::PidFile(pid_path.clone(), errno.into())
            }
        })?;
        Ok(Self { dir: dir.to_owned(), fd, pid_file })
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
        match unlinkat(&self.fd, SOCKET_NAME, UnlinkatFlags::NoRemoveDir) {
            Err(e) if e != nix::errno::Errno::ENOENT => return Err(socket_err(e.into())),
            _ => {}
        }
        // The process umask (077) keeps the socket private until the chmod below.
        let listener = UnixListener::bind(&path).map_err(socket_err)?;
        if let Some(name) = group {
            let group = nix::unistd::Group::from_name(name)
                .ok()
                .flatten()
                .ok_or_else(|| RunDirError::UnknownGroup(name.to_owned()))?;
            fchownat(&self.fd, SOCKET_NAME, None, Some(group.gid), AtFlags::AT_SYMLINK_NOFOLLOW)
                .map_err(|e| socket_err(e.into()))?;
        }
        fchmodat(&self.fd, SOCKET_NAME, Mode::from_bits_truncate(mode), FchmodatFlags::NoFollowSymlink)
            .map_err(|e| socket_err(e.into()))?;
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
            if let Err(e) = unlinkat(&self.fd, name, UnlinkatFlags::NoRemoveDir) {
                tracing::warn!("could not remove {}: {e}", self.dir.join(name).display());
            }
        }
    }
}

/// Refuse a directory that a user other than root or this process's could write to: owned by
/// another uid, or with a group or other write bit (sticky or not: others could still create
/// names in it before we do).
fn check_ownership(dir: &Path, fd: &OwnedFd) -> Result<(), RunDirError> {
    let stat = fstat(fd).map_err(|e| RunDirError::Open(dir.to_owned(), e.into()))?;
    match unsafe_because(stat.st_uid, stat.st_mode) {
        Some(fault) => Err(RunDirError::Unsafe(dir.to_owned(), fault)),
        None => Ok(()),
    }
}

/// Why a run directory with this owner uid and `st_mode` would be refused (the words that follow
/// "run directory … is"), or `None` when it is safe; `--check` reports the same verdict.
pub fn unsafe_because(owner: u32, st_mode: u32) -> Option<String> {
    let owner = Uid::from_raw(owner);
    if !owner.is_root() && owner != Uid::effective() {
        return Some(format!("owned by uid {owner}, not root"));
    }
    let mode = st_mode & 0o7777;
    if mode & 0o022 != 0 {
        let who = if mode & 0o002 != 0 { "others" } else { "its group" };
        return Some(format!("writable by {who} (mode {mode:04o})"));
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_planted_pid_symlink_is_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        std::fs::create_dir(&dir).unwrap();
        let target = tmp.path().join("precious");
        std::fs::write(&target, "keep me\n").unwrap();
        std::os::unix::fs::symlink(&target, dir.join(PID_NAME)).unwrap();
        let err = RunDir::lock(&dir).err().unwrap();
        assert!(
            matches!(&err, RunDirError::PidFile(..)) && err.to_string().contains("symbolic link"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
        // A FIFO cannot hang the start either.
        std::fs::remove_file(dir.join(PID_NAME)).unwrap();
        nix::unistd::mkfifo(&dir.join(PID_NAME), Mode::from_bits_truncate(0o600)).unwrap();
        assert!(matches!(RunDir::lock(&dir), Err(RunDirError::Unsafe(..))));
    }

    #[test]
    fn directories_others_can_write_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        std::fs::create_dir(&dir).unwrap();
        for (mode, refused) in [(0o777, true), (0o1777, true), (0o770, true), (0o710, false), (0o755, false)]
        {
            chmod(&dir, mode);
            let got = RunDir::lock(&dir);
            assert_eq!(matches!(got, Err(RunDirError::Unsafe(..))), refused, "mode {mode:o}");
            if let Err(e) = got {
                assert!(e.to_string().contains("writable by"), "{e}");
                assert_eq!(e.exit_code(), 1);
            }
        }
        // Owned by another user (when the test can arrange it: it runs as root in CI).
        if Uid::effective().is_root() {
            chmod(&dir, 0o755);
            nix::unistd::chown(&dir, Some(Uid::from_raw(65534)), None).unwrap();
            let err = RunDir::lock(&dir).err().unwrap();
            assert!(err.to_string().contains("owned by uid 65534"), "{err}");
        }
    }

    #[test]
    fn a_symlinked_directory_is_followed_and_its_target_checked() {
        // `/var/run/saslauthd` → `/var/spool/postfix/var/run/saslauthd` is a common set-up.
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("chroot-run");
        std::fs::create_dir(&real).unwrap();
        chmod(&real, 0o710);
        let link = tmp.path().join("run");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let run = RunDir::lock(&link).unwrap();
        let _listener = run.bind(0o777, None).unwrap();
        assert!(real.join(SOCKET_NAME).exists());
        run.remove();
        assert!(!real.join(SOCKET_NAME).exists() && !real.join(PID_NAME).exists());
    }

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
