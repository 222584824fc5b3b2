//! Debian's own init script (`/etc/init.d/saslauthd` from sasl2-bin) starts, checks and stops
//! our daemon from an `/etc/default/saslauthd`-style file: START, MECHANISMS, MECH_OPTIONS,
//! THREADS and OPTIONS reach the command line, and the pid file is where the script looks.
//! The script is copied with its two paths (the binary, /etc/default) pointed into a temp dir,
//! so the machine's own files are not touched.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use saslauthd_tests::{RawReply, Target, bins::require_file, send_raw_open};
use std::process::Command;

#[test]
fn debian_init_script_drives_our_daemon() {
    let script = std::fs::read_to_string(require_file("/etc/init.d/saslauthd", "sasl2-bin")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let defaults = tmp.path().join("default");
    std::fs::create_dir(&defaults).unwrap();
    let ours = Target::Ours.saslauthd();
    let script = script
        .replace("DAEMON=/usr/sbin/saslauthd", &format!("DAEMON={}", ours.display()))
        .replace("/etc/default/", &format!("{}/", defaults.display()));
    let script_path = tmp.path().join("saslauthd.init");
    std::fs::write(&script_path, script).unwrap();

    let pwd = saslauthd_tests::pwdfile(&[("joe", "pw")]);
    let run_dir = tmp.path().join("run");
    let instance = format!("saslauthd-rs-test-{}", std::process::id());
    std::fs::write(
        defaults.join(&instance),
        format!(
            "START=yes\nDESC=\"SASL Authentication Daemon\"\nNAME=\"saslauthd\"\nMECHANISMS=\"passwd-file\"\n\
             MECH_OPTIONS=\"{}\"\nTHREADS=5\nOPTIONS=\"-c -m {}\"\n",
            pwd.path().display(),
            run_dir.display()
        ),
    )
    .unwrap();
    let run = |verb: &str| {
        let out = Command::new("sh").arg(&script_path).args([verb, &instance]).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };

    let (code, text) = run("start-instance");
    assert_eq!(code, Some(0), "{text}");
    let pid: i32 = std::fs::read_to_string(run_dir.join("saslauthd.pid")).unwrap().trim().parse().unwrap();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert_eq!(exe, ours, "the pid file names our daemon");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let args: Vec<String> =
        cmdline.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    assert!(args.windows(2).any(|w| w == ["-a", "passwd-file"]), "{args:?}");
    assert!(args.windows(2).any(|w| w[0] == "-n" && w[1] == "5"), "{args:?}");
    assert!(args.windows(2).any(|w| w[0] == "-O" && w[1] == pwd.path().to_str().unwrap()), "{args:?}");
    let socket = run_dir.join("mux");
    let reply = send_raw_open(&socket, &saslauthd_tests::request(b"joe", b"pw", "smtp", ""));
    assert_eq!(reply, RawReply::Reply(b"\x00\x02OK".to_vec()));
    // The script's "already running" check finds it through the pid file and the process name.
    let (code, text) = run("start-instance");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("already running"), "{text}");

    let (code, text) = run("stop-instance");
    assert_eq!(code, Some(0), "{text}");
    // Gone, or a zombie waiting for a reaper (nothing reaps orphans in some containers).
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()).unwrap_or("gone");
    assert!(matches!(state, "gone" | "Z" | "X"), "still running after stop: state {state}");
    assert!(!socket.exists() && !run_dir.join("saslauthd.pid").exists());
}
