//! Start-up checks of the ldap values whose validity is known before the first login: search
//! filters, DNs and attribute names, templates included.
//!
//! A filter template is checked with its `%` tokens expanded from sample values, twice (every
//! token standing for a word, then for nothing, which is what can make `*%u*` into an invalid
//! `**`), by ldap3's own filter parser, the one every search uses. Tokens must sit in assertion
//! values (after an item's `=`): there their expansion is escaped and cannot change the filter's
//! shape, so a template that passes here parses for every login (a property test below and the
//! `ldap_template` fuzz target hold this to account). DNs are checked against RFC 4514's
//! syntax, with the LDAPv2 leniencies OpenLDAP's servers accept (spaces around `,`, `+` and `=`,
//! `;` between RDNs, quoted values); ldap3 has no DN parser to reuse, hence this one.

use super::tokens::{Target, Values, expand};

/// Request values a template is expanded with at start-up: each begins with a letter that is no
/// hex digit, so a template's stray `\` before a token shows up as the bad escape it is. `%D`
/// (the user's DN, from the server) is known only after the user's entry was found.
fn words(user_dn: bool) -> Values<'static> {
    Values {
        login: "user@realm.test",
        service: "imap",
        realm: "realm.test",
        user_dn: user_dn.then_some("uid=user,ou=people,dc=realm,dc=test"),
    }
}

/// The same with every token that comes from the request standing for nothing.
fn nothing(user_dn: bool) -> Values<'static> {
    Values { login: "", service: "", realm: "", ..words(user_dn) }
}

/// Check a bind name (`ldap_bind_dn`, fastbind's `ldap_filter`), which is not parsed as a DN
/// because Active Directory also takes `user@domain` and `DOMAIN\user`; a name wrapped in
/// quotes is none of these (the quotes would be sent to the server as part of it, and every
/// bind would fail). The error is the reason.
pub fn check_bind_name(name: &str) -> Result<(), String> {
    if name.len() >= 2 && name.starts_with('"') && name.ends_with('"') {
        return Err("quotes are taken as part of the name: write it without them".into());
    }
    Ok(())
}

/// Check a filter template (`ldap_filter`, `ldap_group_filter`), with `%D` known or not; the
/// error is the reason.
pub fn check_filter_template(template: &str, user_dn: bool) -> Result<(), String> {
    if template.len() >= 2 && template.starts_with('"') && template.ends_with('"') {
        return Err("quotes are taken as part of the filter: write it without them".into());
    }
    if let Some(token) = token_outside_value(template) {
        return Err(format!(
            "%{token} outside an assertion value: only a value (after an item's =) may come from the request"
        ));
    }
    for values in [words(user_dn), nothing(user_dn)] {
        let filter = expand(template, &values, Target::Filter);
        if ldap3::parse_filter(&filter).is_err() {
            let (open, close) = (template.matches('(').count(), template.matches(')').count());
            let why = if open != close {
                format!("unbalanced parentheses ({open} opening, {close} closing)")
            } else {
                "not a valid search filter (RFC 4515)".to_owned()
            };
            return Err(if values.login.is_empty() && template.contains('%') {
                format!("{why}, once its tokens stand for nothing ({filter:?})")
            } else {
                why
            });
        }
    }
    Ok(())
}

/// Check a DN template (`ldap_search_base`, `ldap_group_dn`, `ldap_group_search_base`, a
/// fastbind `ldap_filter`), with `%D` known or not; the error is the reason.
pub fn check_dn_template(template: &str, user_dn: bool) -> Result<(), String> {
    if let Some(token) = token_outside_dn_value(template) {
        return Err(format!(
            "%{token} outside an attribute value: only a value (after an =) may come from the request \
             (%D, the user's DN, may stand anywhere)"
        ));
    }
    for values in [words(user_dn), nothing(user_dn)] {
        check_dn(&expand(template, &values, Target::Dn))?;
    }
    Ok(())
}

