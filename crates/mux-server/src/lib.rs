//! The saslauthd-rs daemon as a library: the request path reads top to bottom as
//! [`server`] (accept) → [`connection`] (read frame, via [`frame`]) → [`policy`] (realm, limits,
//! later cache and penalties) → a [`backends::Verifier`] → [`reply`].

pub mod frame;
