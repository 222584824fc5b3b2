//! The saslauthd wire protocol and the saslauthd-rs daemon as a library. The request path reads
//! top to bottom: [`server`] (accept) → [`connection`] (read frame, via [`frame`]) → [`policy`]
//! (field checks, realm, [`cache`], [`penalty`]) → [`chain`] → a [`backends::Verifier`] →
//! [`reply`].
//!
//! Only [`frame`], the codec, is built without the `daemon` feature (on by default): clients
//! such as testsaslauthd and the fuzz targets take it with `default-features = false` and link
//! none of the daemon's dependencies.

pub mod frame;

/// Items built with the `daemon` feature only (tokio's `cfg_*!` pattern: one gate for the list).
macro_rules! cfg_daemon {
    ($($item:item)*) => { $( #[cfg(feature = "daemon")] $item )* };
}

cfg_daemon! {
    pub mod cache;
    pub mod chain;
    pub mod check;
    pub mod cli;
    pub mod connection;
    pub mod daemonize;
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
}
