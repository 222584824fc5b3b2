//! The man pages render cleanly and document every command-line option and every key the
//! configuration parsers accept.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use backends::conf_file::ConfFile;
use backends::ldap::config::{KNOWN_KEYS as LDAP_KEYS, LdapConfig};
use backends::rimap::target::URL_OPTIONS;
use backends::sql::config::{KEYS as SQL_KEYS, SqlConfig};
use clap::CommandFactory;
use mux_server::cli::Cli;
use std::path::{Path, PathBuf};
use std::process::Command;

fn man(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../man").join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(man(name)).unwrap()
}

#[test]
fn every_flag_is_in_the_man_page() {
    let page = read("saslauthd.8");
    let mut missing = Vec::new();
    for arg in Cli::command().get_arguments() {
        if let Some(short) = arg.get_short() {
            let (bold, with_value) = (format!(".B \\-{short}"), format!(".BI \\-{short} "));
            if !page.contains(&bold) && !page.contains(&with_value) {
                missing.push(format!("-{short}"));
            }
        }
        if let Some(long) = arg.get_long()
            && !page.contains(&format!("\\-\\-{}", long.replace('-', "\\-")))
        {
            missing.push(format!("--{long}"));
        }
    }
    assert!(missing.is_empty(), "not in man/saslauthd.8: {missing:?}");
}

#[test]
fn the_pages_render_without_warnings() {
    for name in ["saslauthd.8", "testsaslauthd.8", "saslauthd.conf.5"] {
        // -ww: all warnings; -z: format, discard the output. groff-base is what man(1) runs.
        let out = Command::new("groff")
            .args(["-man", "-ww", "-z", "-Tutf8"])
            .arg(man(name))
            .output()
            .expect("groff is missing: apt-get install groff-base");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && stderr.is_empty(), "{name}: {stderr}");
    }
}

/// The words of each `.TP` tag line of `page`: the terms the page defines.
fn defined_terms(page: &str) -> Vec<String> {
    let lines: Vec<&str> = page.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0].trim() == ".TP")
        .flat_map(|w| {
            w[1].split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_key_a_parser_accepts_is_in_saslauthd_conf_5() {
    let terms = defined_terms(&read("saslauthd.conf.5"));
    let missing: Vec<&&str> = LDAP_KEYS
        .iter()
        .chain(SQL_KEYS)
        .chain(URL_OPTIONS)
        .filter(|key| !terms.iter().any(|t| t == **key))
        .collect();
    assert!(missing.is_empty(), "keys without a .TP entry in man/saslauthd.conf.5: {missing:?}");
}

#[test]
fn the_example_files_in_saslauthd_conf_5_are_accepted() {
    let page = read("saslauthd.conf.5");
    let mut checked = (0, 0);
    for block in page.split(".EX\n").skip(1) {
        let text = block.split(".EE\n").next().unwrap().replace("\\-", "-");
        if !text.lines().any(|l| l.starts_with("ldap_") || l.starts_with("sql_")) {
            continue;
        }
        let conf = ConfFile::parse(Path::new("example.conf"), &text).unwrap();
        if text.contains("sql_engine") {
            SqlConfig::from_conf(&conf).unwrap_or_else(|e| panic!("{e}\n{text}"));
            checked.1 += 1;
        } else {
            LdapConfig::from_conf(&conf).unwrap_or_else(|e| panic!("{e}\n{text}"));
            checked.0 += 1;
        }
    }
    assert_eq!(checked, (2, 4), "(ldap, sql) examples checked");
}

#[test]
fn the_pages_refer_to_each_other() {
    for (page, wants) in [
        ("saslauthd.8", &["saslauthd.conf (5)", "testsaslauthd (8)"][..]),
        ("testsaslauthd.8", &["saslauthd (8)"]),
        ("saslauthd.conf.5", &["saslauthd (8)", "testsaslauthd (8)"]),
    ] {
        let text = read(page);
        for want in wants {
            assert!(text.contains(&format!(".BR {want}")), "{page} does not refer to {want}");
        }
    }
}
