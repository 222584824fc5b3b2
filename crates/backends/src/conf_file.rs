//! Cyrus's `saslauthd.conf` syntax, shared by the mechanisms that read a config file (ldap, sql).
//!
//! Level one of two: this parses exactly what the operator wrote into `key → value` with line
//! numbers; each mechanism then converts the keys it knows into a checked config of its own,
//! warning about unknown keys and failing on bad values, naming the key. Syntax as lak.c reads
//! it (reference §3.4): leading whitespace skipped, `#` comment lines, key `[A-Za-z0-9_-]+`
//! (case-insensitive) followed immediately by `:`, value = rest of the line after leading
//! whitespace. Unlike lak.c, trailing whitespace and `\r` are trimmed (a value ending in a space
//! is always a mistake in these files) and an empty value is an error naming the line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// One value and where it was written.
#[derive(Clone)]
pub struct Entry {
    /// The value as written (after trimming).
    pub value: Zeroizing<String>,
    /// 1-based line number.
    pub line: usize,
}

/// A parsed file: lower-cased keys to their last value (later lines win, as in lak.c).
pub struct ConfFile {
    path: PathBuf,
    entries: BTreeMap<String, Entry>,
}

/// Why a config file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not `key: value`.
    #[error("{path}:{line}: {reason}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A known key has a value its mechanism cannot use.
    #[error("{path}:{line}: {key}: {reason}")]
    BadValue {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
}

impl ConfFile {
    /// Read and parse `path`.
    pub fn read(path: &Path) -> Result<ConfFile, ConfError> {
        let text = std::fs::read_to_string(path)
            .map(Zeroizing::new)
            .map_err(|source| ConfError::Read { path: path.to_owned(), source })?;
        ConfFile::parse(path, &text)
    }

    /// Parse `text` as if read from `path` (used in messages).
    pub fn parse(path: &Path, text: &str) -> Result<ConfFile, ConfError> {
        let mut entries = BTreeMap::new();
        let syntax = |line, reason| ConfError::Syntax { path: path.to_owned(), line, reason };
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let Some((key, value)) = trimmed.split_once(':') else {
                return Err(syntax(line, "expected `key: value`"));
            };
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
                return Err(syntax(line, "a key is letters, digits, `_` and `-`, followed by `:`"));
            }
            let value = value.trim();
            if value.is_empty() {
                return Err(syntax(line, "empty value"));
            }
            entries.insert(key.to_ascii_lowercase(), Entry { value: Zeroizing::new(value.to_owned()), line });
        }
        Ok(ConfFile { path: path.to_owned(), entries })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The value of `key` (lower-case), if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(|e| e.value.as_str())
    }

    /// The first of `keys` that is set (for aliases such as `ldap_bind_pw` / `ldap_password`).
    pub fn get_any(&self, keys: &[&str]) -> Option<&str> {
        keys.iter().find_map(|k| self.get(k))
    }

    /// A bad-value error for `key`, pointing at its line.
    pub fn bad_value(&self, key: &str, reason: impl Into<String>) -> ConfError {
        ConfError::BadValue {
            path: self.path.clone(),
            line: self.entries.get(key).map_or(0, |e| e.line),
            key: key.to_owned(),
            reason: reason.into(),
        }
    }

    /// Parse a boolean the way an operator means it: `yes/no`, `true/false`, `on/off`, `1/0`
    /// in any case (lak.c takes `Yes` as *off*; that trap is not kept).
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, ConfError> {
        let Some(value) = self.get(key) else { return Ok(None) };
        match value.to_ascii_lowercase().as_str() {
            "yes" | "y" | "true" | "t" | "on" | "1" => Ok(Some(true)),
            "no" | "n" | "false" | "f" | "off" | "0" => Ok(Some(false)),
            _ => Err(self.bad_value(key, format!("{value:?} is not yes or no"))),
        }
    }

    /// Parse a number.
    pub fn get_number<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, ConfError> {
        let Some(value) = self.get(key) else { return Ok(None) };
        value.parse().map(Some).map_err(|_| self.bad_value(key, format!("{value:?} is not a number")))
    }

    /// Keys not in `known` (for a warning each: Cyrus 2.1.28 ignores them silently).
    pub fn unknown_keys<'a>(&'a self, known: &'a [&str]) -> impl Iterator<Item = (&'a str, usize)> + 'a {
        self.entries.iter().filter(|(k, _)| !known.contains(&k.as_str())).map(|(k, e)| (k.as_str(), e.line))
    }
}

impl std::fmt::Debug for ConfFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be passwords (ldap_bind_pw, sql_passwd): show only the keys.
        f.debug_struct("ConfFile").field("path", &self.path).field("keys", &self.entries.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn parse(text: &str) -> Result<ConfFile, ConfError> {
        ConfFile::parse(Path::new("saslauthd.conf"), text)
    }

    #[test]
    fn reads_cyrus_syntax() {
        let conf = parse(
            "# comment\n\n  ldap_servers: ldap://a/ ldap://b/  \r\nLDAP_Filter:(uid=%u)\nldap_bind_pw: s3cr:et\nldap_filter: (mail=%u)\n",
        )
        .unwrap();
        assert_eq!(conf.get("ldap_servers"), Some("ldap://a/ ldap://b/"));
        assert_eq!(conf.get("ldap_filter"), Some("(mail=%u)"), "later lines win; keys ignore case");
        assert_eq!(conf.get("ldap_bind_pw"), Some("s3cr:et"), "only the first colon separates");
        assert_eq!(conf.get_any(&["ldap_password", "ldap_bind_pw"]), Some("s3cr:et"));
        assert!(!format!("{conf:?}").contains("s3cr"), "Debug shows no values");
        let unknown: Vec<_> = conf.unknown_keys(&["ldap_servers", "ldap_filter"]).collect();
        assert_eq!(unknown, [("ldap_bind_pw", 5)]);
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse("ldap_servers: x\nno colon here\n").err().unwrap().to_string();
        assert_eq!(err, "saslauthd.conf:2: expected `key: value`");
        assert!(parse("ldap_timeout:\n").err().unwrap().to_string().contains(":1: empty value"));
        assert!(parse("bad key: x\n").is_err());
    }

    #[test]
    fn booleans_and_numbers() {
        let conf = parse("a: Yes\nb: off\nc: maybe\nn: 5\nm: five\n").unwrap();
        assert_eq!(conf.get_bool("a").unwrap(), Some(true));
        assert_eq!(conf.get_bool("b").unwrap(), Some(false));
        assert_eq!(conf.get_bool("missing").unwrap(), None);
        assert_eq!(
            conf.get_bool("c").err().unwrap().to_string(),
            "saslauthd.conf:3: c: \"maybe\" is not yes or no"
        );
        assert_eq!(conf.get_number::<u32>("n").unwrap(), Some(5));
        assert!(conf.get_number::<u32>("m").is_err());
    }
}
