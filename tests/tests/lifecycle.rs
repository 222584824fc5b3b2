//! Our `saslauthd` binary's life cycle: start-up order, the pid lock, signals, exit statuses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use saslauthd_tests::run::{CLIENT_DEADLINE, run_with_deadline, run_with_input};
use saslauthd_tests::wire::{self, RawReply, wait_accepting};
use saslauthd_tests::{Daemon, Finished, PwdFile, Target, pwdfile_raw};

/// How long a daemon may take to start accepting or to exit.
const WAIT: Duration = Duration::from_secs(10);

fn bin() -> PathBuf {
    Target::Ours.saslauthd()
}

/// Runs our saslauthd to completion (in daemon mode: until the parent returns).
fn saslauthd(args: &[&str]) -> Finished {
    run_with_deadline(Command::new(bin()).args(args), CLIENT_DEADLINE)
}

/// A passwd-file for user joe / password pw, and a run dir beside it (not created).
fn setup() -> (PwdFile, PathBuf, String) {
    let passwd = pwdfile_raw(b"joe:{PLAIN}pw\n");
    let run = passwd.dir().join("run");
    let path = passwd.path().to_str().unwrap().to_owned();
    (passwd, run, path)
}

fn ask(socket: &Path, login: &[u8], password: &[u8]) -> Option<String> {
    ask_fields(socket, &[login, password, b"imap", b""])
}

/// Sends `fields` as one request and reads the reply (None: closed without one).
fn ask_fields(socket: &Path, fields: &[&[u8]]) -> Option<String> {
    answer(wire::send_raw_open(socket, &wire::counted(fields)))
}

fn answer(reply: RawReply) -> Option<String> {
    match reply {
        RawReply::ClosedWithoutReply => None,
        reply => Some(reply.text()),
    }
}

fn wait_listening(socket: &Path) {
    assert!(wait_accepting(socket, WAIT), "{} does not accept", socket.display());
}

/// A foreground daemon that is killed if the test fails before stopping it.
struct Foreground(std::process::Child);

impl Drop for Foreground {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A detached daemon's pid, terminated if the test fails before stopping it.
struct Detached(i32);

impl Drop for Detached {
    fn drop(&mut self) {
        if alive(self.0) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.0), Signal::SIGKILL);
        }
    }
}

fn pid_in(run: &Path) -> i32 {
    std::fs::read_to_string(run.join("saslauthd.pid")).unwrap().trim().parse().unwrap()
}

fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

fn signal(pid: i32, sig: Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).unwrap();
}

