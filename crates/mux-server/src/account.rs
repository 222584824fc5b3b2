//! The account a request is about, as penalties and the cache group requests: coarser than the
//! (realm, login) pair the client sent, because the mechanism that checks it often is.

/// The login up to its first `@`, case-folded, with surrounding white space dropped and inner
/// runs of it collapsed; the realm field is not part of it.
///
/// Why so coarse: the realm and the login's spelling are the client's to choose (libsasl2 fills
/// the realm from an authcid's `@domain`), while what the mechanism checks often ignores them:
/// passwd-file, pam and shadow ignore the realm, an ldap filter's `%U` drops the login's
/// `@domain`, and LDAP matching and MySQL collations ignore case and padding. Keyed on the raw
/// (realm, login), each spelling had a penalty gate of its own (300 guesses at `joe` with realms
/// `r0`…`r299` were all checked within 2 s), and a success with a new password in realm `X` left
/// the old password cached as OK in realm `""`. The price: distinct accounts spelled alike
/// (`joe@a.example` and `JOE@b.example`) share one penalty gate and one cache group (a
/// success or failure of one drops the other's cached entries: a cache miss, never a wrong
/// answer, since each entry still matches only its own realm and login exactly).
pub fn account(login: &str) -> String {
    let local = login.split('@').next().unwrap_or_default();
    local.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::account;

    #[test]
    fn spellings_of_one_login_are_one_account() {
        for login in ["joe", "Joe", " JOE ", "joe@x.example", "jOe@y@z", "joe\t"] {
            assert_eq!(account(login), "joe", "{login:?}");
        }
        assert_eq!(account("Mary  Ann"), "mary ann");
        assert_ne!(account("joey"), account("joe"));
    }
}
