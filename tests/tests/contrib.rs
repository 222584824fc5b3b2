//! The shipped integration files are valid for the tools that read them.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use saslauthd_tests::bins::{require_program, workspace_root};
use std::io::Write;
use std::process::Command;

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let analyze = require_program("systemd-analyze", "systemd");
    let dir = workspace_root().join("contrib/systemd");
    let out = Command::new(analyze)
        .arg("verify")
        .arg(dir.join("saslauthd.service"))
        .arg(dir.join("saslauthd.socket"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !text.contains("saslauthd."), "{text}");
}

#[test]
fn the_tmpfiles_entry_makes_the_run_directory_root_sasl_0710() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let tmpfiles = require_program("systemd-tmpfiles", "systemd");
    let root = tempfile::tempdir().unwrap();
    // The group is looked up in the root's own /etc/group: give it the host's (sasl2-bin adds sasl).
    std::fs::create_dir_all(root.path().join("etc")).unwrap();
    std::fs::create_dir_all(root.path().join("run")).unwrap();
    for db in ["passwd", "group"] {
        std::fs::copy(format!("/etc/{db}"), root.path().join("etc").join(db)).unwrap();
    }
    let out = Command::new(tmpfiles)
        .arg("--create")
        .arg(format!("--root={}", root.path().display()))
        .arg(workspace_root().join("contrib/systemd/saslauthd.tmpfiles"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta = std::fs::metadata(root.path().join("run/saslauthd")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o710);
    assert_eq!(meta.uid(), 0);
    let sasl = nix::unistd::Group::from_name("sasl").unwrap().expect("group sasl (sasl2-bin)");
    assert_eq!(meta.gid(), sasl.gid.as_raw());
}

#[test]
fn the_service_keeps_its_run_directory_and_does_not_restart_on_usage_errors() {
    let unit = std::fs::read_to_string(workspace_root().join("contrib/systemd/saslauthd.service")).unwrap();
    let keys: Vec<&str> = unit.lines().filter(|l| !l.starts_with('#')).collect();
    // RuntimeDirectory= would remove /run/saslauthd (and the socket unit's socket) on every stop.
    assert!(!keys.iter().any(|l| l.starts_with("RuntimeDirectory")), "{unit}");
    for key in ["RestartPreventExitStatus=2", "SyslogIdentifier=saslauthd", "SyslogFacility=auth"] {
        assert!(keys.contains(&key), "{key} missing");
    }
    assert!(keys.iter().any(|l| l.starts_with("ReadWritePaths=/run/saslauthd ")), "{unit}");
}

#[test]
fn the_maintainer_scripts_ask_invoke_rc_d_not_the_init_script() {
    // Debian Policy 9.3.3.2: maintainer scripts go through invoke-rc.d.
    for script in MAINTAINER_SCRIPTS {
        let text =
            std::fs::read_to_string(workspace_root().join("contrib/debian/package").join(script)).unwrap();
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            let runs_init_script = line.split_whitespace().any(|w| w.starts_with("/etc/init.d/"))
                && !line.contains("-x /etc/init.d/");
            assert!(!runs_init_script, "{script} runs the init script directly: {line}");
        }
    }
}

#[test]
fn the_debian_default_example_is_valid_shell_with_every_variable() {
    let file = workspace_root().join("contrib/debian/saslauthd.default");
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#". "$1"; echo "$START|$NAME|$MECHANISMS|$THREADS|$OPTIONS""#)
        .arg("sh")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "yes|saslauthd|pam|5|-c -m /var/run/saslauthd");
}

/// The Debian package's maintainer scripts, run by dpkg in this order on install and removal.
const MAINTAINER_SCRIPTS: [&str; 4] = ["preinst", "postinst", "prerm", "postrm"];

/// What sasl2-bin ships that the package takes over (by dpkg-divert in preinst).
const DIVERTED: [&str; 4] = [
    "/usr/sbin/saslauthd",
    "/usr/sbin/testsaslauthd",
    "/usr/share/man/man8/saslauthd.8.gz",
    "/usr/share/man/man8/testsaslauthd.8.gz",
];

/// `(source, destination)` of each `[package.metadata.deb]` asset of the daemon's crate.
fn deb_assets() -> Vec<(String, String)> {
    let manifest = std::fs::read_to_string(workspace_root().join("crates/mux-server/Cargo.toml")).unwrap();
    let deb = manifest.split("[package.metadata.deb]").nth(1).expect("no [package.metadata.deb]");
    let assets = deb.split("assets = [").nth(1).expect("no assets").split("\n]").next().unwrap();
    let assets: Vec<(String, String)> = assets
        .lines()
        .filter_map(|l| l.trim().strip_prefix("[\"")?.strip_suffix("],"))
        .map(|l| {
            let parts: Vec<&str> = l.split("\", \"").collect();
            assert_eq!(parts.len(), 3, "asset line {l:?}");
            (parts[0].to_owned(), parts[1].to_owned())
        })
        .collect();
    assert!(assets.len() >= 5, "{assets:?}");
    assets
}

