//! Mechanism names (`-a`) and building the verifier each names.

use crate::{BlockingPool, Memory, Verifier};
use std::path::PathBuf;
use std::sync::Arc;

/// The mechanisms this build knows, by their `-a` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// `passwd-file`: `user:hash` lines (htpasswd / Dovecot passwd-file).
    PasswdFile,
    /// `pam`: Linux-PAM, service = the request's service field.
    Pam,
    /// `shadow`: the shadow(5) entry from NSS, or from a shadow-format file named by `-O`.
    Shadow,
    /// `ldap`: search and bind (or compare, or fastbind) against LDAP servers, configured by
    /// the `saslauthd.conf` named by `-O`.
    Ldap,
    /// `rimap`: `LOGIN` at a remote IMAP server (`-O host[/port]` or an `imap[s]://` URL).
    Rimap,
    /// `sql`: the stored hash from MySQL/MariaDB, PostgreSQL or SQLite; `-O` names its config file.
    Sql,
    /// `kerberos5`: a TGT from the KDC for the login, verified against the keytab (MIT libkrb5).
    Kerberos5,
    /// `sasldb`: the plaintext password `saslpasswd2` stores in the sasldb file (`-O PATH`,
    /// default `/etc/sasldb2`), read with libsasl2's own sasldb code.
    Sasldb,
    /// `getpwent`: the password field of the passwd(5) entry from NSS, checked with crypt(3).
    Getpwent,
}

impl Mechanism {
    /// Every mechanism, in the order `-v` lists them.
    pub const ALL: [Mechanism; 9] = [
        Mechanism::PasswdFile,
        Mechanism::Pam,
        Mechanism::Shadow,
        Mechanism::Rimap,
        Mechanism::Ldap,
        Mechanism::Sql,
        Mechanism::Kerberos5,
        Mechanism::Sasldb,
        Mechanism::Getpwent,
    ];

    /// The `-a` name.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::PasswdFile => "passwd-file",
            Mechanism::Pam => "pam",
            Mechanism::Shadow => "shadow",
            Mechanism::Ldap => "ldap",
            Mechanism::Rimap => "rimap",
            Mechanism::Sql => "sql",
            Mechanism::Kerberos5 => "kerberos5",
            Mechanism::Sasldb => "sasldb",
            Mechanism::Getpwent => "getpwent",
        }
    }

    /// The success reply: `OK`, or Cyrus's longer text where its mechanism sends one (rimap:
    /// `OK remote authentication successful`, saslauthd/auth_rimap.c). A cache hit is a bare `OK`.
    pub fn ok_text(self) -> &'static str {
        match self {
            Mechanism::Rimap => "OK remote authentication successful",
            _ => "OK",
        }
    }

    /// Look a name up, ignoring case as Cyrus does.
    pub fn from_name(name: &str) -> Option<Mechanism> {
        Self::ALL.into_iter().find(|m| m.name().eq_ignore_ascii_case(name))
    }
}

/// What building a verifier needs besides the mechanism name.
#[derive(Debug, Clone)]
pub struct MechanismOptions {
    /// The `-O` value (its meaning is the mechanism's: a file for passwd-file and shadow, a
    /// server for rimap, a config file for ldap).
    pub option: Option<String>,
    /// Where blocking work runs.
    pub pool: BlockingPool,
    /// A PAM configuration directory to use instead of `/etc/pam.d` (`pam_start_confdir`).
    pub pam_confdir: Option<PathBuf>,
    /// Credentials one account may have at most (`--max-credentials`; passwd-file lines, sql
    /// rows): see [`crate::credential::MAX_CREDENTIALS`].
    pub max_credentials: usize,
}

/// Why a mechanism could not be set up (Cyrus: `failed to initialize mechanism X`).
#[derive(Debug, thiserror::Error)]
pub enum MechanismError {
    /// A required option is missing.
    #[error("mechanism {mechanism} needs {what}")]
    MissingOption {
        /// The mechanism.
        mechanism: &'static str,
        /// What it needs, in words.
        what: &'static str,
    },
    /// An option was given but is unusable.
    #[error("mechanism {mechanism}: {reason}")]
    BadOption {
        /// The mechanism.
        mechanism: &'static str,
        /// Why.
        reason: String,
    },
}

/// A built mechanism: its verifier and, if it remembers anything between requests, the same
/// object as a [`Memory`] for the metrics.
pub struct Built {
    /// Checks credentials.
    pub verifier: Arc<dyn Verifier>,
    /// Counts what the mechanism remembers (ldap, sql).
    pub memory: Option<Arc<dyn Memory>>,
}

impl Built {
    fn plain(verifier: Arc<dyn Verifier>) -> Self {
        Self { verifier, memory: None }
    }

    #[cfg(any(feature = "ldap", feature = "sql"))]
    fn remembering<T: Verifier + Memory + 'static>(mechanism: T) -> Self {
        let mechanism = Arc::new(mechanism);
        Self { verifier: mechanism.clone(), memory: Some(mechanism) }
    }
}

/// Build the verifier for `mechanism`.
pub fn build(mechanism: Mechanism, options: &MechanismOptions) -> Result<Built, MechanismError> {
    Ok(match mechanism {
        Mechanism::PasswdFile => Built::plain(Arc::new(crate::passwd_file::PasswdFile::new(options)?)),
        Mechanism::Pam => Built::plain(Arc::new(crate::pam::Pam::new(options))),
        Mechanism::Shadow => Built::plain(Arc::new(crate::shadow::Shadow::new(options)?)),
        Mechanism::Sasldb => Built::plain(Arc::new(crate::sasldb::Sasldb::new(options)?)),
        Mechanism::Getpwent => Built::plain(Arc::new(crate::getpwent::Getpwent::new(options))),
        #[cfg(feature = "ldap")]
        Mechanism::Ldap => Built::remembering(crate::ldap::Ldap::new(options)?),
        #[cfg(feature = "rimap")]
        Mechanism::Rimap => Built::plain(Arc::new(crate::rimap::Rimap::new(options)?)),
        #[cfg(feature = "sql")]
        Mechanism::Sql => Built::remembering(crate::sql::Sql::new(options)?),
        #[cfg(feature = "kerberos5")]
        Mechanism::Kerberos5 => Built::plain(Arc::new(crate::kerberos5::Kerberos5::new(options)?)),
        #[cfg(not(all(feature = "ldap", feature = "rimap", feature = "sql", feature = "kerberos5")))]
        other => {
            return Err(MechanismError::BadOption {
                mechanism: other.name(),
                reason: "not built in (cargo feature off)".into(),
            });
        }
    })
}
