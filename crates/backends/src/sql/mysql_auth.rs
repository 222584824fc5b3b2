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
    use crate::conf_file::ConfFile;
    use crate::sql::Sql;
    use crate::sql::config::SqlConfig;
    use crate::{BlockingPool, Credentials, Outcome, Verifier};
    use std::path::Path;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// One MySQL packet: 3-byte little-endian length, sequence id, payload.
    fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
        let len = u32::try_from(payload.len()).unwrap().to_le_bytes();
        [&len[..3], &[seq], payload].concat()
    }

    async fn read_packet(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
        let mut head = [0u8; 4];
        stream.read_exact(&mut head).await.unwrap();
        let mut payload =
            vec![0u8; usize::from(head[0]) | usize::from(head[1]) << 8 | usize::from(head[2]) << 16];
        stream.read_exact(&mut payload).await.unwrap();
        payload
    }

    /// What a MySQL 8 server without TLS does for a `caching_sha2_password` account whose hash
    /// is not in its cache (MySQL's protocol documentation, "caching_sha2_password"): greet with
    /// that plugin, answer the scramble with "perform full authentication" (0x01 0x04), answer
    /// the client's public-key request (0x02) with a key. Scripted because Debian 12 ships no
    /// MySQL 8 (MariaDB has no such plugin); the point is what sqlx does next.
    async fn mysql8_without_tls(listener: TcpListener) {
        let (mut stream, _) = listener.accept().await.unwrap();
        // PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH | CONNECT_WITH_DB | LONG_PASSWORD | TRANSACTIONS; no SSL.
        let caps: u32 = 0x0000_0200 | 0x0000_8000 | 0x0008_0000 | 0x0000_0008 | 0x0000_0001 | 0x0000_2000;
        let mut hello = vec![0x0a];
        hello.extend_from_slice(b"8.0.36\0");
        hello.extend_from_slice(&7u32.to_le_bytes());
        hello.extend_from_slice(b"abcdefgh\0");
        hello.extend_from_slice(&caps.to_le_bytes()[..2]);
        hello.push(0xff);
        hello.extend_from_slice(&2u16.to_le_bytes());
        hello.extend_from_slice(&caps.to_le_bytes()[2..]);
        hello.push(21);
        hello.extend_from_slice(&[0u8; 10]);
        hello.extend_from_slice(b"ijklmnopqrst\0");
        hello.extend_from_slice(b"caching_sha2_password\0");
        stream.write_all(&packet(0, &hello)).await.unwrap();
        let _response = read_packet(&mut stream).await;
        stream.write_all(&packet(2, &[0x01, 0x04])).await.unwrap();
        assert_eq!(read_packet(&mut stream).await, [0x02], "the client asks for the RSA key");
        let key = b"\x01-----BEGIN PUBLIC KEY-----\nMFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf\n9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ==\n-----END PUBLIC KEY-----\n";
        stream.write_all(&packet(4, key)).await.unwrap();
        // sqlx gives up here; hold the connection until it closes.
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest).await;
    }

    #[tokio::test]
    async fn full_authentication_without_tls_is_a_tempfail_that_names_sql_tls() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(mysql8_without_tls(listener));
        let text = format!(
            "sql_engine: mysql\nsql_hostnames: 127.0.0.1:{port}\nsql_user: saslauthd\nsql_passwd: secret\n\
             sql_database: mail\nsql_select: SELECT password FROM users WHERE name = '%u'\n"
        );
        let conf = ConfFile::parse(Path::new("sql.conf"), &text).unwrap();
        let sql = Sql::from_config(SqlConfig::from_conf(&conf).unwrap(), BlockingPool::new(1)).unwrap();
        let creds = Credentials {
            login: "joe".into(),
            password: zeroize::Zeroizing::new(b"pw".to_vec()),
            service: "smtp".into(),
            realm: String::new(),
            client_addr: None,
        };
        match sql.verify(&creds).await {
            Outcome::Unavailable(reason) => {
                assert!(reason.contains("RSA auth backend disabled"), "{reason}");
                assert!(
                    reason.contains("caching_sha2_password needs TLS") && reason.contains("sql_tls"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
        server.abort();
    }

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
