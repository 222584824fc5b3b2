//! The `kerberos5` settings: Cyrus's `krb5_*` keys from the `-O` file (or `/etc/saslauthd.conf`
//! when it exists, as auth_krb5.c's `auth_krb5_init` reads it), and the libkrb5 environment
//! (`KRB5_CONFIG`, `KRB5_KTNAME`) pinned to absolute paths at start-up.

use super::principal::PrincipalRules;
use crate::conf_file::{ConfError, ConfFile};
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// The keys this mechanism reads (Cyrus 2.1.28 auth_krb5.c, plus master's
/// `krb5_uppercase_realm`, and ours: `krb5_keytab_check_interval`); `krb5_<service>_instance`
/// keys are matched by shape.
pub const KEYS: [&str; 6] = [
    "krb5_keytab",
    "krb5_verify_principal",
    "krb5_servername",
    "krb5_conv_krb4_instance",
    "krb5_uppercase_realm",
    "krb5_keytab_check_interval",
];

/// How long a keytab check's verdict is trusted when `krb5_keytab_check_interval` is not set
/// (see [`super::keytab_check`]).
pub const DEFAULT_KEYTAB_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// Cyrus's default service name for the verifying principal (`host/<servername>`).
pub const DEFAULT_VERIFY_SERVICE: &str = "host";

/// Everything a check needs besides the request, as C strings ready for libkrb5.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `KRB5_CONFIG` as found at start-up with each entry made absolute; `None` = libkrb5's
    /// default path.
    pub profile_path: Option<CString>,
    /// The keytab: `krb5_keytab`, else `KRB5_KTNAME` at start-up (made absolute), else `None`
    /// for libkrb5's default (`default_keytab_name` in krb5.conf, `/etc/krb5.keytab`).
    pub keytab: Option<CString>,
    /// `krb5_verify_principal`: the service part of the verifying principal (default `host`).
    pub verify_service: CString,
    /// `krb5_servername`: its host part (default: this host's name, as libkrb5 finds it).
    pub server_name: Option<CString>,
    /// How logins become principals.
    pub rules: PrincipalRules,
    /// `krb5_keytab_check_interval` (seconds; ours, not Cyrus's): how long a verdict on the
    /// keytab is trusted before the KDC is asked again; 0 = ask before every `NO`.
    pub keytab_check_interval: Duration,
}

/// `KRB5_CONFIG` and `KRB5_KTNAME` as they were when the mechanism was first built, before the
/// daemon changed directory (to `/` when detaching): a relative path in them must keep naming
/// the same file afterwards, and later builds (SIGHUP) must not resolve it against `/`.
struct StartUpEnvironment {
    cwd: PathBuf,
    profile_path: Option<String>,
    keytab: Option<String>,
}

static START_UP: OnceLock<StartUpEnvironment> = OnceLock::new();

fn start_up_environment() -> &'static StartUpEnvironment {
    START_UP.get_or_init(|| {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
        StartUpEnvironment {
            cwd: cwd.clone(),
            profile_path: var("KRB5_CONFIG").map(|v| absolute_path_list(&v, &cwd)),
            keytab: var("KRB5_KTNAME").map(|v| absolute_keytab(&v, &cwd)),
        }
    })
}

/// Each `:`-separated entry of a `KRB5_CONFIG` list, made absolute against `cwd`.
pub fn absolute_path_list(list: &str, cwd: &Path) -> String {
    list.split(':').map(|p| absolute(p, cwd)).collect::<Vec<_>>().join(":")
}

/// A keytab name with a relative file path made absolute: `[FILE:|WRFILE:]path`; other types
/// (`MEMORY:`, `KEYRING:`…) are left alone. A bare `/`-less name with no type is a file.
pub fn absolute_keytab(name: &str, cwd: &Path) -> String {
    for prefix in ["FILE:", "WRFILE:"] {
        if let Some(path) = name.strip_prefix(prefix) {
            return format!("{prefix}{}", absolute(path, cwd));
        }
    }
    // libkrb5 reads "TYPE:residual" when the part before ':' has no '/' (kt_resolve).
    match name.split_once(':') {
        Some((kind, _)) if !kind.contains('/') && !kind.is_empty() => name.to_owned(),
        _ => absolute(name, cwd),
    }
}

fn absolute(path: &str, cwd: &Path) -> String {
    if path.is_empty() || path.starts_with('/') {
        path.to_owned()
    } else {
        cwd.join(path).display().to_string()
    }
}

