//! End-to-end: the control socket (`<rundir>/control`) driven by `testsaslauthd --admin`, on the
//! real binaries: flushing one user's cache entries, listing and forgetting penalties, stats,
//! reload with a reported result (shared with SIGHUP), refusals, and requests that must never
//! hold up the mux socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use saslauthd_tests::run::{CLIENT_DEADLINE, run_with_deadline};
use saslauthd_tests::{Daemon, Finished, RawReply, Target, pwdfile_raw, request, send_raw, testsaslauthd};
use serde_json::Value;

/// joe, ann and bob with plain passwords: cheap to check.
const USERS: &[u8] = b"joe:{PLAIN}pw\nann:{PLAIN}pw\nbob:{PLAIN}pw\n";

/// Short penalties keep the tests fast.
const QUICK_PENALTIES: [&str; 4] = ["--penalty-base", "0.05", "--penalty-max", "0.1"];

fn admin(daemon: &Daemon, args: &[&str]) -> Finished {
    let args: Vec<&str> = std::iter::once("--admin").chain(args.iter().copied()).collect();
    testsaslauthd(Target::Ours, daemon.socket(), &args)
}

/// `--admin --json ARGS`: exit status and the parsed object.
fn admin_json(daemon: &Daemon, args: &[&str]) -> (Option<i32>, Value) {
    let args: Vec<&str> = ["--json"].iter().chain(args).copied().collect();
    let out = admin(daemon, &args);
    let value = serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    (out.code, value)
}

/// The value of metric `name` (prefix-less, with its labels as printed) from `stats --json`.
fn stat(daemon: &Daemon, name: &str, labels: &str) -> Option<f64> {
    let (code, v) = admin_json(daemon, &["stats"]);
    assert_eq!(code, Some(0), "{v}");
    v["records"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|r| (r["name"] == name && r["labels"] == labels).then(|| r["value"].as_f64().unwrap()))
}

fn ask(daemon: &Daemon, login: &str, password: &str, realm: &str) -> RawReply {
    send_raw(daemon.socket(), &request(login.as_bytes(), password.as_bytes(), "smtp", realm))
}

fn ok(reply: RawReply) {
    assert_eq!(reply, RawReply::Reply(b"\0\x02OK".to_vec()));
}

#[test]
fn the_control_socket_is_private_and_goes_away_with_the_daemon() {
    let passwd = pwdfile_raw(USERS);
    let mut daemon = Daemon::builder(Target::Ours).passwd_file(passwd.path()).start();
    let control = daemon.run_dir().join("control");
    let meta = std::fs::metadata(&control).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.uid(), nix::unistd::geteuid().as_raw(), "owned by the daemon's user");
    // Another user cannot connect: the client says so and exits 255.
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let mut cmd = Command::new(Target::Ours.testsaslauthd());
    cmd.arg("--admin").arg("-f").arg(daemon.socket()).arg("stats").uid(nobody.uid.as_raw());
    let out = run_with_deadline(&mut cmd, CLIENT_DEADLINE);
    assert_eq!(out.code, Some(255), "{out:?}");
    assert!(out.stderr.contains("Permission denied"), "{out:?}");
    // Nor when the mode was opened by hand: the daemon checks the peer's uid (SO_PEERCRED).
    std::fs::set_permissions(&control, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = run_with_deadline(&mut cmd, CLIENT_DEADLINE);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("only root or the daemon's user"), "{out:?}");
    assert!(daemon.log().contains("control socket: refused a client"), "{}", daemon.log());
    assert!(daemon.terminate().success());
    assert!(!control.exists(), "removed at exit");
}

