//! `--admin COMMAND [ARGS]`: talk to the daemon's control socket (saslauthd(8), CONTROL
//! SOCKET) and print the answer for a person, or as JSON with `--json`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mux_server::control_protocol::{COMMANDS, Record, Request, Response, SOCKET_NAME};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// The daemon carried the command out.
pub const EXIT_OK: u8 = 0;
/// The daemon refused or failed the command (cache or penalties off, reload failed, …).
pub const EXIT_REFUSED: u8 = 2;
/// The daemon could not be reached or answered garbage (as a failed check, Cyrus's 255).
pub const EXIT_UNREACHABLE: u8 = 255;

/// Without `--timeout`: a reload may resolve names and connect to servers.
pub const DEFAULT_ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest response read (a penalty listing of two full default tables fits).
const MAX_RESPONSE: u64 = 16 << 20;

/// Fields whose values are numbers in JSON.
const NUMERIC: &[&str] =
    &["failures", "delay_seconds", "wait_seconds", "forget_in_seconds", "users", "records", "value"];

/// One `--admin` invocation.
pub struct AdminCommand {
    /// The control socket.
    pub socket: PathBuf,
    /// Command and arguments, as typed.
    pub words: Vec<String>,
    /// The realm (`-r`), appended as the second argument where the command takes one.
    pub realm: Option<String>,
    /// Print JSON instead of text.
    pub json: bool,
    /// Deadline for the whole exchange.
    pub timeout: Duration,
}

/// The control socket for `-f`: `control` beside the mux socket, or `-f` itself when it names
/// a socket called `control` (a daemon started with `--control`).
pub fn control_socket(mux: &Path) -> PathBuf {
    if mux.file_name().is_some_and(|n| n == SOCKET_NAME) {
        return mux.to_owned();
    }
    mux.parent().unwrap_or(Path::new("/")).join(SOCKET_NAME)
}

/// Check the command line before connecting; the message is for a usage error.
pub fn request_line(cmd: &AdminCommand) -> Result<Vec<u8>, String> {
    let Some((command, args)) = cmd.words.split_first() else {
        return Err(format!("--admin needs a command: {}", COMMANDS.join(", ")));
    };
    if !COMMANDS.contains(&command.as_str()) {
        return Err(format!("unknown admin command {command:?} (one of {})", COMMANDS.join(", ")));
    }
    let takes = match command.as_str() {
        "flush-cache" | "penalties" => 0..=1,
        "forget-penalty" => 1..=1,
        _ => 0..=0,
    };
    if !takes.contains(&args.len()) {
        return Err(format!("wrong number of arguments for {command}"));
    }
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    if let Some(realm) = cmd.realm.as_deref().filter(|_| !args.is_empty()) {
        args.push(realm);
    }
    Request::encode(command, &args).map_err(|e| e.to_string())
}

/// Send the request and print the answer; returns the exit status.
pub async fn run(cmd: &AdminCommand, line: &[u8], argv0: &str) -> u8 {
    let exchanged = tokio::time::timeout(cmd.timeout, exchange(&cmd.socket, line))
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {}s", cmd.timeout.as_secs_f64())));
    let response = match exchanged {
        Ok(response) => response,
        Err(e) => {
            let message = format!("{}: {e}", cmd.socket.display());
            if cmd.json {
                println!("{}", json!({"ok": false, "error": "unreachable", "message": message}));
            } else {
                eprintln!("{argv0}: {message}");
            }
            return EXIT_UNREACHABLE;
        }
    };
    let command = cmd.words.first().map(String::as_str).unwrap_or_default();
    match response {
        Response::Ok(records) => {
            if cmd.json {
                let records: Vec<Value> = records.iter().map(record_json).collect();
                println!("{}", json!({"ok": true, "command": command, "records": records}));
            } else {
                print!("{}", text(command, &cmd.words[1..], &records));
            }
            EXIT_OK
        }
        Response::Err { code, message } => {
            if cmd.json {
                println!("{}", json!({"ok": false, "error": code, "message": message}));
            } else {
                eprintln!("{argv0}: {command}: {message}");
            }
            EXIT_REFUSED
        }
    }
}

async fn exchange(socket: &Path, line: &[u8]) -> Result<Response, String> {
    let mut stream = UnixStream::connect(socket).await.map_err(|e| format!("connect: {e}"))?;
    // A refusal (`denied`, `busy`) may come and the daemon close before the request is sent:
    // read what it said before reporting the failed send.
    let sent = stream.write_all(line).await;
    let mut text = String::new();
    let read = (&mut stream).take(MAX_RESPONSE).read_to_string(&mut text).await;
    match (Response::decode(&text), sent, read) {
        (Ok(response), _, _) => Ok(response),
        (Err(_), Err(e), _) => Err(format!("send: {e}")),
        (Err(_), Ok(()), Err(e)) => Err(format!("read: {e}")),
        (Err(e), Ok(()), Ok(_)) => Err(format!("unexpected answer: {e}")),
    }
}

