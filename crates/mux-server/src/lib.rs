//! The saslauthd wire protocol and the saslauthd-rs daemon as a library. The request path reads
//! top to bottom: [`server`] (accept, under the cap of [`slots`]) → [`connection`] (read frame,
//! via [`frame`]) → [`policy`] (field checks, realm, [`cache`], [`penalty`]) → [`chain`] → a
//! [`backends::Verifier`] → an [`answer`]: a [`reply`], or a tempfail. Start-up: [`cli`] →
//! [`config`] → [`daemon`] (with [`run_dir`], [`daemonize`], [`privileges`], [`signals`],
//! [`open_files`]); beside the request path: [`metrics`] and its endpoint [`scrape`], the
//! [`control`] socket (speaking [`control_protocol`]) and [`reload`], shared by SIGHUP and the
//! control socket.
//!
//! Only [`frame`] and [`control_protocol`], the codecs, are built without the `daemon` feature
//! (on by default): clients such as testsaslauthd and the fuzz targets take them with `default-features = false` and link
//! none of the daemon's dependencies.

pub mod control_protocol;
pub mod frame;

/// Items built with the `daemon` feature only (tokio's `cfg_*!` pattern: one gate for the list).
macro_rules! cfg_daemon {
    ($($item:item)*) => { $( #[cfg(feature = "daemon")] $item )* };
}

cfg_daemon! {
    pub mod acceptor;
    pub mod account;
    pub mod answer;
    pub mod cache;
    pub mod chain;
    pub mod check;
    pub mod cli;
    pub mod config;
    pub mod connection;
    pub mod control;
    pub mod daemon;
    pub mod daemonize;
    pub mod drain;
    pub mod eager;
    pub mod inherited;
    pub mod log_safe;
    pub mod logging;
    pub mod metrics;
    pub mod open_files;
    pub mod penalty;
    pub mod policy;
    pub mod privileges;
    pub mod reload;
    pub mod reply;
    pub mod run_dir;
    pub mod scrape;
    pub mod server;
    pub mod signals;
    pub mod slots;
}
