//! A file a verifier reads its users from, parsed again whenever it changes on disk.
//!
//! The file's identity (device, inode, size, mtime) is checked on every request: a `stat` is far
//! cheaper than the hash it guards, and it makes edits take effect with no signal. An
//! unreadable file is an error, which verifiers turn into a tempfail, never a `NO` — the
//! password may be right.
//!
//! Requests are not answered from a half-written file:
//! - A file renamed into place (a new inode: `vipw`, editors, `mv`) is complete the moment it
//!   appears, and is read at once.
//! - A file rewritten in place (same inode: `htpasswd`, shell `>`, `cp` onto it) is empty or
//!   partial until its writer finishes, so it is read only once it has been quiet for
//!   [`SETTLE`]; the previous contents answer meanwhile. "Quiet" is judged by the file's mtime
//!   and, since an mtime may lie (a clock ahead of ours, whole-second file systems), also by how
//!   long this process has itself seen the file unchanged: a future mtime delays an edit by
//!   [`SETTLE`] from the first request that sees it, never freezes it. A writer that pauses
//!   longer than [`SETTLE`] in the middle of a rewrite can still be read half-way.
//! - A read during which the file changed (`fstat` after parsing differs from before) is thrown
//!   away and the previous contents answer; the next request tries again.
//! - With no previous contents (the first load) the file is read as it is. Contents read while
//!   the mtime was not yet quiet are read once more when it is (a same-size rewrite within one
//!   mtime tick would not change the stamp).

use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use zeroize::Zeroizing;

/// How long a file rewritten in place must have been unchanged before it is read (mtime age, or
/// time this process has seen it unchanged): longer than any pause inside one rewrite by
/// `htpasswd` or a shell redirection, short enough that an edit is live before the admin tests it.
pub(crate) const SETTLE: Duration = Duration::from_millis(300);

/// A file system that keeps whole seconds only (ext3's small inodes, FAT's two seconds, some NFS)
/// rounds an mtime down by this much at most; an mtime with no sub-second part is taken to be
/// that late.
const COARSE_MTIME: Duration = Duration::from_secs(2);

/// A file and its last parsed contents (`T`, built by a parse function from the raw bytes).
pub(crate) struct WatchedFile<T> {
    path: PathBuf,
    parse: Box<Parse<T>>,
    settle: Duration,
    state: Mutex<State<T>>,
}

/// What has been loaded, and the in-place change waiting to settle.
struct State<T> {
    loaded: Option<Loaded<T>>,
    /// A stamp of the same inode as `loaded`, not yet read, and when this process first saw it.
    pending: Option<(Stamp, Instant)>,
}

/// Turns the file's bytes into its contents.
type Parse<T> = dyn Fn(&[u8]) -> T + Send + Sync;

/// Parsed contents, tagged with the identity of the file they came from.
struct Loaded<T> {
    stamp: Stamp,
    /// The mtime said the file was quiet when it was read. If not, a rewrite within the same
    /// mtime tick to the same size would leave the stamp unchanged, so the file is read once
    /// more when it is quiet.
    quiet: bool,
    contents: Arc<T>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(meta: &Metadata) -> Self {
        Self { dev: meta.dev(), ino: meta.ino(), len: meta.len(), modified: meta.modified().ok() }
    }

    /// Same file (rewritten in place, not replaced by a rename).
    fn same_inode(&self, other: &Stamp) -> bool {
        (self.dev, self.ino) == (other.dev, other.ino)
    }

    /// The mtime says the file has not been written for `settle` (false when it cannot say: no
    /// mtime, or one in the future).
    fn quiet_by_mtime(&self, settle: Duration, now: SystemTime) -> bool {
        let Some(modified) = self.modified else { return false };
        let whole_seconds =
            modified.duration_since(SystemTime::UNIX_EPOCH).is_ok_and(|d| d.subsec_nanos() == 0);
        let latest_write = if whole_seconds { modified + COARSE_MTIME } else { modified };
        now.duration_since(latest_write).is_ok_and(|age| age >= settle)
    }
}

