//! STUB: the PAM helper replaces this module.

use crate::{Credentials, MechanismOptions, Outcome, Verifier, VerifyFuture};

/// The `pam` mechanism.
pub struct Pam;

impl Pam {
    /// Build from the daemon's options.
    pub fn new(_options: &MechanismOptions) -> Self {
        Pam
    }
}

impl Verifier for Pam {
    fn name(&self) -> &'static str {
        "pam"
    }
    fn verify<'a>(&'a self, _creds: &'a Credentials) -> VerifyFuture<'a> {
        Box::pin(async { Outcome::Unavailable("not built".into()) })
    }
}