/// Where an asset lands once installed (cargo-deb gzips man pages).
fn installed_path((source, dest): &(String, String)) -> String {
    let name = source.rsplit('/').next().unwrap();
    let path = if dest.ends_with('/') { format!("/{dest}{name}") } else { format!("/{dest}") };
    if path.contains("/share/man/") { format!("{path}.gz") } else { path }
}

#[test]
fn the_deb_metadata_names_files_that_exist_and_valid_scripts() {
    let crate_dir = workspace_root().join("crates/mux-server");
    let assets = deb_assets();
    for (source, _) in &assets {
        match source.strip_prefix("target/release/") {
            // Built by `cargo build --release`: a binary of this workspace.
            Some(bin) => assert!(["saslauthd", "testsaslauthd"].contains(&bin), "{source}"),
            None => assert!(crate_dir.join(source).is_file(), "asset {source} does not exist"),
        }
    }
    let installed: Vec<String> = assets.iter().map(installed_path).collect();
    for path in DIVERTED {
        assert!(installed.contains(&path.to_owned()), "{path} is diverted but not shipped: {installed:?}");
    }
    // Everything shipped that sasl2-bin also ships must be diverted, or dpkg refuses to install.
    if let Ok(out) = Command::new("dpkg").args(["-L", "sasl2-bin"]).output()
        && out.status.success()
    {
        let cyrus = String::from_utf8_lossy(&out.stdout).into_owned();
        for path in installed.iter().filter(|p| cyrus.lines().any(|l| l == p.as_str())) {
            assert!(DIVERTED.contains(&path.as_str()), "{path} is in sasl2-bin but not diverted");
        }
    }
    let scripts = workspace_root().join("contrib/debian/package");
    for name in MAINTAINER_SCRIPTS {
        let script = scripts.join(name);
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&script).unwrap().permissions());
        assert_eq!(mode & 0o111, 0o111, "{name} is not executable");
        let out = Command::new("sh").arg("-n").arg(&script).output().unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let text = std::fs::read_to_string(&script).unwrap();
        assert!(text.starts_with("#!/bin/sh\n") && text.contains("\nset -e\n"), "{name}");
    }
    let preinst = std::fs::read_to_string(scripts.join("preinst")).unwrap();
    for path in DIVERTED {
        assert!(preinst.contains(&format!("divert {path} ")), "preinst does not divert {path}");
    }
}

