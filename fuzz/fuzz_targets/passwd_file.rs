//! Fuzz target: the passwd-file parser, reached the only public way — a `PasswdFile` verifier
//! over a temp file (the line parser itself is private to `backends::passwd_file`).
//!
//! Input layout: one byte of login length, the login, then the file's bytes. The file is
//! rewritten each run (the verifier reloads it when its size or mtime changes, so a fresh
//! verifier is built each time instead). Files holding `$` or `_`-prefixed hashes are skipped:
//! the hash schemes have their own target, and an expensive KDF here would only slow the run.
#![no_main]

use std::io::Write;
use std::sync::LazyLock;

use backends::passwd_file::PasswdFile;
use backends::{BlockingPool, Credentials, MechanismOptions, Outcome, Verifier};
use libfuzzer_sys::fuzz_target;
use zeroize::Zeroizing;

/// One runtime and one temp dir for the whole run.
static RUNTIME: LazyLock<tokio::runtime::Runtime> =
    LazyLock::new(|| tokio::runtime::Builder::new_current_thread().build().expect("runtime"));
static DIR: LazyLock<tempfile::TempDir> = LazyLock::new(|| tempfile::tempdir().expect("tempdir"));

fuzz_target!(|data: &[u8]| {
    let Some((&len, rest)) = data.split_first() else { return };
    let (login, file) = rest.split_at(usize::from(len).min(rest.len()));
    let Ok(login) = std::str::from_utf8(login) else { return };
    if file.contains(&b'$') || file.windows(2).any(|w| w == b":_") {
        return;
    }
    let path = DIR.path().join("passwd");
    let mut f = std::fs::File::create(&path).expect("create");
    f.write_all(file).expect("write");
    drop(f);
    let options = MechanismOptions {
        option: Some(path.to_string_lossy().into_owned()),
        pool: BlockingPool::new(1),
        pam_confdir: None,
        max_credentials: backends::credential::MAX_CREDENTIALS,
    };
    // A line that cannot be a credential (an unknown scope key, say) refuses start-up.
    let Ok(verifier) = PasswdFile::new(&options) else { return };
    let creds = Credentials {
        login: login.to_owned(),
        password: Zeroizing::new(b"pw".to_vec()),
        service: "smtp".to_owned(),
        realm: String::new(),
        client_addr: None,
    };
    let outcome = RUNTIME.block_on(verifier.verify(&creds));
    // The file is there and readable: every answer is a decision, never a tempfail.
    assert!(!matches!(outcome, Outcome::Unavailable(_)), "{outcome:?}");
    // `{PLAIN}pw` is the only way to say yes here, and only on the login's own line.
    if matches!(outcome, Outcome::Ok | Outcome::Matched(_)) {
        let text = String::from_utf8_lossy(file);
        assert!(text.contains(&format!("{login}:")), "OK for a login with no line");
    }
});
