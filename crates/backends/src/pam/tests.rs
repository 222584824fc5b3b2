//! Tests of the `pam` mechanism against real Linux-PAM modules, with stacks in a temp confdir.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::conversation::{ConvData, converse};
use super::ffi::{
    PAM_CONV_ERR, PAM_ERROR_MSG, PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON, PAM_SUCCESS, PAM_TEXT_INFO,
    PamMessage, PamResponse,
};
use super::request::pam_service;
use super::*;
use crate::{BlockingPool, Reject};
use std::ffi::{CStr, CString};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::ptr;
use std::time::Instant;
use tempfile::TempDir;
use zeroize::Zeroizing;

/// Where Debian keeps the modules; stacks below name them relatively, which Linux-PAM resolves
/// against this directory even with a custom confdir.
const MODULE_DIR: &str = "/usr/lib/x86_64-linux-gnu/security";

/// A temp dir holding `pam.d/` (the confdir) and whatever files its stacks use.
struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("pam.d")).unwrap();
        let fixture = Self { dir };
        fixture.stack("permit", "auth required pam_permit.so\naccount required pam_permit.so\n");
        fixture.stack("deny", "auth required pam_deny.so\naccount required pam_permit.so\n");
        fixture.stack("acctdeny", "auth required pam_permit.so\naccount required pam_deny.so\n");
        fixture
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn stack(&self, service: &str, text: &str) {
        fs::write(self.path("pam.d").join(service), text).unwrap();
    }

    fn script(&self, name: &str, body: &str) -> String {
        let path = self.path(name);
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// A pwdfile with the given `user:hash` lines, and a `pwdfile` stack using it.
    fn pwdfile(&self, service: &str, users: &[(&str, String)], before: &str) -> String {
        let file = self.path(&format!("{service}.passwd"));
        let lines: String = users.iter().map(|(user, hash)| format!("{user}:{hash}\n")).collect();
        fs::write(&file, lines).unwrap();
        let file = file.to_str().unwrap().to_owned();
        self.stack(
            service,
            &format!("{before}auth required pam_pwdfile.so pwdfile={file}\naccount required pam_permit.so\n"),
        );
        file
    }

    fn pam(&self, pool_size: usize) -> Pam {
        Pam::new(&MechanismOptions {
            option: None,
            pool: BlockingPool::new(pool_size),
            pam_confdir: Some(self.path("pam.d")),
            max_credentials: 1,
        })
    }
}

fn creds(login: &str, password: &[u8], service: &str, addr: Option<&str>) -> Credentials {
    Credentials {
        login: login.into(),
        password: Zeroizing::new(password.to_vec()),
        service: service.into(),
        realm: String::new(),
        client_addr: addr.map(str::to_owned),
    }
}

