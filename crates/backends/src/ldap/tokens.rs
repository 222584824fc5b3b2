//! Cyrus's `%` tokens in ldap templates, with each substituted value escaped for where it lands.
//!
//! Expansion follows lak_expand_tokens (reference §3.4). Escaping does not: Cyrus applies its
//! filter escaping everywhere and none to DNs, which lets a login such as
//! `alice,ou=admins` pick another bind DN. Here values go into filters escaped per RFC 4515
//! and into DNs (search bases, group DNs, fastbind DNs) escaped per RFC 4514.

use std::borrow::Cow;

/// Where the expanded template is used, which decides the escaping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A search filter: RFC 4515 escaping.
    Filter,
    /// A distinguished name: RFC 4514 escaping (the user DN `%D` goes in as it is).
    Dn,
}

/// The values the tokens stand for.
#[derive(Debug, Clone, Copy)]
pub struct Values<'a> {
    /// `%u`: the login as received.
    pub login: &'a str,
    /// `%s`: the service.
    pub service: &'a str,
    /// `%r`: the request's realm, or `ldap_default_realm` when it is empty.
    pub realm: &'a str,
    /// `%D`: the user's DN, once known.
    pub user_dn: Option<&'a str>,
}

/// Expand `template` for `target`.
pub fn expand(template: &str, values: &Values<'_>, target: Target) -> String {
    let (user, domain) = match values.login.split_once('@') {
        Some((user, domain)) => (user, domain),
        None => (values.login, ""),
    };
    // %1..%9 count labels from the end of the login's domain, or of the realm without one.
    let label_source = if domain.is_empty() { values.realm } else { domain };
    let labels: Vec<&str> = label_source.split('.').filter(|l| !l.is_empty()).collect();

    let mut out = String::with_capacity(template.len() + values.login.len());
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(token) = chars.next() else {
            // A lone `%` at the end is kept, as lak does.
            out.push('%');
            break;
        };
        let value: Cow<'_, str> = match token {
            '%' => {
                out.push('%');
                continue;
            }
            'u' => values.login.into(),
            'U' => user.into(),
            'd' => domain.into(),
            'r' => values.realm.into(),
            'R' if values.realm.is_empty() => "".into(),
            'R' => format!("@{}", values.realm).into(),
            's' => values.service.into(),
            'D' => {
                let dn = values.user_dn.unwrap_or("");
                match target {
                    Target::Filter => out.push_str(&ldap3::ldap_escape(dn)),
                    // A DN inside a DN keeps its structure (group bases under the user's entry).
                    Target::Dn => out.push_str(dn),
                }
                continue;
            }
            '1'..='9' => {
                let n = token as usize - '0' as usize;
                labels.len().checked_sub(n).and_then(|i| labels.get(i)).copied().unwrap_or("").into()
            }
            _ => "".into(),
        };
        match target {
            Target::Filter => out.push_str(&ldap3::ldap_escape(value)),
            Target::Dn => out.push_str(&ldap3::dn_escape(value)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn values<'a>(login: &'a str, realm: &'a str) -> Values<'a> {
        Values { login, service: "smtp", realm, user_dn: None }
    }

    #[test]
    fn tokens_expand_as_cyrus() {
        let v = values("alice@mail.example.org", "realm.test");
        assert_eq!(expand("%u|%U|%d|%r|%R|%s|%%|%x|%1|%2|%3|%4", &v, Target::Filter), {
            "alice@mail.example.org|alice|mail.example.org|realm.test|@realm.test|smtp|%||org|example|mail|"
        });
        let v = values("bob", "example.com");
        assert_eq!(expand("%U|%d|%1|%2|%R", &v, Target::Filter), "bob||com|example|@example.com");
        assert_eq!(expand("%R%r", &values("bob", ""), Target::Filter), "");
        assert_eq!(expand("100%", &v, Target::Filter), "100%");
    }

    #[test]
    fn filter_values_are_rfc4515_escaped() {
        let v = values("*)(uid=*", "");
        assert_eq!(expand("(uid=%u)", &v, Target::Filter), r"(uid=\2a\29\28uid=\2a)");
        assert_eq!(expand("(uid=%u)", &values(r"a\b", ""), Target::Filter), r"(uid=a\5cb)");
        let with_dn = Values { user_dn: Some("uid=a*,dc=x"), ..v };
        assert_eq!(expand("(member=%D)", &with_dn, Target::Filter), r"(member=uid=a\2a,dc=x)");
    }

    #[test]
    fn dn_values_are_rfc4514_escaped() {
        let v = values("alice,ou=admins", "");
        assert_eq!(expand("uid=%u,dc=x", &v, Target::Dn), r"uid=alice\2cou\3dadmins,dc=x");
        let v = values(r#" a+b"<>;\ "#, "");
        let dn = expand("uid=%u,dc=x", &v, Target::Dn);
        assert_eq!(dn, r"uid=\20a\2bb\22\3c\3e\3b\5c\20,dc=x");
    }

    /// Undoes one token's escaping; None if a metacharacter is left bare or a `\` starts no hex
    /// pair. `bare` says which bytes must never appear unescaped at position `i` of `len`.
    fn unescape(s: &str, bare: impl Fn(u8, usize, usize) -> bool) -> Option<String> {
        let bytes = s.as_bytes();
        let hex = |i: usize| bytes.get(i).and_then(|&b| (b as char).to_digit(16));
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'\\' {
                out.push(u8::try_from(hex(i + 1)? << 4 | hex(i + 2)?).ok()?);
                i += 3;
            } else if bare(bytes[i], i, bytes.len()) {
                return None;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).ok()
    }

    /// RFC 4515: `*`, `(`, `)`, `\` and NUL only as escapes in an assertion value.
    fn filter_bare(b: u8, _: usize, _: usize) -> bool {
        matches!(b, b'*' | b'(' | b')' | 0)
    }

    /// RFC 4514: `"+,;<=>\` and NUL only as escapes, nor a leading space or `#`, nor a
    /// trailing space.
    fn dn_bare(b: u8, i: usize, len: usize) -> bool {
        matches!(b, b'"' | b'+' | b',' | b';' | b'<' | b'=' | b'>' | 0)
            || (i == 0 && matches!(b, b' ' | b'#'))
            || (i + 1 == len && b == b' ')
    }

    /// A DN's attribute-value pairs: split at unescaped `,` and `+`, each with its unescaped `=`s.
    fn dn_pairs(dn: &str) -> Vec<usize> {
        let mut pairs = vec![0];
        let mut chars = dn.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                ',' | '+' => pairs.push(0),
                '=' => {
                    if let Some(n) = pairs.last_mut() {
                        *n += 1;
                    }
                }
                _ => {}
            }
        }
        pairs
    }

    /// Request values leaning on the characters that matter here, plus arbitrary text.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![r#"[a-z0-9 *()\\\x00,+="<>;#@.]{0,16}"#, any::<String>(),]
    }

    proptest! {
        #[test]
        fn filter_tokens_leave_no_bare_metacharacter(
            login in value(), service in value(), realm in value(), dn in value(),
        ) {
            let v = Values { login: &login, service: &service, realm: &realm, user_dn: Some(&dn) };
            let (user, domain) = login.split_once('@').unwrap_or((&login, ""));
            for (token, meaning) in
                [("%u", login.as_str()), ("%U", user), ("%d", domain), ("%r", &realm), ("%s", &service), ("%D", &dn)]
            {
                let out = expand(token, &v, Target::Filter);
                let back = unescape(&out, filter_bare);
                prop_assert_eq!(back.as_deref(), Some(meaning), "{} → {:?}", token, out);
            }
            for token in ["%1", "%2", "%R"] {
                let out = expand(token, &v, Target::Filter);
                prop_assert!(unescape(&out, filter_bare).is_some(), "{} → {:?}", token, out);
            }
            // A well-formed template stays one equality inside one AND, whatever the values.
            let filter = expand("(&(objectClass=person)(uid=%u)(mail=%U@%d))", &v, Target::Filter);
            let parsed = ldap3::parse_filter(&filter);
            prop_assert!(parsed.is_ok(), "{:?} does not parse", filter);
        }

        #[test]
        fn dn_tokens_stay_inside_their_attribute_value(
            login in value(), service in value(), realm in value(),
        ) {
            let v = Values { login: &login, service: &service, realm: &realm, user_dn: None };
            let (user, domain) = login.split_once('@').unwrap_or((&login, ""));
            for (token, meaning) in
                [("%u", login.as_str()), ("%U", user), ("%d", domain), ("%r", &realm), ("%s", &service)]
            {
                let out = expand(token, &v, Target::Dn);
                let back = unescape(&out, dn_bare);
                prop_assert_eq!(back.as_deref(), Some(meaning), "{} → {:?}", token, out);
            }
            let dn = expand("uid=%u+cn=%s,ou=%d,dc=%1,dc=example", &v, Target::Dn);
            prop_assert_eq!(dn_pairs(&dn), vec![1, 1, 1, 1, 1], "{:?}", dn);
        }
    }
}
