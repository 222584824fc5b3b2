//! Plain words for MySQL 8's `caching_sha2_password` failures (saslauthd.conf(5), sql_tls).
//!
//! MySQL 8's default plugin answers from a server-side cache when it can ("fast"
//! authentication, a scramble, works over any connection). Otherwise ("full" authentication,
//! the first login after a server start or `FLUSH PRIVILEGES`) the client must send the
//! password in clear over TLS, or RSA-encrypted. sqlx 0.9 is built here without `mysql-rsa`
//! (RUSTSEC-2023-0071, Cargo.toml), so without TLS it gives up with "RSA auth backend
//! disabled"; it also treats a UNIX socket as insecure and asks for the RSA key there, which
//! the server (for which a socket is a secure transport) reads as an empty password: "Access
//! denied … (using password: NO)". TLS, which `sql_tls: prefer` negotiates on TCP and on the
//! socket whenever the server offers it (MySQL 8 does by default), works on both. From reading
//! sqlx-mysql 0.9 `connection/auth.rs` and MySQL's `sha2_password.cc`; Debian 12 ships no
//! MySQL 8 to test against.

/// A hint to append to `e`'s text when it looks like the failure above, else "".
pub fn hint(e: &sqlx::Error, password_configured: bool) -> &'static str {
    match e {
        sqlx::Error::Configuration(source) if source.to_string().contains("RSA auth backend disabled") => {
            " (MySQL's caching_sha2_password needs TLS for a full authentication: set sql_tls to \
             prefer or require and make sure the server offers TLS, or use mysql_native_password \
             for this account; saslauthd-rs has no RSA support)"
        }
        sqlx::Error::Database(d)
            if password_configured
                && d.code().as_deref() == Some("28000")
                && d.message().contains("using password: NO") =>
        {
            " (the password was configured but not sent: with caching_sha2_password and no TLS \
             the connection cannot carry it, even over the UNIX socket; set sql_tls to prefer or \
             require)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_rsa_refusal_gets_the_hint_and_others_do_not() {
        // The text sqlx-mysql 0.9 gives when the server wants full authentication without TLS.
        let rsa = sqlx::Error::Configuration(
            "RSA auth backend disabled; enable feature `mysql-rsa` (or `rsa` if using sqlx-mysql directly) or use TLS."
                .into(),
        );
        assert!(hint(&rsa, true).contains("sql_tls"));
        assert_eq!(hint(&sqlx::Error::PoolTimedOut, true), "");
        assert_eq!(hint(&sqlx::Error::Configuration("other".into()), true), "");
    }
}
