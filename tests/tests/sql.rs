//! `-a sql` end to end against a real MariaDB started by the test: mkpasswd hashes (MD5-crypt,
//! SHA-512-crypt, bcrypt) in the HOWTO's `mailbox` table, inactive users filtered by the query,
//! injection attempts in user and realm, failover over `sql_hostnames`, and the database killed
//! under load (tempfail, never `NO`) and restarted (recovery without restarting the daemon).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use saslauthd_tests::bins::require_program;
use saslauthd_tests::mariadb::{MariaDb, free_port};
use saslauthd_tests::{Daemon, RawReply, Target, counted_reply, request, send_raw_open};

/// A crypt(3) hash of `password` by the system's `mkpasswd -m <method>` (libxcrypt).
fn mkpasswd(method: &str, password: &str) -> String {
    let out = Command::new(require_program("mkpasswd", "whois"))
        .args(["-m", method, "--", password])
        .output()
        .expect("run mkpasswd");
    assert!(out.status.success(), "mkpasswd -m {method}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
}

fn reply(daemon: &Daemon, login: &str, password: &str, realm: &str) -> RawReply {
    send_raw_open(daemon.socket(), &request(login.as_bytes(), password.as_bytes(), "smtp", realm))
}

fn expect(daemon: &Daemon, login: &str, password: &str, realm: &str, text: &str) {
    assert_eq!(
        reply(daemon, login, password, realm),
        counted_reply(text),
        "{login:?}/{realm:?}\n{}",
        daemon.log()
    );
}

/// MariaDB with the standard users; returns it and the hashes' users.
fn mailbox() -> MariaDb {
    let db = MariaDb::start();
    let md5 = mkpasswd("md5crypt", "md5-pw");
    let sha = mkpasswd("sha512crypt", "sha-pw");
    let bcrypt = mkpasswd("bcrypt", "bcrypt-pw");
    db.mailbox(&[
        ("md5@example.org", &md5, true),
        ("sha@example.org", &sha, true),
        ("bcrypt@example.org", &bcrypt, true),
        ("gone@example.org", &md5, false),
        ("odd%_\\'@example.org", &md5, true),
    ]);
    db
}

#[test]
fn mariadb_hashes_filters_and_injection() {
    let db = mailbox();
    let dir = tempfile::tempdir().unwrap();
    let conf = db.sql_conf(dir.path(), &format!("127.0.0.1:{}", db.port()), "");
    // '%u@%r' as in the HOWTO, with the realm joined by the query rather than by -r.
    let text = std::fs::read_to_string(&conf).unwrap().replace("'%u'", "'%u@%r'");
    std::fs::write(&conf, text).unwrap();
    let daemon = Daemon::builder(Target::Ours).mech("sql", Some(&conf)).start();
    let realm = "example.org";
    expect(&daemon, "md5", "md5-pw", realm, "OK");
    expect(&daemon, "sha", "sha-pw", realm, "OK");
    expect(&daemon, "bcrypt", "bcrypt-pw", realm, "OK");
    expect(&daemon, "md5", "sha-pw", realm, "NO Incorrect password");
    expect(&daemon, "gone", "md5-pw", realm, "NO Invalid username");
    expect(&daemon, "nobody", "x", realm, "NO Invalid username");
    for evil in ["' OR '1'='1", "md5@example.org' -- ", "\\", "%", "_d5", "md5\\"] {
        expect(&daemon, evil, "md5-pw", realm, "NO Invalid username");
        expect(&daemon, "md5", "md5-pw", evil, "NO Invalid username");
    }
    expect(&daemon, "odd%_\\'", "md5-pw", realm, "OK");
}

#[test]
fn failover_over_hostnames_and_the_socket() {
    let db = mailbox();
    let dir = tempfile::tempdir().unwrap();
    // A dead first server, then the live one: answered, and the dead one is then skipped.
    let conf = db.sql_conf(
        dir.path(),
        &format!("127.0.0.1:{}, 127.0.0.1:{}", free_port(), db.port()),
        "sql_connect_timeout: 1\nsql_retry_interval: 60\n",
    );
    let daemon = Daemon::builder(Target::Ours).mech("sql", Some(&conf)).start();
    expect(&daemon, "md5@example.org", "md5-pw", "", "OK");
    let started = std::time::Instant::now();
    expect(&daemon, "sha@example.org", "sha-pw", "", "OK");
    assert!(started.elapsed() < Duration::from_millis(900), "the dead server was not skipped");
    drop(daemon);

    let sock_dir = tempfile::tempdir().unwrap();
    let conf = db.sql_conf(sock_dir.path(), &db.socket().display().to_string(), "");
    let daemon = Daemon::builder(Target::Ours).mech("sql", Some(&conf)).start();
    expect(&daemon, "bcrypt@example.org", "bcrypt-pw", "", "OK");
}

#[test]
fn database_killed_under_load_tempfails_then_recovers() {
    let mut db = mailbox();
    let dir = tempfile::tempdir().unwrap();
    let conf = db.sql_conf(
        dir.path(),
        &format!("127.0.0.1:{}", db.port()),
        "sql_connect_timeout: 0.5\nsql_timeout: 2\nsql_retry_interval: 0.2\n",
    );
    let daemon = Arc::new(Daemon::builder(Target::Ours).mech("sql", Some(&conf)).start());
    expect(&daemon, "md5@example.org", "md5-pw", "", "OK");

    let stop = Arc::new(AtomicBool::new(false));
    let (oks, tempfails) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (daemon, stop, oks, tempfails) =
                (daemon.clone(), stop.clone(), oks.clone(), tempfails.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match reply(&daemon, "md5@example.org", "md5-pw", "") {
                        RawReply::ClosedWithoutReply => tempfails.fetch_add(1, Ordering::SeqCst),
                        r => {
                            assert_eq!(r, counted_reply("OK"), "never NO while the database is down");
                            oks.fetch_add(1, Ordering::SeqCst)
                        }
                    };
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    db.stop();
    std::thread::sleep(Duration::from_secs(2));
    let during = tempfails.load(Ordering::SeqCst);
    db.resume();
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    assert!(during > 0, "no tempfail while the database was down");
    expect(&daemon, "md5@example.org", "md5-pw", "", "OK");
    expect(&daemon, "md5@example.org", "wrong", "", "NO Incorrect password");
    assert!(daemon.log().contains("sql lookup failed"), "{}", daemon.log());
}

#[test]
fn bad_config_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("sql.conf");
    std::fs::write(
        &conf,
        "sql_engine: mysql\nsql_database: mail\nsql_select: SELECT p FROM t WHERE u = %u\n",
    )
    .unwrap();
    let out = Command::new(Target::Ours.saslauthd())
        .args(["-d", "-a", "sql", "-O"])
        .arg(&conf)
        .arg("-m")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("sql.conf:3: sql_select"), "{stderr}");
}

