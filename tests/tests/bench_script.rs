//! contrib/bench/run-bench.sh leaves nothing running, whatever the daemons do with SIGTERM: a
//! stand-in for Cyrus that ignores SIGTERM, in a parent and a child process, is SIGKILLed with its
//! whole process group, and the bench's PAM service file is removed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use saslauthd_tests::bins::{require_program, workspace_root};

/// Every process whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let zombie = fs::read_to_string(entry.path().join("stat")).is_ok_and(|stat| {
            stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        });
        if cmdline.contains(needle) && !zombie {
            found.push(format!("{}: {cmdline}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

#[test]
fn run_bench_kills_a_daemon_that_ignores_sigterm() {
    require_program("gcc", "gcc");
    let root = workspace_root();
    let dir = tempfile::tempdir().unwrap();
    let nullmux = dir.path().join("nullmux");
    let built = Command::new("gcc")
        .args(["-O2", "-pthread", "-o"])
        .arg(&nullmux)
        .arg(root.join("contrib/bench/nullmux.c"))
        .status()
        .unwrap();
    assert!(built.success());
    // Ignoring SIGTERM is inherited by the child it starts (dispositions survive exec).
    let stub = dir.path().join("stubborn-cyrus");
    fs::write(
        &stub,
        format!(
            "#!/bin/sh\ntrap '' TERM\nwhile [ $# -gt 0 ]; do [ \"$1\" = -m ] && dir=$2; shift; done\n\
             {} \"$dir/mux\" 2\n",
            nullmux.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&stub, fs::Permissions::from_mode(0o755)).unwrap();

    let out = Command::new(root.join("contrib/bench/run-bench.sh"))
        .args(["--stack", "permit", "--duration", "1", "--concurrency", "2", "--targets", "nullmux,cyrus"])
        .arg("--cyrus")
        .arg(&stub)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "run-bench.sh failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("cyrus/nullmux"), "no ratio printed:\n{stdout}");
    assert!(stderr.contains("ignored SIGTERM") && stderr.contains("SIGKILL"), "{stderr}");
    assert_eq!(processes_mentioning(&stub.to_string_lossy()), Vec::<String>::new());
    assert_eq!(processes_mentioning(&nullmux.to_string_lossy()), Vec::<String>::new());
    let service =
        stdout.split_whitespace().find_map(|w| w.strip_prefix("service=")).expect("service= in the summary");
    assert!(service.starts_with("saslauthd-bench-"), "{service}");
    assert!(!std::path::Path::new("/etc/pam.d").join(service).exists(), "/etc/pam.d/{service} left behind");
}