#[test]
fn the_maintainer_scripts_divert_cyrus_files_and_give_them_back() {
    // dpkg-divert works on a private root and database through DPKG_ROOT and DPKG_ADMINDIR,
    // which the scripts honour; service handling is skipped there.
    let root = tempfile::tempdir().unwrap();
    let path = |p: &str| root.path().join(p.trim_start_matches('/'));
    for dir in ["usr/sbin", "usr/share/man/man8", "var/lib/dpkg", "run"] {
        std::fs::create_dir_all(path(dir)).unwrap();
    }
    for file in DIVERTED {
        std::fs::write(path(file), "cyrus").unwrap();
    }
    let scripts = workspace_root().join("contrib/debian/package");
    let run = |script: &str, arg: &str| {
        let out = Command::new("sh")
            .arg(scripts.join(script))
            .arg(arg)
            .env("DPKG_ROOT", root.path())
            .env("DPKG_ADMINDIR", path("var/lib/dpkg"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{script} {arg}: {text}");
    };
    let diverted_to = |file: &str| {
        let (stem, ext) = file.split_once('.').map_or((file, ""), |(s, e)| (s, e));
        if ext.is_empty() { format!("{stem}.cyrus") } else { format!("{stem}.cyrus.{ext}") }
    };

    run("preinst", "install");
    for file in DIVERTED {
        assert!(!path(file).exists(), "{file} still in place");
        assert_eq!(std::fs::read_to_string(path(&diverted_to(file))).unwrap(), "cyrus");
        // Our package's files now land at the original paths.
        std::fs::write(path(file), "ours").unwrap();
    }
    run("postinst", "configure");
    run("preinst", "upgrade");
    run("prerm", "remove");
    for file in DIVERTED {
        std::fs::remove_file(path(file)).unwrap(); // dpkg removes the package's files
    }
    run("postrm", "remove");
    for file in DIVERTED {
        assert_eq!(std::fs::read_to_string(path(file)).unwrap(), "cyrus", "{file} not given back");
    }
    let diversions = std::fs::read_to_string(path("var/lib/dpkg/diversions")).unwrap_or_default();
    assert!(!diversions.contains("saslauthd-rs"), "{diversions}");
}

#[test]
fn cargo_deb_builds_a_package_that_diverts_cyrus() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let has_deb = Command::new(&cargo).args(["deb", "--version"]).output().is_ok_and(|o| o.status.success());
    if !has_deb {
        // Straight to the descriptor: the test harness captures eprintln! of passing tests.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED cargo_deb_builds_a_package_that_diverts_cyrus: cargo-deb is not installed \
             (cargo install cargo-deb --locked)"
        );
        return;
    }
    let root = workspace_root();
    // cargo-deb builds only the daemon's crate; the client is an asset from the same target dir.
    let built = Command::new(&cargo)
        .current_dir(&root)
        .args(["build", "--release", "-p", "testsaslauthd", "-p", "mux-server"])
        .status()
        .unwrap();
    assert!(built.success());
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new(&cargo)
        .current_dir(&root)
        .args(["deb", "-p", "mux-server", "--no-build", "--output"])
        .arg(out_dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let deb = std::fs::read_dir(out_dir.path()).unwrap().next().unwrap().unwrap().path();
    let dpkg_deb = |flag: &str| {
        let out = Command::new("dpkg-deb").arg(flag).arg(&deb).output().unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let contents = dpkg_deb("-c");
    for path in DIVERTED.iter().copied().chain(["/usr/share/man/man5/saslauthd.conf.5.gz"]) {
        assert!(contents.contains(&format!(".{path}\n")), "{path} not in the package:\n{contents}");
    }
    let info = dpkg_deb("-I");
    assert!(info.contains("Package: saslauthd-rs"), "{info}");
    for script in MAINTAINER_SCRIPTS {
        assert!(info.contains(script), "{script} missing:\n{info}");
    }

    // Install and remove it with the real dpkg in a private root holding stand-ins for Cyrus's files.
    let root = tempfile::tempdir().unwrap();
    let path = |p: &str| root.path().join(p.trim_start_matches('/'));
    for dir in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "usr/sbin", "usr/share/man/man8", "run"] {
        std::fs::create_dir_all(path(dir)).unwrap();
    }
    std::fs::write(path("var/lib/dpkg/status"), "").unwrap();
    for file in DIVERTED {
        std::fs::write(path(file), "cyrus").unwrap();
    }
    let dpkg = |args: &[&str]| {
        let out = Command::new("dpkg")
            .arg(format!("--root={}", root.path().display()))
            .args(["--force-script-chrootless", "--force-depends", "--force-not-root", "--log=/dev/null"])
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "dpkg {args:?}: {text}");
    };
    dpkg(&["-i", deb.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(path("/usr/sbin/saslauthd.cyrus")).unwrap(), "cyrus");
    assert_ne!(std::fs::read(path("/usr/sbin/saslauthd")).unwrap(), b"cyrus", "ours is installed");
    dpkg(&["-r", "saslauthd-rs"]);
    for file in DIVERTED {
        assert_eq!(std::fs::read_to_string(path(file)).unwrap(), "cyrus", "{file} not given back");
    }
}

#[test]
fn every_testsaslauthd_flag_is_in_its_man_page() {
    let help =
        Command::new(saslauthd_tests::bins::workspace_bin("testsaslauthd")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let page = std::fs::read_to_string(workspace_root().join("man/testsaslauthd.8")).unwrap();
    let flags: Vec<&str> = help
        .lines()
        .filter_map(|l| l.trim_start().split([' ', ',']).next())
        .filter(|w| w.starts_with('-') && w.len() > 1)
        .collect();
    assert!(flags.len() >= 10, "{help}");
    let missing: Vec<&&str> = flags
        .iter()
        .filter(|flag| {
            let roff = flag.replace('-', "\\-");
            ![format!(".B {roff}\n"), format!(".BI {roff} ")]
                .iter()
                .any(|entry| page.contains(entry.as_str()))
        })
        .collect();
    assert!(missing.is_empty(), "not in man/testsaslauthd.8: {missing:?}");
}

#[test]
fn the_example_mechanism_files_pass_the_parsers() {
    use backends::conf_file::ConfFile;
    let dir = workspace_root().join("contrib/conf");
    let ldap = ConfFile::read(&dir.join("ldap.conf")).unwrap();
    assert!(ldap.unknown_keys(backends::ldap::config::KNOWN_KEYS).next().is_none());
    let ldap = backends::ldap::config::LdapConfig::from_conf(&ldap).unwrap();
    assert_eq!(ldap.servers.len(), 2);
    assert!(ldap.group.is_some());
    let sql = ConfFile::read(&dir.join("sql.conf")).unwrap();
    assert!(sql.unknown_keys(backends::sql::config::KEYS).next().is_none());
    backends::sql::config::SqlConfig::from_conf(&sql).unwrap();
}
