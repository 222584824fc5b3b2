//! App passwords (issue 17) end to end: several credentials for one account, each scoped by
//! service, client network and expiry, from a passwd-file, a SQLite file, a real MariaDB and a
//! real PostgreSQL;
//! the replies, the log lines (labels and reasons, never a password) and the cache (`-c`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use saslauthd_tests::mariadb::MariaDb;
use saslauthd_tests::{
    Daemon, DaemonBuilder, Postgres, RawReply, Target, counted, counted_reply, mkpasswd_sha512, pwdfile_raw,
    send_raw_open,
};

/// The account's passwords: (password, scope, what the scope is for).
const MAIN: &str = "Main-pw-7731";
const PHONE: &str = "Phone-pw-2210";
const OLD: &str = "Old-pw-0042";
const OFFICE: &str = "Office-pw-5120";
const TEMP: &str = "Temp-pw-8086";
const ALL: [&str; 5] = [MAIN, PHONE, OLD, OFFICE, TEMP];

/// One of joe's credentials: the password and the scope columns (`None`: unset).
struct Cred {
    password: &'static str,
    scope: [Option<&'static str>; 4],
}

/// The scope keys, in [`Cred::scope`]'s order.
const KEYS: [&str; 4] = ["allow_services", "allow_nets", "expires", "label"];

/// joe's four credentials.
const JOE: [Cred; 4] = [
    Cred { password: MAIN, scope: [Some("imap"), None, None, None] },
    Cred { password: PHONE, scope: [Some("smtp,submission"), None, None, Some("phone")] },
    Cred { password: OLD, scope: [None, None, Some("2020-01-31"), Some("old")] },
    Cred { password: OFFICE, scope: [None, Some("192.0.2.0/24,2001:db8::/32"), None, Some("office")] },
];

fn ask(daemon: &Daemon, password: &str, service: &str, addr: Option<&str>) -> RawReply {
    let mut fields: Vec<&[u8]> = vec![b"joe", password.as_bytes(), service.as_bytes(), b""];
    if let Some(addr) = addr {
        fields.push(addr.as_bytes());
    }
    send_raw_open(daemon.socket(), &counted(&fields))
}

fn expect(daemon: &Daemon, password: &str, service: &str, addr: Option<&str>, text: &str) {
    let got = ask(daemon, password, service, addr);
    assert_eq!(got, counted_reply(text), "{service} {addr:?} {}\n{}", &password[..4], daemon.log());
}

/// Our daemon logging everything (the success lines are debug, and no level may show a
/// password) and without penalties (the tests send refused passwords on purpose).
fn daemon(builder: DaemonBuilder) -> Daemon {
    builder.env("SASLAUTHD_LOG", "trace").arg("--no-penalty").start()
}

/// The cases, whatever the source: every credential where its scope admits and only
/// there, refusals replied like a wrong password and logged with the scope that refused.
fn check_scopes(daemon: &Daemon) {
    let refused = "NO Incorrect password";
    // The main password: IMAP only.
    expect(daemon, MAIN, "imap", None, "OK");
    expect(daemon, MAIN, "IMAP", None, "OK");
    expect(daemon, MAIN, "smtp", None, refused);
    // The phone's app password: SMTP (and submission) only.
    expect(daemon, PHONE, "smtp", None, "OK");
    expect(daemon, PHONE, "submission", None, "OK");
    expect(daemon, PHONE, "imap", None, refused);
    // Expired: nowhere.
    expect(daemon, OLD, "smtp", None, refused);
    // The office network: only with a client address, and one inside it.
    expect(daemon, OFFICE, "smtp", Some("192.0.2.44;50123"), "OK");
    expect(daemon, OFFICE, "imap", Some("2001:db8:7::1;993"), "OK");
    expect(daemon, OFFICE, "smtp", Some("203.0.113.9;50123"), refused);
    expect(daemon, OFFICE, "smtp", None, refused);
    expect(daemon, "Nothing-pw", "smtp", Some("192.0.2.44;1"), refused);

    let log = daemon.log();
    for line in [
        "auth success: [user=joe] [service=smtp] [realm=] [mech=MECH] [credential=phone]",
        "[remote=192.0.2.44;50123] [mech=MECH] [credential=office]",
        "[service=imap] [realm=] [mech=MECH] [reason=credential phone not allowed for service imap]",
        "[service=smtp] [realm=] [mech=MECH] [reason=credential #1 not allowed for service smtp]",
        "[reason=credential old expired]",
        "[remote=203.0.113.9;50123] [mech=MECH] [reason=credential office not allowed from this client address]",
        "[reason=credential office needs the client address, none was sent]",
        "[remote=192.0.2.44;1] [mech=MECH] [reason=Incorrect password]",
    ] {
        let line = line.replace("MECH", mech(daemon));
        assert!(log.contains(&line), "no {line:?} in\n{log}");
    }
    assert!(
        log.contains("auth success: [user=joe] [service=imap] [realm=] [mech=")
            && !log.contains("[credential=#"),
        "a success through an unlabelled credential names none\n{log}"
    );
    for password in ALL {
        assert!(!log.contains(password), "a password in the log\n{log}");
    }
}

fn mech(daemon: &Daemon) -> &'static str {
    if daemon.log().contains("[mech=sql]") { "sql" } else { "passwd-file" }
}

