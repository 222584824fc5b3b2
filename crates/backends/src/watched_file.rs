//! A file a verifier reads its users from, parsed again whenever it changes on disk.
//!
//! The file's identity (device, inode, size, mtime) is checked on every request: a `stat` is far
//! cheaper than the hash it guards, and it makes edits take effect at once with no signal. An
//! unreadable file is an error, which verifiers turn into a tempfail, never a `NO` — the
//! password may be right.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use zeroize::Zeroizing;

/// A file and its last parsed contents (`T`, built by a parse function from the raw bytes).
pub(crate) struct WatchedFile<T> {
    path: PathBuf,
    parse: Box<Parse<T>>,
    loaded: Mutex<Option<Loaded<T>>>,
}

/// Turns the file's bytes into its contents.
type Parse<T> = dyn Fn(&[u8]) -> T + Send + Sync;

/// Parsed contents, tagged with the identity of the file they came from.
struct Loaded<T> {
    stamp: Stamp,
    contents: Arc<T>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<SystemTime>,
}

impl<T> WatchedFile<T> {
    /// Watch `path`; nothing is read until the first [`WatchedFile::current`].
    pub(crate) fn new(path: impl Into<PathBuf>, parse: impl Fn(&[u8]) -> T + Send + Sync + 'static) -> Self {
        Self { path: path.into(), parse: Box::new(parse), loaded: Mutex::new(None) }
    }

    /// The contents as of now, re-read and re-parsed first if the file changed.
    ///
    /// Blocking (stat, read): call it from the blocking pool.
    pub(crate) fn current(&self) -> Result<Arc<T>, String> {
        let stamp = stamp_of(&self.path)?;
        // The lock is held while re-reading so that a burst of requests after an edit parses
        // the file once, not once per request.
        let mut loaded = self.loaded.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(l) = loaded.as_ref().filter(|l| l.stamp == stamp) {
            return Ok(l.contents.clone());
        }
        // The raw bytes hold password hashes: zeroed once parsed.
        let text = std::fs::read(&self.path)
            .map(Zeroizing::new)
            .map_err(|e| format!("cannot read {}: {e}", self.path.display()))?;
        let contents = Arc::new((self.parse)(&text));
        tracing::debug!(file = %self.path.display(), "user file loaded");
        *loaded = Some(Loaded { stamp, contents: contents.clone() });
        Ok(contents)
    }
}

fn stamp_of(path: &Path) -> Result<Stamp, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot stat {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    Ok(Stamp { dev: meta.dev(), ino: meta.ino(), len: meta.len(), modified: meta.modified().ok() })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn lines(text: &[u8]) -> Vec<String> {
        String::from_utf8_lossy(text).lines().map(str::to_owned).collect()
    }

    #[test]
    fn reparses_only_when_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        std::fs::write(&path, "one\n").unwrap();
        let watched = WatchedFile::new(&path, lines);
        let first = watched.current().unwrap();
        assert_eq!(*first, ["one"]);
        assert!(Arc::ptr_eq(&first, &watched.current().unwrap()), "unchanged file parsed again");
        // Replace the file (new inode), as editors, `htpasswd` and `vipw` do.
        let tmp = dir.path().join("users.new");
        std::fs::write(&tmp, "two\nthree\n").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert_eq!(*watched.current().unwrap(), ["two", "three"]);
    }

    #[test]
    fn a_missing_file_or_a_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(WatchedFile::new(dir.path().join("absent"), lines).current().is_err());
        assert!(WatchedFile::new(dir.path(), lines).current().is_err());
    }

    #[test]
    fn a_file_that_disappears_is_an_error_not_the_old_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        std::fs::write(&path, "one\n").unwrap();
        let watched = WatchedFile::new(&path, lines);
        assert!(watched.current().is_ok());
        std::fs::remove_file(&path).unwrap();
        assert!(watched.current().is_err());
    }
}
