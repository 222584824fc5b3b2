//! End-to-end: every metric the shipped Prometheus alert rules use is one the daemon exposes, and
//! the exposition carries the build, the reload status and OpenMetrics `# UNIT` lines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saslauthd_tests::bins::workspace_root;
use saslauthd_tests::{Daemon, RawReply, Target, pwdfile_raw, request, send_raw};

#[test]
fn the_alert_rules_use_metrics_the_daemon_exposes() {
    let rules =
        std::fs::read_to_string(workspace_root().join("contrib/prometheus/saslauthd-rules.yml")).unwrap();
    let passwd = pwdfile_raw(b"joe:{PLAIN}pw\n");
    let daemon =
        Daemon::builder(Target::Ours).passwd_file(passwd.path()).arg("--no-penalty").metrics().start();
    for password in [&b"pw"[..], b"bad"] {
        let reply = send_raw(daemon.socket(), &request(b"joe", password, "smtp", ""));
        assert!(matches!(reply, RawReply::Reply(_)), "{reply:?}");
    }
    let text = daemon.metrics();
    let mut used: Vec<&str> = rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("saslauthd_"))
        .collect();
    used.sort_unstable();
    used.dedup();
    assert!(used.contains(&"saslauthd_config_last_reload_successful"), "{used:?}");
    for name in used {
        assert!(
            text.contains(&format!("\n{name}{{")) || text.contains(&format!("\n{name} ")),
            "{name} not in\n{text}"
        );
    }
    for line in [
        "# UNIT saslauthd_request_duration_seconds seconds\n",
        "# UNIT saslauthd_config_last_reload_success_timestamp_seconds seconds\n",
        "# TYPE saslauthd_build_info gauge\n",
        "saslauthd_config_last_reload_successful 1\n",
    ] {
        assert!(text.contains(line), "{line} not in\n{text}");
    }
}
