//! A private Postfix instance (its own config dir, queue dir, loopback port) whose chrooted
//! smtpd authenticates through saslauthd exactly as a Debian mail server's does.

use crate::free_port;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::bins::require_program;

/// A running Postfix; `postfix stop` (then `abort`) on drop.
pub struct Postfix {
    dir: tempfile::TempDir,
    port: u16,
}

impl Postfix {
    /// Lay out an instance (config dir, queue dir, a free loopback port) without starting it,
    /// so that saslauthd can be started in [`Postfix::chroot_run_dir`] first.
    #[allow(clippy::new_without_default)] // it creates directories: not a value to default to
    pub fn new() -> Postfix {
        assert!(
            nix::unistd::geteuid().is_root(),
            "the Postfix test must run as root (Postfix's master needs it)"
        );
        let dir = tempfile::Builder::new().prefix("saslauthd-postfix-").tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        for sub in ["etc/sasl", "spool/var/run/saslauthd", "data"] {
            std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        let status = Command::new("chown").args(["postfix"]).arg(root.join("data")).status().expect("chown");
        assert!(status.success(), "chown postfix failed (is the postfix user there?)");
        Postfix { dir, port: free_port() }
    }

    /// Start Postfix with smtpd chrooted to its queue directory. libsasl2 inside the chroot
    /// finds saslauthd at `/var/run/saslauthd/mux`, i.e. [`Postfix::chroot_run_dir`] outside.
    /// `sasl_service` is what Postfix sends as the service (`smtpd_sasl_service`; Postfix's
    /// default is `smtp`), so PAM tests can name a service file of their own.
    pub fn start(&self, sasl_service: &str) {
        let postfix = require_program("postfix", "postfix");
        let (root, port) = (self.dir.path(), self.port);
        let r = root.display();
        let main_cf = format!(
            "compatibility_level = 3.6\n\
             queue_directory = {r}/spool\n\
             data_directory = {r}/data\n\
             mail_owner = postfix\n\
             myhostname = saslauthd-test.invalid\n\
             mydestination =\n\
             local_recipient_maps =\n\
             inet_interfaces = 127.0.0.1\n\
             inet_protocols = ipv4\n\
             mynetworks = 127.0.0.1/32\n\
             maillog_file = {r}/maillog\n\
             maillog_file_prefixes = {r}\n\
             smtpd_sasl_auth_enable = yes\n\
             smtpd_sasl_path = smtpd\n\
             smtpd_sasl_service = {sasl_service}\n\
             smtpd_sasl_security_options = noanonymous\n\
             smtpd_relay_restrictions = permit_sasl_authenticated, reject\n\
             smtpd_tls_security_level = none\n"
        );
        // chroot = y for smtpd: the deployment the HOWTOs describe.
        let master_cf = format!(
            "127.0.0.1:{port} inet n - y - - smtpd\n\
             proxymap unix - - n - - proxymap\n\
             anvil unix - - n - 1 anvil\n\
             postlog unix-dgram n - n - 1 postlogd\n"
        );
        std::fs::write(root.join("etc/main.cf"), main_cf).expect("main.cf");
        std::fs::write(root.join("etc/master.cf"), master_cf).expect("master.cf");
        // Debian's Postfix reads the SASL application config from $config_directory/sasl.
        std::fs::write(
            root.join("etc/sasl/smtpd.conf"),
            "pwcheck_method: saslauthd\nmech_list: PLAIN LOGIN\n",
        )
        .expect("smtpd.conf");
        if Path::new("/etc/postfix/dynamicmaps.cf").exists() {
            std::fs::copy("/etc/postfix/dynamicmaps.cf", root.join("etc/dynamicmaps.cf"))
                .expect("dynamicmaps.cf");
        }
        let out = Command::new(&postfix)
            .arg("-c")
            .arg(self.config_dir())
            .arg("start")
            .output()
            .expect("postfix start");
        assert!(
            out.status.success(),
            "postfix start failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.maillog()
        );
        let until = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "Postfix did not listen on {port}:\n{}", self.maillog());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Where saslauthd must put its socket: `<queue dir>/var/run/saslauthd` (the `-m` of the
    /// Debian README for a chrooted smtpd).
    pub fn chroot_run_dir(&self) -> PathBuf {
        self.dir.path().join("spool/var/run/saslauthd")
    }

    fn config_dir(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    /// Postfix's log so far.
    pub fn maillog(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    /// One SMTP session: EHLO, then `AUTH PLAIN`; the reply code and text of the AUTH.
    pub fn auth_plain(&self, user: &str, password: &str) -> (u16, String) {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect smtpd");
        stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut writer = stream;
        let greeting = read_reply(&mut reader);
        assert_eq!(greeting.0, 220, "{greeting:?}");
        writer.write_all(b"EHLO client.invalid\r\n").expect("ehlo");
        let ehlo = read_reply(&mut reader);
        assert!(ehlo.1.contains("AUTH PLAIN LOGIN"), "smtpd offers no AUTH PLAIN: {ehlo:?}");
        let token = base64(format!("\0{user}\0{password}").as_bytes());
        writer.write_all(format!("AUTH PLAIN {token}\r\n").as_bytes()).expect("auth");
        let auth = read_reply(&mut reader);
        let _ = writer.write_all(b"QUIT\r\n");
        auth
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        for verb in ["stop", "abort"] {
            let _ = Command::new("postfix").arg("-c").arg(self.config_dir()).arg(verb).output();
            if TcpStream::connect(("127.0.0.1", self.port)).is_err() {
                break;
            }
        }
    }
}

fn read_reply(reader: &mut impl BufRead) -> (u16, String) {
    let mut text = String::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).expect("read SMTP reply");
        assert!(n > 0, "smtpd closed the connection; so far: {text}");
        text.push_str(&line);
        if line.as_bytes().get(3) != Some(&b'-') {
            let code = line.get(..3).and_then(|c| c.parse().ok()).expect("SMTP reply code");
            return (code, text);
        }
    }
}

/// RFC 4648 base64, enough for an AUTH PLAIN token.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")]
        {
            assert_eq!(super::base64(input.as_bytes()), want);
        }
    }
}
