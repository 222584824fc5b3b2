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
}

/// What a mechanism remembers between requests, as the metrics see it; apart from [`Verifier`]
/// so that checking credentials does not depend on how a table counts. [`crate::mechanism::build`]
/// hands it out beside the verifier.
pub trait Memory: Send + Sync {
    /// The memory's name for the metrics (`dn`, `matched_hash`) and its counts, if it is on.
    fn stats(&self) -> Option<(&'static str, crate::expiring::Stats)>;
}
