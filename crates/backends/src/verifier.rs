//! The one trait every mechanism implements.

use crate::{Credentials, Outcome};
use std::future::Future;
use std::pin::Pin;

/// The future a verifier returns; boxed so mechanisms can sit behind `dyn Verifier`.
pub type VerifyFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// Checks one set of credentials.
///
/// Implementations must not block the async threads: blocking or CPU-heavy work goes through
/// [`crate::BlockingPool`]. Every failure to decide is [`Outcome::Unavailable`], never a panic.
pub trait Verifier: Send + Sync {
    /// The mechanism name as given to `-a` (used in logs).
    fn name(&self) -> &'static str;

    /// Verify `creds`.
    fn verify<'a>(&'a self, creds: &'a Credentials) -> VerifyFuture<'a>;

    /// Drop what the mechanism remembers between requests (SIGUSR1); how many entries it held.
    fn forget(&self) -> usize {
        0
    }

    /// What the mechanism remembers between requests, if it does: a name for the metrics
    /// (`dn`, `matched_hash`) and its counts.
    fn remembered(&self) -> Option<(&'static str, crate::expiring::Stats)> {
        None
    }
}
