//! The `sql` verifier against a real SQLite file: hashes, filtering, injection, missing database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use zeroize::Zeroizing;

/// `mkpasswd -m md5crypt secret1`, `-m sha512crypt secret2`, `-m bcrypt secret3`.
const MD5: &str = "$1$d69nryKN$MnEVTchnqLJfuwldvNqy8.";
const SHA512: &str = "$6$AKCtJMJgz27BhzHh$cpTElqLKaAQtSneVkoc/ltyYbj.xaFgy2riFontIulKUCbz/gBuSSOliI5c3IB7Bjnbjp9Q9Vwc97CeDf6IiK0";
const BCRYPT: &str = "$2b$05$qYbQqR1ARrdl3P72jKEn2.y.7KehxJNdI9nGba52MFvZ2kBtq64Je";

/// The HOWTO's `mailbox` table (postfixadmin's columns that matter here).
async fn mailbox_db(path: &Path) {
    let pool = SqlitePool::connect_with(SqliteConnectOptions::new().filename(path).create_if_missing(true))
        .await
        .unwrap();
    sqlx::query("CREATE TABLE mailbox (username TEXT, password TEXT, active INTEGER)")
        .execute(&pool)
        .await
        .unwrap();
    let rows: &[(&str, Option<&str>, i64)] = &[
        ("md5@example.org", Some(MD5), 1),
        ("sha@example.org", Some(SHA512), 1),
        ("bcrypt@example.org", Some(BCRYPT), 1),
        ("off@example.org", Some(MD5), 0),
        ("plain@example.org", Some("cleartext"), 1),
        ("braced@example.org", Some("{PLAIN}braced"), 1),
        ("null@example.org", None, 1),
        ("twice@example.org", Some(MD5), 1),
        ("twice@example.org", Some(MD5), 1),
        ("a%b_c\\d@example.org", Some(MD5), 1),
    ];
    for (user, pw, active) in rows {
        sqlx::query("INSERT INTO mailbox VALUES (?, ?, ?)")
            .bind(user)
            .bind(pw)
            .bind(active)
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
}

fn sql(dir: &Path, extra: &str) -> Sql {
    let text = format!(
        "sql_engine: sqlite\nsql_database: {}\n\
         sql_select: SELECT password FROM mailbox WHERE username = '%u@%r' AND active = 1\n{extra}",
        dir.join("mail.db").display()
    );
    let conf = ConfFile::parse(Path::new("sql.conf"), &text).unwrap();
    Sql::from_config(SqlConfig::from_conf(&conf).unwrap(), BlockingPool::new(2)).unwrap()
}

fn creds(login: &str, password: &str) -> Credentials {
    Credentials {
        login: login.into(),
        password: Zeroizing::new(password.as_bytes().to_vec()),
        service: "smtp".into(),
        realm: "example.org".into(),
        client_addr: None,
    }
}

#[tokio::test]
async fn sqlite_hashes_filters_and_injection() {
    let dir = tempfile::tempdir().unwrap();
    mailbox_db(&dir.path().join("mail.db")).await;
    let v = sql(dir.path(), "");
    let check = |login: &'static str, pw: &'static str| {
        let v = &v;
        async move { v.verify(&creds(login, pw)).await }
    };
    assert_eq!(check("md5", "secret1").await, Outcome::Ok);
    assert_eq!(check("sha", "secret2").await, Outcome::Ok);
    assert_eq!(check("bcrypt", "secret3").await, Outcome::Ok);
    assert_eq!(check("md5", "secret2").await, Outcome::No(Reject::IncorrectPassword));
    assert_eq!(
        check("off", "secret1").await,
        Outcome::No(Reject::InvalidUsername),
        "inactive filtered by the query"
    );
    assert_eq!(check("nobody", "x").await, Outcome::No(Reject::InvalidUsername));
    assert_eq!(check("null", "").await, Outcome::No(Reject::IncorrectPassword));
    assert_eq!(check("twice", "secret1").await, Outcome::Ok, "two rows are two credentials");
    assert_eq!(check("braced", "braced").await, Outcome::Ok);
    // Cleartext needs sql_password_scheme: plain; under crypt it is an unusable hash.
    assert_eq!(check("plain", "cleartext").await, Outcome::No(Reject::IncorrectPassword));
    // Injection attempts are values, not SQL; LIKE wildcards mean nothing to `=`.
    assert_eq!(check("x' OR '1'='1", "secret1").await, Outcome::No(Reject::InvalidUsername));
    assert_eq!(check("md5@example.org' --", "secret1").await, Outcome::No(Reject::InvalidUsername));
    assert_eq!(check("%", "secret1").await, Outcome::No(Reject::InvalidUsername));
    assert_eq!(check("md_", "secret1").await, Outcome::No(Reject::InvalidUsername));
    assert_eq!(check("a%b_c\\d", "secret1").await, Outcome::Ok, "odd characters match only themselves");
}

#[tokio::test]
async fn plain_scheme_reads_unprefixed_values_as_cleartext() {
    let dir = tempfile::tempdir().unwrap();
    mailbox_db(&dir.path().join("mail.db")).await;
    let v = sql(dir.path(), "sql_password_scheme: plain\n");
    assert_eq!(v.verify(&creds("plain", "cleartext")).await, Outcome::Ok);
    assert_eq!(v.verify(&creds("plain", "cleartex")).await, Outcome::No(Reject::IncorrectPassword));
    assert_eq!(v.verify(&creds("braced", "braced")).await, Outcome::Ok);
}

/// `sql_hash_cache_ttl`: a repeated match is remembered, but the database still decides: a
/// changed hash or a deactivated row takes effect at the next login.
#[tokio::test]
async fn hash_cache_remembers_matches_and_still_asks_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mail.db");
    mailbox_db(&db).await;
    let v = sql(dir.path(), "sql_hash_cache_ttl: 60\n");
    assert_eq!(v.verify(&creds("md5", "secret1")).await, Outcome::Ok);
    assert_eq!(v.verify(&creds("md5", "secret1")).await, Outcome::Ok);
    assert_eq!(v.verify(&creds("md5", "wrong")).await, Outcome::No(Reject::IncorrectPassword));
    assert_eq!(v.verify(&creds("sha", "secret2")).await, Outcome::Ok);
    let change = |sql: &'static str| {
        let db = db.clone();
        async move {
            let pool = SqlitePool::connect_with(SqliteConnectOptions::new().filename(db)).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
    };
    change("UPDATE mailbox SET password = '$1$OtherSlt$ybW8VGBEy0ZCGu1qwsQxd.' WHERE username = 'md5@example.org'")
        .await;
    assert_eq!(v.verify(&creds("md5", "secret1")).await, Outcome::No(Reject::IncorrectPassword), "new hash");
    change("UPDATE mailbox SET active = 0 WHERE username = 'sha@example.org'").await;
    assert_eq!(v.verify(&creds("sha", "secret2")).await, Outcome::No(Reject::InvalidUsername), "deactivated");
    assert_eq!(v.forget(), 2, "only the two matches were kept");
    assert_eq!(sql(dir.path(), "").forget(), 0, "off by default");
}

