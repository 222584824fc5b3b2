//! The client principal's text, formed from the request's login, service and realm the way
//! Cyrus's `form_principal_name` (auth_krb5.c) does, less its two bugs.
//!
//! Cyrus writes `login[/forced-instance][@realm]`, appending the request's realm even when the
//! login already carries one: `joe@EXAMPLE.COM` with realm `EXAMPLE.COM` becomes
//! `joe@EXAMPLE.COM@EXAMPLE.COM`, which libkrb5 refuses (`NO saslauthd internal error`; also
//! what `-r` produces, Cyrus issue #832). Here a login with its own `@REALM` is taken as
//! written and the request's realm is used only for a login without one. Cyrus's
//! `krb5_conv_krb4_instance` turns the first `.` anywhere into `/` (so `joe@EXAMPLE.COM` became
//! `joe@EXAMPLE/COM`); here only the name part is touched.

/// What shapes the principal besides the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrincipalRules {
    /// `krb5_conv_krb4_instance`: `name.instance` is read as `name/instance` (Kerberos 4 style).
    pub krb4_instance: bool,
    /// `krb5_uppercase_realm`: a realm written in the login or sent in the request is
    /// upper-cased (Kerberos realms are case-sensitive and usually upper-case; a mail client's
    /// realm is often the lower-case domain). Cyrus 2.1.28 never does; Cyrus master has the key.
    pub uppercase_realm: bool,
    /// `krb5_<service>_instance` keys: the instance forced on logins for a service (lower-case
    /// service name → instance).
    pub forced_instances: Vec<(String, String)>,
}

/// Why no principal could be formed (Cyrus: `NO saslauthd principal name error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    /// The login names an instance other than the one the service forces.
    #[error("login asks for instance {asked:?}, service {service:?} forces {forced:?}")]
    InstanceMismatch {
        /// The instance in the login.
        asked: String,
        /// The request's service.
        service: String,
        /// The configured instance.
        forced: String,
    },
    /// A NUL byte in the login or realm (C would cut the name there).
    #[error("NUL byte in the login or realm")]
    Nul,
}

/// Where a principal's realm comes from, for the log and for judging errors about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RealmSource {
    /// Written in the login (`joe@EXAMPLE.COM`).
    Login,
    /// The request's realm field.
    Request,
    /// None given: libkrb5 takes `default_realm` from krb5.conf.
    Default,
}

/// The principal text for `krb5_parse_name`, and where its realm came from.
pub fn form(
    rules: &PrincipalRules,
    login: &str,
    service: &str,
    realm: &str,
) -> Result<(String, RealmSource), PrincipalError> {
    if login.contains('\0') || realm.contains('\0') {
        return Err(PrincipalError::Nul);
    }
    let (name, own_realm) = match split_realm(login) {
        Some((name, own)) => (name, Some(own)),
        None => (login, None),
    };
    let mut name = name.to_owned();
    if rules.krb4_instance
        && !name.contains('/')
        && let Some(dot) = name.find('.')
    {
        name.replace_range(dot..=dot, "/");
    }
    let service_key = service.to_ascii_lowercase();
    if let Some((_, forced)) = rules.forced_instances.iter().find(|(s, _)| *s == service_key) {
        match name.split_once('/') {
            Some((_, asked)) if asked != forced => {
                return Err(PrincipalError::InstanceMismatch {
                    asked: asked.to_owned(),
                    service: service.to_owned(),
                    forced: forced.clone(),
                });
            }
            Some(_) => {}
            None => {
                name.push('/');
                name.push_str(forced);
            }
        }
    }
    let (realm, source) = match own_realm {
        Some(own) => (own, RealmSource::Login),
        None if !realm.is_empty() => (realm, RealmSource::Request),
        None => return Ok((name, RealmSource::Default)),
    };
    let realm = if rules.uppercase_realm { realm.to_ascii_uppercase() } else { realm.to_owned() };
    Ok((format!("{name}@{realm}"), source))
}

/// Split `name@REALM` at the first `@` not escaped by `\`, as `krb5_parse_name` reads it.
fn split_realm(login: &str) -> Option<(&str, &str)> {
    let bytes = login.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'@' => return Some((&login[..i], &login[i + 1..])),
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn plain(login: &str, realm: &str) -> (String, RealmSource) {
        form(&PrincipalRules::default(), login, "smtp", realm).unwrap()
    }

    #[test]
    fn realm_forms() {
        assert_eq!(plain("joe", ""), ("joe".into(), RealmSource::Default));
        assert_eq!(plain("joe", "EXAMPLE.COM"), ("joe@EXAMPLE.COM".into(), RealmSource::Request));
        assert_eq!(plain("joe@EXAMPLE.COM", ""), ("joe@EXAMPLE.COM".into(), RealmSource::Login));
        // Never joe@EXAMPLE.COM@EXAMPLE.COM (Cyrus), whatever the request's realm.
        assert_eq!(plain("joe@EXAMPLE.COM", "EXAMPLE.COM"), ("joe@EXAMPLE.COM".into(), RealmSource::Login));
        assert_eq!(plain("joe@OTHER.ORG", "EXAMPLE.COM"), ("joe@OTHER.ORG".into(), RealmSource::Login));
        // Cyrus does not upper-case: the realm is used as sent.
        assert_eq!(plain("joe", "example.com"), ("joe@example.com".into(), RealmSource::Request));
        // An escaped @ is part of the name.
        assert_eq!(plain(r"a\@b", "R"), (r"a\@b@R".into(), RealmSource::Request));
    }

    #[test]
    fn uppercase_realm_touches_only_the_realm() {
        let rules = PrincipalRules { uppercase_realm: true, ..Default::default() };
        let f = |login, realm| form(&rules, login, "imap", realm).unwrap().0;
        assert_eq!(f("Joe", "example.com"), "Joe@EXAMPLE.COM");
        assert_eq!(f("Joe@example.com", ""), "Joe@EXAMPLE.COM");
        assert_eq!(f("Joe", ""), "Joe");
    }

    #[test]
    fn krb4_instance_converts_the_name_only() {
        let rules = PrincipalRules { krb4_instance: true, ..Default::default() };
        let f = |login, realm| form(&rules, login, "imap", realm).unwrap().0;
        assert_eq!(f("joe.admin", ""), "joe/admin");
        assert_eq!(f("joe@EXAMPLE.COM", ""), "joe@EXAMPLE.COM");
        assert_eq!(f("joe.admin@EXAMPLE.COM", "X"), "joe/admin@EXAMPLE.COM");
    }

    #[test]
    fn a_service_forces_its_instance() {
        let rules =
            PrincipalRules { forced_instances: vec![("imap".into(), "mail".into())], ..Default::default() };
        let f = |login, service, realm| form(&rules, login, service, realm);
        assert_eq!(f("joe", "imap", "R").unwrap().0, "joe/mail@R");
        assert_eq!(f("joe", "IMAP", "").unwrap().0, "joe/mail");
        assert_eq!(f("joe/mail@R", "imap", "").unwrap().0, "joe/mail@R");
        assert!(matches!(f("joe/admin", "imap", "R"), Err(PrincipalError::InstanceMismatch { .. })));
        assert_eq!(f("joe/admin", "smtp", "R").unwrap().0, "joe/admin@R");
    }

    #[test]
    fn nul_is_refused() {
        assert_eq!(form(&PrincipalRules::default(), "jo\0e", "smtp", ""), Err(PrincipalError::Nul));
        assert_eq!(form(&PrincipalRules::default(), "joe", "smtp", "R\0"), Err(PrincipalError::Nul));
    }
}