fn wait_gone(pid: i32) -> bool {
    let until = Instant::now() + WAIT;
    while Instant::now() < until {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn daemon_mode_is_ready_when_the_parent_exits_and_guards_its_run_dir() {
    let (_dir, run, passwd) = setup();
    let run_s = run.to_str().unwrap();
    let first = saslauthd(&["-a", "passwd-file", "-O", &passwd, "-m", run_s]);
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    // No waiting: the socket is bound and the pid written before the parent returns.
    let pid = pid_in(&run);
    let _guard = Detached(pid);
    assert!(alive(pid));
    assert_eq!(ask(&run.join("mux"), b"joe", b"pw").as_deref(), Some("OK"));

    let second = saslauthd(&["-a", "passwd-file", "-O", &passwd, "-m", run_s]);
    assert_eq!(second.code, Some(2));
    assert!(second.stderr.contains("Another instance of saslauthd is currently running"));
    assert_eq!(pid_in(&run), pid, "the first instance's pid file is untouched");
    assert_eq!(ask(&run.join("mux"), b"joe", b"pw").as_deref(), Some("OK"), "and it still answers");

    signal(pid, Signal::SIGHUP);
    std::thread::sleep(Duration::from_millis(200));
    assert!(alive(pid), "SIGHUP does not stop the daemon");
    assert_eq!(ask(&run.join("mux"), b"joe", b"pw").as_deref(), Some("OK"));

    signal(pid, Signal::SIGTERM);
    assert!(wait_gone(pid), "SIGTERM stops the daemon");
    assert!(!run.join("mux").exists() && !run.join("saslauthd.pid").exists());
}

#[test]
fn foreground_writes_a_pid_file_and_sigint_cleans_up() {
    let (_dir, run, passwd) = setup();
    let mut child = Foreground(
        Command::new(bin())
            .args(["-a", "passwd-file", "-O", &passwd, "-m", run.to_str().unwrap(), "-f"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(&run.join("mux"));
    assert_eq!(pid_in(&run) as u32, child.0.id());
    signal(child.0.id() as i32, Signal::SIGINT);
    assert!(child.0.wait().unwrap().success());
    assert!(!run.join("mux").exists() && !run.join("saslauthd.pid").exists());
}

#[test]
fn start_up_errors_say_what_is_wrong() {
    let (_dir, run, passwd) = setup();
    let run_s = run.to_str().unwrap();
    let cases: [(&[&str], i32, &str); 7] = [
        (&["-a", "kerberos9", "-m", run_s], 1, "unknown authentication mechanism: kerberos9"),
        (&["-m", run_s], 1, "no authentication mechanism specified"),
        (&["-a", "passwd-file", "-O", &passwd, "-m", "relative/dir"], 1, "-m requires an absolute pathname"),
        (&["-a", "passwd-file", "-m", run_s], 1, "failed to initialize mechanism passwd-file"),
        (&["-a", "passwd-file", "-O", "/nonexistent/passwd", "-m", run_s], 1, "/nonexistent/passwd"),
        (&["-a", "pam", "-n", "-1"], 2, "error:"),
        (&["-a", "pam", "-t", "0"], 2, "error:"),
    ];
    for (args, code, message) in cases {
        let out = saslauthd(args);
        let stderr = &out.stderr;
        assert_eq!(out.code, Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    assert!(!run.exists(), "a failed start leaves nothing behind");
}

#[test]
fn dash_v_prints_version_and_mechanisms() {
    let out = saslauthd(&["-v"]);
    assert_eq!(out.code, Some(0));
    let stderr = &out.stderr;
    assert!(
        stderr.contains("authentication mechanisms:")
            && stderr.contains("pam")
            && stderr.contains("passwd-file")
    );
}

#[test]
fn several_run_dirs_are_served_by_one_daemon() {
    let (_dir, run, passwd) = setup();
    let chroot_run = run.with_file_name("spool-var-run-saslauthd");
    let (a, b) = (run.to_str().unwrap(), chroot_run.to_str().unwrap());
    let out = saslauthd(&["-a", "passwd-file", "-O", &passwd, "-m", a, "-m", b, "-m", a]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let pid = pid_in(&run);
    let _guard = Detached(pid);
    assert_eq!(pid_in(&chroot_run), pid, "each directory names the one daemon");
    assert_eq!(ask(&run.join("mux"), b"joe", b"pw").as_deref(), Some("OK"));
    assert_eq!(ask(&chroot_run.join("mux"), b"joe", b"pw").as_deref(), Some("OK"));
    signal(pid, Signal::SIGTERM);
    assert!(wait_gone(pid));
    for dir in [&run, &chroot_run] {
        assert!(!dir.join("mux").exists() && !dir.join("saslauthd.pid").exists());
    }
}

#[test]
fn a_busy_second_run_dir_undoes_the_first() {
    let (_dir, run, passwd) = setup();
    let other = run.with_file_name("other");
    let (run_s, other_s) = (run.to_str().unwrap(), other.to_str().unwrap());
    let first = saslauthd(&["-a", "passwd-file", "-O", &passwd, "-m", other_s]);
    assert_eq!(first.code, Some(0));
    let _guard = Detached(pid_in(&other));
    let out = saslauthd(&["-a", "passwd-file", "-O", &passwd, "-m", run_s, "-m", other_s]);
    assert_eq!(out.code, Some(2));
    assert!(
        !run.join("mux").exists() && !run.join("saslauthd.pid").exists(),
        "nothing left in the first dir"
    );
    let pid = pid_in(&other);
    signal(pid, Signal::SIGTERM);
    assert!(wait_gone(pid));
}

#[test]
fn socket_activation_serves_the_inherited_socket_and_notifies() {
    let activate = "/usr/bin/systemd-socket-activate";
    assert!(Path::new(activate).exists(), "systemd-socket-activate missing: apt-get install systemd");
    let (dir, _run, passwd) = setup();
    let socket = dir.dir().join("activated.sock");
    let mut child = Foreground(
        Command::new(activate)
            .arg("-l")
            .arg(&socket)
            .arg(bin())
            .args(["-a", "passwd-file", "-O", &passwd, "-f", "-m", "/nonexistent-run-dir-unused"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_listening(&socket);
    // The daemon starts on the first connection and answers it on the inherited socket.
    assert_eq!(ask(&socket, b"joe", b"pw").as_deref(), Some("OK"));
    assert_eq!(ask(&socket, b"joe", b"nope").as_deref(), Some("NO Incorrect password"));
    assert!(!Path::new("/nonexistent-run-dir-unused").exists(), "no run dir is made under socket activation");
    signal(child.0.id() as i32, Signal::SIGTERM);
    let status = child.0.wait().unwrap();
    let mut log = String::new();
    child.0.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(status.success(), "{log}");
    assert!(log.contains("listening on socket"), "{log}");
}

#[test]
fn tells_systemd_when_ready_and_when_stopping() {
    let (dir, run, passwd) = setup();
    let notify_path = dir.dir().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut child = Foreground(
        Command::new(bin())
            .args(["-a", "passwd-file", "-O", &passwd, "-m", run.to_str().unwrap(), "-f"])
            .env("NOTIFY_SOCKET", &notify_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut buf = [0u8; 256];
    let n = notify.recv(&mut buf).unwrap();
    assert_eq!(buf[..n].trim_ascii(), b"READY=1");
    // Ready means serving.
    assert_eq!(ask(&run.join("mux"), b"joe", b"pw").as_deref(), Some("OK"));
    signal(child.0.id() as i32, Signal::SIGHUP);
    let n = notify.recv(&mut buf).unwrap();
    let reloading = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{reloading}");
    let n = notify.recv(&mut buf).unwrap();
    assert_eq!(buf[..n].trim_ascii(), b"READY=1", "after the reload");
    signal(child.0.id() as i32, Signal::SIGTERM);
    let n = notify.recv(&mut buf).unwrap();
    assert_eq!(buf[..n].trim_ascii(), b"STOPPING=1");
    assert!(child.0.wait().unwrap().success());
}

fn check(args: &[&str], stdin: &str) -> (i32, String) {
    let out =
        run_with_input(Command::new(bin()).arg("--check").args(args), stdin.as_bytes(), CLIENT_DEADLINE);
    (out.code.unwrap_or(-1), out.stdout + &out.stderr)
}

#[test]
fn check_explains_a_configuration_and_a_login() {
    let (_dir, run, passwd) = setup();
    let base = ["-a", "passwd-file", "-O", &passwd, "-m", run.to_str().unwrap()];
    let (code, text) = check(&base, "");
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("mechanism: passwd-file") && text.contains("missing (it will be created"),
        "{text}"
    );
    assert!(!run.exists(), "--check creates nothing");

    let with_user =
        |user: &'static str| [&base[..], &["--check-user", user, "--check-service", "smtp"]].concat();
    let (code, text) = check(&with_user("joe"), "pw\n");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("reply: OK"), "{text}");
    let (code, text) = check(&with_user("joe"), "wrong\n");
    assert_eq!(code, 1);
    assert!(
        text.contains("reply: NO Incorrect password") && text.contains("auth failure: [user=joe]"),
        "{text}"
    );
    assert!(!text.contains("wrong"), "the password is never echoed: {text}");
    let (code, text) = check(&with_user("nobody"), "pw\n");
    assert_eq!(code, 1);
    assert!(text.contains("reply: NO Invalid username"), "{text}");

    let (code, text) = check(&["-a", "passwd-file", "-m", run.to_str().unwrap()], "");
    assert_eq!(code, 1);
    assert!(text.contains("failed to initialize mechanism passwd-file"), "{text}");
}

#[test]
fn check_refuses_the_run_directories_the_daemon_refuses() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, run, passwd) = setup();
    std::fs::create_dir(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o777)).unwrap();
    let file = dir.dir().join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    for (bad, why) in [(&run, "writable by others (mode 0777)"), (&file, "not a directory")] {
        let args = ["-a", "passwd-file", "-O", &passwd, "-f", "-m", bad.to_str().unwrap()];
        let (code, text) = check(&args, "");
        assert_eq!(code, 1, "--check passed what the daemon refuses: {text}");
        assert!(text.contains("refused") && text.contains(why), "{text}");
        let started = saslauthd(&args);
        assert_eq!(started.code, Some(1), "the daemon refuses it too: {}", started.stderr);
    }
}

#[test]
fn drops_privileges_after_binding() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, run, passwd) = setup();
    // The unprivileged daemon must still read its password file.
    std::fs::set_permissions(dir.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&passwd, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run_s = run.to_str().unwrap();
    let out = saslauthd(&["-a", "passwd-file", "-O", &passwd, "-m", run_s, "--user", "nobody"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let pid = pid_in(&run);
    let _guard = Detached(pid);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uids = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap().uid.as_raw();
    assert!(uids.split_whitespace().skip(1).all(|u| u == nobody.to_string()), "{uids}");
    assert_eq!(ask(&run.join("mux"), b"joe", b"pw").as_deref(), Some("OK"));
    signal(pid, Signal::SIGTERM);
    assert!(wait_gone(pid));

    let out = saslauthd(&["-a", "passwd-file", "-O", &passwd, "-m", run_s, "--user", "no-such-user-x"]);
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("unknown user"));
}

#[test]
fn metrics_count_what_the_daemon_answered() {
    let users: String = (0..11).map(|i| format!("u{i}:{{PLAIN}}pw\n")).collect();
    let passwd = pwdfile_raw(format!("joe:{{PLAIN}}pw\n{users}").as_bytes());
    // -s 1: room for 10 users; short penalties keep the test fast.
    let mut daemon = Daemon::builder(Target::Ours)
        .passwd_file(passwd.path())
        .args(["-c", "-s", "1", "--penalty-base", "0.05", "--penalty-max", "0.1"])
        .metrics()
        .start();
    let mux = daemon.socket();
    assert_eq!(ask(mux, b"joe", b"pw").as_deref(), Some("OK"), "miss");
    assert_eq!(ask(mux, b"joe", b"pw").as_deref(), Some("OK"), "hit");
    assert_eq!(
        ask(mux, b"joe", b"bad").as_deref(),
        Some("NO Incorrect password"),
        "miss, drops joe, penalises joe"
    );
    assert_eq!(ask(mux, b"", b"bad").as_deref(), Some("NO NULL login received"), "refused before the cache");
    for i in 0..11 {
        // 11 misses; the 11th user evicts the first.
        assert_eq!(ask(mux, format!("u{i}").as_bytes(), b"pw").as_deref(), Some("OK"));
    }
    let from = ask_fields(mux, &[b"joe", b"bad2", b"smtp", b"", b"192.0.2.7;4000"]);
    assert_eq!(from.as_deref(), Some("NO Incorrect password"), "miss, counted by pair and address too");
    let text = daemon.metrics();
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    for line in [
        r#"saslauthd_requests_total{mech="passwd-file",result="ok"} 13"#,
        r#"saslauthd_requests_total{mech="passwd-file",result="no"} 2"#,
        r#"saslauthd_requests_total{mech="passwd-file",result="refused"} 1"#,
        r#"saslauthd_backend_up{mech="passwd-file"} 1"#,
        "saslauthd_cache_hits_total 1\n",
        "saslauthd_cache_misses_total 14\n",
        "saslauthd_cache_evictions_total 1\n",
        "saslauthd_cache_invalidations_total 1\n",
        "saslauthd_cache_users 10\n",
        "saslauthd_penalty_held_total ",
        "saslauthd_penalty_refused_total 0\n",
        r#"saslauthd_penalty_entries{table="user"} 1"#,
        r#"saslauthd_penalty_entries{table="pair"} 1"#,
        r#"saslauthd_penalty_entries{table="address"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line}:\n{text}");
    }
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(daemon.terminate().success());
}

#[test]
fn sighup_reloads_the_configuration_and_keeps_it_when_the_new_one_is_bad() {
    let sqlite3 = Path::new("/usr/bin/sqlite3");
    assert!(sqlite3.exists(), "sqlite3 is missing: apt-get install sqlite3");
    let dir = tempfile::tempdir().unwrap();
    for (db, password) in [("a.db", "one"), ("b.db", "two")] {
        let sql = format!(
            "CREATE TABLE users (name TEXT, pw TEXT); INSERT INTO users VALUES ('joe', '{{PLAIN}}{password}');"
        );
        assert!(Command::new(sqlite3).arg(dir.path().join(db)).arg(sql).status().unwrap().success());
    }
    let conf = dir.path().join("sql.conf");
    let write_conf = |engine: &str, db: &str| {
        let db = dir.path().join(db);
        let text = format!(
            "sql_engine: {engine}\nsql_database: {}\nsql_select: SELECT pw FROM users WHERE name = '%u'\n",
            db.display()
        );
        std::fs::write(&conf, text).unwrap();
    };
    write_conf("sqlite", "a.db");
    let mut daemon =
        Daemon::builder(Target::Ours).mech("sql", Some(&conf)).args(["-c", "--no-penalty"]).start();
    let pid = daemon.pid() as i32;
    let mux = daemon.socket();
    let log_has = |needle: &str| {
        daemon.wait_for_log(needle, WAIT);
        daemon.log()
    };
    assert_eq!(ask(mux, b"joe", b"one").as_deref(), Some("OK"), "a.db, now cached");

    // A client connected before the reload, sending its request after it, is answered.
    let mut open = wire::connect(mux);
    let request = wire::counted(&[b"joe", b"two", b"imap", b""]);
    open.write_all(&request[..4]).unwrap();
    write_conf("sqlite", "b.db");
    signal(pid, Signal::SIGHUP);
    let text = log_has("SIGHUP: configuration reloaded");
    assert!(text.contains("SIGHUP: configuration reloaded"), "{text}");
    open.write_all(&request[4..]).unwrap();
    assert_eq!(answer(wire::read_to_close(&mut open)).as_deref(), Some("OK"), "answered, by b.db");
    assert_eq!(ask(mux, b"joe", b"one").as_deref(), Some("NO Incorrect password"), "cache emptied");

    write_conf("oracle", "b.db");
    signal(pid, Signal::SIGHUP);
    let text = log_has("configuration not reloaded");
    assert!(text.contains("configuration not reloaded") && text.contains("sql_engine"), "{text}");
    assert_eq!(ask(mux, b"joe", b"two").as_deref(), Some("OK"), "b.db still in force");
    assert_eq!(ask(mux, b"joe", b"one").as_deref(), Some("NO Incorrect password"));

    assert!(daemon.terminate().success());
}

#[test]
fn configuration_warnings_reach_the_operator_starting_the_daemon() {
    let (dir, run, _) = setup();
    let conf = dir.dir().join("saslauthd.conf");
    std::fs::write(&conf, "ldap_servers: ldap://127.0.0.1:9/\nldap_serach_base: dc=example\n").unwrap();
    let started = saslauthd(&["-a", "ldap", "-O", conf.to_str().unwrap(), "-m", run.to_str().unwrap()]);
    let stderr = started.stderr;
    assert_eq!(started.code, Some(0), "{stderr}");
    let _guard = Detached(pid_in(&run));
    assert!(stderr.contains("unknown key ldap_serach_base ignored"), "{stderr}");
}