#[tokio::test]
async fn missing_database_is_a_tempfail_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let v = sql(dir.path(), "sql_connect_timeout: 0.3\nsql_retry_interval: 0.1\n");
    assert!(matches!(v.verify(&creds("md5", "secret1")).await, Outcome::Unavailable(_)));
    assert!(!dir.path().join("mail.db").exists(), "never created");
    mailbox_db(&dir.path().join("mail.db")).await;
    assert_eq!(v.verify(&creds("md5", "secret1")).await, Outcome::Ok);
}

#[test]
fn new_reports_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sql.conf");
    std::fs::write(&file, "sql_engine: sqlite\nsql_database: x\nsql_select: SELECT p FROM t WHERE u = %u\n")
        .unwrap();
    let options = MechanismOptions {
        option: Some(file.display().to_string()),
        pool: BlockingPool::new(1),
        pam_confdir: None,
        max_credentials: crate::credential::MAX_CREDENTIALS,
    };
    let err = Sql::new(&options).err().unwrap().to_string();
    assert!(err.contains("sql.conf:3: sql_select: macro"), "{err}");
}

/// App passwords: every row a credential, scope columns by name (any case, NULL = no limit),
/// a row whose scope is unusable admits nothing, more rows than the bound is a tempfail, and
/// `sql_hash_cache_ttl` remembers a match only where its scope admits.
#[tokio::test]
async fn rows_are_credentials_scoped_by_named_columns() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mail.db");
    let pool = SqlitePool::connect_with(SqliteConnectOptions::new().filename(&db).create_if_missing(true))
        .await
        .unwrap();
    sqlx::query("CREATE TABLE creds (u TEXT, p TEXT, svc TEXT, nets TEXT, until TEXT, name TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    // Login, stored password, then allow_services, allow_nets, expires, label.
    let rows: [(&str, &str, [Option<&str>; 4]); 5] = [
        ("joe", MD5, [Some("imap"), None, None, None]),
        ("joe", SHA512, [Some("smtp"), None, None, Some("phone")]),
        ("joe", BCRYPT, [None, Some("192.0.2.0/24"), Some("2999-12-31"), Some("office")]),
        ("bad", MD5, [Some("smtp"), Some("not-a-net"), None, None]),
        ("bad", SHA512, [None; 4]),
    ];
    for (u, p, scope) in rows {
        let mut insert = sqlx::query("INSERT INTO creds VALUES (?, ?, ?, ?, ?, ?)").bind(u).bind(p);
        for column in scope {
            insert = insert.bind(column);
        }
        insert.execute(&pool).await.unwrap();
    }
    pool.close().await;
    let conf = |extra: &str| {
        let text = format!(
            "sql_engine: sqlite\nsql_database: {}\nsql_select: SELECT p, svc AS ALLOW_SERVICES, nets AS allow_nets, \
             until AS expires, name AS label, 'x' AS other FROM creds WHERE u = '%u'\n{extra}",
            db.display()
        );
        let conf = ConfFile::parse(Path::new("sql.conf"), &text).unwrap();
        Sql::from_config(SqlConfig::from_conf(&conf).unwrap(), BlockingPool::new(2)).unwrap()
    };
    let ask = |service: &str, addr: Option<&str>, login: &str, password: &str| Credentials {
        service: service.into(),
        client_addr: addr.map(str::to_owned),
        ..creds(login, password)
    };
    let label = |l: &str| Some(crate::credential::Label::new(l).unwrap());
    let phone = Outcome::Matched(crate::credential::Matched { label: label("phone"), cacheable: true });
    let v = conf("");
    assert_eq!(v.verify(&ask("imap", None, "joe", "secret1")).await, Outcome::Ok);
    assert_eq!(v.verify(&ask("smtp", None, "joe", "secret2")).await, phone);
    let Outcome::No(reject) = v.verify(&ask("imap", None, "joe", "secret2")).await else { panic!() };
    assert_eq!(reject.log_reason(&"imap"), "credential phone not allowed for service imap");
    assert_eq!(
        v.verify(&ask("pop", Some("192.0.2.1;110"), "joe", "secret3")).await,
        Outcome::Matched(crate::credential::Matched { label: label("office"), cacheable: false })
    );
    let Outcome::No(reject) = v.verify(&ask("pop", None, "joe", "secret3")).await else { panic!() };
    assert_eq!(reject.log_reason(&"pop"), "credential office needs the client address, none was sent");
    // The unusable row refuses even its own password; the other row still works.
    assert_eq!(v.verify(&ask("smtp", None, "bad", "secret1")).await, Outcome::No(Reject::IncorrectPassword));
    assert_eq!(v.verify(&ask("smtp", None, "bad", "secret2")).await, Outcome::Ok);

    let mut bounded = conf("");
    bounded.max_credentials = 2;
    assert!(
        matches!(bounded.verify(&ask("imap", None, "joe", "secret1")).await, Outcome::Unavailable(e) if e.contains("more than 2 rows"))
    );
    assert_eq!(bounded.verify(&ask("smtp", None, "bad", "secret2")).await, Outcome::Ok);

    let memo = conf("sql_hash_cache_ttl: 60\n");
    assert_eq!(memo.verify(&ask("smtp", None, "joe", "secret2")).await, phone);
    assert_eq!(memo.verify(&ask("smtp", None, "joe", "secret2")).await, phone, "remembered, same label");
    assert!(matches!(
        memo.verify(&ask("imap", None, "joe", "secret2")).await,
        Outcome::No(Reject::OutOfScope(_))
    ));
    assert_eq!(memo.forget(), 1);
}
