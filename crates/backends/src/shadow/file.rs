//! A shadow(5)-format file named by `-O`, read instead of NSS (chroots, tests, a private user list).

use super::ShadowEntry;
use super::expiry::Aging;
use crate::watched_file::WatchedFile;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The file, re-parsed whenever it changes.
pub(super) struct ShadowFile {
    file: WatchedFile<HashMap<String, ShadowEntry>>,
}

impl ShadowFile {
    /// Watch `path`; the first read happens on the first lookup.
    pub(super) fn new(path: &Path) -> Self {
        Self { file: WatchedFile::new(path, parse) }
    }

    /// All entries as of now (re-read first if the file changed). Blocking.
    pub(super) fn entries(&self) -> Result<Arc<HashMap<String, ShadowEntry>>, String> {
        self.file.current()
    }
}

/// Parse `name:hash:lstchg:min:max:warn:inact:expire:reserved` lines the way glibc's
/// `nss_files` does: blank lines and `#` comments are skipped, a line may stop after the hash
/// (the other fields are then empty), an empty number is "unset", and a line with a number that
/// does not parse is skipped whole. NIS `+`/`-` compat lines are skipped. The first entry for a
/// name wins, as with NSS.
fn parse(text: &[u8]) -> HashMap<String, ShadowEntry> {
    let mut entries = HashMap::new();
    for (number, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) || line.starts_with(b"#") {
            continue;
        }
        match parse_line(line) {
            Some((name, entry)) => {
                entries.entry(name).or_insert(entry);
            }
            // The line may hold a hash: say which line, never what is on it.
            None => tracing::warn!(line = number + 1, "unusable shadow-file line; skipped"),
        }
    }
    entries
}

fn parse_line(line: &[u8]) -> Option<(String, ShadowEntry)> {
    if line.starts_with(b"+") || line.starts_with(b"-") {
        return None;
    }
    let mut fields = line.split(|&b| b == b':');
    let name = std::str::from_utf8(fields.next()?).ok().filter(|n| !n.is_empty())?.to_owned();
    let hash = Zeroizing::new(fields.next()?.to_vec());
    let mut numbers = [None; 7];
    for slot in &mut numbers {
        match fields.next() {
            None => break,
            Some(b"") => {}
            Some(digits) => *slot = Some(std::str::from_utf8(digits).ok()?.trim().parse::<i64>().ok()?),
        }
    }
    if fields.next().is_some() {
        return None;
    }
    let [last_change, _min, max_age, _warn, _inactive, expire, _reserved] = numbers;
    // glibc reads -1 written out as "unset" too.
    let unset_negative = |v: Option<i64>| v.filter(|&n| n != -1);
    let aging = Aging {
        last_change: unset_negative(last_change),
        max_age: unset_negative(max_age),
        expire: unset_negative(expire),
    };
    Some((name, ShadowEntry { hash, aging }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn parses_full_short_and_odd_lines() {
        let text = b"# comment\n\nroot:$6$s$h:19000:0:99999:7:::\r\n\
            short:$y$j9T$x$y\n\
            exp:!:0:::::0:\n\
            neg:x:-1:0:-1:7:-1:-1:\n\
            bad:x:notanumber:::::\n\
            toomany:x::::::::extra\n\
            +nisuser::::::::\n\
            :nameless:::::::\n\
            root:second:::::::\n";
        let e = parse(text);
        let mut names: Vec<_> = e.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["exp", "neg", "root", "short"]);
        assert_eq!(&e["root"].hash[..], b"$6$s$h");
        assert_eq!(e["root"].aging, Aging { last_change: Some(19000), max_age: Some(99999), expire: None });
        assert_eq!(&e["short"].hash[..], b"$y$j9T$x$y");
        assert_eq!(e["short"].aging, Aging::default());
        assert_eq!(&e["exp"].hash[..], b"!");
        assert_eq!(e["exp"].aging, Aging { last_change: Some(0), max_age: None, expire: Some(0) });
        assert_eq!(e["neg"].aging, Aging::default());
    }

    #[test]
    fn non_utf8_hash_is_kept_as_bytes() {
        let e = parse(b"u:\xff\xfe:::::::\n");
        assert_eq!(&e["u"].hash[..], b"\xff\xfe");
    }

    #[test]
    fn reads_through_the_watched_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shadow");
        std::fs::write(&path, "alice:!:::::::\n").unwrap();
        let f = ShadowFile::new(&path);
        assert!(f.entries().unwrap().contains_key("alice"));
    }
}
