//! Fuzz target: the `saslauthd.conf` reader (`backends::conf_file`) and the two mechanisms that
//! check what it read, ldap and sql.
//!
//! Input: the file's text. Beyond not panicking: every key of a well-formed line reads back as
//! the value of its last line, trimmed, non-empty and on one line; and nothing shown about a
//! parsed file or a checked config (`Debug`, error text) depends on the passwords in it — the
//! same file with its password lines rewritten must show exactly the same.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;

use backends::conf_file::ConfFile;
use backends::ldap::config::LdapConfig;
use backends::sql::config::SqlConfig;
use libfuzzer_sys::fuzz_target;

/// Keys whose values are secrets.
const PASSWORD_KEYS: [&str; 3] = ["ldap_bind_pw", "ldap_password", "sql_passwd"];

/// A line's key and raw value as the module documents the syntax (None: blank or comment).
fn key_value(line: &str) -> Option<(&str, &str)> {
    let line = line.trim_start();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    line.split_once(':')
}

fn shown<T: std::fmt::Debug, E: std::fmt::Display>(result: Result<T, E>) -> String {
    match result {
        Ok(config) => format!("{config:?}"),
        Err(e) => e.to_string(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("fuzz.conf");
    let Ok(conf) = ConfFile::parse(path, text) else { return };

    let mut last: BTreeMap<String, &str> = BTreeMap::new();
    for line in text.lines() {
        if let Some((key, value)) = key_value(line) {
            last.insert(key.to_ascii_lowercase(), value.trim());
        }
    }
    for (key, value) in &last {
        assert_eq!(conf.get(key), Some(*value), "key {key:?}");
        assert!(!value.is_empty() && !value.contains('\n'), "value {value:?}");
    }
    assert_eq!(conf.unknown_keys(&[]).count(), last.len(), "keys read but not kept, or invented");

    // Same line numbers, other passwords.
    let redacted: Vec<String> = text
        .lines()
        .map(|line| match key_value(line) {
            Some((key, _)) if PASSWORD_KEYS.contains(&key.to_ascii_lowercase().as_str()) => {
                format!("{key}: something-else")
            }
            _ => line.to_owned(),
        })
        .collect();
    let other =
        ConfFile::parse(path, &redacted.join("\n")).expect("rewriting password values keeps the file valid");
    assert_eq!(format!("{conf:?}"), format!("{other:?}"));
    assert_eq!(shown(LdapConfig::from_conf(&conf)), shown(LdapConfig::from_conf(&other)));
    assert_eq!(shown(SqlConfig::from_conf(&conf)), shown(SqlConfig::from_conf(&other)));
});
