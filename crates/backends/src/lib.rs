//! Verifiers for saslauthd-rs: the last step of socket → frame → policy → verifier → reply.
//!
//! Each mechanism (named after its Cyrus counterpart) implements [`Verifier`] and answers with an
//! [`Outcome`]. Password-hash schemes shared by several mechanisms live in [`hash`].

pub mod blocking_pool;
pub mod conf_file;
pub mod credentials;
pub mod hash;
pub mod ldap;
pub mod mechanism;
pub mod outcome;
pub mod pam;
pub mod passwd_file;
pub mod rimap;
pub mod shadow;
pub mod sql;
pub mod verifier;
mod watched_file;

pub use blocking_pool::BlockingPool;
pub use credentials::Credentials;
pub use mechanism::{Mechanism, MechanismError, MechanismOptions};
pub use outcome::{Outcome, Reject};
pub use verifier::{Verifier, VerifyFuture};
