//! Verifiers for saslauthd-rs: the last step of socket → frame → policy → verifier → reply.
//!
//! Each mechanism (named after its Cyrus counterpart) implements [`Verifier`] and answers with an
//! [`Outcome`]. Password-hash schemes shared by several mechanisms live in [`hash`].

pub mod blocking_pool;
pub mod conf_file;
pub mod credential;
pub mod credentials;
pub mod expiring;
pub mod getpwent;
pub mod hash;
#[cfg(feature = "kerberos5")]
pub mod kerberos5;
#[cfg(feature = "ldap")]
pub mod ldap;
pub mod log_safe;
/// Without the `ldap` feature: the config and token expansion only.
#[cfg(not(feature = "ldap"))]
pub mod ldap {
    pub mod config;
    pub mod syntax;
    pub mod tokens;
}
pub mod mechanism;
pub mod outcome;
pub mod pam;
pub mod passwd_file;
#[cfg(feature = "rimap")]
pub mod rimap;
pub mod sasldb;
pub mod secret;
/// Without the `rimap` feature: the `-O` parser and the LOGIN encoder only.
#[cfg(not(feature = "rimap"))]
pub mod rimap {
    pub mod login;
    pub mod target;
}
pub mod shadow;
#[cfg(feature = "sql")]
pub mod sql;
#[cfg(feature = "tls")]
pub mod tls_trust;
/// Without the `sql` feature: the config and the `sql_select` rewriting only.
#[cfg(not(feature = "sql"))]
pub mod sql {
    pub mod config;
    pub mod lex;
    pub mod query;
}
pub mod verifier;
mod watched_file;

pub use blocking_pool::BlockingPool;
pub use credentials::Credentials;
pub use mechanism::{Mechanism, MechanismError, MechanismOptions};
pub use outcome::{Outcome, Reject};
pub use verifier::{Memory, Verifier, VerifyFuture};
