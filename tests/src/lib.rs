//! The one harness for the tests that run the binaries: locate them, start a daemon (ours or
//! Cyrus's) in a temp dir, write PAM services and passwd files, talk raw bytes to the socket, and
//! play a scripted saslauthd ([`FakeServer`]) to either client.
//!
//! Test files use `Target` to run the same assertions against both daemons; [`both_targets!`]
//! turns one body into a `ours` and a `cyrus` test so each side passes or fails on its own.
// The harness panics on purpose: a panic is how an end-to-end test reports a broken setup.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod bins;
pub mod daemon;
pub mod dovecot;
pub mod fake_server;
pub mod kdc;
pub mod mariadb;
pub mod net;
pub mod pam;
pub mod pki;
pub mod postfix;
pub mod postgres;
pub mod private_etc;
pub mod proc;
pub mod pwdfile;
pub mod run;
pub mod sasl_check;
pub mod sasldb;
pub mod server;
pub mod slapd;
pub mod wire;

pub use bins::Target;
pub use daemon::{Daemon, DaemonBuilder};
pub use dovecot::{Dovecot, DovecotBuilder};
pub use fake_server::{FakeServer, Script};
pub use net::free_port;
pub use pam::{FailDelay, PamService, pwdfile_stack};
pub use postfix::Postfix;
pub use postgres::Postgres;
pub use private_etc::PrivateEtc;
pub use pwdfile::{PwdFile, mkpasswd, mkpasswd_sha512, pwdfile, pwdfile_raw};
pub use run::{Finished, client, clients_agree, testsaslauthd};
pub use sasl_check::{SASL_BADAUTH, SASL_FAIL, SASL_OK, SaslCheck};
pub use server::PwdServer;
pub use slapd::Slapd;
pub use wire::{RawReply, counted, counted_reply, request, send_raw, send_raw_open};

/// Expands one test body into two tests, `<name>::ours` and `<name>::cyrus`, each calling the
/// body with its [`Target`].
#[macro_export]
macro_rules! both_targets {
    ($(#[$meta:meta])* $name:ident, $body:expr) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn ours() {
                let body: fn($crate::Target) = $body;
                body($crate::Target::Ours);
            }
            #[test]
            fn cyrus() {
                let body: fn($crate::Target) = $body;
                body($crate::Target::Cyrus);
            }
        }
    };
}
