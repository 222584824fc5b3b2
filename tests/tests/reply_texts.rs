//! Every reply text Cyrus 2.1.28 sends, per mechanism, asserted byte for byte on the wire: one
//! table of requests, each sent to Cyrus's saslauthd and to ours (raw socket: Cyrus's
//! testsaslauthd prints no reason text). A row either expects the same bytes from both, or
//! records a deliberate difference with Cyrus's bytes, ours, and why.
//!
//! Backends: a private namespace (passwd, shadow and sasldb2 bound over /etc, a host name of its
//! own), PAM services in /etc/pam.d (uniquely named, removed), Dovecot for rimap, slapd for
//! ldap. Texts Cyrus has that no row here reaches, and why: `NO Username lookup failure: …` and
//! `NO Username shadow lookup failure: …` (an NSS error: ours tempfails, see getpwent.rs and
//! shadow.rs), `NO setpwdb() internal failure` (not Linux), rimap's other `[ALERT]` texts (a
//! misbehaving IMAP server: ours tempfails, see rimap.rs), `NO internal mechanism failure` and
//! `NO NULL response from mechanism` (Cyrus's own mechanism or malloc bugs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saslauthd_tests::mkpasswd;
use std::path::{Path, PathBuf};

use saslauthd_tests::sasldb::Sasldb;
use saslauthd_tests::slapd::SUFFIX;
use saslauthd_tests::{
    Daemon, Dovecot, PamService, PrivateEtc, RawReply, Slapd, Target, counted_reply, free_port, request,
    send_raw_open,
};

const RIGHT: &str = "Reply-texts-canary-2Hv";
const WRONG: &str = "not-the-password";
const HOST: &str = "reply-texts.test";

