//! A daemon that checks passwords against a passwd file, for either implementation: ours reads
//! it directly (`-a passwd-file`), Cyrus through PAM (`-a pam` with a pam_pwdfile service).

use std::path::Path;

use crate::{Daemon, DaemonBuilder, FailDelay, PamService, PwdFile, Target, pwdfile_stack, wire};

/// The service name sent to our passwd-file daemon (it ignores it; any name would do).
pub const OUR_SERVICE: &str = "smtp";

/// A running daemon backed by a passwd file. Fields drop in order: daemon, then PAM file, then
/// the passwd file.
#[derive(Debug)]
pub struct PwdServer {
    /// The daemon.
    pub daemon: Daemon,
    pam: Option<PamService>,
    /// The passwd file it checks.
    pub pwdfile: PwdFile,
}

impl PwdServer {
    /// Starts `target` on a passwd file of `(user, password)` (SHA-512 crypt hashes).
    pub fn start(target: Target, users: &[(&str, &str)]) -> PwdServer {
        PwdServer::start_with(target, crate::pwdfile(users), |b| b)
    }

    /// Starts `target` on `pwdfile`, with `configure` adding options (`-n`, `-r`, …).
    pub fn start_with(
        target: Target,
        pwdfile: PwdFile,
        configure: impl FnOnce(DaemonBuilder) -> DaemonBuilder,
    ) -> PwdServer {
        let builder = Daemon::builder(target);
        let (builder, pam) = match target {
            Target::Ours => (builder.passwd_file(pwdfile.path()), None),
            Target::Cyrus => {
                let pam = PamService::system(&pwdfile_stack(pwdfile.path(), FailDelay::None));
                (builder.pam(&pam), Some(pam))
            }
        };
        let daemon = configure(builder).start();
        PwdServer { daemon, pam, pwdfile }
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        self.daemon.socket()
    }

    /// The service field that selects this server's password check.
    pub fn service(&self) -> &str {
        self.pam.as_ref().map(PamService::name).unwrap_or(OUR_SERVICE)
    }

    /// A 4-field request with this server's service and an empty realm.
    pub fn request(&self, login: &[u8], password: &[u8]) -> Vec<u8> {
        wire::request(login, password, self.service(), "")
    }
}
