//! A private MariaDB server in a temp dir (loopback TCP + its own socket), stoppable and
//! restartable on the same data, for the `sql` mechanism's tests and benchmark.

use crate::free_port;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::bins::require_program;

/// The database login the tests give saslauthd (SELECT on `mail.*` only).
pub const DB_USER: &str = "sasl";
/// Its password.
pub const DB_PASSWORD: &str = "db-Pw-4tests";
/// The database holding the `mailbox` table.
pub const DB_NAME: &str = "mail";

/// A running (or stopped) MariaDB; killed on drop.
#[derive(Debug)]
pub struct MariaDb {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl MariaDb {
    /// Initialise a data dir, start the server, create `mail` and the `sasl` user.
    pub fn start() -> MariaDb {
        let install = require_program("mariadb-install-db", "mariadb-server");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("tmp")).expect("create the server's tmpdir");
        let out = Command::new(install)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .arg(format!("--tmpdir={}", dir.path().join("tmp").display()))
            .args(["--auth-root-authentication-method=normal", "--user=root", "--skip-test-db"])
            .output()
            .expect("run mariadb-install-db");
        assert!(out.status.success(), "mariadb-install-db: {}", String::from_utf8_lossy(&out.stderr));
        let mut db = MariaDb { dir, port: free_port(), child: None };
        db.resume();
        db.sql(&format!(
            "CREATE DATABASE {DB_NAME};
             CREATE USER '{DB_USER}'@'127.0.0.1' IDENTIFIED BY '{DB_PASSWORD}';
             CREATE USER '{DB_USER}'@'localhost' IDENTIFIED BY '{DB_PASSWORD}';
             GRANT SELECT ON {DB_NAME}.* TO '{DB_USER}'@'127.0.0.1';
             GRANT SELECT ON {DB_NAME}.* TO '{DB_USER}'@'localhost';"
        ));
        db
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id (0 while stopped).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The UNIX socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("mysqld.sock")
    }

    /// The server's error log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// (Re)start the server on the same data and port; returns once the socket accepts.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        let mariadbd = require_program("mariadbd", "mariadb-server");
        let d = self.dir.path();
        let child = Command::new(mariadbd)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", d.join("data").display()))
            // Its own tmpdir: a starting server deletes every `#sql*` file in its tmpdir, which
            // in a shared /tmp are the temporary tables of the other servers tests run at the
            // same time (their mariadb-install-db then fails with "Unknown table").
            .arg(format!("--tmpdir={}", d.join("tmp").display()))
            .arg(format!("--socket={}", self.socket().display()))
            .arg(format!("--pid-file={}", d.join("mysqld.pid").display()))
            .arg(format!("--log-error={}", d.join("error.log").display()))
            .arg(format!("--port={}", self.port))
            .args([
                "--bind-address=127.0.0.1",
                "--user=root",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=32M",
            ])
            .args(["--max-connections=500", "--skip-name-resolve"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.ping() {
            assert!(Instant::now() < deadline, "mariadbd did not come up:\n{}", self.log());
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("mariadbd exited with {status}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stop the server (SIGKILL: the harshest outage, and instant).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn ping(&self) -> bool {
        self.socket().exists()
            && Command::new("mariadb")
                .arg("--no-defaults")
                .arg(format!("--socket={}", self.socket().display()))
                .args(["-uroot", "-e", "SELECT 1"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    }

    /// Run SQL as root; panics on failure.
    pub fn sql(&self, sql: &str) {
        let out = Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket().display()))
            .args(["-uroot", "-e", sql])
            .output()
            .expect("run mariadb");
        assert!(out.status.success(), "mariadb -e {sql:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// The HOWTO's `mailbox` table, filled with `(username, stored password, active)` rows.
    pub fn mailbox(&self, rows: &[(&str, &str, bool)]) {
        let mut sql = format!(
            "CREATE TABLE {DB_NAME}.mailbox (username VARCHAR(255) NOT NULL, password VARCHAR(255), \
             active TINYINT(1) NOT NULL DEFAULT 1, KEY (username));"
        );
        for (user, password, active) in rows {
            sql.push_str(&format!(
                "INSERT INTO {DB_NAME}.mailbox VALUES ({}, {}, {});",
                quote(user),
                quote(password),
                u8::from(*active)
            ));
        }
        self.sql(&sql);
    }

    /// A `-O` file for `-a sql` against this server, with `extra` key lines appended.
    pub fn sql_conf(&self, dir: &Path, hostnames: &str, extra: &str) -> PathBuf {
        let path = dir.join("sql.conf");
        std::fs::write(
            &path,
            format!(
                "sql_engine: mysql\nsql_hostnames: {hostnames}\nsql_user: {DB_USER}\nsql_passwd: {DB_PASSWORD}\n\
                 sql_database: {DB_NAME}\n\
                 sql_select: SELECT password FROM mailbox WHERE username = '%u' AND active = 1\n{extra}"
            ),
        )
        .expect("write sql.conf");
        path
    }
}

/// A MariaDB string literal (root-side fixture data only; saslauthd never builds SQL this way).
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        self.stop();
    }
}
