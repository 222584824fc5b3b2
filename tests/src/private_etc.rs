//! Files bound over existing paths (under /etc) and, optionally, a host name of its own, in a
//! private mount and UTS namespace that a daemon is started in: NSS, libsasl2's sasldb and
//! `gethostname` then see the test's data while the machine's own files and name are never
//! written. `unshare` (util-linux) makes the mount propagation private, so nothing reaches the
//! host; the binds vanish with the daemon.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::DaemonBuilder;
use crate::bins::require_program;

/// The files and host name; dropping it removes the copies.
#[derive(Debug)]
pub struct PrivateEtc {
    dir: TempDir,
    binds: Vec<(PathBuf, PathBuf)>,
    hostname: Option<String>,
}

impl Default for PrivateEtc {
    fn default() -> Self {
        Self::new()
    }
}

impl PrivateEtc {
    /// No binds and the host's name yet.
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("tempdir"), binds: Vec::new(), hostname: None }
    }

    /// Bind a file holding `contents` over `target`, which must exist.
    #[must_use]
    pub fn file(mut self, target: &str, contents: &[u8]) -> Self {
        assert!(Path::new(target).exists(), "{target} must exist to bind over it");
        let copy = self.dir.path().join(format!("{}-{}", self.binds.len(), target.replace('/', "_")));
        std::fs::write(&copy, contents).unwrap_or_else(|e| panic!("write {}: {e}", copy.display()));
        self.binds.push((copy, PathBuf::from(target)));
        self
    }

    /// Bind a copy of `target` with `extra` appended over it.
    #[must_use]
    pub fn append(self, target: &str, extra: &str) -> Self {
        let mut contents =
            std::fs::read(target).unwrap_or_else(|e| panic!("read {target} (tests run as root): {e}"));
        contents.extend_from_slice(extra.as_bytes());
        self.file(target, &contents)
    }

    /// Bind the file at `source` (kept where it is, so the test can change it) over `target`.
    #[must_use]
    pub fn bind(mut self, source: &Path, target: &str) -> Self {
        assert!(Path::new(target).exists(), "{target} must exist to bind over it");
        self.binds.push((source.to_owned(), PathBuf::from(target)));
        self
    }

    /// Give the namespace the host name `name` (what `gethostname` returns in it).
    #[must_use]
    pub fn hostname(mut self, name: &str) -> Self {
        self.hostname = Some(name.to_owned());
        self
    }

    /// A scratch directory that lives as long as this guard.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Start the daemon of `builder` inside the namespace; `exec` keeps the daemon's pid.
    pub fn wrap(&self, builder: DaemonBuilder) -> DaemonBuilder {
        let unshare = require_program("unshare", "util-linux");
        let script = r#"h=$1; shift
while [ "$1" != -- ]; do mount --bind "$1" "$2" || exit 1; shift 2; done; shift
if [ -n "$h" ]; then hostname "$h" || exit 1; fi
exec "$@""#;
        let mut args: Vec<OsString> = vec!["-m".into(), "-u".into(), "--".into(), "sh".into(), "-c".into()];
        args.extend([script.into(), "sh".into(), self.hostname.clone().unwrap_or_default().into()]);
        for (source, target) in &self.binds {
            args.extend([source.clone().into_os_string(), target.clone().into_os_string()]);
        }
        args.push("--".into());
        builder.wrapper(unshare, args)
    }
}
