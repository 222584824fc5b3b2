//! The saslauthd wire protocol and the saslauthd-rs daemon as a library. The request path reads
//! top to bottom: [`server`] (accept) → [`connection`] (read frame, via [`frame`]) → [`policy`]
//! (field checks, realm, [`cache`], [`penalty`]) → [`chain`] → a [`backends::Verifier`] →
//! [`reply`].
//!
//! Only [`frame`], the codec, is built without the `daemon` feature (on by default): clients
//! such as testsaslauthd and the fuzz targets take it with `default-features = false` and link
//! none of the daemon's dependencies.

pub mod frame;

#[cfg(feature = "daemon")]
pub mod cache;
#[cfg(feature = "daemon")]
pub mod chain;
#[cfg(feature = "daemon")]
pub mod check;
#[cfg(feature = "daemon")]
pub mod cli;
#[cfg(feature = "daemon")]
pub mod connection;
#[cfg(feature = "daemon")]
pub mod daemonize;
#[cfg(feature = "daemon")]
pub mod inherited;
#[cfg(feature = "daemon")]
pub mod log_safe;
#[cfg(feature = "daemon")]
pub mod logging;
#[cfg(feature = "daemon")]
pub mod metrics;
#[cfg(feature = "daemon")]
pub mod penalty;
#[cfg(feature = "daemon")]
pub mod policy;
#[cfg(feature = "daemon")]
pub mod privileges;
#[cfg(feature = "daemon")]
pub mod reply;
#[cfg(feature = "daemon")]
pub mod run_dir;
#[cfg(feature = "daemon")]
pub mod server;