impl Settings {
    /// Read the settings: the keys of `conf` (when there is a file), the start-up environment.
    pub fn from_conf(conf: Option<&ConfFile>) -> Result<Settings, ConfError> {
        let env = start_up_environment();
        let cwd = &env.cwd;
        let get = |key| conf.and_then(|c| c.get(key));
        let c_string = |key: &str, value: &str| {
            CString::new(value).map_err(|_| bad(conf, key, "contains a NUL byte".into()))
        };
        let keytab = match get("krb5_keytab") {
            Some(name) => Some(absolute_keytab(name, cwd)),
            None => env.keytab.clone(),
        };
        let mut rules = PrincipalRules::default();
        let mut keytab_check_interval = DEFAULT_KEYTAB_CHECK_INTERVAL;
        if let Some(conf) = conf {
            if let Some(secs) = conf.get_number::<u32>("krb5_keytab_check_interval")? {
                keytab_check_interval = Duration::from_secs(secs.into());
            }
            rules.krb4_instance = conf.get_bool("krb5_conv_krb4_instance")?.unwrap_or(false);
            rules.uppercase_realm = conf.get_bool("krb5_uppercase_realm")?.unwrap_or(false);
            for (key, _) in conf.unknown_keys(&KEYS) {
                let service = key.strip_prefix("krb5_").and_then(|k| k.strip_suffix("_instance"));
                match service {
                    Some(service) if !service.is_empty() => {
                        let instance = conf.get(key).unwrap_or_default();
                        if instance.contains(['/', '@', '\\']) {
                            return Err(conf.bad_value(key, "an instance has no `/`, `@` or `\\`"));
                        }
                        rules.forced_instances.push((service.to_owned(), instance.to_owned()));
                    }
                    _ if key.starts_with("krb5_") => {
                        tracing::warn!("{}: unknown key {key} (ignored)", conf.path().display());
                    }
                    _ => {}
                }
            }
        }
        Ok(Settings {
            profile_path: env.profile_path.as_deref().map(|p| c_string("KRB5_CONFIG", p)).transpose()?,
            keytab: keytab.as_deref().map(|k| c_string("krb5_keytab", k)).transpose()?,
            verify_service: c_string(
                "krb5_verify_principal",
                get("krb5_verify_principal").unwrap_or(DEFAULT_VERIFY_SERVICE),
            )?,
            server_name: get("krb5_servername").map(|s| c_string("krb5_servername", s)).transpose()?,
            rules,
            keytab_check_interval,
        })
    }
}

fn bad(conf: Option<&ConfFile>, key: &str, reason: String) -> ConfError {
    match conf {
        Some(conf) => conf.bad_value(key, reason),
        None => {
            ConfError::BadValue { path: PathBuf::from("(environment)"), line: 0, key: key.to_owned(), reason }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn conf(text: &str) -> ConfFile {
        ConfFile::parse(Path::new("saslauthd.conf"), text).unwrap()
    }

    #[test]
    fn relative_paths_become_absolute() {
        let cwd = Path::new("/srv/run");
        assert_eq!(
            absolute_path_list("krb5.conf:/etc/krb5.conf:sub/x.conf", cwd),
            "/srv/run/krb5.conf:/etc/krb5.conf:/srv/run/sub/x.conf"
        );
        assert_eq!(absolute_keytab("FILE:k.tab", cwd), "FILE:/srv/run/k.tab");
        assert_eq!(absolute_keytab("WRFILE:/etc/k", cwd), "WRFILE:/etc/k");
        assert_eq!(absolute_keytab("k.tab", cwd), "/srv/run/k.tab");
        assert_eq!(absolute_keytab("MEMORY:x", cwd), "MEMORY:x");
        assert_eq!(absolute_keytab("./a:b", cwd), "/srv/run/./a:b");
    }

    #[test]
    fn cyrus_keys() {
        let s = Settings::from_conf(Some(&conf(
            "krb5_keytab: /etc/k.tab\nkrb5_verify_principal: imap\nkrb5_servername: mail.example.com\n\
             krb5_conv_krb4_instance: yes\nkrb5_uppercase_realm: on\nkrb5_IMAP_instance: mail\nldap_servers: x\n",
        )))
        .unwrap();
        assert_eq!(s.keytab.as_deref().unwrap().to_str().unwrap(), "/etc/k.tab");
        assert_eq!(s.verify_service.to_str().unwrap(), "imap");
        assert_eq!(s.server_name.as_deref().unwrap().to_str().unwrap(), "mail.example.com");
        assert!(s.rules.krb4_instance && s.rules.uppercase_realm);
        assert_eq!(s.keytab_check_interval, DEFAULT_KEYTAB_CHECK_INTERVAL);
        let every_time = Settings::from_conf(Some(&conf("krb5_keytab_check_interval: 0\n"))).unwrap();
        assert_eq!(every_time.keytab_check_interval, Duration::ZERO);
        assert_eq!(s.rules.forced_instances, [("imap".to_owned(), "mail".to_owned())]);
    }

    #[test]
    fn defaults_without_a_file() {
        let s = Settings::from_conf(None).unwrap();
        assert_eq!(s.verify_service.to_str().unwrap(), "host");
        assert!(s.server_name.is_none());
        assert_eq!(s.rules, PrincipalRules::default());
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = Settings::from_conf(Some(&conf("krb5_uppercase_realm: perhaps\n"))).err().unwrap();
        assert!(err.to_string().contains("krb5_uppercase_realm"), "{err}");
        let err = Settings::from_conf(Some(&conf("krb5_keytab_check_interval: 1m\n"))).err().unwrap();
        assert!(err.to_string().contains("krb5_keytab_check_interval"), "{err}");
        let err = Settings::from_conf(Some(&conf("krb5_smtp_instance: a/b\n"))).err().unwrap();
        assert!(err.to_string().contains("krb5_smtp_instance"), "{err}");
    }
}
