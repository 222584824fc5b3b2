//! Fuzz target: `%` token expansion in ldap templates (`backends::ldap::tokens`).
//!
//! Input: one flag byte (bit 0: DN instead of filter, bit 1: a user DN is known), then template,
//! login, service, realm and user DN, each as one length byte and its bytes. Checked:
//! - expansion is piecewise: the template's text is kept, each token is replaced on its own;
//! - each token's replacement holds no metacharacter except as a hex escape (filters, RFC 4515:
//!   `*` `(` `)` `\` NUL; DNs, RFC 4514: `"` `+` `,` `;` `<` `=` `>` `\` NUL, a leading space or
//!   `#`, a trailing space) and unescapes to exactly the value the token stands for;
//! - the user's characters cannot change a template's structure: when the template with every
//!   request value replaced by `x`s is a valid filter, the real expansion parses to a filter of
//!   the same shape (ldap3's parser) when every token sits in an assertion value, and a DN splits
//!   into the same attribute-value pairs;
//! - whatever the start-up check (`backends::ldap::syntax`) accepts never fails at request time:
//!   an accepted filter template expands to a filter ldap3 parses, an accepted DN template to a
//!   valid DN (given a valid, non-empty user DN), for any login, service and realm.
#![no_main]

use backends::ldap::syntax::{check_dn, check_dn_template, check_filter_template};
use backends::ldap::tokens::{Target, Values, expand};
use ldap3::asn1::{ASNTag, PL, StructureTag};
use libfuzzer_sys::fuzz_target;

/// The next field: one length byte, then that many bytes, as UTF-8.
fn field<'a>(data: &mut &'a [u8]) -> Option<&'a str> {
    let (&len, rest) = data.split_first()?;
    let len = usize::from(len).min(rest.len());
    let (value, rest) = rest.split_at(len);
    *data = rest;
    std::str::from_utf8(value).ok()
}

/// A template split into literal text and `%x` tokens (a final lone `%` is text).
fn pieces(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = template.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '%' {
            if let Some((j, t)) = chars.next() {
                if start < i {
                    out.push(&template[start..i]);
                }
                out.push(&template[i..j + t.len_utf8()]);
                start = j + t.len_utf8();
            }
        }
    }
    if start < template.len() {
        out.push(&template[start..]);
    }
    out
}

/// What a token stands for, from the documented rules; None for tokens that expand to nothing
/// and `%D` in a DN (inserted as it is).
fn meaning(token: char, v: &Values<'_>, target: Target) -> Option<String> {
    let (user, domain) = v.login.split_once('@').unwrap_or((v.login, ""));
    let source = if domain.is_empty() { v.realm } else { domain };
    let labels: Vec<&str> = source.split('.').filter(|l| !l.is_empty()).collect();
    Some(match token {
        'u' => v.login.to_owned(),
        'U' => user.to_owned(),
        'd' => domain.to_owned(),
        'r' => v.realm.to_owned(),
        'R' if v.realm.is_empty() => String::new(),
        'R' => format!("@{}", v.realm),
        's' => v.service.to_owned(),
        'D' if target == Target::Filter => v.user_dn.unwrap_or("").to_owned(),
        '1'..='9' => {
            let n = token as usize - '0' as usize;
            labels.len().checked_sub(n).map_or("", |i| labels[i]).to_owned()
        }
        _ => return None,
    })
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Undo the escaping of one token's replacement, refusing any metacharacter left bare.
fn unescape(s: &str, target: Target) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' {
            let pair = bytes.get(i + 1).copied().and_then(hex).zip(bytes.get(i + 2).copied().and_then(hex));
            let (hi, lo) =
                pair.ok_or_else(|| format!("backslash not starting a hex pair at {i} in {s:?}"))?;
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        let bare = match target {
            Target::Filter => matches!(b, b'*' | b'(' | b')' | 0),
            Target::Dn => {
                matches!(b, b'"' | b'+' | b',' | b';' | b'<' | b'=' | b'>' | 0)
                    || (i == 0 && matches!(b, b' ' | b'#'))
                    || (i + 1 == bytes.len() && b == b' ')
            }
        };
        if bare {
            return Err(format!("bare {:?} at {i} in {s:?}", b as char));
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8(out).map_err(|e| format!("{s:?} unescapes to invalid UTF-8: {e}"))
}

/// The same value with every character but the label and domain separators made harmless.
fn bland(s: &str) -> String {
    s.chars().map(|c| if c == '@' || c == '.' { c } else { 'x' }).collect()
}

/// A filter's structure: tag numbers and nesting, not the values.
fn shape(tag: &StructureTag, out: &mut Vec<u64>) {
    out.push(tag.id);
    if let PL::C(children) = &tag.payload {
        out.push(children.len() as u64);
        for child in children {
            shape(child, out);
        }
    }
}

fn filter_shape(filter: &str) -> Option<Vec<u64>> {
    let tag = ldap3::parse_filter(filter).ok()?.into_structure();
    let mut out = Vec::new();
    shape(&tag, &mut out);
    Some(out)
}

/// A DN's structure: for each attribute-value pair (split at unescaped `,` and `+`), its RDN's
/// index and how many unescaped `=` it holds.
fn dn_shape(dn: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let (mut rdn, mut equals, mut escaped) = (0, 0, false);
    for c in dn.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' || c == '+' {
            out.push((rdn, equals));
            equals = 0;
            rdn += usize::from(c == ',');
        } else if c == '=' {
            equals += 1;
        }
    }
    out.push((rdn, equals));
    out
}