/// Check a DN (RFC 4514, with OpenLDAP's LDAPv2 leniencies); the empty DN is valid.
pub fn check_dn(dn: &str) -> Result<(), String> {
    let mut p = Parser { s: dn.as_bytes(), i: 0 };
    p.spaces();
    if p.done() {
        return Ok(());
    }
    loop {
        p.attribute_type().ok_or_else(|| p.error("an attribute type"))?;
        p.spaces();
        if !p.eat(b'=') {
            return Err(p.error("= after the attribute type"));
        }
        p.spaces();
        p.value()?;
        p.spaces();
        match p.next() {
            None => return Ok(()),
            Some(b',' | b';' | b'+') => {
                p.spaces();
                if p.done() {
                    return Err(p.error("another attribute after the separator"));
                }
            }
            Some(_) => {
                p.i -= 1;
                return Err(p.error(", + or the end after a value"));
            }
        }
    }
}

/// Check an attribute description (`ldap_password_attr`, `ldap_group_attr`): a name or numeric
/// OID, optionally with `;options` (RFC 4512 §2.5).
pub fn check_attribute(name: &str) -> Result<(), String> {
    let mut p = Parser { s: name.as_bytes(), i: 0 };
    p.attribute_type().ok_or_else(|| "not an attribute name (letters, digits, -) or OID".to_owned())?;
    while p.eat(b';') {
        let start = p.i;
        while p.peek().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'-') {
            p.i += 1;
        }
        if p.i == start {
            return Err("an empty ;option".into());
        }
    }
    if !p.done() {
        return Err("not an attribute name (letters, digits, -) or OID".into());
    }
    Ok(())
}

/// The first token of a filter template outside an assertion value (before an item's `=`).
fn token_outside_value(template: &str) -> Option<char> {
    let mut in_value = false;
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        match c {
            '(' | ')' => in_value = false,
            '=' => in_value = true,
            '\\' => {
                chars.next();
            }
            '%' => match chars.next() {
                Some('%') | None => {}
                Some(token) if !in_value => return Some(token),
                Some(_) => {}
            },
            _ => {}
        }
    }
    None
}

/// The first token of a DN template outside an attribute value (before an RDN's `=`), but for
/// `%D`: the user's DN, inserted as it is, may be a whole suffix (`ou=groups,%D`).
fn token_outside_dn_value(template: &str) -> Option<char> {
    let mut in_value = false;
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        match c {
            ',' | ';' | '+' => in_value = false,
            '=' => in_value = true,
            '\\' => {
                chars.next();
            }
            '%' => match chars.next() {
                Some('%' | 'D') | None => {}
                Some(token) if !in_value => return Some(token),
                Some(_) => {}
            },
            _ => {}
        }
    }
    None
}

