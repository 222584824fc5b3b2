//! The shipped integration files are valid for the tools that read them.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use saslauthd_tests::bins::{require_program, workspace_root};
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
