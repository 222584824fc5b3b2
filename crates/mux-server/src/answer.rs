//! What a request gets: a reply, or a tempfail — the connection closes without one, so libsasl2
//! returns `SASL_FAIL` and Postfix answers `454 4.7.0` instead of telling the user the password
//! is wrong (reference §1.3). Made by the chain and the policy, read by the server's log,
//! metrics and the connection.

use crate::reply::Reply;
use std::fmt;
use std::time::Duration;

/// The daemon's answer to one complete request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Send this reply.
    Reply(Reply),
    /// Close without a reply.
    Tempfail(Tempfail),
}

impl Answer {
    /// The reply to send, if any.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Answer::Reply(reply) => Some(reply),
            Answer::Tempfail(_) => None,
        }
    }
}

/// Why no mechanism could decide; for the log line (`[reason=…]`) only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tempfail {
    /// The mechanism said it could not decide ([`backends::Outcome::Unavailable`]), with its words.
    Backend(String),
    /// The mechanism gave no answer within its deadline (`--verify-timeout`).
    Timeout(Duration),
    /// The mechanism already had its limit of requests in progress (`--mech-concurrency`).
    Busy(usize),
    /// The chain has no mechanism at all.
    NoMechanism,
    /// A brute-force penalty refused the request before its check ([`crate::penalty`]).
    Penalty(crate::penalty::Refusal),
    /// The client hung up while its request was held by a penalty: nobody is left to answer.
    ClientGone,
}

impl fmt::Display for Tempfail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tempfail::Backend(reason) => f.write_str(reason),
            Tempfail::Timeout(after) => write!(f, "no answer within {}s", after.as_secs_f32()),
            Tempfail::Busy(limit) => write!(f, "{limit} requests already in progress"),
            Tempfail::NoMechanism => f.write_str("no mechanism configured"),
            Tempfail::Penalty(refusal) => refusal.fmt(f),
            Tempfail::ClientGone => f.write_str("the client hung up while held"),
        }
    }
}