#[test]
fn flush_cache_drops_one_user_or_everyone() {
    let passwd = pwdfile_raw(USERS);
    let daemon = Daemon::builder(Target::Ours).passwd_file(passwd.path()).arg("-c").start();
    ok(ask(&daemon, "joe", "pw", ""));
    ok(ask(&daemon, "ann", "pw", ""));
    ok(ask(&daemon, "bob", "pw", "example.org"));
    assert_eq!(stat(&daemon, "cache_users", ""), Some(3.0));

    let out = admin(&daemon, &["flush-cache", "joe"]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), "joe: cache entries flushed\n"), "{out:?}");
    assert_eq!(stat(&daemon, "cache_users", ""), Some(2.0));
    let out = admin(&daemon, &["flush-cache", "joe"]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), "joe: nothing cached\n"), "{out:?}");

    // bob was cached with his realm; a user's entries are grouped by the login alone (realm
    // aside, so that a new password ends the old one in every realm), and flushing bob drops them.
    let (code, v) = admin_json(&daemon, &["-r", "example.org", "flush-cache", "bob"]);
    assert_eq!((code, &v["records"][0]["users"]), (Some(0), &Value::from(1)), "{v}");
    assert_eq!(admin_json(&daemon, &["flush-cache", "bob"]).1["records"][0]["users"], 0);

    let out = admin(&daemon, &["flush-cache"]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), "cache flushed (1 users)\n"), "{out:?}");
    assert_eq!(stat(&daemon, "cache_users", ""), Some(0.0));
    assert!(daemon.log().contains("control: cache flushed"), "{}", daemon.log());
}

#[test]
fn penalties_are_listed_looked_up_and_forgotten() {
    let passwd = pwdfile_raw(USERS);
    let daemon = Daemon::builder(Target::Ours).passwd_file(passwd.path()).args(QUICK_PENALTIES).start();
    let out = admin(&daemon, &["penalties"]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), "no penalties in force\n"), "{out:?}");
    for guess in ["bad1", "bad2"] {
        let fields: [&[u8]; 5] = [b"joe", guess.as_bytes(), b"smtp", b"", b"192.0.2.7;4000"];
        let reply = send_raw(daemon.socket(), &saslauthd_tests::counted(&fields));
        assert!(matches!(reply, RawReply::Reply(ref b) if b.starts_with(b"\0\x15NO")), "{reply:?}");
    }
    let (code, v) = admin_json(&daemon, &["penalties"]);
    assert_eq!(code, Some(0), "{v}");
    let records = v["records"].as_array().unwrap();
    let kinds: Vec<&str> = records.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["user", "pair", "address"],
        "the account, the account from that address, the address: {v}"
    );
    let user = records.iter().find(|r| r["kind"] == "user").unwrap();
    let id = user["key"].as_str().unwrap();
    assert!(id.starts_with('#') && id.len() == 13, "users are listed by id, not name: {v}");
    assert!(!v.to_string().contains("joe"), "{v}");
    assert_eq!(user["failures"], 2);
    assert_eq!(user["delay_seconds"], 0.1, "capped by --penalty-max");
    assert!(user["wait_seconds"].as_f64().unwrap() <= 0.1, "{v}");
    assert!(user["forget_in_seconds"].as_u64().unwrap() > 800, "{v}");
    let addr = records.iter().find(|r| r["kind"] == "address").unwrap();
    assert_eq!((&addr["key"], &addr["failures"]), (&Value::from("192.0.2.7"), &Value::from(2)));
    assert_eq!(addr["delay_seconds"], 0.025, "an address's gate is 4 times wider");

    // By name, the user's own record.
    let out = admin(&daemon, &["penalties", "joe"]);
    assert_eq!(out.code, Some(0));
    let row: Vec<&str> = out.stdout.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[..4], ["user", "joe", "2", "0.1"], "{}", out.stdout);
    assert!(out.stdout.lines().nth(2).unwrap().starts_with("pair  joe from 192.0.2.7  2"), "{}", out.stdout);

    let forgotten =
        |target: &str| admin_json(&daemon, &["forget-penalty", target]).1["records"][0]["records"].clone();
    assert_eq!(forgotten("192.0.2.7"), 2, "the address and its pair with joe");
    assert_eq!(forgotten("192.0.2.7"), 0, "already gone");
    assert_eq!(forgotten(id), 1, "by the listed id");
    let out = admin(&daemon, &["penalties"]);
    assert_eq!(out.stdout, "no penalties in force\n");
    // By name too.
    ask(&daemon, "ann", "bad", "");
    let out = admin(&daemon, &["forget-penalty", "ann"]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), "1 penalty records forgotten\n"), "{out:?}");
}

