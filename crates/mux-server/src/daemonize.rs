//! Detaching from the terminal, with the parent waiting until the daemon is really ready.
//!
//! Cyrus's parent exits before the socket is bound (reference §2.3), so a client started right
//! after `saslauthd` returns can find no socket. Here the parent waits on a pipe until the child
//! says it is serving, and exits with the child's status: `Type=forking` units and init scripts
//! can rely on it. This runs before the tokio runtime exists (forking a multi-threaded process
//! is unsound).

use nix::unistd::{ForkResult, dup2_stderr, dup2_stdin, dup2_stdout, fork, pipe, setsid};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;

/// The child's end of the start-up pipe.
pub struct Readiness(File);

impl Readiness {
    /// Tell the waiting parent that start-up succeeded; it then exits 0.
    pub fn ready(mut self) {
        // If the parent is gone there is no one to tell; nothing else to do.
        let _ = self.0.write_all(&[0]);
    }
}

/// Fork. In the parent, wait for the child's word and return the exit status to leave with;
/// in the child, start a new session, point stdio at /dev/null and return its [`Readiness`].
pub fn detach() -> Result<Result<Readiness, u8>, std::io::Error> {
    let (read_end, write_end): (OwnedFd, OwnedFd) = pipe()?;
    // SAFETY: called from daemon::start before any thread (tokio's or a verifier's) has been started.
    match unsafe { fork() }? {
        ForkResult::Parent { .. } => {
            drop(write_end);
            let mut status = [1u8];
            // EOF without a byte means the child died during start-up: report failure.
            let got = File::from(read_end).read(&mut status).unwrap_or(0);
            Ok(Err(if got == 1 { status[0] } else { 1 }))
        }
        ForkResult::Child => {
            drop(read_end);
            setsid()?;
            std::env::set_current_dir("/")?;
            let null = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null")?;
            dup2_stdin(&null)?;
            dup2_stdout(&null)?;
            dup2_stderr(&null)?;
            Ok(Ok(Readiness(File::from(write_end))))
        }
    }
}
