//! An account's credentials ("app passwords", issue 17): several stored values for one login,
//! each with a [`Scope`] — services, client networks, an expiry day — and a label; and the one
//! check every mechanism that stores scoped hashes makes over them ([`check`]).
//!
//! Not to be confused with [`crate::Credentials`], what one request offers.
//!
//! The order of the check, and why:
//! 1. Each credential's scope is matched against the request first; that needs no hash.
//! 2. The password is compared with every credential the scope admits, all of them, in
//!    [`crate::hash::check_candidates`] (no early exit: the time does not tell which matched).
//!    A match is `OK`; a credential the request's scope excludes has cost no hash.
//! 3. Only when none matched are the scoped-out credentials compared, all of them, so that the
//!    log can say which scope refused a right password (`credential phone not allowed for
//!    service imap`). The reply is then the same `NO Incorrect password` as for a wrong one,
//!    and the time the same as for a wrong password (every credential hashed once), so neither
//!    tells a client that it found a password valid elsewhere.

mod day;
pub mod label;
pub mod scope;

pub use label::Label;
pub use scope::{Refused, Request, Scope};

use crate::hash::{self, Form, Origin};
use crate::{Credentials, Outcome, Reject};
use std::fmt;

/// Credentials per account by default (`--max-credentials`).
pub const MAX_CREDENTIALS: usize = 16;

/// One stored credential as a source hands it to [`check`].
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The stored value (a hash, or cleartext where the source's form allows it).
    pub stored: &'a [u8],
    /// Which requests it admits.
    pub scope: &'a Scope,
}

/// Which credential a password matched, for the success log line, the metrics and the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched {
    /// Its label, if it has one.
    pub label: Option<Label>,
    /// Whether the success may be cached: not when its scope depends on the client address or
    /// the date, which the cache does not key by.
    pub cacheable: bool,
}

/// A right password whose credential's scope refused the request (reply: `NO Incorrect
/// password`; the log says [`Refusal::describe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The credential's label, if it has one.
    pub label: Option<Label>,
    /// Its position among the account's credentials, from 1, in the source's order.
    pub position: u16,
    /// What refused.
    pub why: Refused,
}

impl Refusal {
    /// The log line's reason, e.g. `credential phone not allowed for service imap`; `service`
    /// comes already escaped for the log.
    pub fn describe(&self, service: &dyn fmt::Display) -> String {
        let name = match self.label {
            Some(label) => label.to_string(),
            None => format!("#{}", self.position),
        };
        match self.why {
            Refused::Service => format!("credential {name} not allowed for service {service}"),
            Refused::Network => format!("credential {name} not allowed from this client address"),
            Refused::NoAddress => format!("credential {name} needs the client address, none was sent"),
            Refused::Expired => format!("credential {name} expired"),
        }
    }
}

/// Check `password` against an account's `candidates` (in the source's order) for `creds` on
/// day `today` (days since 1970-01-01, UTC), as the module doc says.
///
/// Answers [`Outcome::Ok`] for a match on a credential without label or address/date scope,
/// [`Outcome::Matched`] for any other match, [`Reject::OutOfScope`] for a right password whose
/// scope refused, and [`Reject::IncorrectPassword`] otherwise (also with no candidates); with
/// the index of the candidate that matched when the answer is a success.
/// CPU-heavy: call it from the blocking pool.
pub fn check(
    candidates: &[Candidate<'_>],
    creds: &Credentials,
    today: i64,
    form: Form,
    origin: Origin<'_>,
) -> (Outcome, Option<usize>) {
    decide(candidates, &Request::new(creds, today), |values| {
        hash::check_candidates(values.iter().copied(), &creds.password, form, origin)
    })
}

/// [`check`] with the comparison given: `compare` gets one set of stored values and answers
/// the index of the first that matched (after comparing them all).
fn decide(
    candidates: &[Candidate<'_>],
    request: &Request<'_>,
    mut compare: impl FnMut(&[&[u8]]) -> Option<usize>,
) -> (Outcome, Option<usize>) {
    let (admitted, refused): (Vec<_>, Vec<_>) = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| (i, c.scope.admits(request)))
        .partition(|(_, r)| r.is_ok());
    let mut first_match = |set: &[(usize, Result<(), Refused>)]| {
        if set.is_empty() {
            return None;
        }
        let values: Vec<&[u8]> = set.iter().map(|&(i, _)| candidates[i].stored).collect();
        compare(&values).and_then(|k| set.get(k).copied())
    };
    if let Some((i, _)) = first_match(&admitted) {
        return (success(candidates[i].scope), Some(i));
    }
    let outcome = match first_match(&refused) {
        Some((i, Err(why))) => Outcome::No(Reject::OutOfScope(Refusal {
            label: candidates[i].scope.label(),
            position: u16::try_from(i + 1).unwrap_or(u16::MAX),
            why,
        })),
        _ => Outcome::No(Reject::IncorrectPassword),
    };
    (outcome, None)
}

/// The success through a credential of `scope`: a plain [`Outcome::Ok`] when there is nothing
/// to tell the daemon about it.
pub fn success(scope: &Scope) -> Outcome {
    match (scope.label(), scope.cacheable()) {
        (None, true) => Outcome::Ok,
        (label, cacheable) => Outcome::Matched(Matched { label, cacheable }),
    }
}

/// Today, in days since 1970-01-01 (UTC), for [`check`] and [`Request::new`].
pub fn today() -> i64 {
    crate::shadow::expiry::today()
}

#[cfg(test)]
mod tests;
