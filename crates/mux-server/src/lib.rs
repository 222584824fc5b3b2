//! The saslauthd-rs daemon as a library. The request path reads top to bottom:
//! [`server`] (accept) → [`connection`] (read frame, via [`frame`]) → [`policy`] (field checks,
//! realm, [`cache`], [`penalty`]) → [`chain`] → a [`backends::Verifier`] → [`reply`].

pub mod cache;
pub mod chain;
pub mod check;
pub mod cli;
pub mod connection;
pub mod daemonize;
pub mod frame;
pub mod inherited;
pub mod log_safe;
pub mod logging;
pub mod metrics;
pub mod penalty;
pub mod policy;
pub mod privileges;
pub mod reply;
pub mod run_dir;
pub mod server;
