//! One request on one fresh connection, the way libsasl2 and Cyrus testsaslauthd do it:
//! connect, one write of the whole request, read the counted reply, close.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::reply::Reply;

/// Cyrus testsaslauthd reads at most `sizeof(response)` = 1024 bytes of a reply (testsaslauthd.c).
pub const MAX_REPLY_READ: usize = 1024;

/// `sizeof(sun_path)` on Linux; Cyrus would silently truncate a longer path, we refuse it.
const SUN_PATH_LEN: usize = 108;

/// Why a request got no usable reply; `Display` is Cyrus's stderr text for the same failure.
#[derive(Debug)]
pub enum ExchangeError {
    /// `socket()`/`connect()` failed.
    Connect(io::Error),
    /// The request could not be written.
    Write,
    /// The 2-byte length could not be read (the server closed without replying).
    SizeRead,
    /// The announced length was below 2, so there is no `OK`/`NO`.
    BadResponse,
    /// The server closed before sending the announced bytes.
    Read,
    /// `--timeout` expired (not a Cyrus message: Cyrus has no timeout).
    TimedOut,
}

impl std::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // perror("connect() ") prints the prefix, ": ", then strerror.
            ExchangeError::Connect(err) => write!(f, "connect() : {}", strerror(err)),
            ExchangeError::Write => f.write_str("write failed"),
            ExchangeError::SizeRead => f.write_str("size read failed"),
            ExchangeError::BadResponse => f.write_str("bad response from saslauthd"),
            ExchangeError::Read => f.write_str("read failed"),
            ExchangeError::TimedOut => f.write_str("timed out waiting for saslauthd"),
        }
    }
}

/// Send `request` (already framed) to the socket at `path` and read one reply.
pub async fn exchange(path: &Path, request: &[u8]) -> Result<Reply, ExchangeError> {
    if path.as_os_str().as_bytes().len() >= SUN_PATH_LEN {
        return Err(ExchangeError::Connect(io::Error::from_raw_os_error(libc::ENAMETOOLONG)));
    }
    let mut stream = UnixStream::connect(path).await.map_err(ExchangeError::Connect)?;
    stream.write_all(request).await.map_err(|_| ExchangeError::Write)?;
    let mut count = [0u8; 2];
    stream.read_exact(&mut count).await.map_err(|_| ExchangeError::SizeRead)?;
    let count = usize::from(u16::from_be_bytes(count));
    if count < 2 {
        return Err(ExchangeError::BadResponse);
    }
    let mut text = vec![0u8; count.min(MAX_REPLY_READ)];
    stream.read_exact(&mut text).await.map_err(|_| ExchangeError::Read)?;
    Ok(Reply::new(text))
}

/// The bare C `strerror` text: std's `Display` for an OS error is `<strerror> (os error N)`.
fn strerror(err: &io::Error) -> String {
    let text = err.to_string();
    match err.raw_os_error() {
        Some(code) => text.strip_suffix(&format!(" (os error {code})")).unwrap_or(&text).to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_error_reads_like_perror() {
        let err = ExchangeError::Connect(io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(err.to_string(), "connect() : No such file or directory");
    }
}
