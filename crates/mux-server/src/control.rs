//! Beside the request path: the control socket (`<rundir>/control`), where `testsaslauthd
//! --admin` flushes one user's cache entries, lists and forgets penalties, reads the metrics and
//! reloads the configuration with a reported result (Dovecot's `doveadm auth cache flush` and
//! `doveadm penalty` for saslauthd). Protocol: [`crate::control_protocol`]; documented in
//! saslauthd(8), CONTROL SOCKET.
//!
//! It never holds up the mux path: its own listener and tasks, at most [`MAX_CLIENTS`] at once
//! (more are told `busy`), a [`READ_DEADLINE`] for the request, and commands that take the
//! cache's and penalties' locks only for a map operation. The socket is mode 0600 and owned by
//! the daemon's user; a peer whose uid is neither root nor the daemon's is refused as well
//! (SO_PEERCRED), in case the socket's directory or mode was changed by hand.

use crate::control_protocol::{self as protocol, MAX_REQUEST, Record, Request, Response};
use crate::penalty::{PenaltyKey, PenaltyRecord};
use crate::policy::Policy;
use crate::reload::Reloader;
use nix::unistd::{Gid, Uid};
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::Semaphore;

/// How long a client has to send its request line.
pub const READ_DEADLINE: Duration = Duration::from_secs(2);

/// How long writing the response may take before the client is dropped.
const WRITE_DEADLINE: Duration = Duration::from_secs(5);

/// Control connections served at once; the control socket is for an operator, not for load.
pub const MAX_CLIENTS: usize = 4;

/// What the control commands act on.
pub struct Control {
    policy: Arc<Policy>,
    reloader: Arc<Reloader>,
    /// `-r`: the cache and penalties count `login@realm` when a realm is given.
    join_realm: bool,
    /// The daemon's effective uid once running (besides root, the one peer allowed).
    owner: Uid,
}

impl Control {
    /// Commands on `policy`'s cache and penalties; `reload` through `reloader`; `owner` is the
    /// uid the daemon runs as (after `--user`).
    pub fn new(policy: Arc<Policy>, reloader: Arc<Reloader>, join_realm: bool, owner: Uid) -> Self {
        Self { policy, reloader, join_realm, owner }
    }

    /// Carry out one request.
    pub async fn execute(&self, request: &Request) -> Response {
        let args: Vec<&str> = request.args.iter().map(String::as_str).collect();
        match (request.command.as_str(), args.as_slice()) {
            ("flush-cache", [] | [_] | [_, _]) => self.flush_cache(&args),
            ("penalties", [] | [_] | [_, _]) => self.penalties(&args),
            ("forget-penalty", [_] | [_, _]) => self.forget_penalty(&args),
            ("stats", []) => stats(self.policy.clone()),
            ("reload", []) => match self.reloader.reload("control").await {
                Ok(mechanisms) => Response::Ok(vec![Record::new("reloaded").with("mechanisms", mechanisms)]),
                Err(e) => Response::err("failed", format!("configuration not reloaded: {e}")),
            },
            (command, _) if protocol::COMMANDS.contains(&command) => {
                Response::err("usage", format!("wrong number of arguments for {command}"))
            }
            (command, _) => Response::err("usage", format!("unknown command {command:?}")),
        }
    }

    /// The login the cache and penalties count for `user` and `realm` (policy's `-r` rule).
    fn login(&self, user: &str, realm: &str) -> String {
        if self.join_realm && !realm.is_empty() { format!("{user}@{realm}") } else { user.to_owned() }
    }

    fn flush_cache(&self, args: &[&str]) -> Response {
        let Some(cache) = self.policy.cache() else {
            return Response::err("off", "the credential cache is off (-c not given)");
        };
        let users = match args {
            [] => cache.flush(),
            [user, rest @ ..] => {
                let realm = rest.first().copied().unwrap_or("");
                usize::from(cache.flush_user(&self.login(user, realm), realm))
            }
        };
        tracing::info!("control: cache flushed ({users} users)");
        Response::Ok(vec![Record::new("flushed").with("users", users)])
    }

    fn penalties(&self, args: &[&str]) -> Response {
        let Some(penalties) = self.policy.penalties() else {
            return Response::err("off", "penalties are off (--no-penalty)");
        };
        let records = match args {
            [] => penalties.records(),
            [user, rest @ ..] => {
                let realm = rest.first().copied().unwrap_or("");
                let mut found = penalties.user_records(&self.login(user, realm), realm);
                if let Ok(addr) = user.parse::<IpAddr>() {
                    let addr = addr.to_canonical();
                    found.extend(penalties.records().into_iter().filter(|r| r.key == PenaltyKey::Address(addr)));
                }
                found
            }
        };
        Response::Ok(records.iter().map(penalty_record).collect())
    }

