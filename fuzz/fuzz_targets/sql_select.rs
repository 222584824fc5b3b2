//! Fuzz target: rewriting `sql_select` into a prepared statement (`backends::sql::query`).
//!
//! Input: one byte choosing the engine, then the `sql_select` text. Every accepted query is
//! checked against a model written from the module's documentation: quoted strings end at an
//! undoubled quote (MySQL: a backslash also escapes the next character, except inside backticks);
//! each single-quoted string holding a `%` becomes one placeholder (`?`, or `$n` for PostgreSQL)
//! bound to its expansion; everything else is kept byte for byte. So no `%` survives into the
//! statement, and request values only ever reach the bound parameters.
#![no_main]

use backends::sql::lex::Engine;
use backends::sql::query::{MacroValues, Query};
use libfuzzer_sys::fuzz_target;

/// Values with SQL and macro syntax in them: they must come out verbatim in the parameters.
const VALUES: [MacroValues<'static>; 2] = [
    MacroValues { login: "jo'e%u\\@ex'--.org@x", realm: "re%%alm'", service: "smtp?" },
    MacroValues { login: "bob", realm: "", service: "$1" },
];

/// The byte just past the quoted string opening at `open` (None: unterminated).
fn string_end(s: &str, open: usize, engine: Engine) -> Option<usize> {
    let quote = s[open..].chars().next()?;
    let backslash_escapes = engine == Engine::Mysql && quote != '`';
    let mut chars = s[open + 1..].char_indices().map(|(i, c)| (open + 1 + i, c)).peekable();
    while let Some((i, c)) = chars.next() {
        if backslash_escapes && c == '\\' {
            chars.next();
        } else if c == quote {
            if chars.peek().is_some_and(|&(_, n)| n == quote) {
                chars.next();
            } else {
                return Some(i + 1);
            }
        }
    }
    None
}

/// The bound value of a single-quoted body holding macros.
fn expand(body: &str, v: &MacroValues<'_>) -> String {
    let (user, domain) = v.login.split_once('@').unwrap_or((v.login, ""));
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => match chars.next() {
                Some('%') => out.push('%'),
                Some('u') => out.push_str(v.login),
                Some('U') => out.push_str(user),
                Some('d') => out.push_str(domain),
                Some('r') => out.push_str(v.realm),
                Some('s') => out.push_str(v.service),
                other => panic!("accepted an unknown macro {other:?} in {body:?}"),
            },
            '\'' => {
                assert_eq!(chars.next(), Some('\''), "a lone quote inside {body:?}");
                out.push('\'');
            }
            _ => out.push(c),
        }
    }
    out
}

/// The statement and the bodies of the strings that become parameters.
fn model(select: &str, engine: Engine) -> (String, Vec<&str>) {
    let mut sql = String::new();
    let mut params = Vec::new();
    let mut at = 0;
    while let Some(c) = select[at..].chars().next() {
        if matches!(c, '\'' | '"' | '`') {
            let end = string_end(select, at, engine).expect("accepted an unterminated string");
            let body = &select[at + 1..end - 1];
            if c == '\'' && body.contains('%') {
                params.push(body);
                match engine {
                    Engine::Pgsql => {
                        sql.push_str(&format!("${}", params.len()));
                        // `'%u'AND` must not become `$1AND`: a word character right after the
                        // placeholder is set off by a space.
                        let next = select.as_bytes().get(end).copied();
                        if next
                            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80)
                        {
                            sql.push(' ');
                        }
                    }
                    Engine::Mysql | Engine::Sqlite => sql.push('?'),
                }
            } else {
                sql.push_str(&select[at..end]);
            }
            at = end;
        } else {
            sql.push(c);
            at += c.len_utf8();
        }
    }
    (sql, params)
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let Ok(select) = std::str::from_utf8(rest) else { return };
    let engine = [Engine::Mysql, Engine::Pgsql, Engine::Sqlite][usize::from(which % 3)];
    let Ok(query) = Query::parse(select, engine) else { return };
    // The model knows plain '…' and "…" quoting only: comments, backslash escapes, dollar quoting,
    // backticks and bracketed names differ per engine and are the lexer's unit tests' business. Here those inputs must only parse without panic
    // and bind the same number of values for any request.
    if select.contains(['\\', '#', '$', '[', '/', '-', '`']) {
        let count = query.bind_values(&VALUES[0]).len();
        assert!(VALUES.iter().all(|v| query.bind_values(v).len() == count));
        return;
    }
    let (sql, params) = model(select, engine);
    assert_eq!(query.sql(), sql);
    assert!(!params.is_empty(), "accepted a query without parameters");
    assert!(!sql.contains('%'), "a macro left in the statement: {sql:?}");
    for values in &VALUES {
        let expected: Vec<String> = params.iter().map(|body| expand(body, values)).collect();
        assert_eq!(query.bind_values(values), expected);
    }
});
