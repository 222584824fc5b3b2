//! STUB
use crate::{Credentials, MechanismError, MechanismOptions, Outcome, Verifier, VerifyFuture};
/// The `passwd-file` mechanism.
pub struct PasswdFile;
impl PasswdFile {
    /// Build.
    pub fn new(_o: &MechanismOptions) -> Result<Self, MechanismError> {
        Ok(PasswdFile)
    }
}
impl Verifier for PasswdFile {
    fn name(&self) -> &'static str {
        "passwd-file"
    }
    fn verify<'a>(&'a self, _c: &'a Credentials) -> VerifyFuture<'a> {
        Box::pin(async { Outcome::Unavailable("stub".into()) })
    }
}
