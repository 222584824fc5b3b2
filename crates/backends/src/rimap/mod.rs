//! The `rimap` mechanism: ask a remote IMAP server whether the login and password are good.
//!
//! Compatible with Cyrus's `-a rimap -O host[/port]` (reference §3.3), with these differences:
//! TLS (`imaps://`, `?starttls`) with certificate and host-name checks; login and password sent
//! as IMAP quoted strings or literals (Cyrus sends CR/LF raw, allowing command injection), and
//! refused with `NO` when they hold CR, LF or NUL; and a server that cannot be reached, refuses
//! the session, times out or answers nonsense is a temporary failure (no reply), not Cyrus's
//! `NO [ALERT] …`, so a mail client is not told its password is wrong.

pub mod login;
pub mod session;
pub mod target;
pub mod tls;

use crate::log_safe::LogSafe;
use crate::{Credentials, MechanismError, MechanismOptions, Outcome, Reject, Verifier, VerifyFuture};
use session::Verdict;
use target::Target;
use tls::Tls;

const NAME: &str = "rimap";

/// The `rimap` verifier.
#[derive(Debug)]
pub struct Rimap {
    target: Target,
    tls: Option<Tls>,
}

impl Rimap {
    /// Build from `-O` (mandatory, as in Cyrus). The CA file is read here, once.
    pub fn new(options: &MechanismOptions) -> Result<Self, MechanismError> {
        let option = options.option.as_deref().ok_or(MechanismError::MissingOption {
            mechanism: NAME,
            what: "the IMAP server as -O host[/port] or -O imap[s]://host[:port]",
        })?;
        let bad = |reason| MechanismError::BadOption { mechanism: NAME, reason };
        let target = Target::parse(option).map_err(bad)?;
        let tls = if target.uses_tls() { Some(Tls::new(&target).map_err(bad)?) } else { None };
        Ok(Self { target, tls })
    }
}

impl Verifier for Rimap {
    fn name(&self) -> &'static str {
        NAME
    }

    fn verify<'a>(&'a self, creds: &'a Credentials) -> VerifyFuture<'a> {
        Box::pin(async move {
            let login = creds.login.as_bytes();
            if let Err(why) = login::check(login, &creds.password) {
                tracing::info!(login = %LogSafe(login), "rimap: not sent to the server: {why}");
                return Outcome::No(Reject::RemoteRejected);
            }
            match session::authenticate(&self.target, self.tls.as_ref(), login, &creds.password).await {
                Verdict::Accepted => Outcome::Ok,
                Verdict::Rejected => Outcome::No(Reject::RemoteRejected),
                Verdict::Unavailable(why) => Outcome::Unavailable(why),
            }
        })
    }
}
