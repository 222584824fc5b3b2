//! The `kerberos5` mechanism: a password check against a Kerberos KDC through MIT libkrb5, as
//! Cyrus's auth_krb5.c does it (reference §3.5): get a TGT for the login's principal with the
//! password, then verify it against this server's keytab so that a spoofed KDC cannot log
//! anyone in.
//!
//! Each check runs on the bounded [`BlockingPool`] with its own libkrb5 context (contexts may
//! not be shared between threads) and is given up after [`DEADLINE`]. What differs from Cyrus,
//! and why, is written where it is done: the principal's form in [`principal`], the `NO` /
//! tempfail split in [`check`], the start-up paths in [`settings`], the proof that the keytab is
//! current before a `NO` in [`keytab_check`].

mod check;
mod codes;
mod context;
mod ffi;
pub mod keytab_check;
pub mod principal;
pub mod settings;

use crate::conf_file::ConfFile;
use crate::{BlockingPool, Credentials, MechanismError, MechanismOptions, Outcome, Verifier, VerifyFuture};
use keytab_check::KeytabChecks;
use settings::Settings;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The config file Cyrus reads when `-O` is not given and the file exists
/// (`SASLAUTHD_CONF_FILE_DEFAULT`).
pub const DEFAULT_CONF: &str = "/etc/saslauthd.conf";

/// How long one check may take, KDC round trips included. libkrb5 (1.20) has no overall
/// request timeout: with every KDC of a realm silent it retries for several seconds per KDC.
/// The blocking thread cannot be interrupted, so it keeps its pool slot until libkrb5 gives
/// up; the request is answered with a tempfail at the deadline all the same.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// The `kerberos5` mechanism.
#[derive(Debug, Clone)]
pub struct Kerberos5 {
    pool: BlockingPool,
    settings: Arc<Settings>,
    checks: Arc<KeytabChecks>,
}

impl Kerberos5 {
    /// Build from `-O` (a saslauthd.conf with `krb5_*` keys) or `/etc/saslauthd.conf` if it
    /// exists. An unreadable or malformed file is refused (Cyrus: `auth_krb5_init`); an
    /// unusable keytab or krb5.conf is only warned about, as it may be fixed while running.
    pub fn new(options: &MechanismOptions) -> Result<Self, MechanismError> {
        let bad = |reason: String| MechanismError::BadOption { mechanism: "kerberos5", reason };
        let path = match options.option.as_deref() {
            Some(path) => Some(path),
            None => Path::new(DEFAULT_CONF).exists().then_some(DEFAULT_CONF),
        };
        let conf = path.map(|p| ConfFile::read(Path::new(p))).transpose().map_err(|e| bad(e.to_string()))?;
        let settings = Settings::from_conf(conf.as_ref()).map_err(|e| bad(e.to_string()))?;
        match check::probe(&settings) {
            Ok(fine) => tracing::info!("kerberos5: {fine}"),
            Err(problem) => {
                tracing::warn!(
                    "kerberos5: every request will be a temporary failure until this is fixed: {problem}"
                )
            }
        }
        let checks = Arc::new(KeytabChecks::new(settings.keytab_check_interval));
        Ok(Self { pool: options.pool.clone(), settings: Arc::new(settings), checks })
    }

    async fn check(&self, creds: &Credentials) -> Outcome {
        let request = check::Request::new(creds);
        let (settings, checks) = (self.settings.clone(), self.checks.clone());
        let job = self.pool.run(move || check::authenticate(&settings, &checks, &request));
        match tokio::time::timeout(DEADLINE, job).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => Outcome::Unavailable(format!("kerberos5: {e}")),
            Err(_) => Outcome::Unavailable(format!("kerberos5: no answer within {}s", DEADLINE.as_secs())),
        }
    }
}

impl Verifier for Kerberos5 {
    fn name(&self) -> &'static str {
        "kerberos5"
    }

    fn verify<'a>(&'a self, creds: &'a Credentials) -> VerifyFuture<'a> {
        Box::pin(self.check(creds))
    }
}