    fn forget_penalty(&self, args: &[&str]) -> Response {
        let Some(penalties) = self.policy.penalties() else {
            return Response::err("off", "penalties are off (--no-penalty)");
        };
        let (target, realm) = (args.first().copied().unwrap_or(""), args.get(1).copied().unwrap_or(""));
        let forgotten = if let Some(id) = target.strip_prefix('#') {
            penalties.forget_id(id)
        } else {
            // An address is also tried as a login: forgetting is harmless, guessing wrong is not.
            let by_addr = target.parse::<IpAddr>().map_or(0, |a| penalties.forget_address(a));
            by_addr + penalties.forget_user(&self.login(target, realm), realm)
        };
        tracing::info!("control: {forgotten} penalty records forgotten");
        Response::Ok(vec![Record::new("forgotten").with("records", forgotten)])
    }
}

fn penalty_record(r: &PenaltyRecord) -> Record {
    let key = match &r.key {
        PenaltyKey::User(name) => name.clone(),
        PenaltyKey::Pair(name, addr) => format!("{name} from {addr}"),
        PenaltyKey::Id(id) => format!("#{id}"),
        PenaltyKey::Address(addr) => addr.to_string(),
    };
    Record::new("penalty")
        .with("kind", r.table)
        .with("key", key)
        .with("failures", r.failures)
        .with("delay_seconds", r.delay.as_secs_f64())
        .with("wait_seconds", (r.wait.as_secs_f64() * 1000.0).round() / 1000.0)
        .with("forget_in_seconds", r.forget_in.as_secs())
}

/// The metrics as records: one per sample, histogram buckets left out (their `_sum` and
/// `_count` stay).
fn stats(policy: Arc<Policy>) -> Response {
    let text = crate::metrics::render_for(policy);
    let mut records = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, labels.trim_end_matches('}')),
            None => (series, ""),
        };
        if name.ends_with("_bucket") {
            continue;
        }
        let name = name.strip_prefix("saslauthd_").unwrap_or(name);
        records.push(Record::new("metric").with("name", name).with("labels", labels).with("value", value));
    }
    Response::Ok(records)
}

/// Bind the control socket at `path`: a stale one is replaced, mode 0600, owned by `owner`
/// (the `--user` identity) when given. The caller holds the run directory's lock, or systemd
/// guarantees a single instance, so a socket already there is stale.
pub fn bind(path: &Path, owner: Option<(Uid, Gid)>) -> std::io::Result<std::os::unix::net::UnixListener> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    // The daemon's umask (077) keeps the socket private from the start; the chmod makes sure.
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    let set_up = || -> std::io::Result<()> {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        if let Some((uid, gid)) = owner {
            nix::unistd::chown(path, Some(uid), Some(gid))?;
        }
        listener.set_nonblocking(true)
    };
    if let Err(e) = set_up() {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(listener)
}

/// The control socket paths for the daemon's sockets: `--control PATH` when given, else
/// `control` beside each `mux` socket.
pub fn paths_beside(sockets: &[PathBuf], explicit: Option<&Path>) -> Vec<PathBuf> {
    if let Some(path) = explicit {
        return vec![path.to_owned()];
    }
    let mut paths: Vec<PathBuf> = Vec::new();
    for dir in sockets.iter().filter_map(|s| s.parent()) {
        let path = dir.join(protocol::SOCKET_NAME);
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    paths
}

/// Remove the control sockets at exit.
pub fn remove(paths: &[PathBuf]) {
    for path in paths {
        if let Err(e) = std::fs::remove_file(path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("could not remove {}: {e}", path.display());
        }
    }
}

/// Serve `listener` until the task is dropped.
pub async fn serve(listener: UnixListener, control: Arc<Control>) {
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("control socket: accept: {e}");
                // EMFILE and friends: do not spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let allowed = stream.peer_cred().is_ok_and(|c| c.uid() == 0 || c.uid() == control.owner.as_raw());
        let slot = slots.clone().try_acquire_owned();
        let control = control.clone();
        tokio::spawn(async move {
            match (allowed, slot) {
                (false, _) => {
                    tracing::warn!("control socket: refused a client that is neither root nor the daemon's user");
                    refuse(stream, &Response::err("denied", "only root or the daemon's user")).await;
                }
                (true, Err(_)) => refuse(stream, &Response::err("busy", "too many control clients")).await,
                (true, Ok(_slot)) => answer(stream, &control).await,
            }
        });
    }
}