impl<T> WatchedFile<T> {
    /// Watch `path`; nothing is read until the first [`WatchedFile::current`].
    pub(crate) fn new(path: impl Into<PathBuf>, parse: impl Fn(&[u8]) -> T + Send + Sync + 'static) -> Self {
        Self::with_settle(path, parse, SETTLE)
    }

    /// As [`WatchedFile::new`], with the quiet time an in-place rewrite needs before it is read.
    pub(crate) fn with_settle(
        path: impl Into<PathBuf>,
        parse: impl Fn(&[u8]) -> T + Send + Sync + 'static,
        settle: Duration,
    ) -> Self {
        let state = Mutex::new(State { loaded: None, pending: None });
        Self { path: path.into(), parse: Box::new(parse), settle, state }
    }

    /// The contents as of now: re-read and re-parsed first if the file changed and is complete
    /// (see the module doc), else the previous contents.
    ///
    /// Blocking (stat, read): call it from the blocking pool.
    pub(crate) fn current(&self) -> Result<Arc<T>, String> {
        let stamp = stamp_of(&self.path)?;
        // The lock is held while re-reading so that a burst of requests after an edit parses
        // the file once, not once per request.
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let State { loaded, pending } = &mut *state;
        let Some(previous) = loaded.as_ref() else {
            // Nothing to fall back on: whatever is there is the best answer.
            let (fresh, _) = self.read()?;
            let contents = fresh.contents.clone();
            *loaded = Some(fresh);
            return Ok(contents);
        };
        let now = SystemTime::now();
        if previous.stamp == stamp && (previous.quiet || !stamp.quiet_by_mtime(self.settle, now)) {
            *pending = None;
            return Ok(previous.contents.clone());
        }
        if previous.stamp.same_inode(&stamp) && !self.settled(pending, stamp, now) {
            return Ok(previous.contents.clone());
        }
        let (fresh, steady) = self.read()?;
        if !steady {
            tracing::debug!(file = %self.path.display(), "file changed while being read; previous contents kept");
            return Ok(previous.contents.clone());
        }
        *pending = None;
        let contents = fresh.contents.clone();
        *loaded = Some(fresh);
        Ok(contents)
    }

    /// Whether an in-place change (now `stamp`) has been quiet long enough to read.
    fn settled(&self, pending: &mut Option<(Stamp, Instant)>, stamp: Stamp, now: SystemTime) -> bool {
        if stamp.quiet_by_mtime(self.settle, now) {
            return true;
        }
        match pending {
            Some((seen, since)) if *seen == stamp => since.elapsed() >= self.settle,
            _ => {
                tracing::debug!(file = %self.path.display(), "file rewritten in place; read once it is quiet");
                *pending = Some((stamp, Instant::now()));
                false
            }
        }
    }

    /// Read and parse the file, tagged with its stamp when opened; and whether it was still the
    /// same (`fstat` before and after) once parsed.
    fn read(&self) -> Result<(Loaded<T>, bool), String> {
        let context = |e: std::io::Error| format!("cannot read {}: {e}", self.path.display());
        let mut file = File::open(&self.path).map_err(context)?;
        let before = Stamp::of(&file.metadata().map_err(context)?);
        // The raw bytes hold password hashes: zeroed once parsed.
        let mut text = Zeroizing::new(Vec::with_capacity(usize::try_from(before.len).unwrap_or(0)));
        file.read_to_end(&mut text).map_err(context)?;
        let contents = Arc::new((self.parse)(&text));
        let steady = Stamp::of(&file.metadata().map_err(context)?) == before;
        tracing::debug!(file = %self.path.display(), "user file loaded");
        let quiet = steady && before.quiet_by_mtime(self.settle, SystemTime::now());
        Ok((Loaded { stamp: before, quiet, contents }, steady))
    }
}