/// A crypt hash from `mkpasswd` (package whois), as an admin would make one.
fn mkpasswd(method: &str, password: &str) -> String {
    let mut child = Command::new("mkpasswd")
        .args(["-m", method, "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
}

async fn check(pam: &Pam, creds: Credentials) -> Outcome {
    pam.verify(&creds).await
}

#[test]
fn the_modules_the_tests_use_are_installed() {
    for module in ["pam_permit.so", "pam_deny.so", "pam_pwdfile.so", "pam_exec.so", "pam_faildelay.so"] {
        assert!(
            Path::new(MODULE_DIR).join(module).exists(),
            "{module} missing: apt-get install libpam-modules libpam-pwdfile"
        );
    }
}

#[test]
fn is_named_pam() {
    assert_eq!(Fixture::new().pam(1).name(), "pam");
}

#[tokio::test]
async fn simple_stacks_give_cyrus_answers() {
    let fx = Fixture::new();
    let pam = fx.pam(2);
    assert_eq!(check(&pam, creds("joe", b"x", "permit", None)).await, Outcome::Ok);
    assert_eq!(check(&pam, creds("joe", b"x", "deny", None)).await, Outcome::No(Reject::PamAuth));
    assert_eq!(check(&pam, creds("joe", b"x", "acctdeny", None)).await, Outcome::No(Reject::PamAcct));
    // Linux-PAM lowercases service names, as it does for Cyrus.
    assert_eq!(check(&pam, creds("joe", b"x", "PERMIT", None)).await, Outcome::Ok);
}

#[tokio::test]
async fn pwdfile_checks_sha512_and_yescrypt_hashes() {
    let fx = Fixture::new();
    fx.pwdfile(
        "pwdfile",
        &[("alice", mkpasswd("sha-512", "alice-pw")), ("bob", mkpasswd("yescrypt", "bob-pw"))],
        "",
    );
    let pam = fx.pam(4);
    let (alice, bob, wrong, nobody) = tokio::join!(
        check(&pam, creds("alice", b"alice-pw", "pwdfile", None)),
        check(&pam, creds("bob", b"bob-pw", "pwdfile", None)),
        check(&pam, creds("alice", b"bob-pw", "pwdfile", None)),
        check(&pam, creds("nobody", b"alice-pw", "pwdfile", None)),
    );
    assert_eq!(alice, Outcome::Ok);
    assert_eq!(bob, Outcome::Ok);
    assert_eq!(wrong, Outcome::No(Reject::PamAuth));
    assert_eq!(nobody, Outcome::No(Reject::PamAuth));
}

#[tokio::test]
async fn passwords_with_quotes_backslashes_and_utf8_reach_the_module_intact() {
    let fx = Fixture::new();
    let tricky = "it's \"q\" \\back\\ sl: ä€😀 % $x";
    fx.pwdfile("pwdfile", &[("carol", mkpasswd("sha-512", tricky))], "");
    let pam = fx.pam(2);
    let (good, near) = tokio::join!(
        check(&pam, creds("carol", tricky.as_bytes(), "pwdfile", None)),
        check(&pam, creds("carol", &tricky.as_bytes()[..tricky.len() - 1], "pwdfile", None)),
    );
    assert_eq!(good, Outcome::Ok);
    assert_eq!(near, Outcome::No(Reject::PamAuth));
}

#[tokio::test]
async fn error_and_info_messages_do_not_break_the_conversation() {
    let fx = Fixture::new();
    // pam_exec sends ERROR_MSG "… failed: exit code 1" even under PAM_SILENT, and with `stdout`
    // the script's output as TEXT_INFO.
    let noisy = fx.script("noisy.sh", "echo 'some info'; exit 1");
    fx.pwdfile(
        "noisy",
        &[("dave", mkpasswd("sha-512", "dave-pw"))],
        &format!("auth optional pam_exec.so /bin/false\nauth optional pam_exec.so stdout {noisy}\n"),
    );
    let pam = fx.pam(2);
    assert_eq!(check(&pam, creds("dave", b"dave-pw", "noisy", None)).await, Outcome::Ok);
    assert_eq!(check(&pam, creds("dave", b"nope", "noisy", None)).await, Outcome::No(Reject::PamAuth));
}

#[tokio::test]
async fn modules_see_rhost_user_and_service() {
    let fx = Fixture::new();
    let out = fx.path("env.out");
    let script =
        fx.script("env.sh", &format!("echo \"$PAM_RHOST|$PAM_USER|$PAM_SERVICE\" > {}", out.display()));
    fx.stack("withenv", &format!("auth required pam_exec.so {script}\naccount required pam_permit.so\n"));
    let pam = fx.pam(1);
    let outcome = check(&pam, creds("erin@example.org", b"x", "withenv", Some("192.0.2.7;5544"))).await;
    assert_eq!(outcome, Outcome::Ok);
    assert_eq!(fs::read_to_string(&out).unwrap(), "192.0.2.7|erin@example.org|withenv\n");

    let outcome = check(&pam, creds("erin", b"x", "withenv", None)).await;
    assert_eq!(outcome, Outcome::Ok);
    assert_eq!(fs::read_to_string(&out).unwrap(), "|erin|withenv\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_failure_delay_is_slept_off_the_pool() {
    let fx = Fixture::new();
    fx.stack("slow", "auth optional pam_faildelay.so delay=2000000\nauth required pam_deny.so\naccount required pam_permit.so\n");
    // One pool thread: if libpam slept on it, the permit request would queue behind the failure.
    let pam = std::sync::Arc::new(fx.pam(1));
    let started = Instant::now();
    let failing = tokio::spawn({
        let pam = pam.clone();
        async move { check(&pam, creds("joe", b"bad", "slow", None)).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let quick_start = Instant::now();
    assert_eq!(check(&pam, creds("joe", b"x", "permit", None)).await, Outcome::Ok);
    let quick = quick_start.elapsed();
    assert_eq!(failing.await.unwrap(), Outcome::No(Reject::PamAuth));
    let slow = started.elapsed();
    assert!(quick < Duration::from_millis(900), "permit took {quick:?} behind a failure");
    // Linux-PAM randomises 2 s to 1–3 s.
    assert!(slow >= Duration::from_millis(900) && slow < Duration::from_secs(6), "failure took {slow:?}");
}

#[tokio::test]
async fn a_success_has_no_delay_even_if_a_module_asked_for_one() {
    let fx = Fixture::new();
    fx.stack("slowok", "auth optional pam_faildelay.so delay=2000000\nauth required pam_permit.so\naccount required pam_permit.so\n");
    let pam = fx.pam(1);
    let started = Instant::now();
    assert_eq!(check(&pam, creds("joe", b"x", "slowok", None)).await, Outcome::Ok);
    assert!(started.elapsed() < Duration::from_millis(900));
}

#[tokio::test]
async fn service_names_that_are_paths_are_refused() {
    let fx = Fixture::new();
    let pam = fx.pam(1);
    // Linux-PAM would strip up to the last '/' and run `permit`; we refuse instead.
    for service in ["../permit", "x/permit", "/permit", "..", ".", ".permit", "a..b", "per\0mit"] {
        let outcome = check(&pam, creds("joe", b"x", service, None)).await;
        assert_eq!(outcome, Outcome::No(Reject::PamStart), "service {service:?}");
    }
}

#[tokio::test]
async fn an_empty_service_uses_other() {
    let fx = Fixture::new();
    let pam = fx.pam(1);
    // No `other` stack in the confdir: pam_start fails, which is Cyrus's start error.
    assert_eq!(check(&pam, creds("joe", b"x", "", None)).await, Outcome::No(Reject::PamStart));
    assert_eq!(check(&pam, creds("joe", b"x", "unknown", None)).await, Outcome::No(Reject::PamStart));
    fx.stack("other", "auth required pam_permit.so\naccount required pam_deny.so\n");
    assert_eq!(check(&pam, creds("joe", b"x", "", None)).await, Outcome::No(Reject::PamAcct));
    assert_eq!(check(&pam, creds("joe", b"x", "unknown", None)).await, Outcome::No(Reject::PamAcct));
    assert_eq!(pam_service("").unwrap().as_bytes(), b"other");
}

#[tokio::test]
async fn a_nul_in_password_or_login_is_refused_without_pam() {
    let fx = Fixture::new();
    let pam = fx.pam(1);
    // `permit` accepts anything, so a NO proves PAM was not asked.
    assert_eq!(check(&pam, creds("joe", b"pw\0tail", "permit", None)).await, Outcome::No(Reject::PamAuth));
    assert_eq!(check(&pam, creds("jo\0e", b"pw", "permit", None)).await, Outcome::No(Reject::PamAuth));
    assert_eq!(
        check(&pam, creds("joe", b"x", "permit", Some("192.0.2.1\0x;1"))).await,
        Outcome::No(Reject::PamStart)
    );
    // Arbitrary non-NUL bytes are fine.
    assert_eq!(check(&pam, creds("joe", b"\xff\xfe\x01", "permit", None)).await, Outcome::Ok);
}

#[tokio::test]
async fn a_missing_confdir_is_a_start_error() {
    let fx = Fixture::new();
    let pam = Pam::new(&MechanismOptions {
        option: None,
        pool: BlockingPool::new(1),
        pam_confdir: Some(fx.path("does-not-exist")),
        max_credentials: 1,
    });
    assert_eq!(check(&pam, creds("joe", b"x", "permit", None)).await, Outcome::No(Reject::PamStart));
}

/// Call [`converse`] directly with `messages`, returning its status and the answers.
fn converse_with(messages: &[(libc::c_int, &CStr)]) -> (libc::c_int, Option<Vec<Option<String>>>) {
    let login = CString::new("joe").unwrap();
    let password = CString::new("s3cret").unwrap();
    let data = ConvData::new(&login, &password);
    let structs: Vec<PamMessage> =
        messages.iter().map(|(style, text)| PamMessage { msg_style: *style, msg: text.as_ptr() }).collect();
    let mut pointers: Vec<*const PamMessage> = structs.iter().map(ptr::from_ref).collect();
    let mut replies: *mut PamResponse = ptr::null_mut();
    let count = libc::c_int::try_from(messages.len()).unwrap();
    // SAFETY: valid messages, out-pointer and appdata, as libpam would pass them.
    let rc = unsafe { converse(count, pointers.as_mut_ptr(), &mut replies, data.as_appdata()) };
    if replies.is_null() {
        return (rc, None);
    }
    let answers = (0..messages.len())
        .map(|i| unsafe {
            let answer = (*replies.add(i)).resp;
            if answer.is_null() {
                return None;
            }
            let text = CStr::from_ptr(answer).to_str().unwrap().to_owned();
            libc::free(answer.cast());
            Some(text)
        })
        .collect();
    unsafe { libc::free(replies.cast()) };
    (rc, Some(answers))
}

#[test]
fn conversation_answers_prompts_and_ignores_messages() {
    let (rc, answers) = converse_with(&[
        (PAM_ERROR_MSG, c"something failed"),
        (PAM_TEXT_INFO, c"hello"),
        (PAM_PROMPT_ECHO_OFF, c"Password: "),
        // Not the PAM_USER_PROMPT item (there is no handle here): no answer, as in Cyrus.
        (PAM_PROMPT_ECHO_ON, c"Token: "),
    ]);
    assert_eq!(rc, PAM_SUCCESS);
    assert_eq!(answers.unwrap(), vec![None, None, Some("s3cret".to_owned()), None]);
}

#[test]
fn conversation_refuses_unknown_styles_and_keeps_nothing() {
    // The password answer made before the binary prompt is wiped and freed, not handed over.
    let (rc, answers) = converse_with(&[(PAM_PROMPT_ECHO_OFF, c"Password: "), (7, c"binary")]);
    assert_eq!(rc, PAM_CONV_ERR);
    assert!(answers.is_none());
    let (rc, answers) = converse_with(&[]);
    assert_eq!(rc, PAM_CONV_ERR);
    assert!(answers.is_none());
}

/// Whether this process has `path` mapped (a module libpam `dlopen`ed and has not unloaded).
fn mapped(path: &Path) -> bool {
    let needle = path.to_str().unwrap();
    fs::read_to_string("/proc/self/maps").unwrap().lines().any(|line| line.ends_with(needle))
}

impl Fixture {
    /// A private copy of module `module` at an absolute path only this test uses, so whether it
    /// is mapped says what this test's handles did.
    fn private_module(&self, module: &str, name: &str) -> std::path::PathBuf {
        let path = self.path(name);
        install_module(module, &path);
        path
    }
}

/// Copy `module` from the system module dir to `to`, replacing any file there atomically (as a
/// package upgrade does: new inode, same name).
fn install_module(module: &str, to: &Path) {
    let staging = to.with_extension("new");
    fs::copy(Path::new(MODULE_DIR).join(module), &staging).unwrap();
    fs::rename(&staging, to).unwrap();
}

#[tokio::test]
async fn the_modules_stay_mapped_between_transactions_until_the_verifier_is_dropped() {
    let fx = Fixture::new();
    let module = fx.private_module("pam_permit.so", "probe_permit.so");
    fx.stack("probe", &format!("auth required {0}\naccount required {0}\n", module.display()));
    let pam = fx.pam(2);
    assert!(!mapped(&module));
    assert_eq!(check(&pam, creds("joe", b"x", "probe", None)).await, Outcome::Ok);
    // The transaction's handle is ended; only the pin keeps the module mapped.
    assert!(mapped(&module), "the module was unloaded with the transaction");
    assert_eq!(pam.pins.services(), ["probe"]);
    drop(pam);
    assert!(!mapped(&module), "dropping the verifier (a reload) must unload the module");
}

#[tokio::test]
async fn an_edited_stack_takes_effect_at_once_and_a_replaced_module_after_a_rebuild() {
    let fx = Fixture::new();
    let module = fx.private_module("pam_permit.so", "probe_auth.so");
    fx.stack("flip", &format!("auth required {}\naccount required pam_permit.so\n", module.display()));
    let pam = fx.pam(1);
    assert_eq!(check(&pam, creds("joe", b"x", "flip", None)).await, Outcome::Ok);

    // libpam reads the stack file in every pam_start: permit → deny shows in the next request.
    fx.stack("flip", "auth required pam_deny.so\naccount required pam_permit.so\n");
    assert_eq!(check(&pam, creds("joe", b"x", "flip", None)).await, Outcome::No(Reject::PamAuth));
    fx.stack("flip", &format!("auth required {}\naccount required pam_permit.so\n", module.display()));
    assert_eq!(check(&pam, creds("joe", b"x", "flip", None)).await, Outcome::Ok);

    // A module file replaced on disk stays in use while pinned (dlopen finds it by name) ...
    install_module("pam_deny.so", &module);
    assert_eq!(check(&pam, creds("joe", b"x", "flip", None)).await, Outcome::Ok);
    // ... and is loaded anew by the verifier a reload builds.
    drop(pam);
    let pam = fx.pam(1);
    assert_eq!(check(&pam, creds("joe", b"x", "flip", None)).await, Outcome::No(Reject::PamAuth));
}

#[tokio::test]
async fn the_pin_never_runs_a_module() {
    let fx = Fixture::new();
    let log = fx.path("calls.log");
    let script = fx.script("calls.sh", &format!("echo \"$PAM_TYPE $PAM_USER\" >> {}", log.display()));
    fx.stack(
        "counted",
        &format!(
            "auth required pam_exec.so quiet {script}\nauth required pam_permit.so\n\
             account required pam_exec.so quiet {script}\naccount required pam_permit.so\n\
             session required pam_exec.so quiet {script}\npassword required pam_exec.so quiet {script}\n"
        ),
    );
    let pam = fx.pam(2);
    for user in ["u1", "u2", "u3"] {
        assert_eq!(check(&pam, creds(user, b"x", "counted", None)).await, Outcome::Ok);
    }
    assert_eq!(pam.pins.services(), ["counted"]);
    drop(pam);
    // Exactly one auth and one account call per request, each for the request's user; the pin's
    // start and end ran nothing.
    let calls = fs::read_to_string(&log).unwrap();
    assert_eq!(calls, "auth u1\naccount u1\nauth u2\naccount u2\nauth u3\naccount u3\n");
}

#[tokio::test]
async fn pins_are_bounded_and_the_least_recently_used_goes() {
    let fx = Fixture::new();
    for service in ["s1", "s2", "s3", "s4"] {
        fx.stack(service, "auth required pam_permit.so\naccount required pam_permit.so\n");
    }
    let options = MechanismOptions {
        option: None,
        pool: BlockingPool::new(1),
        pam_confdir: Some(fx.path("pam.d")),
        max_credentials: 1,
    };
    let pam = Pam::with_pins(&options, std::num::NonZeroUsize::new(3).unwrap());
    for service in ["s1", "s2", "s3", "S1", "s4"] {
        assert_eq!(check(&pam, creds("joe", b"x", service, None)).await, Outcome::Ok);
    }
    // `S1` is `s1` to libpam, and refreshed it; `s2` was the least recently used.
    assert_eq!(pam.pins.services(), ["s4", "s1", "s3"]);
    // A service libpam cannot start is not pinned (no `other` here), and answers as before.
    assert_eq!(check(&pam, creds("joe", b"x", "missing", None)).await, Outcome::No(Reject::PamStart));
    assert_eq!(pam.pins.services(), ["s4", "s1", "s3"]);
    assert_eq!(Pam::new(&options).pins.services().len(), 0);
    assert_eq!(MAX_PINNED_SERVICES, 64);
}