#[test]
fn commands_on_what_is_off_are_refused_with_status_2() {
    let passwd = pwdfile_raw(USERS);
    let daemon = Daemon::builder(Target::Ours).passwd_file(passwd.path()).arg("--no-penalty").start();
    let out = admin(&daemon, &["flush-cache", "joe"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("flush-cache: the credential cache is off (-c not given)"), "{out:?}");
    for command in ["penalties", "forget-penalty"] {
        let args: &[&str] = if command == "penalties" { &[command] } else { &[command, "joe"] };
        let (code, v) = admin_json(&daemon, args);
        assert_eq!(code, Some(2));
        assert_eq!((&v["ok"], &v["error"]), (&Value::from(false), &Value::from("off")), "{v}");
    }
    // Usage errors are the client's: exit 1 before connecting.
    for args in [&["nosuch"][..], &["forget-penalty"], &["stats", "extra"], &[]] {
        assert_eq!(admin(&daemon, args).code, Some(1), "{args:?}");
    }
    // No daemon there: 255.
    let out = testsaslauthd(Target::Ours, Path::new("/nonexistent/run/mux"), &["--admin", "stats"]);
    assert_eq!(out.code, Some(255));
    assert!(out.stderr.contains("/nonexistent/run/control"), "{out:?}");
}

#[test]
fn reload_reports_its_result_and_shares_it_with_sighup() {
    let passwd = pwdfile_raw(USERS);
    let daemon = Daemon::builder(Target::Ours).passwd_file(passwd.path()).metrics().start();
    let started = stat(&daemon, "config_last_reload_success_timestamp_seconds", "").unwrap();
    assert!(started > 1.7e9, "set at start: {started}");
    assert_eq!(stat(&daemon, "config_last_reload_successful", ""), Some(1.0));
    let version = format!("version=\"{}\"", env!("CARGO_PKG_VERSION"));
    assert_eq!(stat(&daemon, "build_info", &version), Some(1.0));

    let out = admin(&daemon, &["reload"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (Some(0), "configuration reloaded (mechanisms: passwd-file)\n")
    );
    assert!(daemon.log().contains("control: configuration reloaded"), "{}", daemon.log());

    // A configuration that cannot be loaded: the error comes back, the old mechanisms stay.
    let saved = std::fs::read(passwd.path()).unwrap();
    std::fs::remove_file(passwd.path()).unwrap();
    let out = admin(&daemon, &["reload"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("configuration not reloaded") && out.stderr.contains("passwd-file"),
        "{out:?}"
    );
    assert_eq!(stat(&daemon, "config_last_reload_successful", ""), Some(0.0));

    // SIGHUP goes through the same reload: success sets the gauges back...
    std::fs::write(passwd.path(), &saved).unwrap();
    let pid = nix::unistd::Pid::from_raw(daemon.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    assert!(
        daemon.wait_for_log("SIGHUP: configuration reloaded", Duration::from_secs(10)),
        "{}",
        daemon.log()
    );
    assert_eq!(stat(&daemon, "config_last_reload_successful", ""), Some(1.0));
    // ... and a failed SIGHUP is no longer only logged.
    std::fs::remove_file(passwd.path()).unwrap();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    assert!(
        daemon.wait_for_log("SIGHUP: configuration not reloaded", Duration::from_secs(10)),
        "{}",
        daemon.log()
    );
    assert_eq!(stat(&daemon, "config_last_reload_successful", ""), Some(0.0));
    let text = daemon.metrics();
    assert!(text.contains("saslauthd_config_last_reload_successful 0\n"), "{text}");
    assert!(
        text.contains("# UNIT saslauthd_config_last_reload_success_timestamp_seconds seconds\n"),
        "{text}"
    );
    assert!(text.contains("# UNIT saslauthd_request_duration_seconds seconds\n"), "{text}");
    assert!(text.contains(&format!("saslauthd_build_info{{{version}}} 1\n")), "{text}");
    std::fs::write(passwd.path(), &saved).unwrap();
}

#[test]
fn stats_reads_like_the_metrics() {
    let passwd = pwdfile_raw(USERS);
    let daemon = Daemon::builder(Target::Ours).passwd_file(passwd.path()).arg("-c").metrics().start();
    ok(ask(&daemon, "joe", "pw", ""));
    ok(ask(&daemon, "joe", "pw", ""));
    let out = admin(&daemon, &["stats"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    for row in [
        r#"requests_total{mech="passwd-file",result="ok"}"#,
        "cache_hits_total",
        "config_last_reload_successful",
    ] {
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("{row}:\n{}", out.stdout));
        assert!(line.split_whitespace().last().unwrap().parse::<f64>().is_ok(), "{line}");
    }
    assert!(!out.stdout.contains("_bucket"), "histogram buckets are left out: {}", out.stdout);
    assert_eq!(stat(&daemon, "cache_hits_total", ""), Some(1.0));
}

#[test]
fn bad_or_stalled_control_clients_never_hold_up_the_mux() {
    let passwd = pwdfile_raw(USERS);
    let daemon = Daemon::builder(Target::Ours).passwd_file(passwd.path()).start();
    let control = daemon.run_dir().join("control");
    let exchange = |bytes: &[u8]| {
        let mut s = UnixStream::connect(&control).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        text
    };
    for (bytes, want) in [
        (&b"stats\n"[..], "saslauthd-control/1\tERR\tusage\tnot a saslauthd-control/1 line\nEND\n"),
        (
            b"saslauthd-control/2\tstats\n",
            "saslauthd-control/1\tERR\tusage\tnot a saslauthd-control/1 line\nEND\n",
        ),
        (b"saslauthd-control/1\tnope\n", "saslauthd-control/1\tERR\tusage\tunknown command \"nope\"\nEND\n"),
        (
            b"saslauthd-control/1\tstats\textra\n",
            "saslauthd-control/1\tERR\tusage\twrong number of arguments for stats\nEND\n",
        ),
        (
            b"saslauthd-control/1\tstats",
            "saslauthd-control/1\tERR\tusage\tthe request ended without a line feed\nEND\n",
        ),
    ] {
        assert_eq!(exchange(bytes), want, "{bytes:?}");
    }
    let long = vec![b'a'; 5000];
    assert!(exchange(&long).contains("ERR\tusage\trequest longer than 1024 bytes"));
    // A readable request by hand (socat-style) works.
    assert!(
        exchange(b"saslauthd-control/1\tstats\n")
            .starts_with("saslauthd-control/1\tOK\nmetric\tname=build_info")
    );

    // Clients that connect and say nothing: answered at the read deadline, and meanwhile the mux
    // serves at once.
    let stalled: Vec<UnixStream> = (0..6).map(|_| UnixStream::connect(&control).unwrap()).collect();
    let started = Instant::now();
    ok(ask(&daemon, "joe", "pw", ""));
    assert!(started.elapsed() < Duration::from_secs(1), "mux held up: {:?}", started.elapsed());
    let mut first = &stalled[0];
    first.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut text = String::new();
    first.read_to_string(&mut text).unwrap();
    assert_eq!(text, "saslauthd-control/1\tERR\tusage\tno request line within 2s\nEND\n");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1500) && waited < Duration::from_secs(5), "{waited:?}");
    // More than the control's few slots at once: the extra ones were told busy, not queued.
    let busy = stalled[4..]
        .iter()
        .map(|mut s| {
            let mut t = String::new();
            s.read_to_string(&mut t).unwrap();
            t
        })
        .filter(|t| t.contains("ERR\tbusy"))
        .count();
    assert_eq!(busy, 2, "4 slots, 6 clients");
    ok(ask(&daemon, "joe", "pw", ""));
}

#[test]
fn control_can_move_or_be_turned_off() {
    let passwd = pwdfile_raw(USERS);
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = dir.path().join("control");
    let daemon =
        Daemon::builder(Target::Ours).passwd_file(passwd.path()).arg("--control").arg(&elsewhere).start();
    assert!(!daemon.run_dir().join("control").exists());
    let out = testsaslauthd(Target::Ours, &elsewhere, &["--admin", "reload"]);
    assert_eq!(out.code, Some(0), "-f naming the control socket itself: {out:?}");
    drop(daemon);
    assert!(!elsewhere.exists());

    let daemon = Daemon::builder(Target::Ours).passwd_file(passwd.path()).arg("--no-control").start();
    assert!(!daemon.run_dir().join("control").exists());
    assert_eq!(admin(&daemon, &["stats"]).code, Some(255));
}

#[test]
fn under_socket_activation_the_control_socket_sits_beside_the_passed_one() {
    let activate = "/usr/bin/systemd-socket-activate";
    assert!(Path::new(activate).exists(), "systemd-socket-activate missing: apt-get install systemd");
    let passwd = pwdfile_raw(USERS);
    let dir = tempfile::tempdir().unwrap();
    let mux = dir.path().join("mux");
    let log = std::fs::File::create(dir.path().join("log")).unwrap();
    let mut child = Command::new(activate)
        .arg("-l")
        .arg(&mux)
        .arg(Target::Ours.saslauthd())
        .args(["-a", "passwd-file", "-f", "-m", "/nonexistent-run-dir-unused", "-O"])
        .arg(passwd.path())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    // Whatever fails below, the activator and the daemon it started go with the test.
    struct KillGroup(nix::unistd::Pid);
    impl Drop for KillGroup {
        fn drop(&mut self) {
            let _ = nix::sys::signal::killpg(self.0, nix::sys::signal::Signal::SIGKILL);
        }
    }
    let _guard = KillGroup(pgid);
    let started = Instant::now();
    while !mux.exists() {
        assert!(started.elapsed() < Duration::from_secs(10), "systemd-socket-activate did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The daemon starts on the first connection.
    ok(send_raw(&mux, &request(b"joe", b"pw", "smtp", "")));
    let control = dir.path().join("control");
    assert_eq!(std::fs::metadata(&control).unwrap().permissions().mode() & 0o777, 0o600);
    let out = testsaslauthd(Target::Ours, &mux, &["--admin", "reload"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGTERM);
    let status = child.wait().unwrap();
    assert!(status.success(), "{}", std::fs::read_to_string(dir.path().join("log")).unwrap_or_default());
    assert!(!control.exists(), "removed at exit");
}

#[test]
fn after_user_the_control_socket_belongs_to_that_user() {
    let passwd = pwdfile_raw(USERS);
    // Readable by nobody, who checks the passwords after the switch.
    std::fs::set_permissions(passwd.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(passwd.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let daemon = Daemon::builder(Target::Ours).passwd_file(passwd.path()).args(["--user", "nobody"]).start();
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let meta = std::fs::metadata(daemon.run_dir().join("control")).unwrap();
    assert_eq!((meta.uid(), meta.permissions().mode() & 0o777), (nobody.uid.as_raw(), 0o600));
    ok(ask(&daemon, "joe", "pw", ""));
    let out = admin(&daemon, &["reload"]);
    assert_eq!(out.code, Some(0), "root may always ask: {out:?}");
}