fn stamp_of(path: &Path) -> Result<Stamp, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot stat {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    Ok(Stamp::of(&meta))
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

    /// Rewrite `path` in place, as `htpasswd` and `>` do: same inode, truncated first.
    fn rewrite_in_place(path: &Path, text: &str) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().write(true).truncate(true).open(path).unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    const SHORT: Duration = Duration::from_millis(150);

    /// A file reading `one`, watched with a [`SHORT`] settle time and read once already.
    fn serving_one() -> (tempfile::TempDir, std::path::PathBuf, WatchedFile<Vec<String>>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        std::fs::write(&path, "one\n").unwrap();
        let watched = WatchedFile::with_settle(&path, lines, SHORT);
        assert_eq!(*watched.current().unwrap(), ["one"]);
        (dir, path, watched)
    }

    #[test]
    fn an_in_place_rewrite_is_read_once_quiet_the_old_contents_serving_meanwhile() {
        let (_dir, path, watched) = serving_one();
        // Mid-rewrite: truncated, partly written. Never served.
        rewrite_in_place(&path, "tw");
        assert_eq!(*watched.current().unwrap(), ["one"], "a fresh in-place write was read at once");
        rewrite_in_place(&path, "two\n");
        assert_eq!(*watched.current().unwrap(), ["one"]);
        std::thread::sleep(SHORT + Duration::from_millis(50));
        assert_eq!(*watched.current().unwrap(), ["two"], "a quiet file was not read");
    }

    #[test]
    fn the_first_load_reads_a_fresh_file_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        std::fs::write(&path, "one\n").unwrap();
        assert_eq!(
            *WatchedFile::with_settle(&path, lines, Duration::from_secs(3600)).current().unwrap(),
            ["one"]
        );
    }

    #[test]
    fn an_mtime_in_the_future_does_not_freeze_the_file() {
        let (_dir, path, watched) = serving_one();
        rewrite_in_place(&path, "two\n");
        let future = SystemTime::now() + Duration::from_secs(3600) + Duration::from_nanos(123);
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(future).unwrap();
        assert_eq!(*watched.current().unwrap(), ["one"]);
        // Quiet as seen by this process, whatever the mtime says.
        std::thread::sleep(SHORT + Duration::from_millis(50));
        assert_eq!(*watched.current().unwrap(), ["two"], "frozen by a future mtime");
    }

    #[test]
    fn an_old_mtime_is_read_at_once() {
        // A rewrite whose mtime is already past the settle time (a writer that sets it, or a
        // request long after the edit) needs no wait.
        let (_dir, path, watched) = serving_one();
        rewrite_in_place(&path, "two\n");
        let past = SystemTime::now() - Duration::from_secs(60) + Duration::from_nanos(123);
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(past).unwrap();
        assert_eq!(*watched.current().unwrap(), ["two"]);
    }

    /// The file a [`touching`] parse appends to, set by the test that uses it.
    static TOUCH: Mutex<Option<PathBuf>> = Mutex::new(None);

    /// Parse, then append to the file being read once: a writer racing the read.
    fn touching(text: &[u8]) -> Vec<String> {
        if let Some(path) = TOUCH.lock().unwrap().take() {
            use std::io::Write;
            std::fs::OpenOptions::new().append(true).open(path).unwrap().write_all(b"more\n").unwrap();
        }
        lines(text)
    }

    #[test]
    fn a_read_during_which_the_file_changed_is_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        std::fs::write(&path, "one\n").unwrap();
        let watched = WatchedFile::with_settle(&path, touching, Duration::ZERO);
        assert_eq!(*watched.current().unwrap(), ["one"]);
        // Replaced by a rename (read at once), but written to while being read.
        let tmp = dir.path().join("users.new");
        std::fs::write(&tmp, "two\n").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        *TOUCH.lock().unwrap() = Some(path.clone());
        assert_eq!(*watched.current().unwrap(), ["one"], "a read racing a writer was served");
        assert_eq!(*watched.current().unwrap(), ["two", "more"]);
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