/// A cursor over a DN or attribute description.
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        Some(b)
    }

    fn eat(&mut self, b: u8) -> bool {
        let found = self.peek() == Some(b);
        self.i += usize::from(found);
        found
    }

    fn done(&self) -> bool {
        self.i >= self.s.len()
    }

    fn spaces(&mut self) {
        while self.eat(b' ') {}
    }

    fn error(&self, expected: &str) -> String {
        format!("not a valid DN (RFC 4514): expected {expected} at offset {}", self.i)
    }

    /// `ALPHA *(ALPHA / DIGIT / "-")` or a numeric OID (optionally `OID.`-prefixed, as LDAPv2).
    fn attribute_type(&mut self) -> Option<()> {
        let rest = &self.s[self.i..];
        if rest.len() > 4 && rest[..4].eq_ignore_ascii_case(b"oid.") && rest[4].is_ascii_digit() {
            self.i += 4;
        }
        match self.peek()? {
            b if b.is_ascii_alphabetic() => {
                while self.peek().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'-') {
                    self.i += 1;
                }
            }
            b if b.is_ascii_digit() => loop {
                let start = self.i;
                while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    self.i += 1;
                }
                if self.i == start {
                    return None;
                }
                if !(self.peek() == Some(b'.') && self.s.get(self.i + 1).is_some_and(u8::is_ascii_digit)) {
                    break;
                }
                self.i += 1;
            },
            _ => return None,
        }
        Some(())
    }

    /// An attribute value: `#` and hex pairs, a quoted string (LDAPv2), or a string whose
    /// backslashes escape a special character or start a hex pair. Stops before a separator.
    fn value(&mut self) -> Result<(), String> {
        match self.peek() {
            Some(b'#') => {
                self.i += 1;
                let start = self.i;
                while self.peek().is_some_and(|b| b.is_ascii_hexdigit()) {
                    self.i += 1;
                }
                let digits = self.i - start;
                if digits == 0 || !digits.is_multiple_of(2) {
                    return Err(self.error("pairs of hex digits after #"));
                }
                Ok(())
            }
            Some(b'"') => {
                self.i += 1;
                loop {
                    match self.next() {
                        None => return Err(self.error("the closing quote")),
                        Some(b'"') => return Ok(()),
                        Some(b'\\') => self.escape()?,
                        Some(0) => return Err(self.error("no NUL")),
                        Some(_) => {}
                    }
                }
            }
            _ => loop {
                match self.peek() {
                    None | Some(b',' | b';' | b'+') => return Ok(()),
                    Some(b'\\') => {
                        self.i += 1;
                        self.escape()?;
                    }
                    Some(0) => return Err(self.error("no NUL (escape it as \\00)")),
                    Some(_) => self.i += 1,
                }
            },
        }
    }

    /// After a `\`: a special character or space, or two hex digits.
    fn escape(&mut self) -> Result<(), String> {
        match self.peek() {
            Some(b) if b" \"#+,;<=>\\".contains(&b) => {
                self.i += 1;
                Ok(())
            }
            Some(b) if b.is_ascii_hexdigit() && self.s.get(self.i + 1).is_some_and(u8::is_ascii_hexdigit) => {
                self.i += 2;
                Ok(())
            }
            _ => Err(self.error("a special character or two hex digits after \\")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn filters_that_cannot_work_are_refused() {
        for good in [
            "(uid=%u)",
            "uid=%u",
            "(&(objectClass=inetOrgPerson)(|(uid=%U)(mail=%u)))",
            "(mail=%U@%d)",
            "(uid=*%u)",
            "(member=%D)",
            "(uid:caseExactMatch:=%u)",
            "(uid=100%%)",
            "(uid=\\2a%u)",
        ] {
            assert_eq!(check_filter_template(good, true), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("\"(uid=%u)\"", "quotes"),
            ("(uid=%u", "unbalanced"),
            ("(&(uid=%u)(mail=%u)", "unbalanced"),
            ("(uid=%u))", "unbalanced"),
            ("(uid=%u)(mail=%u)", "RFC 4515"),
            ("(%s=%u)", "%s outside"),
            ("(uid=*%u*%d*)", "stand for nothing"),
            ("(uid=\\%u)", "RFC 4515"),
            ("(uid=\\zz)", "RFC 4515"),
            ("", "RFC 4515"),
        ] {
            let err = check_filter_template(bad, false).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn dns_that_cannot_work_are_refused() {
        for good in [
            "",
            "dc=example,dc=com",
            "ou=people, dc=example, dc=com",
            "uid=%u,ou=people,dc=%2,dc=%1",
            "cn=a\\,b+sn=c;o=x",
            "cn=\"quoted, v2\",dc=x",
            "1.2.3.4=#0403616263,OID.2.5.4.3=x",
            "cn=",
        ] {
            assert_eq!(check_dn_template(good, false), Ok(()), "{good}");
        }
        assert_eq!(check_dn_template("ou=groups,%D", true), Ok(()));
        assert!(check_dn_template("ou=groups,%D", false).is_err(), "no user DN yet: a trailing comma");
        for bad in [
            "dc=example,,dc=com",
            "dc=example,",
            "example.com",
            "=x",
            "dc=a\\",
            "dc=a\\zz",
            "cn=#abc",
            "cn=\"open",
            "%s=x,dc=y",
            "cn=x,%u",
        ] {
            assert!(check_dn_template(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn attribute_names() {
        for good in ["userPassword", "uniqueMember", "2.5.4.35", "cn;lang-en"] {
            assert_eq!(check_attribute(good), Ok(()), "{good}");
        }
        for bad in ["", "user password", "-x", "cn;", "(cn)", "1..2"] {
            assert!(check_attribute(bad).is_err(), "{bad}");
        }
    }

    fn concat(pieces: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(pieces), 0..max).prop_map(|p| p.concat())
    }

    /// What may go into a value: text, escapes, every token, and a few things that break it.
    const VALUE_PIECES: &[&str] = &[
        "x", "a b", "\\2a", "%u", "%U", "%d", "%r", "%R", "%s", "%D", "%1", "%2", "%%", "*", "%x", "\\", "(",
        ")", "=", "%", "é",
    ];

    /// Filter templates, mostly well-formed: items and nested &, |, !, with token-laden values.
    fn filter_template() -> impl Strategy<Value = String> {
        let attr = prop::sample::select(&["uid", "mail", "cn;lang-en", "1.2.3", "uid:dn:", "%s", ""][..]);
        let op = prop::sample::select(&["=", "~=", ">=", "<=", ":=", "=*"][..]);
        let item = (attr, op, concat(VALUE_PIECES, 4)).prop_map(|(a, o, v)| format!("({a}{o}{v})"));
        let tree = item.prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..3).prop_map(|v| format!("(&{})", v.concat())),
                prop::collection::vec(inner.clone(), 1..3).prop_map(|v| format!("(|{})", v.concat())),
                inner.prop_map(|f| format!("(!{f})")),
            ]
        });
        prop_oneof![
            8 => tree,
            1 => (prop::sample::select(&["uid", "%u"][..]), concat(VALUE_PIECES, 4)).prop_map(|(a, v)| format!("{a}={v}")),
            1 => concat(&["(", ")", "&", "|", "!", "=", "*", "uid", "\\", "%u", "%D", "%%"], 12),
        ]
    }

    /// Mostly `good`, now and then `bad`.
    fn mostly(
        good: &'static [&'static str],
        bad: &'static [&'static str],
    ) -> impl Strategy<Value = &'static str> {
        prop_oneof![12 => prop::sample::select(good), 1 => prop::sample::select(bad)]
    }

    /// DN templates, mostly well-formed: RDNs of one or more token-laden values, maybe `%D`.
    fn dn_template() -> impl Strategy<Value = String> {
        let attr = mostly(&["dc", "uid", "1.2.3", "OID.2.5.4.3", " cn"], &["%s", "", "1.", "-x"]);
        let eq = mostly(&["=", " = "], &["", "=="]);
        let piece = mostly(
            &["x", " ", "\\,", "\\2c", "%u", "%U", "%d", "%r", "%R", "%s", "%1", "%%", "=", "é"],
            &["#", "\\", "+", "%D", ",", "\"", "\\z"],
        );
        let value = prop_oneof![
            8 => prop::collection::vec(piece, 0..4).prop_map(|p| p.concat()),
            1 => Just("#0a0B".to_owned()),
            1 => Just("\"q,%u\"".to_owned()),
        ];
        let ava = (attr, eq, value).prop_map(|(a, e, v)| format!("{a}{e}{v}"));
        let rdn = prop::collection::vec(ava, 1..3).prop_map(|v| v.join("+"));
        let sep = mostly(&[",", ", ", ";"], &[",,", ""]);
        let dn = prop::collection::vec((rdn, sep), 0..4).prop_map(|v| {
            let mut out = String::new();
            for (i, (rdn, sep)) in v.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                out.push_str(rdn);
            }
            out
        });
        (dn, prop::sample::select(&["", "", ",%D", "%D"][..])).prop_map(|(d, tail)| d + tail)
    }

    fn request_value() -> impl Strategy<Value = String> {
        prop_oneof![r#"[a-z0-9 *()\\\x00,+="<>;#@.]{0,12}"#, any::<String>(), Just(String::new())]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

        /// Whatever the start-up check accepts parses for every request (ldap3's parser).
        #[test]
        fn accepted_filters_parse_for_every_request(
            template in filter_template(),
            login in request_value(), service in request_value(), realm in request_value(),
            known in any::<bool>(),
        ) {
            if check_filter_template(&template, known).is_ok() {
                let dn = known.then_some("uid=x\\2c y,dc=example");
                let values = Values { login: &login, service: &service, realm: &realm, user_dn: dn };
                let filter = expand(&template, &values, Target::Filter);
                prop_assert!(ldap3::parse_filter(&filter).is_ok(), "{:?} → {:?}", template, filter);
            }
        }

        /// Whatever the start-up check accepts stays a valid DN for every request.
        #[test]
        fn accepted_dns_stay_valid_for_every_request(
            template in dn_template(),
            login in request_value(), service in request_value(), realm in request_value(),
            known in any::<bool>(),
        ) {
            if check_dn_template(&template, known).is_ok() {
                let dn = known.then_some("uid=x\\2c y,dc=example");
                let values = Values { login: &login, service: &service, realm: &realm, user_dn: dn };
                let expanded = expand(&template, &values, Target::Dn);
                prop_assert!(check_dn(&expanded).is_ok(), "{:?} → {:?}", template, expanded);
            }
        }
    }
}
