//! The run directory cannot be turned against the root daemon (issue 15 §4): a planted
//! `saslauthd.pid` symlink is not followed (its target is untouched), a directory others can
//! write is refused with a clear message and exit status 1, and Debian's `root:sasl 0710`
//! layout still starts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use saslauthd_tests::run::{Finished, run_with_deadline};
use saslauthd_tests::{Daemon, Target, counted_reply, pwdfile, request, send_raw_open};

fn start_in(run_dir: &Path, passwd: &Path, foreground: bool) -> Finished {
    let mut cmd = Command::new(Target::Ours.saslauthd());
    cmd.args(["-a", "passwd-file", "-O"]).arg(passwd).arg("-m").arg(run_dir);
    if foreground {
        cmd.arg("-d");
    }
    run_with_deadline(&mut cmd, Duration::from_secs(10))
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_planted_pid_symlink_is_not_followed() {
    let passwd = pwdfile(&[("alice", "pw")]);
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    std::fs::create_dir(&run).unwrap();
    chmod(&run, 0o755);
    let target = tmp.path().join("etc-shadow-stand-in");
    std::fs::write(&target, "root:$y$j9T$precious:19000:0:99999:7:::\n").unwrap();
    chmod(&target, 0o640);
    std::os::unix::fs::symlink(&target, run.join("saslauthd.pid")).unwrap();

    for foreground in [true, false] {
        let out = start_in(&run, passwd.path(), foreground);
        assert_eq!(out.code, Some(1), "foreground {foreground}: {out:?}");
        assert!(out.stderr.contains("saslauthd.pid"), "the message names the pid file: {}", out.stderr);
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "root:$y$j9T$precious:19000:0:99999:7:::\n",
            "the link's target is untouched"
        );
        assert_eq!(std::fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o640);
        assert!(!run.join("mux").exists(), "no socket was bound");
    }
}

#[test]
fn a_directory_others_can_write_is_refused() {
    let passwd = pwdfile(&[("alice", "pw")]);
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    std::fs::create_dir(&run).unwrap();
    for (mode, who) in [(0o777, "others"), (0o1777, "others"), (0o775, "its group")] {
        chmod(&run, mode);
        let out = start_in(&run, passwd.path(), true);
        assert_eq!(out.code, Some(1), "mode {mode:o}: {out:?}");
        assert!(
            out.stderr.contains(&format!("run directory {} is writable by {who}", run.display())),
            "mode {mode:o}: {}",
            out.stderr
        );
        assert_eq!(std::fs::read_dir(&run).unwrap().count(), 0, "nothing was created in it");
    }
}

#[test]
fn debian_root_sasl_0710_still_starts() {
    let passwd = pwdfile(&[("alice", "pw")]);
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("saslauthd");
    std::fs::create_dir(&run).unwrap();
    // Debian's init script: `createdir root sasl 710` (the group exists once sasl2-bin is in).
    if let Ok(Some(sasl)) = nix::unistd::Group::from_name("sasl") {
        nix::unistd::chown(&run, None, Some(sasl.gid)).unwrap();
    }
    chmod(&run, 0o710);
    let daemon = Daemon::builder(Target::Ours).passwd_file(passwd.path()).run_dir(&run).start();
    assert_eq!(send_raw_open(daemon.socket(), &request(b"alice", b"pw", "smtp", "")), counted_reply("OK"));
}
