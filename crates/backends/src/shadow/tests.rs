//! The shadow verifier over a shadow-format file, with a fixed "today".
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

/// `mkpasswd -m sha-512 -S saltsaltsalt12 'right pw'`.
const SHA512: &str = "$6$saltsaltsalt12$ydkQVDd07glVnkl3wNGxSWGuqC5piObi/nQFpDNilp8HtFFnZfieq0fv8qjguG.uc/H0d4o9zkBNYQ8JQIRl.1";
/// `mkpasswd -m md5 -S abcdefgh 'right pw'`.
const MD5: &str = "$1$abcdefgh$ORcPPfNoiWql1z/eD75P31";
const RIGHT: &[u8] = b"right pw";
const TODAY: i64 = 20_000;

fn fixed_today() -> i64 {
    TODAY
}

fn shadow(lines: &str) -> (tempfile::TempDir, Shadow) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shadow");
    std::fs::write(&path, lines).unwrap();
    let options = MechanismOptions {
        option: Some(path.to_str().unwrap().to_owned()),
        pool: BlockingPool::new(2),
        pam_confdir: None,
        max_credentials: crate::credential::MAX_CREDENTIALS,
    };
    let mut shadow = Shadow::new(&options).unwrap();
    shadow.today = fixed_today;
    (dir, shadow)
}

async fn verify(shadow: &Shadow, login: &str, password: &[u8]) -> Outcome {
    let creds = Credentials {
        login: login.to_owned(),
        password: Zeroizing::new(password.to_vec()),
        service: "smtp".into(),
        realm: String::new(),
        client_addr: None,
    };
    shadow.verify(&creds).await
}

#[tokio::test]
async fn replies_follow_cyrus() {
    let file = format!(
        "good:{SHA512}:19990:0:99999:7:::\n\
         md5:{MD5}:::::::\n\
         bang:!:19990::::::\n\
         lockedhash:!{SHA512}:19990::::::\n\
         star:*:19990::::::\n\
         empty::19990::::::\n\
         nis:*NP*:19990::::::\n\
         expired:{SHA512}:19990:0:99999:7::19999:\n\
         expzero:{SHA512}:19990:0:99999:7::0:\n\
         pwexp:{SHA512}:19900:0:30:7:::\n\
         both:{SHA512}:0:0:1:7::1:\n\
         braced:{{PLAIN}}right pw:::::::\n"
    );
    let (_dir, s) = shadow(&file);
    let no = Outcome::No;
    assert_eq!(verify(&s, "good", RIGHT).await, Outcome::Ok);
    assert_eq!(verify(&s, "md5", RIGHT).await, Outcome::Ok);
    assert_eq!(verify(&s, "good", b"wrong").await, no(Reject::IncorrectPassword));
    assert_eq!(verify(&s, "nobody-here", RIGHT).await, no(Reject::InvalidUsername));
    for locked in ["bang", "lockedhash", "star", "empty", "braced"] {
        assert_eq!(verify(&s, locked, RIGHT).await, no(Reject::IncorrectPassword), "{locked}");
        assert_eq!(verify(&s, locked, b"").await, no(Reject::IncorrectPassword), "{locked}, empty password");
    }
    assert_eq!(verify(&s, "nis", RIGHT).await, no(Reject::NisPermission));
    assert_eq!(verify(&s, "expired", RIGHT).await, no(Reject::AccountExpired));
    assert_eq!(verify(&s, "expzero", RIGHT).await, no(Reject::AccountExpired));
    assert_eq!(verify(&s, "pwexp", RIGHT).await, no(Reject::PasswordExpired));
    assert_eq!(verify(&s, "both", RIGHT).await, no(Reject::AccountExpired));
}

#[tokio::test]
async fn the_password_is_checked_before_expiry() {
    let (_dir, s) = shadow(&format!("expired:{SHA512}:19990:0:99999:7::0:\npwexp:{SHA512}:1:0:30:7:::\n"));
    assert_eq!(verify(&s, "expired", b"wrong").await, Outcome::No(Reject::IncorrectPassword));
    assert_eq!(verify(&s, "pwexp", b"wrong").await, Outcome::No(Reject::IncorrectPassword));
}

#[tokio::test]
async fn a_vanished_file_is_a_tempfail_and_edits_apply_at_once() {
    let (dir, s) = shadow(&format!("good:{SHA512}:::::::\n"));
    let path = dir.path().join("shadow");
    assert_eq!(verify(&s, "good", RIGHT).await, Outcome::Ok);
    // Replaced by a rename, as vipw does: read at once (an in-place rewrite waits to settle).
    let tmp = dir.path().join("shadow.new");
    std::fs::write(&tmp, format!("good:!{SHA512}:::::::\n")).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    assert_eq!(verify(&s, "good", RIGHT).await, Outcome::No(Reject::IncorrectPassword));
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(verify(&s, "good", RIGHT).await, Outcome::Unavailable(_)));
}

#[test]
fn an_unreadable_file_fails_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let options = MechanismOptions {
        option: Some(dir.path().join("absent").to_str().unwrap().to_owned()),
        pool: BlockingPool::new(1),
        pam_confdir: None,
        max_credentials: crate::credential::MAX_CREDENTIALS,
    };
    assert!(matches!(Shadow::new(&options), Err(MechanismError::BadOption { .. })));
}

#[tokio::test]
async fn nss_knows_root_but_not_a_stranger() {
    let options =
        MechanismOptions { option: None, pool: BlockingPool::new(1), pam_confdir: None, max_credentials: 1 };
    let s = Shadow::new(&options).unwrap();
    assert_eq!(verify(&s, "no-such-user-saslauthd-rs", RIGHT).await, Outcome::No(Reject::InvalidUsername));
    // Root's password is unknown here; a wrong one is refused (or a tempfail when shadow is
    // unreadable because the tests run unprivileged).
    let root = verify(&s, "root", b"surely not root's password").await;
    assert!(matches!(root, Outcome::No(Reject::IncorrectPassword) | Outcome::Unavailable(_)), "{root:?}");
}