/// Read one request from `stream`, carry it out and write the response.
pub async fn answer<S: AsyncRead + AsyncWrite + Unpin>(stream: S, control: &Control) {
    let mut reader = BufReader::with_capacity(MAX_REQUEST, stream);
    let response = match tokio::time::timeout(READ_DEADLINE, read_line(&mut reader)).await {
        Err(_) => Response::err("usage", format!("no request line within {}s", READ_DEADLINE.as_secs())),
        Ok(Err(e)) => Response::err("usage", e),
        Ok(Ok(line)) => match Request::decode(&line) {
            Ok(request) => {
                tracing::debug!("control: {}", request.command);
                control.execute(&request).await
            }
            Err(e) => Response::err("usage", e),
        },
    };
    let _ = reply(reader.into_inner(), &response).await;
}

/// Answer with `response` whatever the request: its line is read first (within the deadline and
/// size bound), since closing on unread bytes resets the connection and the client would see a
/// reset instead of the answer.
async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(stream: S, response: &Response) {
    let mut reader = BufReader::with_capacity(MAX_REQUEST, stream);
    let _ = tokio::time::timeout(READ_DEADLINE, read_line(&mut reader)).await;
    let _ = reply(reader.into_inner(), response).await;
}

async fn reply<S: AsyncWrite + Unpin>(mut stream: S, response: &Response) -> std::io::Result<()> {
    let text = response.encode();
    tokio::time::timeout(WRITE_DEADLINE, async {
        stream.write_all(text.as_bytes()).await?;
        stream.shutdown().await
    })
    .await
    .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

/// One line of at most [`MAX_REQUEST`] bytes, without its LF.
async fn read_line<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> Result<Vec<u8>, String> {
    let mut line = Vec::new();
    loop {
        let buf = reader.fill_buf().await.map_err(|e| format!("read: {e}"))?;
        if buf.is_empty() {
            return Err("the request ended without a line feed".to_owned());
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(at) => (&buf[..at], true),
            None => (buf, false),
        };
        if line.len() + chunk.len() >= MAX_REQUEST {
            return Err(format!("request longer than {MAX_REQUEST} bytes"));
        }
        line.extend_from_slice(chunk);
        let used = chunk.len() + usize::from(done);
        reader.consume(used);
        if done {
            return Ok(line);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::cache::{Cache, CacheConfig};
    use crate::chain::Chain;
    use crate::frame::RawRequest;
    use crate::penalty::{PenaltyConfig, Penalties};
    use crate::policy::PolicyConfig;
    use backends::secret::Keyer;
    use backends::{Credentials, Outcome, Reject, Verifier, VerifyFuture};
    use tokio::io::AsyncReadExt;
    use zeroize::Zeroizing;

    /// OK for the password "pw", NO otherwise.
    struct Pw;

    impl Verifier for Pw {
        fn name(&self) -> &'static str {
            "pw"
        }
        fn verify<'a>(&'a self, creds: &'a Credentials) -> VerifyFuture<'a> {
            let ok = &creds.password[..] == b"pw";
            Box::pin(async move { if ok { Outcome::Ok } else { Outcome::No(Reject::IncorrectPassword) } })
        }
    }

    fn control(join_realm: bool) -> (Arc<Policy>, Control) {
        let config = PolicyConfig { join_realm, verify_timeout: Duration::from_secs(5) };
        let policy = Policy::from_chain(Chain::single(Arc::new(Pw), config.verify_timeout), config)
            .with_cache(Cache::new(Keyer::from_key(b"c").unwrap(), CacheConfig::from_cyrus(None, None)))
            .with_penalties(Penalties::new(Keyer::from_key(b"p").unwrap(), PenaltyConfig::default()));
        let policy = Arc::new(policy);
        let build: Arc<crate::reload::BuildChain> =
            Arc::new(|| Ok(Chain::single(Arc::new(Pw), Duration::from_secs(5))));
        let reloader = Arc::new(Reloader::new(policy.clone(), build));
        let control = Control::new(policy.clone(), reloader, join_realm, nix::unistd::geteuid());
        (policy, control)
    }

    fn raw(login: &str, password: &str, realm: &str, addr: Option<&str>) -> RawRequest {
        RawRequest {
            login: login.as_bytes().to_vec(),
            password: Zeroizing::new(password.as_bytes().to_vec()),
            service: b"smtp".to_vec(),
            realm: realm.as_bytes().to_vec(),
            client_addr: addr.map(|a| a.as_bytes().to_vec()),
        }
    }

    async fn run(control: &Control, command: &str, args: &[&str]) -> Response {
        let request = Request { command: command.to_owned(), args: args.iter().map(|a| (*a).to_owned()).collect() };
        control.execute(&request).await
    }

    fn records(response: Response) -> Vec<Record> {
        match response {
            Response::Ok(records) => records,
            Response::Err { code, message } => panic!("{code}: {message}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn one_user_is_flushed_with_the_realm_joined_as_for_requests() {
        let (policy, control) = control(true);
        for (login, realm) in [("joe", "a.org"), ("ann", "a.org"), ("joe", "")] {
            policy.decide(raw(login, "pw", realm, None)).await;
        }
        let cache = policy.cache().unwrap();
        // A user's entries are grouped by the folded login, realm aside (cache.rs): joe@a.org and
        // joe are one record, holding one entry each.
        assert_eq!(cache.len(), 2);
        let flushed = records(run(&control, "flush-cache", &["joe", "a.org"]).await);
        assert_eq!(flushed[0].get("users"), Some("1"), "joe@a.org, as -r made it, and joe with it");
        assert_eq!(cache.len(), 1);
        assert_eq!(records(run(&control, "flush-cache", &["joe"]).await)[0].get("users"), Some("0"));
        assert_eq!(records(run(&control, "flush-cache", &[]).await)[0].get("users"), Some("1"));
        assert!(cache.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn penalties_show_time_left_and_are_forgotten_by_id_name_or_address() {
        let (policy, control) = control(false);
        policy.decide(raw("joe", "bad1", "", Some("192.0.2.1;25"))).await;
        tokio::time::advance(Duration::from_secs(1)).await;
        let listed = records(run(&control, "penalties", &[]).await);
        let kinds: Vec<&str> = listed.iter().filter_map(|r| r.get("kind")).collect();
        assert_eq!(kinds, ["user", "pair", "address"], "{listed:?}");
        let user = &listed[0];
        assert_eq!(user.get("failures"), Some("1"));
        assert_eq!(user.get("delay_seconds"), Some("2"));
        assert_eq!(user.get("wait_seconds"), Some("1"), "2 s after the failure, 1 s ago");
        assert_eq!(user.get("forget_in_seconds"), Some("899"));
        assert_eq!(listed[2].get("delay_seconds"), Some("0.5"), "an address's gate is 4 times wider");
        let id = user.get("key").unwrap().to_owned();
        assert!(id.starts_with('#') && !format!("{listed:?}").contains("joe"));

        let joe = records(run(&control, "penalties", &["joe"]).await);
        let keys: Vec<&str> = joe.iter().filter_map(|r| r.get("key")).collect();
        assert_eq!(keys, ["joe", "joe from 192.0.2.1"]);
        let by_addr = records(run(&control, "penalties", &["192.0.2.1"]).await);
        assert_eq!(by_addr.len(), 1);
        assert_eq!(by_addr[0].get("key"), Some("192.0.2.1"));

        let forgotten = |r: Response| records(r)[0].get("records").map(str::to_owned);
        assert_eq!(forgotten(run(&control, "forget-penalty", &[&id]).await).as_deref(), Some("1"));
        assert_eq!(forgotten(run(&control, "forget-penalty", &["#000000000000"]).await).as_deref(), Some("0"));
        assert_eq!(forgotten(run(&control, "forget-penalty", &["joe"]).await).as_deref(), Some("1"), "the pair");
        assert_eq!(forgotten(run(&control, "forget-penalty", &["192.0.2.1"]).await).as_deref(), Some("1"));
        assert!(records(run(&control, "penalties", &[]).await).is_empty());

        policy.decide(raw("ann", "bad", "", None)).await;
        assert_eq!(records(run(&control, "penalties", &[]).await).len(), 1);
        tokio::time::advance(Duration::from_secs(900)).await;
        assert!(records(run(&control, "penalties", &[]).await).is_empty(), "expired");
    }

    #[tokio::test]
    async fn the_wire_side_bounds_and_answers() {
        let (_, control) = control(false);
        for (sent, want) in [
            (&b"saslauthd-control/1\treload\n"[..], "saslauthd-control/1\tOK\nreloaded\tmechanisms=pw\nEND\n"),
            (b"saslauthd-control/1\tflush-cache\ta\tb\tc\n", "wrong number of arguments for flush-cache"),
            (b"\n", "not a saslauthd-control/1 line"),
        ] {
            let (mut client, server) = tokio::io::duplex(4096);
            client.write_all(sent).await.unwrap();
            answer(server, &control).await;
            let mut text = String::new();
            client.read_to_string(&mut text).await.unwrap();
            assert!(text.contains(want), "{text}");
            assert!(text.ends_with("END\n"), "{text}");
        }
        assert!(crate::reload::status().successful());
    }
}
