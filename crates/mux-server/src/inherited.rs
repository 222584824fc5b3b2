//! Sockets handed over by systemd (socket activation, `LISTEN_FDS`), used instead of binding.

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;

/// Why the inherited descriptors cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum InheritError {
    /// `LISTEN_FDS` is malformed.
    #[error("LISTEN_FDS: {0}")]
    Env(std::io::Error),
    /// A descriptor is not a listening UNIX stream socket.
    #[error("inherited fd {0} is not a UNIX stream socket")]
    NotUnixStream(i32),
    /// Setting the descriptor up failed.
    #[error("inherited fd {0}: {1}")]
    Setup(i32, std::io::Error),
}

/// The listeners systemd passed to this process, or an empty list when it passed none.
pub fn listeners() -> Result<Vec<UnixListener>, InheritError> {
    // sd_listen_fds checks LISTEN_PID, so descriptors meant for a parent are not taken.
    let fds = sd_notify::listen_fds().map_err(InheritError::Env)?;
    fds.map(|fd| {
        // SAFETY: systemd hands these descriptors to this process (LISTEN_PID matched) and nothing
        // else in the process owns them.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let is_unix_stream = nix::sys::socket::getsockname::<nix::sys::socket::UnixAddr>(fd).is_ok()
            && nix::sys::socket::getsockopt(&owned, nix::sys::socket::sockopt::SockType)
                .is_ok_and(|t| t == nix::sys::socket::SockType::Stream);
        if !is_unix_stream {
            return Err(InheritError::NotUnixStream(fd));
        }
        let listener = UnixListener::from(owned);
        listener.set_nonblocking(true).map_err(|e| InheritError::Setup(fd, e))?;
        Ok(listener)
    })
    .collect()
}

/// Tell systemd (when it asked, via `NOTIFY_SOCKET`) that the daemon is serving or stopping.
pub fn notify(state: sd_notify::NotifyState<'_>) {
    if let Err(e) = sd_notify::notify(&[state]) {
        tracing::warn!("sd_notify: {e}");
    }
}
