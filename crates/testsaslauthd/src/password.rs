//! Where the password comes from: `-p`, a no-echo terminal prompt, or one line of stdin.

use std::ffi::OsString;
use std::io::{self, IsTerminal, Read};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStringExt;

use zeroize::Zeroizing;

/// libsasl2 refuses requests that do not fit its 8192-byte buffer (reference §1.8), so a longer
/// line on stdin cannot be a password any client would send.
const MAX_STDIN_PASSWORD: usize = 8192;

/// Obtain the password. `Ok(None)` means none was given at all (stdin at end of file), which is
/// Cyrus's "missing -p" usage error.
pub fn obtain_password(
    from_argv: Option<OsString>,
    force_stdin: bool,
) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
    if let Some(password) = from_argv {
        // into_vec moves the bytes, so this copy is the one that gets zeroed. (clap's own copy
        // and the process's argv cannot be reached; that is why the prompt exists.)
        return Ok(Some(Zeroizing::new(password.into_vec())));
    }
    if !force_stdin && io::stdin().is_terminal() {
        let typed = Zeroizing::new(rpassword::prompt_password("Password: ")?);
        return Ok(Some(Zeroizing::new(typed.as_bytes().to_vec())));
    }
    read_stdin_line()
}

/// Read one line from fd 0 byte by byte: unbuffered, so no copy of the password is left in std's
/// stdin buffer, and the rest of stdin is left unread.
fn read_stdin_line() -> io::Result<Option<Zeroizing<Vec<u8>>>> {
    let mut input = std::fs::File::from(io::stdin().as_fd().try_clone_to_owned()?);
    // Sized once so pushing never reallocates and leaves an unzeroed copy behind.
    let mut line = Zeroizing::new(Vec::with_capacity(MAX_STDIN_PASSWORD));
    let mut byte = [0u8; 1];
    let mut saw_anything = false;
    loop {
        match input.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => {
                saw_anything = true;
                if byte[0] == b'\n' {
                    break;
                }
                if line.len() >= MAX_STDIN_PASSWORD {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "password line too long"));
                }
                line.push(byte[0]);
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    byte.fill(0);
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(saw_anything.then_some(line))
}