#[test]
fn sqlite_file_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mail.db");
    let hash = mkpasswd("sha512crypt", "lite-pw");
    let sqlite3 = Path::new("/usr/bin/sqlite3");
    if !sqlite3.exists() {
        // The unit tests in backends cover SQLite without the CLI.
        eprintln!("sqlite3 CLI not installed; skipped");
        return;
    }
    let status = Command::new(sqlite3)
        .arg(&db)
        .arg(format!(
            "CREATE TABLE mailbox (username TEXT, password TEXT, active INT); \
             INSERT INTO mailbox VALUES ('lite', '{hash}', 1);"
        ))
        .status()
        .unwrap();
    assert!(status.success());
    let conf = dir.path().join("sql.conf");
    std::fs::write(
        &conf,
        format!(
            "sql_engine: sqlite\nsql_database: {}\nsql_select: SELECT password FROM mailbox WHERE username = '%u' AND active = 1\n",
            db.display()
        ),
    )
    .unwrap();
    let daemon = Daemon::builder(Target::Ours).mech("sql", Some(&conf)).start();
    expect(&daemon, "lite", "lite-pw", "", "OK");
    expect(&daemon, "lite", "nope", "", "NO Incorrect password");
}

/// Benchmark for the report (run by hand: `cargo test -p saslauthd-tests --test sql -- --ignored
/// --nocapture bench`): 16 clients for 10 s against the same MariaDB table of MD5-crypt hashes,
/// ours (`-a sql`) and Cyrus (`-a pam` with `pam_mysql`, a uniquely named /etc/pam.d file created
/// and removed by the test), both measured with our `testsaslauthd --load`.
#[test]
#[ignore = "benchmark; needs libpam-mysql"]
fn bench_vs_cyrus_pam_mysql() {
    use saslauthd_tests::PamService;
    use saslauthd_tests::mariadb::{DB_NAME, DB_PASSWORD, DB_USER};
    require_program("mariadbd", "mariadb-server");
    assert!(
        Path::new("/lib/x86_64-linux-gnu/security/pam_mysql.so").exists(),
        "apt-get install libpam-mysql"
    );
    let db = MariaDb::start();
    let md5 = mkpasswd("md5crypt", "bench-pw");
    let rows: Vec<(String, String, bool)> =
        (0..100).map(|i| (format!("u{i}@example.org"), md5.clone(), true)).collect();
    let rows: Vec<(&str, &str, bool)> = rows.iter().map(|(u, h, a)| (u.as_str(), h.as_str(), *a)).collect();
    db.mailbox(&rows);
    let load = |daemon: &Daemon, service: &str| {
        let out = Command::new(Target::Ours.testsaslauthd())
            .arg("-f")
            .arg(daemon.socket())
            .args([
                "--load",
                "--concurrency",
                "16",
                "--duration",
                "10",
                "-u",
                "u7@example.org",
                "-p",
                "bench-pw",
            ])
            .args(["-s", service])
            .output()
            .unwrap();
        let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(
            line.contains("fail=0"),
            "{line}\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            daemon.log()
        );
        line
    };
    let dir = tempfile::tempdir().unwrap();
    let conf = db.sql_conf(dir.path(), &db.socket().display().to_string(), "sql_pool_size: 16\n");
    let ours = Daemon::builder(Target::Ours).mech("sql", Some(&conf)).start();
    let ours_line = load(&ours, "smtp");
    drop(ours);
    let pam = PamService::system(&format!(
        "auth required pam_mysql.so user={DB_USER} passwd={DB_PASSWORD} host={} db={DB_NAME} table=mailbox \
         usercolumn=username passwdcolumn=password crypt=1 where=active=1\n\
         account required pam_permit.so\n",
        db.socket().display()
    ));
    let cyrus = Daemon::builder(Target::Cyrus).pam(&pam).threads(16).start();
    let cyrus_line = load(&cyrus, pam.name());
    println!("ours  (-a sql):            {ours_line}");
    println!("cyrus (-a pam + pam_mysql): {cyrus_line}");
}