fn record_json(record: &Record) -> Value {
    let mut object = Map::new();
    object.insert("type".into(), Value::String(record.kind.clone()));
    for (key, value) in &record.fields {
        let number = NUMERIC
            .contains(&key.as_str())
            .then(|| value.parse::<f64>().ok().and_then(serde_json::Number::from_f64))
            .flatten();
        let value = match (number, value.parse::<u64>()) {
            (Some(_), Ok(n)) => Value::from(n),
            (Some(n), Err(_)) => Value::Number(n),
            (None, _) => Value::String(value.clone()),
        };
        object.insert(key.clone(), value);
    }
    Value::Object(object)
}

/// The answer for a person.
fn text(command: &str, args: &[String], records: &[Record]) -> String {
    let field = |r: &Record, k: &str| r.get(k).unwrap_or("?").to_owned();
    let mut out = String::new();
    match command {
        "flush-cache" => {
            let users = records.first().map(|r| field(r, "users")).unwrap_or_default();
            match args.first() {
                Some(user) if users == "0" => out.push_str(&format!("{user}: nothing cached\n")),
                Some(user) => out.push_str(&format!("{user}: cache entries flushed\n")),
                None => out.push_str(&format!("cache flushed ({users} users)\n")),
            }
        }
        "penalties" if records.is_empty() => out.push_str("no penalties in force\n"),
        "penalties" => {
            let columns = ["kind", "key", "failures", "delay_seconds", "wait_seconds", "forget_in_seconds"];
            let rows: Vec<[String; 6]> = records.iter().map(|r| columns.map(|k| field(r, k))).collect();
            let header = ["KIND", "USER/ADDRESS", "FAILURES", "DELAY(s)", "WAIT(s)", "FORGOTTEN IN(s)"]
                .map(str::to_owned);
            out.push_str(&table(std::iter::once(header).chain(rows)));
        }
        "forget-penalty" => {
            let n = records.first().map(|r| field(r, "records")).unwrap_or_default();
            out.push_str(&format!("{n} penalty records forgotten\n"));
        }
        "stats" => {
            let rows = records.iter().map(|r| {
                let labels = r.get("labels").filter(|l| !l.is_empty()).map(|l| format!("{{{l}}}"));
                [format!("{}{}", field(r, "name"), labels.unwrap_or_default()), field(r, "value")]
            });
            out.push_str(&table(rows));
        }
        "reload" => {
            let mechs = records.first().map(|r| field(r, "mechanisms")).unwrap_or_default();
            out.push_str(&format!("configuration reloaded (mechanisms: {mechs})\n"));
        }
        _ => {
            for r in records {
                out.push_str(&r.kind);
                r.fields.iter().for_each(|(k, v)| out.push_str(&format!(" {k}={v}")));
                out.push('\n');
            }
        }
    }
    out
}

/// Rows as left-aligned columns, two spaces apart.
fn table<const N: usize>(rows: impl IntoIterator<Item = [String; N]>) -> String {
    let rows: Vec<[String; N]> = rows.into_iter().collect();
    let mut widths = [0usize; N];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn cmd(words: &[&str], realm: Option<&str>) -> AdminCommand {
        AdminCommand {
            socket: PathBuf::from("/run/saslauthd/control"),
            words: words.iter().map(|w| (*w).to_owned()).collect(),
            realm: realm.map(str::to_owned),
            json: false,
            timeout: DEFAULT_ADMIN_TIMEOUT,
        }
    }

    #[test]
    fn the_control_socket_sits_beside_the_mux() {
        assert_eq!(control_socket(Path::new("/run/saslauthd/mux")), Path::new("/run/saslauthd/control"));
        assert_eq!(control_socket(Path::new("/x/control")), Path::new("/x/control"));
    }

    #[test]
    fn commands_are_checked_before_connecting() {
        assert!(request_line(&cmd(&[], None)).is_err());
        assert!(request_line(&cmd(&["nope"], None)).is_err());
        assert!(request_line(&cmd(&["forget-penalty"], None)).is_err());
        assert!(request_line(&cmd(&["stats", "x"], None)).is_err());
        assert_eq!(
            request_line(&cmd(&["flush-cache", "joe"], Some("a.org"))).unwrap(),
            b"saslauthd-control/1\tflush-cache\tjoe\ta.org\n"
        );
        assert_eq!(
            request_line(&cmd(&["flush-cache"], Some("a.org"))).unwrap(),
            b"saslauthd-control/1\tflush-cache\n"
        );
    }

    #[test]
    fn records_become_typed_json() {
        let r = Record::new("penalty")
            .with("kind", "user")
            .with("key", "12")
            .with("failures", 3)
            .with("delay_seconds", 2.5);
        assert_eq!(
            record_json(&r),
            json!({"type": "penalty", "kind": "user", "key": "12", "failures": 3, "delay_seconds": 2.5})
        );
    }
}