fn passwd_file_lines() -> String {
    JOE.iter()
        .map(|c| {
            let scope: Vec<String> =
                KEYS.iter().zip(c.scope).filter_map(|(key, v)| v.map(|v| format!("{key}={v}"))).collect();
            format!("joe:{}:1000:1000::/home/joe::{}\n", mkpasswd_sha512(c.password), scope.join(" "))
        })
        .collect()
}

#[test]
fn passwd_file_lines_are_scoped_credentials() {
    let file =
        pwdfile_raw(format!("# joe's main password and app passwords\n{}", passwd_file_lines()).as_bytes());
    let d = daemon(Daemon::builder(Target::Ours).passwd_file(file.path()));
    check_scopes(&d);
}

/// `-c`: a success is remembered per service, so the phone's SMTP success never answers IMAP;
/// one scoped by address is not remembered at all, nor (with negative entries) a refusal that
/// depends on the address.
#[test]
fn the_cache_never_widens_a_scope() {
    let temp = format!("joe:{}::::::expires=2999-12-31 label=temp\n", mkpasswd_sha512(TEMP));
    let file = pwdfile_raw(format!("{}{temp}", passwd_file_lines()).as_bytes());
    let d = daemon(Daemon::builder(Target::Ours).passwd_file(file.path()).args([
        "-c",
        "--cache-negative-ttl",
        "60",
    ]));
    expect(&d, PHONE, "smtp", None, "OK");
    expect(&d, PHONE, "smtp", None, "OK");
    // A hit names no credential: the cache keeps no more than that the password was good.
    assert!(d.log().contains("[service=smtp] [realm=] [mech=passwd-file] [cached]"), "{}", d.log());
    expect(&d, PHONE, "imap", None, "NO Incorrect password");
    // Address-scoped: an OK from inside is not cached, so outside is asked and refused …
    expect(&d, OFFICE, "smtp", Some("192.0.2.44;1"), "OK");
    expect(&d, OFFICE, "smtp", Some("203.0.113.9;1"), "NO Incorrect password");
    // … and that refusal is not cached either, so inside is still OK.
    expect(&d, OFFICE, "smtp", Some("192.0.2.45;1"), "OK");
    // Date-scoped: never cached either (the cache does not know the date).
    expect(&d, TEMP, "imap", None, "OK");
    expect(&d, TEMP, "imap", None, "OK");
    let log = d.log();
    assert_eq!(log.matches("[mech=passwd-file] [credential=temp]\n").count(), 2, "{log}");
    assert_eq!(log.matches("[mech=passwd-file] [credential=office]\n").count(), 2, "{log}");
    assert_eq!(log.matches("[cached]").count(), 1, "only the phone's repeated SMTP login\n{log}");
    assert_eq!(
        log.matches("[reason=credential office not allowed from this client address]").count(),
        1,
        "{log}"
    );
}

