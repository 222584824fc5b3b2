//! Our daemon keeps each PAM service's modules loaded between requests (one never-used handle
//! per service, at most `MAX_PINNED_SERVICES`), and SIGHUP drops them with the old mechanisms:
//! a changed stack or module file is honoured after a reload, the pinned handle never runs a
//! module, and the pins are bounded. Real libpam and modules, stacks in a private confdir.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use backends::pam::MAX_PINNED_SERVICES;
use saslauthd_tests::{Daemon, Target, request, send_raw_open};
use tempfile::TempDir;

const MODULE_DIR: &str = "/usr/lib/x86_64-linux-gnu/security";

/// A confdir (`pam.d/`) and room for module copies, scripts and logs.
struct Stacks {
    dir: TempDir,
}

impl Stacks {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("pam.d")).unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn confdir(&self) -> PathBuf {
        self.path("pam.d")
    }

    fn write(&self, service: &str, stack: &str) {
        fs::write(self.confdir().join(service), stack).unwrap();
    }

    /// Copy system module `module` to `name` in the temp dir, replacing any file there
    /// atomically (as a package upgrade does); returns its absolute path.
    fn module(&self, module: &str, name: &str) -> PathBuf {
        let path = self.path(name);
        let staging = self.path(&format!("{name}.new"));
        fs::copy(Path::new(MODULE_DIR).join(module), &staging).unwrap();
        fs::rename(&staging, &path).unwrap();
        path
    }

    fn daemon(&self) -> Daemon {
        Daemon::builder(Target::Ours)
            .mech::<str>("pam", None)
            .arg("--pam-confdir")
            .arg(self.confdir())
            .threads(2)
            .start()
    }
}

fn login(daemon: &Daemon, user: &str, service: &str) -> String {
    send_raw_open(daemon.socket(), &request(user.as_bytes(), b"pw", service, "")).text()
}

/// SIGHUP, then wait for the `n`th "configuration reloaded" line.
fn reload(daemon: &Daemon, n: usize) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(daemon.pid()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    let start = std::time::Instant::now();
    while daemon.log().matches("configuration reloaded").count() < n {
        assert!(start.elapsed() < Duration::from_secs(10), "no reload in {}", daemon.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The files under `dir` the daemon has mapped.
fn mapped_under(daemon: &Daemon, dir: &Path) -> Vec<String> {
    let maps = fs::read_to_string(format!("/proc/{}/maps", daemon.pid())).unwrap();
    let mut files: Vec<String> = maps
        .lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .filter(|file| Path::new(file).starts_with(dir))
        .map(str::to_owned)
        .collect();
    files.sort();
    files.dedup();
    files
}

#[test]
fn a_changed_stack_and_a_replaced_module_are_honoured_after_sighup() {
    let stacks = Stacks::new();
    let module = stacks.module("pam_permit.so", "auth_probe.so");
    let permit = format!("auth required {}\naccount required pam_permit.so\n", module.display());
    stacks.write("flip", &permit);
    let daemon = stacks.daemon();
    assert_eq!(login(&daemon, "joe", "flip"), "OK");
    assert_eq!(mapped_under(&daemon, stacks.dir.path()), [module.to_str().unwrap()]);

    // permit → deny in the stack file: honoured after SIGHUP (libpam even reads it per request).
    stacks.write("flip", "auth required pam_deny.so\naccount required pam_permit.so\n");
    reload(&daemon, 1);
    assert_eq!(login(&daemon, "joe", "flip"), "NO PAM auth error");
    stacks.write("flip", &permit);
    reload(&daemon, 2);
    assert_eq!(login(&daemon, "joe", "flip"), "OK");

    // The module file replaced by pam_deny: the pinned, mapped code keeps answering until SIGHUP
    // drops the pins, then the new file is loaded.
    stacks.module("pam_deny.so", "auth_probe.so");
    assert_eq!(login(&daemon, "joe", "flip"), "OK");
    reload(&daemon, 3);
    assert_eq!(login(&daemon, "joe", "flip"), "NO PAM auth error");
}

#[test]
fn the_pinned_handle_never_authenticates() {
    let stacks = Stacks::new();
    let log = stacks.path("calls.log");
    let script = stacks.path("calls.sh");
    fs::write(&script, format!("#!/bin/sh\necho \"$PAM_TYPE $PAM_USER\" >> {}\n", log.display())).unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let exec = format!("pam_exec.so quiet {}", script.display());
    stacks.write(
        "counted",
        &format!(
            "auth required {exec}\nauth required pam_permit.so\naccount required {exec}\n\
             account required pam_permit.so\nsession required {exec}\npassword required {exec}\n"
        ),
    );
    let daemon = stacks.daemon();
    reload(&daemon, 1);
    assert!(!log.exists(), "start-up or reload ran a module: {:?}", fs::read_to_string(&log));
    for user in ["u1", "u2", "u3", "u4"] {
        assert_eq!(login(&daemon, user, "counted"), "OK");
    }
    // Pins for "counted" exist now; a reload ends them, a stop would too.
    reload(&daemon, 2);
    assert_eq!(login(&daemon, "u5", "counted"), "OK");
    let expected: String =
        ["u1", "u2", "u3", "u4", "u5"].iter().map(|u| format!("auth {u}\naccount {u}\n")).collect();
    assert_eq!(fs::read_to_string(&log).unwrap(), expected);
    drop(daemon);
    assert_eq!(fs::read_to_string(&log).unwrap(), expected, "stopping ran a module");
}

#[test]
fn at_most_max_pinned_services_keep_their_modules_loaded() {
    let stacks = Stacks::new();
    let services = MAX_PINNED_SERVICES + 6;
    let modules: Vec<PathBuf> = (0..services)
        .map(|i| {
            let module = stacks.module("pam_permit.so", &format!("permit_{i:03}.so"));
            stacks.write(
                &format!("svc{i:03}"),
                &format!("auth required {0}\naccount required {0}\n", module.display()),
            );
            module
        })
        .collect();
    let daemon = stacks.daemon();
    for i in 0..services {
        assert_eq!(login(&daemon, "joe", &format!("svc{i:03}")), "OK");
    }
    // The most recently used MAX_PINNED_SERVICES stay mapped; the first six were unpinned.
    let expected: Vec<&str> = modules[6..].iter().map(|m| m.to_str().unwrap()).collect();
    assert_eq!(mapped_under(&daemon, stacks.dir.path()), expected);
    reload(&daemon, 1);
    assert_eq!(mapped_under(&daemon, stacks.dir.path()), Vec::<String>::new());
}
