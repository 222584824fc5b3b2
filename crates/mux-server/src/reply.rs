//! Step "reply": every text the daemon can answer, in one place, with Cyrus's exact wording.

use backends::{Mechanism, Reject};

/// What the daemon answers to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// `OK`.
    Ok,
    /// A success text longer than `OK`: the deciding mechanism's ([`Mechanism::ok_text`], Cyrus's
    /// rimap `OK remote authentication successful`).
    OkWith(&'static str),
    /// `NO <reason>` from a verifier, or a bare `NO` when the reason is empty ([`Reject::Bare`]).
    No(Reject),
    /// A field exceeded the limit: Cyrus answers `NO ` with a trailing space and nothing else.
    FieldTooLong,
    /// `NO NULL login received`.
    NullLogin,
    /// `NO NULL password received`.
    NullPassword,
    /// A login, service or realm that no verifier can take (NUL byte, not UTF-8).
    MalformedField(&'static str),
}

impl Reply {
    /// The success reply of mechanism `mech` (a `-a` name): its own text, or a bare `OK`.
    pub fn ok_from(mech: &str) -> Reply {
        match Mechanism::from_name(mech).map(Mechanism::ok_text) {
            Some(text) if text != "OK" => Reply::OkWith(text),
            _ => Reply::Ok,
        }
    }

    /// The reply text, without the length prefix.
    pub fn text(self) -> String {
        match self {
            Reply::Ok => "OK".to_owned(),
            Reply::OkWith(text) => text.to_owned(),
            Reply::No(Reject::Bare) => "NO".to_owned(),
            Reply::No(reject) => format!("NO {reject}"),
            Reply::FieldTooLong => "NO ".to_owned(),
            Reply::NullLogin => "NO NULL login received".to_owned(),
            Reply::NullPassword => "NO NULL password received".to_owned(),
            Reply::MalformedField(field) => format!("NO malformed {field}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_cyrus_texts() {
        assert_eq!(Reply::Ok.text(), "OK");
        assert_eq!(Reply::ok_from("pam"), Reply::Ok);
        assert_eq!(Reply::ok_from("rimap").text(), "OK remote authentication successful");
        assert_eq!(Reply::FieldTooLong.text(), "NO ");
        assert_eq!(Reply::NullLogin.text(), "NO NULL login received");
        assert_eq!(Reply::NullPassword.text(), "NO NULL password received");
        assert_eq!(Reply::No(Reject::PamAuth).text(), "NO PAM auth error");
        assert_eq!(Reply::No(Reject::IncorrectPassword).text(), "NO Incorrect password");
        assert_eq!(Reply::No(Reject::Bare).text(), "NO", "ldap: no trailing space");
    }
}
