//! Where the binaries under test live: ours in the cargo target dir, Cyrus's under /usr/sbin.

use std::path::{Path, PathBuf};

/// Which implementation a test talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// saslauthd-rs, built from this workspace.
    Ours,
    /// Debian's Cyrus SASL 2.1.28 (`sasl2-bin`).
    Cyrus,
}

/// Cyrus's daemon, from Debian's `sasl2-bin`.
pub const CYRUS_SASLAUTHD: &str = "/usr/sbin/saslauthd";
/// Cyrus's client, from Debian's `sasl2-bin`.
pub const CYRUS_TESTSASLAUTHD: &str = "/usr/sbin/testsaslauthd";

impl Target {
    /// Both implementations, ours first.
    pub const ALL: [Target; 2] = [Target::Ours, Target::Cyrus];

    /// Path of this implementation's `saslauthd`.
    pub fn saslauthd(self) -> PathBuf {
        match self {
            Target::Ours => workspace_bin("saslauthd"),
            Target::Cyrus => require_file(CYRUS_SASLAUTHD, "sasl2-bin"),
        }
    }

    /// Path of this implementation's `testsaslauthd`.
    pub fn testsaslauthd(self) -> PathBuf {
        match self {
            Target::Ours => workspace_bin("testsaslauthd"),
            Target::Cyrus => require_file(CYRUS_TESTSASLAUTHD, "sasl2-bin"),
        }
    }
}

/// The directory cargo puts the workspace's binaries in for the profile the tests were built with.
///
/// A test runs as `<target>/<profile>/deps/<test>-<hash>`, so the binaries sit two levels up;
/// `CARGO_TARGET_DIR`, when set, names the target dir explicitly.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test executable has a parent dir");
    let from_exe = if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().expect("deps has a parent").to_path_buf()
    } else {
        deps.to_path_buf()
    };
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let profile = from_exe.file_name().map(PathBuf::from).unwrap_or_else(|| "debug".into());
            let dir = PathBuf::from(dir);
            let dir = if dir.is_relative() { workspace_root().join(dir) } else { dir };
            dir.join(profile)
        }
        _ => from_exe,
    }
}

/// The workspace root (the parent of this package's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// A binary built from this workspace, or a panic telling how to build it.
///
/// `cargo test -p saslauthd-tests` builds this package's tests but not the daemon: after an
/// edit, the tests would quietly run the previous binary. So a binary older than any source
/// file of the crates it is built from is refused too.
pub fn workspace_bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    let build = "run `cargo build --workspace --bins` (with --release for a release test) first";
    let built = std::fs::metadata(&path).and_then(|m| m.modified());
    let Ok(built) = built else { panic!("our `{name}` was not found at {}: {build}", path.display()) };
    // testsaslauthd compiles mux-server's codec alone (lib.rs declares it, frame.rs is it): a
    // change elsewhere in mux-server, say its main.rs, need not relink the client.
    let sources: &[&str] = match name {
        "saslauthd" => &["crates/backends/src", "crates/mux-server/src"],
        _ => &["crates/testsaslauthd/src", "crates/mux-server/src/lib.rs", "crates/mux-server/src/frame.rs"],
    };
    if let Some((changed, source)) = newest_source(sources)
        && changed > built
    {
        panic!("our `{name}` at {} is older than {}: {build}", path.display(), source.display());
    }
    path
}

/// The most recently modified of `sources` (files, or directories searched recursively; paths
/// relative to the workspace root), if any can be read. (Manifests are left out: cargo does not
/// rebuild for every change to them.)
fn newest_source(sources: &[&str]) -> Option<(std::time::SystemTime, PathBuf)> {
    let root = workspace_root();
    let mut pending: Vec<PathBuf> = sources.iter().map(|s| root.join(s)).collect();
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    while let Some(path) = pending.pop() {
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        if meta.is_dir() {
            pending.extend(std::fs::read_dir(&path).into_iter().flatten().flatten().map(|e| e.path()));
        } else if let Ok(modified) = meta.modified()
            && newest.as_ref().is_none_or(|(t, _)| modified > *t)
        {
            newest = Some((modified, path));
        }
    }
    newest
}

/// `path` if it exists, else a panic naming the Debian package that ships it.
pub fn require_file(path: &str, apt_package: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(p.exists(), "{path} is missing: install it with `apt-get install {apt_package}`");
    p
}

/// The first of `candidates` that exists, else a panic naming the Debian package.
pub fn require_any(candidates: &[&str], apt_package: &str) -> PathBuf {
    candidates.iter().map(PathBuf::from).find(|p| p.exists()).unwrap_or_else(|| {
        panic!("none of {candidates:?} exists: install it with `apt-get install {apt_package}`")
    })
}

/// A program found on `PATH`, else a panic naming the Debian package.
pub fn require_program(name: &str, apt_package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not on PATH: install it with `apt-get install {apt_package}`"))
}
