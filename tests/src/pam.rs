//! PAM services written for one test: a uniquely named file in /etc/pam.d (Cyrus reads only
//! there) or in a private confdir (ours, `--pam-confdir`), removed when the guard drops.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use tempfile::TempDir;

use crate::Target;
use crate::bins::require_any;

/// The system PAM configuration directory.
pub const SYSTEM_PAM_D: &str = "/etc/pam.d";

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A PAM service that exists for the guard's lifetime. The service name is what a client must
/// send in the request's service field.
#[derive(Debug)]
pub struct PamService {
    name: String,
    file: PathBuf,
    confdir: Option<TempDir>,
}

/// What the failure path of a pam_pwdfile stack waits before answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailDelay {
    /// `nodelay`: failures answer at once (keeps tests fast).
    None,
    /// `pam_faildelay.so delay=<µs>` plus pam_pwdfile's own delay, as a hardened stack would have.
    Micros(u64),
}

/// Where Debian keeps PAM modules.
const MODULE_DIRS: [&str; 2] = ["/lib/x86_64-linux-gnu/security", "/usr/lib/x86_64-linux-gnu/security"];

/// A stack that authenticates against `pwdfile` with pam_pwdfile and accepts every account.
pub fn pwdfile_stack(pwdfile: &Path, delay: FailDelay) -> String {
    let candidates: Vec<String> = MODULE_DIRS.iter().map(|d| format!("{d}/pam_pwdfile.so")).collect();
    let candidates: Vec<&str> = candidates.iter().map(String::as_str).collect();
    require_any(&candidates, "libpam-pwdfile");
    match delay {
        FailDelay::None => format!(
            "auth required pam_pwdfile.so pwdfile={} nodelay\naccount required pam_permit.so\n",
            pwdfile.display()
        ),
        FailDelay::Micros(us) => format!(
            "auth optional pam_faildelay.so delay={us}\nauth required pam_pwdfile.so pwdfile={}\n\
             account required pam_permit.so\n",
            pwdfile.display()
        ),
    }
}

impl PamService {
    /// Writes `stack` as `/etc/pam.d/saslauthd-rs-test-<pid>-<n>`.
    pub fn system(stack: &str) -> PamService {
        let name = unique_name();
        let file = Path::new(SYSTEM_PAM_D).join(&name);
        std::fs::write(&file, stack).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
        PamService { name, file, confdir: None }
    }

    /// Writes `stack` under a private confdir, for our daemon's `--pam-confdir`.
    pub fn private(stack: &str) -> PamService {
        let name = unique_name();
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join(&name);
        std::fs::write(&file, stack).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
        PamService { name, file, confdir: Some(dir) }
    }

    /// System file for Cyrus (the only place it reads), private confdir for ours.
    pub fn for_target(target: Target, stack: &str) -> PamService {
        match target {
            Target::Ours => PamService::private(stack),
            Target::Cyrus => PamService::system(stack),
        }
    }

    /// The service name, to send as the request's service field.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The private confdir, or `None` for a service in /etc/pam.d.
    pub fn confdir(&self) -> Option<&Path> {
        self.confdir.as_ref().map(TempDir::path)
    }
}

impl Drop for PamService {
    fn drop(&mut self) {
        if self.confdir.is_none() {
            let _ = std::fs::remove_file(&self.file);
        }
    }
}

fn unique_name() -> String {
    format!("saslauthd-rs-test-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}
