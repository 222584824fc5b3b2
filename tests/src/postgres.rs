//! A private PostgreSQL server in a temp dir (loopback TCP + its own socket directory), stoppable
//! and restartable on the same data, for the `sql` mechanism's tests.
//!
//! PostgreSQL refuses to run as root, and CI runs the tests as root: then `initdb` and `postgres`
//! run as the `postgres` account the Debian package creates (or `nobody` without it), with the
//! temp dir handed to that account. Run as another user, they simply run as that user.

use std::os::unix::fs::chown;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Gid, Pid, Uid, User};

/// The database login the tests give saslauthd (SELECT on `mailbox` only).
pub const DB_USER: &str = "sasl";
/// Its password (checked over TCP with SCRAM; the socket trusts every local login).
pub const DB_PASSWORD: &str = "pg-Pw-4tests";
/// The database holding the `mailbox` table.
pub const DB_NAME: &str = "mail";

/// How long the server may take to accept connections (initdb excluded).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running (or stopped) PostgreSQL; stopped on drop.
#[derive(Debug)]
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    owner: Option<(Uid, Gid)>,
    tls: bool,
    child: Option<Child>,
}

impl Postgres {
    /// Initialise a cluster, start it, create `mail`, the `sasl` role and an empty `mailbox`.
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let dir = tempfile::Builder::new().prefix("pg-").tempdir().expect("tempdir");
        let owner = unprivileged_owner();
        if let Some((uid, gid)) = owner {
            chown(dir.path(), Some(uid.as_raw()), Some(gid.as_raw())).expect("chown the temp dir");
        }
        let mut pg = Postgres { dir, bin, port: crate::free_port(), owner, tls: false, child: None };
        let out = pg
            .command("initdb")
            .arg("-D")
            .arg(pg.data())
            .args(["-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256"])
            .args(["--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"])
            .output()
            .expect("run initdb");
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        pg.resume();
        pg.sql(
            "postgres",
            &format!("CREATE ROLE {DB_USER} LOGIN PASSWORD '{DB_PASSWORD}';\nCREATE DATABASE {DB_NAME};\n"),
        );
        pg.sql(
            DB_NAME,
            &format!(
                "CREATE TABLE mailbox (username text NOT NULL, password text, \
                 active boolean NOT NULL DEFAULT true);\n\
                 CREATE INDEX ON mailbox (username);\nGRANT SELECT ON mailbox TO {DB_USER};\n"
            ),
        );
        pg
    }

    /// Restart serving TLS on the TCP port with this PEM certificate (chain) and key.
    pub fn with_tls(mut self, cert_pem: &str, key_pem: &str) -> Postgres {
        use std::os::unix::fs::PermissionsExt;
        for (name, pem) in [("server.crt", cert_pem), ("server.key", key_pem)] {
            let path = self.dir.path().join(name);
            std::fs::write(&path, pem).expect("write the TLS files");
            // PostgreSQL refuses a key others may read.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            if let Some((uid, gid)) = self.owner {
                chown(&path, Some(uid.as_raw()), Some(gid.as_raw())).expect("chown the TLS files");
            }
        }
        self.stop();
        self.tls = true;
        self.resume();
        self
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The socket directory (what `sql_hostnames` names for a PostgreSQL socket).
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A command for one of the server's programs, run as the cluster's owner, in the temp dir
    /// (the owner may not be allowed into the test's working directory).
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        cmd.current_dir(self.dir.path()).env_remove("PGDATA");
        if let Some((uid, gid)) = self.owner {
            // std drops the supplementary groups when root sets a uid.
            cmd.uid(uid.as_raw()).gid(gid.as_raw());
        }
        cmd
    }

    /// (Re)start the server on the same data and port; returns once it accepts connections.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::File::create(self.dir.path().join("postgres.log")).expect("create the log");
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data())
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(self.dir.path())
            // Throwaway data: no fsync; small buffers, a few connections, logs to stderr only.
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off"])
            .args(["-c", "shared_buffers=16MB", "-c", "max_connections=50", "-c", "logging_collector=off"])
            .args(if self.tls {
                let dir = self.dir.path().display();
                vec![
                    "-c".to_owned(),
                    "ssl=on".to_owned(),
                    "-c".to_owned(),
                    format!("ssl_cert_file={dir}/server.crt"),
                    "-c".to_owned(),
                    format!("ssl_key_file={dir}/server.key"),
                ]
            } else {
                Vec::new()
            })
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start postgres");
        self.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        while !self.is_ready() {
            assert!(Instant::now() < deadline, "postgres did not come up:\n{}", self.log());
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                self.child = None;
                panic!("postgres exited with {status}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop the server at once (SIGQUIT, "immediate shutdown": no checkpoint, clients cut off,
    /// the way a crash looks to them). Not SIGKILL: that would leave the backends running on
    /// the shared memory and the port, and the next start would refuse.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits i32"));
        let _ = kill(pid, Signal::SIGQUIT);
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(child.try_wait(), Ok(None)) {
            if Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.wait();
    }

    fn is_ready(&self) -> bool {
        self.command("pg_isready")
            .arg("-q")
            .arg("-h")
            .arg(self.dir.path())
            .arg("-p")
            .arg(self.port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Run `sql` (statements separated by `;`, one transaction each) in `database` as the
    /// superuser; panics on failure.
    pub fn sql(&self, database: &str, sql: &str) {
        use std::io::Write;
        let mut child = self
            .command("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", database, "-h"])
            .arg(self.dir.path())
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run psql");
        child.stdin.take().expect("stdin").write_all(sql.as_bytes()).expect("write to psql");
        let out = child.wait_with_output().expect("wait for psql");
        assert!(out.status.success(), "psql {sql:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Fill `mailbox` with `(username, stored password, active)` rows.
    pub fn mailbox(&self, rows: &[(&str, &str, bool)]) {
        let mut sql = String::new();
        for (user, password, active) in rows {
            sql.push_str(&format!(
                "INSERT INTO mailbox VALUES ({}, {}, {active});\n",
                quote(user),
                quote(password)
            ));
        }
        self.sql(DB_NAME, &sql);
    }

    /// A `-O` file for `-a sql` against this server (`hostnames` as in `sql_hostnames`), with
    /// `select` as `sql_select` and `extra` key lines appended.
    pub fn sql_conf(&self, dir: &Path, hostnames: &str, select: &str, extra: &str) -> PathBuf {
        let path = dir.join("sql.conf");
        std::fs::write(
            &path,
            format!(
                "sql_engine: pgsql\nsql_hostnames: {hostnames}\nsql_user: {DB_USER}\nsql_passwd: {DB_PASSWORD}\n\
                 sql_database: {DB_NAME}\nsql_select: {select}\n{extra}"
            ),
        )
        .expect("write sql.conf");
        path
    }
}

/// A standard-conforming string literal (superuser-side fixture data only; saslauthd never
/// builds SQL this way).
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `/usr/lib/postgresql/<newest version>/bin`.
fn bin_dir() -> PathBuf {
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|v| Path::new(&format!("/usr/lib/postgresql/{v}/bin/initdb")).exists())
        .max();
    let Some(version) = newest else {
        panic!("no /usr/lib/postgresql/<version>/bin/initdb: apt-get install postgresql");
    };
    PathBuf::from(format!("/usr/lib/postgresql/{version}/bin"))
}

/// Who runs the server when the tests run as root.
fn unprivileged_owner() -> Option<(Uid, Gid)> {
    if !Uid::effective().is_root() {
        return None;
    }
    let user = ["postgres", "nobody"]
        .into_iter()
        .find_map(|name| User::from_name(name).ok().flatten())
        .expect("neither a postgres nor a nobody account to run PostgreSQL as");
    Some((user.uid, user.gid))
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
