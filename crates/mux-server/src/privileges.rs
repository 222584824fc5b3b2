//! Dropping root after the sockets are bound, for mechanisms that need no privileges
//! (passwd-file, and later ldap, sql, rimap). PAM's pam_unix and shadow need to read
//! /etc/shadow, so dropping privileges with them is refused rather than left to fail per request.

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
    #[error("mechanism {0} reads /etc/shadow and must run as root; leave out --user")]
    NeedsRoot(&'static str),
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
