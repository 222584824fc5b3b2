//! The `pam` mechanism: checks credentials through Linux-PAM, one transaction per request, with
//! the request's service field as the PAM service (Cyrus auth_pam.c, reference §3.2).
//!
//! Each transaction runs on the bounded [`BlockingPool`]. The failure delay modules ask for is
//! taken over ([`conversation::record_fail_delay`]) and served here with an async sleep, so a
//! stream of bad passwords does not pin the `-n` pool threads for ~2 s each.
//!
//! Password copies: ours (the NUL-terminated copy in `request::Request`) is zeroed on drop, and
//! a failed conversation wipes the `strdup`ed answers it made before freeing them. A delivered
//! answer belongs to libpam, which frees it: `pam_get_authtok` overwrites it first and
//! `pam_authenticate` wipes `PAM_AUTHTOK` on return, but a module may keep its own copies (e.g.
//! pam_pwdfile's crypt buffers) that we cannot reach.
//!
//! Each service's modules stay loaded between transactions ([`pins`]): without that, libpam maps
//! and unmaps them around every request, which is most of a cheap transaction's cost.

mod conversation;
mod ffi;
mod pins;
mod request;
mod transaction;

#[cfg(test)]
mod tests;

use crate::{BlockingPool, Credentials, MechanismOptions, Outcome, Verifier, VerifyFuture};
use pins::Pins;
use request::Request;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use pins::MAX_PINNED_SERVICES;

/// The longest failure delay we honour. Linux-PAM hands over the largest delay modules asked for
/// (pam_unix and pam_faildelay: 2 s), randomised to 0.5–1.5× (mostly ±25 %, libpam pam_delay.c);
/// a misconfigured `delay=` must not hold a connection for minutes.
pub const MAX_FAIL_DELAY: Duration = Duration::from_secs(10);

/// The `pam` mechanism.
#[derive(Debug, Clone)]
pub struct Pam {
    pool: BlockingPool,
    confdir: Option<PathBuf>,
    /// One never-used handle per service seen, so its modules stay mapped; dropped with the
    /// verifier (SIGHUP builds a new one), which is when replaced module files take effect.
    pins: Arc<Pins>,
}

impl Pam {
    /// Build from the daemon's options (the pool, and `pam_confdir` if stacks are not in `/etc/pam.d`).
    pub fn new(options: &MechanismOptions) -> Self {
        Self::with_pins(options, NonZeroUsize::new(MAX_PINNED_SERVICES).unwrap_or(NonZeroUsize::MIN))
    }

    /// As [`Pam::new`], keeping at most `max_pinned` services' modules loaded.
    fn with_pins(options: &MechanismOptions, max_pinned: NonZeroUsize) -> Self {
        Self {
            pool: options.pool.clone(),
            confdir: options.pam_confdir.clone(),
            pins: Arc::new(Pins::new(max_pinned)),
        }
    }

    async fn check(&self, creds: &Credentials) -> Outcome {
        let request = match Request::new(creds, self.confdir.as_deref()) {
            Ok(request) => request,
            Err(outcome) => return outcome,
        };
        let pins = self.pins.clone();
        let job = move || {
            pins.ensure(&request.service, request.confdir.as_deref());
            transaction::authenticate(&request)
        };
        let verdict = match self.pool.run(job).await {
            Ok(verdict) => verdict,
            Err(error) => return Outcome::Unavailable(format!("pam: {error}")),
        };
        if verdict.outcome != Outcome::Ok && !verdict.fail_delay.is_zero() {
            tokio::time::sleep(verdict.fail_delay.min(MAX_FAIL_DELAY)).await;
        }
        verdict.outcome
    }
}

impl Verifier for Pam {
    fn name(&self) -> &'static str {
        "pam"
    }

    fn verify<'a>(&'a self, creds: &'a Credentials) -> VerifyFuture<'a> {
        Box::pin(self.check(creds))
    }
}