/// What the two daemons answer to one request.
enum Want {
    /// Both send exactly this text.
    Same(&'static str),
    /// A deliberate difference: Cyrus's text and ours (`None`: a tempfail, closed without a
    /// reply), and why.
    Differs { cyrus: &'static str, ours: Option<&'static str>, why: &'static str },
}

/// One request: login, password, service, realm.
struct Case {
    login: Vec<u8>,
    password: Vec<u8>,
    service: String,
    realm: String,
    want: Want,
}

fn case(login: &str, password: &str, want: Want) -> Case {
    Case {
        login: login.into(),
        password: password.into(),
        service: "imap".into(),
        realm: String::new(),
        want,
    }
}

fn with_service(service: &str, login: &str, password: &str, want: Want) -> Case {
    Case { service: service.into(), ..case(login, password, want) }
}

/// One daemon configuration (`-a` and `-O`) and its rows.
struct Mech {
    label: &'static str,
    name: &'static str,
    option: Option<PathBuf>,
    cases: Vec<Case>,
}

fn today() -> i64 {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    i64::try_from(secs / 86_400).unwrap()
}

/// passwd and shadow lines for the shadow and getpwent rows, and a sasldb2, in one namespace.
fn private_etc(sasldb: &Path) -> PrivateEtc {
    let (hash, today) = (mkpasswd("sha-512", RIGHT), today());
    let pw = |name: &str, field: &str, uid: u32| {
        format!("{name}:{field}:{uid}:{uid}::/nonexistent:/usr/sbin/nologin\n")
    };
    let sp = |name: &str, field: &str, lstchg: i64, max: &str, expire: &str| {
        format!("{name}:{field}:{lstchg}:0:{max}:7::{expire}:\n")
    };
    let passwd = pw("rt-good", "x", 63_000)
        + &pw("rt-nis", "x", 63_001)
        + &pw("rt-expired", "x", 63_002)
        + &pw("rt-pwexp", "x", 63_003)
        + &pw("rt-noshadow", "x", 63_004)
        + &pw("rt-pwent", &hash, 63_005);
    let shadow = sp("rt-good", &hash, today, "99999", "")
        + &sp("rt-nis", "*NP*", today, "", "")
        + &sp("rt-expired", &hash, today - 10, "99999", &(today - 1).to_string())
        + &sp("rt-pwexp", &hash, today - 31, "30", "");
    PrivateEtc::new()
        .append("/etc/passwd", &passwd)
        .append("/etc/shadow", &shadow)
        .bind(sasldb, "/etc/sasldb2")
        .hostname(HOST)
}

/// Sends every row to both daemons of every configuration; all differences from the table, at once.
#[test]
fn every_reply_text_matches_cyrus_on_the_wire() {
    use Want::{Differs, Same};
    let sasldb = Sasldb::new();
    sasldb.add("rt-user", Some(HOST), RIGHT);
    let etc = private_etc(sasldb.path());
    let broken_sasldb = etc.dir().join("broken-sasldb2");
    std::fs::write(&broken_sasldb, b"no database\n").unwrap();
    let broken = PrivateEtc::new().file("/etc/sasldb2", b"no database\n");

    let stack = |auth: &str, account: &str| format!("auth required {auth}\naccount required {account}\n");
    let permit = PamService::system(&stack("pam_permit.so", "pam_permit.so"));
    let authdeny = PamService::system(&stack("pam_deny.so", "pam_permit.so"));
    let acctdeny = PamService::system(&stack("pam_permit.so", "pam_deny.so"));

    let dovecot = Dovecot::builder().user("joe", RIGHT).start();
    let slapd = Slapd::start(&format!(
        "dn: uid=alice,ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: alice\ncn: a\nsn: a\nuserPassword: {RIGHT}\n\n"
    ));
    let ldap_conf = etc.dir().join("saslauthd.conf");
    std::fs::write(
        &ldap_conf,
        format!("ldap_servers: {}\nldap_search_base: ou=people,{SUFFIX}\n", slapd.uri()),
    )
    .unwrap();

    let long = "x".repeat(257);
    let mechs = vec![
        Mech {
            label: "daemon (any mechanism)",
            name: "getpwent",
            option: None,
            cases: vec![
                case("", RIGHT, Same("NO NULL login received")),
                case("rt-pwent", "", Same("NO NULL password received")),
                case(&long, RIGHT, Same("NO ")),
                case("rt-pwent", &long, Same("NO ")),
                with_service(&long, "rt-pwent", RIGHT, Same("NO ")),
                case(
                    "rt-pwent\0junk",
                    RIGHT,
                    Differs {
                        cyrus: "OK",
                        ours: Some("NO malformed login"),
                        why: "Cyrus cuts the login at the NUL and checks a name that was not sent",
                    },
                ),
            ],
        },
        Mech {
            label: "shadow",
            name: "shadow",
            option: None,
            cases: vec![
                case("rt-good", RIGHT, Same("OK")),
                case("rt-good", WRONG, Same("NO Incorrect password")),
                case("rt-nobody", RIGHT, Same("NO Invalid username")),
                case("rt-noshadow", RIGHT, Same("NO Invalid shadow username")),
                case(
                    "rt-nis",
                    RIGHT,
                    Same("NO Insufficient permission to access NIS authentication database (saslauthd)"),
                ),
                case("rt-expired", RIGHT, Same("NO Account expired")),
                case("rt-pwexp", RIGHT, Same("NO Password expired")),
            ],
        },
        Mech {
            label: "getpwent",
            name: "getpwent",
            option: None,
            cases: vec![
                case("rt-pwent", RIGHT, Same("OK")),
                case("rt-pwent", WRONG, Same("NO Incorrect password")),
                case("rt-good", RIGHT, Same("NO Incorrect password")),
                case("rt-nobody", RIGHT, Same("NO Invalid username")),
            ],
        },
        Mech {
            label: "pam",
            name: "pam",
            option: None,
            cases: vec![
                with_service(permit.name(), "anyone", RIGHT, Same("OK")),
                with_service(authdeny.name(), "anyone", RIGHT, Same("NO PAM auth error")),
                with_service(acctdeny.name(), "anyone", RIGHT, Same("NO PAM acct error")),
                with_service(
                    &format!("../{}", permit.name()),
                    "anyone",
                    RIGHT,
                    Differs {
                        cyrus: "OK",
                        ours: Some("NO PAM start error"),
                        why: "a service field with a path picks a stack by accident (Linux-PAM keeps the last part)",
                    },
                ),
            ],
        },
        Mech {
            label: "rimap",
            name: "rimap",
            option: Some(format!("127.0.0.1/{}", dovecot.imap_port()).into()),
            cases: vec![
                case("joe", RIGHT, Same("OK remote authentication successful")),
                case("joe", WRONG, Same("NO remote server rejected your credentials")),
                case("nobody", RIGHT, Same("NO remote server rejected your credentials")),
            ],
        },
        Mech {
            label: "rimap, server down",
            name: "rimap",
            option: Some(format!("127.0.0.1/{}", free_port()).into()),
            cases: vec![case(
                "joe",
                RIGHT,
                Differs {
                    cyrus: "NO [ALERT] Couldn't contact remote authentication server",
                    ours: None,
                    why: "an outage must not tell the client its password is wrong",
                },
            )],
        },
        Mech {
            label: "ldap",
            name: "ldap",
            option: Some(ldap_conf.clone()),
            cases: vec![
                case("alice", RIGHT, Same("OK")),
                case("alice", WRONG, Same("NO")),
                case("nobody", RIGHT, Same("NO")),
            ],
        },
        Mech {
            label: "sasldb",
            name: "sasldb",
            option: None,
            cases: vec![
                case("rt-user", RIGHT, Same("OK")),
                case("rt-user", WRONG, Same("NO")),
                case("rt-nobody", RIGHT, Same("NO")),
            ],
        },
    ];

    let mut failures = Vec::new();
    let mut rows = 0;
    for mech in &mechs {
        for target in Target::ALL {
            let builder = Daemon::builder(target).mech(mech.name, mech.option.as_ref());
            let builder = if target == Target::Ours { builder.arg("--no-penalty") } else { builder };
            let daemon = etc.wrap(builder).start();
            for case in &mech.cases {
                rows += 1;
                check(&daemon, mech.label, case, &mut failures);
            }
        }
    }
    // The broken sasldb2 needs a namespace of its own (the good one is bound in `etc`).
    let broken_case = case(
        "rt-user",
        RIGHT,
        Differs {
            cyrus: "NO",
            ours: None,
            why: "a file that cannot be read must not tell users their password is wrong",
        },
    );
    for target in Target::ALL {
        let daemon = broken.wrap(Daemon::builder(target).mech("sasldb", None::<&str>)).start();
        rows += 1;
        check(&daemon, "sasldb, broken file", &broken_case, &mut failures);
    }
    println!("{rows} requests compared");
    assert!(failures.is_empty(), "{} differences from the table:\n{}", failures.len(), failures.join("\n"));
}

fn check(daemon: &Daemon, label: &str, case: &Case, failures: &mut Vec<String>) {
    let target = daemon.target();
    let got =
        send_raw_open(daemon.socket(), &request(&case.login, &case.password, &case.service, &case.realm));
    let expected = match (&case.want, target) {
        (Want::Same(text), _) | (Want::Differs { cyrus: text, .. }, Target::Cyrus) => counted_reply(text),
        (Want::Differs { ours: Some(text), .. }, Target::Ours) => counted_reply(text),
        (Want::Differs { ours: None, .. }, Target::Ours) => RawReply::ClosedWithoutReply,
    };
    if got != expected {
        let login = String::from_utf8_lossy(&case.login);
        let login: String = login.chars().take(20).collect();
        failures.push(format!(
            "{label} / {target:?}: login {login:?} service {:?}: got {got:?}, want {expected:?}{}",
            case.service.chars().take(40).collect::<String>(),
            match &case.want {
                Want::Differs { why, .. } => format!(" (difference on record: {why})"),
                Want::Same(_) => String::new(),
            }
        ));
    }
}