/// Whether every token of a filter template sits in an assertion value (after the `=` of its
/// parenthesised item): attribute names cannot be escaped, so a token there is the operator's
/// choice to let the user pick the attribute.
fn tokens_in_values(template: &str) -> bool {
    let mut in_value = false;
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        match c {
            '(' | ')' => in_value = false,
            '=' => in_value = true,
            '%' => match chars.next() {
                Some('%') | None => {}
                Some(_) if !in_value => return false,
                Some(_) => {}
            },
            _ => {}
        }
    }
    true
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else { return };
    let target = if flags & 1 == 0 { Target::Filter } else { Target::Dn };
    let (Some(template), Some(login), Some(service), Some(realm), Some(dn)) =
        (field(&mut rest), field(&mut rest), field(&mut rest), field(&mut rest), field(&mut rest))
    else {
        return;
    };
    let user_dn = (flags & 2 != 0).then_some(dn);
    let values = Values { login, service, realm, user_dn };

    let whole = expand(template, &values, target);
    let mut joined = String::new();
    for piece in pieces(template) {
        let part = expand(piece, &values, target);
        let mut chars = piece.chars();
        match (chars.next(), chars.next()) {
            (Some('%'), Some('%')) => assert_eq!(part, "%"),
            (Some('%'), Some('D')) if target == Target::Dn => assert_eq!(part, user_dn.unwrap_or("")),
            (Some('%'), Some(token)) => {
                let expected = meaning(token, &values, target).unwrap_or_default();
                let got = unescape(&part, target).unwrap_or_else(|e| panic!("{piece}: {e}"));
                assert_eq!(got, expected, "{piece} for {values:?}");
            }
            _ => assert_eq!(part, piece, "template text changed"),
        }
        joined.push_str(&part);
    }
    assert_eq!(whole, joined, "expansion is not piecewise");

    let bland_values = (bland(login), bland(service), bland(realm), user_dn.map(bland));
    let plain = Values {
        login: &bland_values.0,
        service: &bland_values.1,
        realm: &bland_values.2,
        user_dn: bland_values.3.as_deref(),
    };
    let reference = expand(template, &plain, target);
    match target {
        Target::Filter if tokens_in_values(template) => {
            if let Some(expected) = filter_shape(&reference) {
                assert_eq!(filter_shape(&whole), Some(expected), "{reference:?} vs {whole:?}");
            }
        }
        Target::Filter => {}
        // `%D` goes into DNs unescaped by design (it is the server's DN, not the user's text).
        Target::Dn if !template.contains("%D") => {
            assert_eq!(dn_shape(&whole), dn_shape(&reference), "{reference:?} vs {whole:?}");
        }
        Target::Dn => {}
    }

    let known = user_dn.is_some();
    match target {
        Target::Filter if check_filter_template(template, known).is_ok() => {
            assert!(ldap3::parse_filter(&whole).is_ok(), "accepted {template:?} expands to {whole:?}");
        }
        // A user DN comes from the server: a valid DN naming an entry, never the empty one nor
        // white space alone (which the lenient LDAPv2 reading takes as the empty DN).
        Target::Dn
            if check_dn_template(template, known).is_ok()
                && user_dn.is_none_or(|d| !d.trim().is_empty() && check_dn(d).is_ok()) =>
        {
            assert_eq!(check_dn(&whole), Ok(()), "accepted {template:?} expands to {whole:?}");
        }
        _ => {}
    }
});