fn sqlite3(db: &Path, sql: &str) {
    let status = Command::new("sqlite3").arg(db).arg(sql).status().expect("run sqlite3 (apt sqlite3)");
    assert!(status.success(), "sqlite3 {sql}");
}

/// SQL rows for joe, as `INSERT … VALUES` tuples (NULL for an unset scope column).
fn sql_rows() -> String {
    JOE.iter()
        .map(|c| {
            let columns: Vec<String> =
                c.scope.iter().map(|v| v.map_or("NULL".to_owned(), |v| format!("'{v}'"))).collect();
            format!("('joe', '{}', {})", mkpasswd_sha512(c.password), columns.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every row is a credential; the scope comes from columns by name. Also: a row limit.
#[test]
fn sqlite_rows_are_scoped_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mail.db");
    sqlite3(
        &db,
        &format!(
            "CREATE TABLE credentials (username TEXT, password TEXT, allow_services TEXT, allow_nets TEXT, \
             expires TEXT, label TEXT); INSERT INTO credentials VALUES {};",
            sql_rows()
        ),
    );
    let conf = dir.path().join("sql.conf");
    std::fs::write(
        &conf,
        format!(
            "sql_engine: sqlite\nsql_database: {}\nsql_select: SELECT password, allow_services, allow_nets, \
             expires, label FROM credentials WHERE username = '%u'\n",
            db.display()
        ),
    )
    .unwrap();
    let d = daemon(Daemon::builder(Target::Ours).mech("sql", Some(&conf)));
    check_scopes(&d);
    drop(d);

    // More rows than --max-credentials: a tempfail with an error line, before any hash.
    let d = daemon(Daemon::builder(Target::Ours).mech("sql", Some(&conf)).args(["--max-credentials", "3"]));
    assert_eq!(ask(&d, PHONE, "smtp", None), RawReply::ClosedWithoutReply, "{}", d.log());
    assert!(d.log().contains("sql_select gave more than 3 rows (--max-credentials)"), "{}", d.log());
}

/// MariaDB, with `expires` a real DATE column cast to text in the select.
#[test]
fn mariadb_rows_are_scoped_credentials() {
    let db = MariaDb::start();
    db.sql(&format!(
        "CREATE TABLE mail.credentials (username VARCHAR(255) NOT NULL, password VARCHAR(255), \
         allow_services VARCHAR(255), allow_nets VARCHAR(255), expires DATE, label VARCHAR(32), KEY (username)); \
         INSERT INTO mail.credentials VALUES {};",
        sql_rows()
    ));
    let dir = tempfile::tempdir().unwrap();
    let conf = db.sql_conf(dir.path(), &format!("127.0.0.1:{}", db.port()), "");
    let text = std::fs::read_to_string(&conf).unwrap().replace(
        "SELECT password FROM mailbox WHERE username = '%u' AND active = 1",
        "SELECT password, allow_services, allow_nets, CAST(expires AS CHAR) AS expires, label \
         FROM credentials WHERE username = '%u'",
    );
    std::fs::write(&conf, text).unwrap();
    let d = daemon(Daemon::builder(Target::Ours).mech("sql", Some(&conf)));
    check_scopes(&d);
}

/// PostgreSQL, with `expires` a real `date` column cast to text in the select.
#[test]
fn postgres_rows_are_scoped_credentials() {
    let pg = Postgres::start();
    pg.sql(
        "mail",
        &format!(
            "CREATE TABLE credentials (username text NOT NULL, password text, allow_services text, \
             allow_nets text, expires date, label text);\n\
             GRANT SELECT ON credentials TO sasl;\n\
             INSERT INTO credentials VALUES {};\n",
            sql_rows()
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let conf = pg.sql_conf(
        dir.path(),
        &format!("127.0.0.1:{}", pg.port()),
        "SELECT password, allow_services, allow_nets, expires::text AS expires, label \
         FROM credentials WHERE username = '%u'",
        "",
    );
    let d = daemon(Daemon::builder(Target::Ours).mech("sql", Some(&conf)));
    check_scopes(&d);
}
