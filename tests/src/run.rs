//! Running a client program to completion with a deadline, so no test can hang on a silent daemon.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::Target;

/// How long any client program may run before the test fails.
pub const CLIENT_DEADLINE: Duration = Duration::from_secs(20);

/// What a finished program left behind.
#[derive(Debug)]
pub struct Finished {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
    /// Wall-clock time it ran.
    pub elapsed: Duration,
}

/// Runs `cmd` with stdin closed; kills it and panics if it outlives `deadline`.
pub fn run_with_deadline(cmd: &mut Command, deadline: Duration) -> Finished {
    run_with_stdin(cmd, Stdio::null(), deadline)
}

/// Runs `cmd` with `input` as its standard input (all of it, then EOF); kills it and panics if it
/// outlives `deadline`.
pub fn run_with_input(cmd: &mut Command, input: &[u8], deadline: Duration) -> Finished {
    use std::io::{Seek, Write};
    // A file, not a pipe: a client that never reads its stdin cannot block the test.
    let mut file = tempfile::tempfile().expect("tempfile");
    file.write_all(input).expect("write stdin file");
    file.rewind().expect("rewind");
    run_with_stdin(cmd, file.into(), deadline)
}

fn run_with_stdin(cmd: &mut Command, stdin: Stdio, deadline: Duration) -> Finished {
    let shown = format!("{cmd:?}");
    let start = Instant::now();
    // Output goes to files, not pipes, so a chatty child can never block on a full pipe while
    // we poll for its exit.
    let out = tempfile::tempfile().expect("tempfile");
    let err = tempfile::tempfile().expect("tempfile");
    let mut child = cmd
        .stdin(stdin)
        .stdout(out.try_clone().expect("dup"))
        .stderr(err.try_clone().expect("dup"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{shown} did not finish within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    Finished { code: status.code(), stdout: read_all(out), stderr: read_all(err), elapsed }
}

fn read_all(mut f: std::fs::File) -> String {
    use std::io::Seek;
    f.rewind().expect("rewind");
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).expect("read output");
    String::from_utf8_lossy(&buf).into_owned()
}

/// Runs `client`'s `testsaslauthd -f <sock> <args…>` (e.g. `["-u", "joe", "-p", "pw", "-s", "smtp"]`).
pub fn testsaslauthd(client: Target, sock: &Path, args: &[&str]) -> Finished {
    let mut cmd = Command::new(client.testsaslauthd());
    cmd.arg("-f").arg(sock).args(args);
    run_with_deadline(&mut cmd, CLIENT_DEADLINE)
}

/// Runs `client`'s `testsaslauthd <args…>` with `input` on stdin and `argv[0]` = `testsaslauthd`
/// (Cyrus prints argv[0] in its usage, so both clients must be given the same one).
pub fn client(client: Target, args: &[&str], input: &[u8]) -> Finished {
    let mut cmd = Command::new(client.testsaslauthd());
    cmd.arg0("testsaslauthd").args(args);
    run_with_input(&mut cmd, input, CLIENT_DEADLINE)
}

/// Runs Cyrus's client, then ours, with the same `args` and no input; asserts identical stdout,
/// stderr and exit status and returns ours.
pub fn clients_agree(args: &[&str]) -> Finished {
    let cyrus = client(Target::Cyrus, args, b"");
    let ours = client(Target::Ours, args, b"");
    assert_eq!(
        (&ours.stdout, &ours.stderr, ours.code),
        (&cyrus.stdout, &cyrus.stderr, cyrus.code),
        "ours vs Cyrus for {args:?}"
    );
    ours
}

/// A benchmark round as the reports quote it: 16 one-request clients for 10 s
/// (`testsaslauthd --load`) against `socket` with one login; a deadline of 60 s.
pub fn load(socket: &Path, login: &str, password: &str, service: &str) -> Finished {
    let mut cmd = Command::new(Target::Ours.testsaslauthd());
    cmd.arg("-f").arg(socket).args(["-u", login, "-p", password, "-s", service]);
    cmd.args(["--load", "--concurrency", "16", "--duration", "10"]);
    run_with_deadline(&mut cmd, Duration::from_secs(60))
}

impl Finished {
    /// A field of a `testsaslauthd --load` summary (`rps=1234.5` → 1234.5); NaN when absent.
    pub fn load_field(&self, name: &str) -> f64 {
        let value = self.stdout.split_whitespace().find_map(|w| w.strip_prefix(name)?.strip_prefix('='));
        value.and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
    }
}
