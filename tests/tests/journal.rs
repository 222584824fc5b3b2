//! End-to-end: the daemon's log lines as the journal, fail2ban and Prometheus read them.
//!
//! Under systemd, stderr is a journal stream and `JOURNAL_STREAM` names it (sd-daemon(3)): each
//! line must then start with its `<N>` priority and carry no timestamp of its own. The shipped
//! fail2ban filter must match the daemon's real `auth failure` lines that carry the client
//! address, and no others (a login is not an address to ban), checked with `fail2ban-regex`; the
//! alert rules pass `promtool check rules`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use saslauthd_tests::bins::{require_program, workspace_root};
use saslauthd_tests::{Daemon, Target, counted, pwdfile, request, send_raw};
use std::process::Command;
use std::time::Duration;

/// Sets `JOURNAL_STREAM` to the `device:inode` of the stderr the daemon inherits, as systemd does.
const AS_SYSTEMD: &str = r#"JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec "$0" "$@""#;

fn daemon(users: &saslauthd_tests::PwdFile, journal: bool) -> Daemon {
    let mut builder = Daemon::builder(Target::Ours).passwd_file(users.path());
    if journal {
        builder = builder.wrapper("sh", ["-c", AS_SYSTEMD]);
    } else {
        // Inherited from a parent under systemd, but not naming this stderr.
        builder = builder.env("JOURNAL_STREAM", "1:1");
    }
    builder.start()
}

/// One refused login without the client address, one with it (the optional fifth field).
fn fail_twice(d: &Daemon) {
    let reply = send_raw(d.socket(), &request(b"joe", b"wrong", "smtp", ""));
    assert!(reply.text().starts_with("NO"), "{reply:?}");
    let with_addr = counted(&[b"joe", b"wrong", b"smtp", b"", b"192.0.2.7;41234"]);
    let reply = send_raw(d.socket(), &with_addr);
    assert!(reply.text().starts_with("NO"), "{reply:?}");
    assert!(d.wait_for_log("[remote=192.0.2.7;41234]", Duration::from_secs(10)), "{}", d.log());
}

#[test]
fn under_systemd_every_line_carries_its_priority_and_no_timestamp() {
    let users = pwdfile(&[("joe", "secret")]);
    let d = daemon(&users, true);
    fail_twice(&d);
    let log = d.log();
    let lines: Vec<&str> = log.lines().collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let prio = line.strip_prefix('<').and_then(|l| l.split_once('>')).map(|(p, _)| p);
        assert!(matches!(prio, Some("3" | "4" | "6" | "7")), "no priority prefix: {line:?}\n{log}");
        assert!(!line.contains(" INFO ") && !line.contains("Z "), "timestamp or level word: {line:?}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("<6>auth failure: [user=joe] [service=smtp] [realm=] [mech=passwd-file]")),
        "{log}"
    );
}

#[test]
fn a_journal_stream_that_is_not_stderr_keeps_the_plain_format() {
    let users = pwdfile(&[("joe", "secret")]);
    let d = daemon(&users, false);
    fail_twice(&d);
    let log = d.log();
    assert!(log.lines().all(|l| !l.starts_with('<')), "{log}");
    assert!(log.contains(" INFO ") && log.contains("auth failure: [user=joe]"), "{log}");
}

/// Runs `fail2ban-regex` with the shipped filter on `log`; returns its output.
fn fail2ban_regex(log: &std::path::Path) -> String {
    let program = require_program("fail2ban-regex", "fail2ban");
    let filter = workspace_root().join("contrib/fail2ban/filter.d/saslauthd-rs.conf");
    // The filter includes common.conf: run it from a copy of fail2ban's filter directory.
    let dir = tempfile::tempdir().unwrap();
    let filters = dir.path().join("filter.d");
    std::fs::create_dir(&filters).unwrap();
    std::fs::copy("/etc/fail2ban/filter.d/common.conf", filters.join("common.conf")).unwrap();
    std::fs::copy(&filter, filters.join("saslauthd-rs.conf")).unwrap();
    let out = Command::new(program)
        .arg("--print-all-matched")
        .arg(log)
        .arg(filters.join("saslauthd-rs.conf"))
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    text
}

/// The `Lines: N lines, 0 ignored, M matched, K missed` summary's matched count.
fn matched(report: &str) -> usize {
    let summary = report.lines().find(|l| l.starts_with("Lines:")).expect("summary line");
    let words: Vec<&str> = summary.split_whitespace().collect();
    let at = words.iter().position(|w| w.starts_with("matched")).expect("matched count");
    words[at - 1].parse().unwrap()
}

#[test]
fn the_fail2ban_filter_matches_our_lines_with_the_address() {
    let users = pwdfile(&[("joe", "secret")]);
    let d = daemon(&users, false);
    fail_twice(&d);
    let ok = send_raw(d.socket(), &request(b"joe", b"secret", "smtp", ""));
    assert!(ok.text().starts_with("OK"), "{ok:?}");
    let messages: Vec<String> = d
        .log()
        .lines()
        .filter_map(|l| l.find("auth ").map(|at| l[at..].to_owned()))
        .filter(|m| m.starts_with("auth failure"))
        .collect();
    assert_eq!(messages.len(), 2, "{}", d.log());
    // The same messages as the foreground log writes them, and as syslog (the daemon detached:
    // facility auth) writes them to /var/log/auth.log; forged lines from a login with CR/LF are
    // escaped by the daemon, so one request is one line.
    let mut log = d.log();
    for m in &messages {
        log.push_str(&format!("Nov 30 08:00:01 mail saslauthd[4242]: {m}\n"));
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &log).unwrap();
    let report = fail2ban_regex(file.path());
    // Only the lines with the client's address: the others have nothing fail2ban may ban.
    assert_eq!(matched(&report), 2, "{report}\n{log}");
    assert!(report.contains("192.0.2.7"), "the address is the ban target: {report}");
}

#[test]
fn the_fail2ban_filter_never_bans_what_a_client_typed_as_its_login() {
    // Through Postfix's SMTP AUTH anyone chooses the login; fail2ban bans whatever the filter
    // captures, so a login that looks like an address (or a host name) must not be captured.
    let users = pwdfile(&[("joe", "secret")]);
    let d = daemon(&users, false);
    for login in [&b"198.51.100.9"[..], b"2001:db8::9", b"mail.example.org"] {
        let reply = send_raw(d.socket(), &request(login, b"wrong", "smtp", ""));
        assert!(reply.text().starts_with("NO"), "{reply:?}");
    }
    assert!(d.wait_for_log("[user=mail.example.org]", Duration::from_secs(10)), "{}", d.log());
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), d.log()).unwrap();
    let report = fail2ban_regex(file.path());
    assert_eq!(matched(&report), 0, "{report}");
}

#[test]
fn the_prometheus_rules_pass_promtool() {
    let promtool = require_program("promtool", "prometheus");
    let rules = workspace_root().join("contrib/prometheus/saslauthd-rules.yml");
    let out = Command::new(promtool).args(["check", "rules"]).arg(&rules).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
}
