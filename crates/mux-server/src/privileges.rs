//! Dropping root after the sockets are bound, for mechanisms that need no privileges
//! (passwd-file, ldap, sql, rimap). `shadow` without `-O` and `getpwent` read /etc/shadow, so
//! dropping privileges with them is refused at start-up ([`check_mechanisms`]) rather than left
//! to fail on every request; PAM only warns, since its stacks need not read /etc/shadow.

use backends::{Mechanism, MechanismOptions};
use nix::unistd::{Gid, Group, Uid, User, setgid, setgroups, setuid};
use std::ffi::CString;

/// Why privileges could not be dropped.
#[derive(Debug, thiserror::Error)]
pub enum DropError {
    /// `--user` names no user.
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    /// `--group` names no group.
    #[error("unknown group {0:?}")]
    UnknownGroup(String),
    /// A system call failed.
    #[error("{call}: {errno}")]
    Sys {
        /// Which call.
        call: &'static str,
        /// Its error.
        errno: nix::errno::Errno,
    },
    /// The mechanism must run as root.
    #[error("mechanism {mechanism} {reads}, which only root can read: leave out --user{remedy}")]
    NeedsRoot {
        /// The mechanism's `-a` name.
        mechanism: &'static str,
        /// What it reads, in words.
        reads: &'static str,
        /// Another way out, if any (with its leading separator).
        remedy: &'static str,
    },
}

/// PAM's warning with `--user`: pam_unix falls back to its setuid helper, which checks only
/// the calling user's own password.
pub const PAM_WARNING: &str = "without root, pam_unix can check only the daemon's own user's password";

/// With `dropping` (`--user` given), refuse a mechanism that needs root to read its data:
/// `shadow` without `-O` (it reads /etc/shadow, root:shadow 0640) and `getpwent` (its NSS
/// lookup returns the shadow hash only to root). `Ok` carries warnings to show the operator
/// (PAM's). Without `dropping` there is nothing to check.
pub fn check_mechanisms(
    dropping: bool,
    mechanisms: &[(Mechanism, MechanismOptions)],
) -> Result<Vec<&'static str>, DropError> {
    let mut warnings = Vec::new();
    if !dropping {
        return Ok(warnings);
    }
    for (mechanism, options) in mechanisms {
        // By name, so that a mechanism added to the list later is covered without a new arm.
        match mechanism.name() {
            "shadow" if options.option.is_none() => {
                return Err(DropError::NeedsRoot {
                    mechanism: "shadow",
                    reads: "reads /etc/shadow",
                    remedy: ", or name a shadow-format file the user can read with -O",
                });
            }
            "getpwent" => {
                return Err(DropError::NeedsRoot {
                    mechanism: "getpwent",
                    reads: "reads password hashes through getspnam (/etc/shadow)",
                    remedy: "",
                });
            }
            "pam" => warnings.push(PAM_WARNING),
            _ => {}
        }
    }
    Ok(warnings)
}

/// Whom to become.
#[derive(Debug, Clone)]
pub struct Identity {
    uid: Uid,
    gid: Gid,
    name: CString,
}

impl Identity {
    /// Look up `user` (and `group`, else the user's primary group) before anything is bound, so
    /// a typo fails at start-up.
    pub fn look_up(user: &str, group: Option<&str>) -> Result<Identity, DropError> {
        let entry =
            User::from_name(user).ok().flatten().ok_or_else(|| DropError::UnknownUser(user.to_owned()))?;
        let gid = match group {
            Some(name) => {
                Group::from_name(name)
                    .ok()
                    .flatten()
                    .ok_or_else(|| DropError::UnknownGroup(name.to_owned()))?
                    .gid
            }
            None => entry.gid,
        };
        let name = CString::new(user).map_err(|_| DropError::UnknownUser(user.to_owned()))?;
        Ok(Identity { uid: entry.uid, gid, name })
    }

    /// The user and group ids (to give files made before the drop, such as the control socket).
    pub fn ids(&self) -> (Uid, Gid) {
        (self.uid, self.gid)
    }

    /// Become this identity for good: supplementary groups, then group, then user (in that
    /// order: after setuid the others are no longer allowed).
    pub fn become_it(&self) -> Result<(), DropError> {
        let sys = |call| move |errno| DropError::Sys { call, errno };
        nix::unistd::initgroups(&self.name, self.gid)
            .or_else(|_| setgroups(&[self.gid]))
            .map_err(sys("setgroups"))?;
        setgid(self.gid).map_err(sys("setgid"))?;
        setuid(self.uid).map_err(sys("setuid"))?;
        // setuid from root to a user drops the saved uid too; check that root cannot come back.
        if !self.uid.is_root() && setuid(Uid::from_raw(0)).is_ok() {
            return Err(DropError::Sys {
                call: "setuid (root still reachable)",
                errno: nix::errno::Errno::EPERM,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use backends::BlockingPool;

    fn with(mechanism: Mechanism, option: Option<&str>) -> (Mechanism, MechanismOptions) {
        let options = MechanismOptions {
            option: option.map(str::to_owned),
            pool: BlockingPool::new(1),
            pam_confdir: None,
            max_credentials: backends::credential::MAX_CREDENTIALS,
        };
        (mechanism, options)
    }

    #[test]
    fn shadow_without_a_file_needs_root_pam_only_warns() {
        let shadow = [with(Mechanism::PasswdFile, Some("/x")), with(Mechanism::Shadow, None)];
        let err = check_mechanisms(true, &shadow).unwrap_err();
        assert!(err.to_string().contains("mechanism shadow reads /etc/shadow"), "{err}");
        assert!(check_mechanisms(false, &shadow).unwrap().is_empty(), "as root nothing is refused");
        assert!(check_mechanisms(true, &[with(Mechanism::Shadow, Some("/srv/shadow"))]).unwrap().is_empty());
        let pam = [with(Mechanism::Pam, None), with(Mechanism::Ldap, Some("/etc/saslauthd.conf"))];
        assert_eq!(check_mechanisms(true, &pam).unwrap(), [PAM_WARNING]);
    }
}
