//! The candidate loop: scope before hash, every candidate compared, refusals named.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::hash::fixtures::{MD5_CRYPT, PASSWORD, SHA512_CRYPT};
use zeroize::Zeroizing;

const TODAY: i64 = 20_000;

fn creds(service: &str, addr: Option<&str>, password: &[u8]) -> Credentials {
    Credentials {
        login: "joe".into(),
        password: Zeroizing::new(password.to_vec()),
        service: service.into(),
        realm: String::new(),
        client_addr: addr.map(str::to_owned),
    }
}

/// The main password (imap only), a phone's app password (smtp only), an expired one.
fn account() -> Vec<(String, Scope)> {
    let expired = format!("expires=1970-01-02 label=old {}", "");
    vec![
        ("{PLAIN}main".to_owned(), Scope::parse("allow_services=imap").unwrap()),
        ("{PLAIN}phone-pw".to_owned(), Scope::parse("allow_services=smtp label=phone").unwrap()),
        ("{PLAIN}old-pw".to_owned(), Scope::parse(&expired).unwrap()),
        ("{PLAIN}office".to_owned(), Scope::parse("allow_nets=192.0.2.0/24 label=office").unwrap()),
    ]
}

fn run(account: &[(String, Scope)], creds: &Credentials) -> Outcome {
    let candidates: Vec<Candidate<'_>> =
        account.iter().map(|(stored, scope)| Candidate { stored: stored.as_bytes(), scope }).collect();
    check(&candidates, creds, TODAY, Form::CryptOrBraced, Origin { mechanism: "test", user: "joe" }).0
}

fn matched(label: &str, cacheable: bool) -> Outcome {
    Outcome::Matched(Matched { label: Some(Label::new(label).unwrap()), cacheable })
}

fn refused(label: Option<&str>, position: u16, why: Refused) -> Outcome {
    Outcome::No(Reject::OutOfScope(Refusal { label: label.map(|l| Label::new(l).unwrap()), position, why }))
}

#[test]
fn each_password_works_only_where_its_scope_admits() {
    let a = account();
    assert_eq!(run(&a, &creds("imap", None, b"main")), Outcome::Ok);
    assert_eq!(run(&a, &creds("IMAP", None, b"main")), Outcome::Ok);
    assert_eq!(run(&a, &creds("smtp", None, b"main")), refused(None, 1, Refused::Service));
    assert_eq!(run(&a, &creds("smtp", None, b"phone-pw")), matched("phone", true));
    assert_eq!(run(&a, &creds("imap", None, b"phone-pw")), refused(Some("phone"), 2, Refused::Service));
    assert_eq!(run(&a, &creds("smtp", None, b"old-pw")), refused(Some("old"), 3, Refused::Expired));
    assert_eq!(run(&a, &creds("smtp", None, b"wrong")), Outcome::No(Reject::IncorrectPassword));
}

#[test]
fn networks_need_the_fifth_field() {
    let a = account();
    assert_eq!(run(&a, &creds("smtp", Some("192.0.2.9;4711"), b"office")), matched("office", false));
    assert_eq!(
        run(&a, &creds("smtp", Some("203.0.113.1;4711"), b"office")),
        refused(Some("office"), 4, Refused::Network)
    );
    assert_eq!(run(&a, &creds("smtp", None, b"office")), refused(Some("office"), 4, Refused::NoAddress));
}

#[test]
fn refusals_read_well_and_reply_like_a_wrong_password() {
    let Outcome::No(reject) = run(&account(), &creds("imap", None, b"phone-pw")) else { panic!() };
    assert_eq!(reject.to_string(), "Incorrect password");
    assert_eq!(reject.log_reason(&"imap"), "credential phone not allowed for service imap");
    assert!(reject.is_repeatable());
    let Outcome::No(reject) = run(&account(), &creds("smtp", None, b"main")) else { panic!() };
    assert_eq!(reject.log_reason(&"smtp"), "credential #1 not allowed for service smtp");
    let Outcome::No(reject) = run(&account(), &creds("smtp", None, b"office")) else { panic!() };
    assert!(!reject.is_repeatable(), "depends on the address");
    assert_eq!(Reject::IncorrectPassword.log_reason(&"x"), "Incorrect password");
}

#[test]
fn one_unscoped_credential_is_todays_behaviour() {
    let one = vec![(MD5_CRYPT.to_owned(), Scope::default())];
    assert_eq!(run(&one, &creds("anything", None, PASSWORD)), Outcome::Ok);
    assert_eq!(run(&one, &creds("anything", None, b"no")), Outcome::No(Reject::IncorrectPassword));
    assert_eq!(run(&[], &creds("imap", None, PASSWORD)), Outcome::No(Reject::IncorrectPassword));
}

#[test]
fn two_credentials_with_the_same_password_give_the_first_admitted() {
    let a = vec![
        (SHA512_CRYPT.to_owned(), Scope::parse("allow_services=smtp label=a").unwrap()),
        (MD5_CRYPT.to_owned(), Scope::parse("label=b").unwrap()),
        (SHA512_CRYPT.to_owned(), Scope::parse("label=c").unwrap()),
    ];
    assert_eq!(run(&a, &creds("smtp", None, PASSWORD)), matched("a", true));
    assert_eq!(run(&a, &creds("imap", None, PASSWORD)), matched("b", true));
}

/// Which stored values `decide` hands to the comparison, set by set.
fn compared(
    account: &[(String, Scope)],
    creds: &Credentials,
    matches: &[&str],
) -> (Outcome, Vec<Vec<String>>) {
    let candidates: Vec<Candidate<'_>> =
        account.iter().map(|(stored, scope)| Candidate { stored: stored.as_bytes(), scope }).collect();
    let mut sets = Vec::new();
    let (outcome, _) = decide(&candidates, &Request::new(creds, TODAY), |values| {
        let set: Vec<String> = values.iter().map(|v| String::from_utf8_lossy(v).into_owned()).collect();
        let hit = set.iter().position(|v| matches.contains(&v.as_str()));
        sets.push(set);
        hit
    });
    (outcome, sets)
}

#[test]
fn scoped_out_credentials_cost_no_hash_unless_nothing_matched() {
    let a = account();
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    // A success compares the admitted credentials only, every one of them.
    let (outcome, sets) = compared(&a, &creds("smtp", None, b"x"), &["{PLAIN}phone-pw"]);
    assert_eq!(outcome, matched("phone", true));
    assert_eq!(sets, [s(&["{PLAIN}phone-pw"])]);
    // A failure compares the admitted set, then the scoped-out set, each whole.
    let (outcome, sets) = compared(&a, &creds("smtp", None, b"x"), &[]);
    assert_eq!(outcome, Outcome::No(Reject::IncorrectPassword));
    assert_eq!(sets, [s(&["{PLAIN}phone-pw"]), s(&["{PLAIN}main", "{PLAIN}old-pw", "{PLAIN}office"])]);
    let (outcome, sets) = compared(&a, &creds("smtp", None, b"x"), &["{PLAIN}main"]);
    assert_eq!(outcome, refused(None, 1, Refused::Service));
    assert_eq!(sets.len(), 2);
    assert_eq!(sets[1].len(), 3, "no early exit among the scoped-out ones either");
    // Nothing admitted: one set only.
    let only_imap = vec![("{PLAIN}m".to_owned(), Scope::parse("allow_services=imap").unwrap())];
    assert_eq!(compared(&only_imap, &creds("pop", None, b"x"), &[]).1, [s(&["{PLAIN}m"])]);
}
