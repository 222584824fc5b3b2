//! `sql_select` with Cyrus's quoted macros turned into a prepared statement and its parameters.
//!
//! Cyrus's sql plugin pastes the expanded macros between the operator's single quotes, so a
//! login holding `'` rewrites the query. Here every single-quoted string literal that contains a
//! `%` becomes one placeholder (`?` for MySQL and SQLite, `$n` for PostgreSQL) whose value is the
//! literal's expansion: `'%u@%r'` → `?` bound to `joe@example.org`. No request data ever becomes
//! SQL text. Literals without `%` are left as written. Hand-written: no crate parses this syntax.

use super::config::Engine;
use std::fmt;

/// A macro inside a quoted literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Macro {
    /// `%u`: the login as received.
    Login,
    /// `%U`: the login up to the first `@`.
    UserPart,
    /// `%d`: the login after the first `@`, empty if it has none.
    Domain,
    /// `%r`: the request's realm, or `sql_default_realm` when it is empty.
    Realm,
    /// `%s`: the service.
    Service,
}

/// One piece of a quoted literal.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Macro(Macro),
}

/// A quoted literal that becomes one bound parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// What the macros expand to for one request.
#[derive(Debug, Clone, Copy)]
pub struct MacroValues<'a> {
    /// The login.
    pub login: &'a str,
    /// The realm (already defaulted).
    pub realm: &'a str,
    /// The service.
    pub service: &'a str,
}

impl Template {
    /// The parameter's value for one request.
    pub fn expand(&self, values: &MacroValues<'_>) -> String {
        let (user, domain) = values.login.split_once('@').unwrap_or((values.login, ""));
        let mut out = String::new();
        for piece in &self.pieces {
            out.push_str(match piece {
                Piece::Text(text) => text,
                Piece::Macro(Macro::Login) => values.login,
                Piece::Macro(Macro::UserPart) => user,
                Piece::Macro(Macro::Domain) => domain,
                Piece::Macro(Macro::Realm) => values.realm,
                Piece::Macro(Macro::Service) => values.service,
            });
        }
        out
    }
}

/// A parsed `sql_select`: SQL text with placeholders, and one template per placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Query {
    sql: String,
    params: Vec<Template>,
}

impl fmt::Debug for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Query").field("sql", &self.sql).field("params", &self.params.len()).finish()
    }
}

impl Query {
    /// Parse `select` for `engine`; the error says what is wrong, for `ConfFile::bad_value`.
    pub fn parse(select: &str, engine: Engine) -> Result<Query, String> {
        let mut sql = String::with_capacity(select.len());
        let mut params = Vec::new();
        let mut chars = select.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '\'' => {
                    let (body, end) = literal(select, at, '\'', engine)?;
                    // Skip what `literal` consumed.
                    while chars.peek().is_some_and(|&(i, _)| i < end) {
                        chars.next();
                    }
                    if body.contains('%') {
                        params.push(template(body, engine)?);
                        match engine {
                            Engine::Pgsql => sql.push_str(&format!("${}", params.len())),
                            Engine::Mysql | Engine::Sqlite => sql.push('?'),
                        }
                    } else {
                        sql.push_str(&select[at..end]);
                    }
                }
                '"' | '`' => {
                    let (body, end) = literal(select, at, c, engine)?;
                    if body.contains('%') {
                        return Err(format!("a macro inside {c}…{c} (macros go inside single quotes)"));
                    }
                    while chars.peek().is_some_and(|&(i, _)| i < end) {
                        chars.next();
                    }
                    sql.push_str(&select[at..end]);
                }
                '%' => {
                    return Err(format!(
                        "macro at byte {at} is outside single quotes (write '%u', never %u: \
                         each quoted string becomes a bound parameter)"
                    ));
                }
                '?' => return Err("contains `?` (placeholders are added by saslauthd)".into()),
                '$' if engine == Engine::Pgsql && chars.peek().is_some_and(|&(_, n)| n.is_ascii_digit()) => {
                    return Err("contains `$n` (placeholders are added by saslauthd)".into());
                }
                _ => sql.push(c),
            }
        }
        if params.is_empty() {
            return Err("has no quoted macro such as '%u' (every login would get the same row)".into());
        }
        Ok(Query { sql, params })
    }

    /// The statement to prepare.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The parameter values for one request, in placeholder order.
    pub fn bind_values(&self, values: &MacroValues<'_>) -> Vec<String> {
        self.params.iter().map(|t| t.expand(values)).collect()
    }
}

/// The quoted literal opening at byte `open`: its raw body and the byte just past its closing
/// quote. A doubled quote is part of the body; in MySQL a backslash also escapes the next char.
fn literal(select: &str, open: usize, quote: char, engine: Engine) -> Result<(&str, usize), String> {
    let body_start = open + quote.len_utf8();
    let bytes = select.as_bytes();
    let q = quote as u8;
    let mut i = body_start;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' && engine == Engine::Mysql && quote != '`' {
            i += 2;
        } else if b == q {
            if bytes.get(i + 1) == Some(&q) {
                i += 2;
            } else {
                return Ok((&select[body_start..i], i + 1));
            }
        } else {
            i += 1;
        }
    }
    Err(format!("unterminated {quote}…{quote} string"))
}

/// A single-quoted body holding macros → its template.
fn template(body: &str, engine: Engine) -> Result<Template, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => {
                let m = match chars.next() {
                    Some('%') => {
                        text.push('%');
                        continue;
                    }
                    Some('u') => Macro::Login,
                    Some('U') => Macro::UserPart,
                    Some('d') => Macro::Domain,
                    Some('r') => Macro::Realm,
                    Some('s') => Macro::Service,
                    Some(other) => {
                        return Err(format!("unknown macro %{other} (known: %u %U %d %r %s, and %% for %)"));
                    }
                    None => return Err("a lone % at the end of a quoted string (write %% for %)".into()),
                };
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Macro(m));
            }
            '\'' => {
                // Only a doubled quote can be inside the body.
                chars.next();
                text.push('\'');
            }
            '\\' if engine == Engine::Mysql => {
                // MySQL reads `\x` as an escape and the other engines do not; rather than guess
                // what the operator meant for a bound value, refuse.
                return Err("a backslash inside a quoted macro string".into());
            }
            _ => text.push(c),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(Template { pieces })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const VALUES: MacroValues<'static> =
        MacroValues { login: "joe@example.org", realm: "realm.test", service: "smtp" };

    #[test]
    fn cyrus_example_becomes_one_parameter() {
        let q = Query::parse(
            "SELECT password FROM mailbox WHERE username = '%u@%r' AND active = 1",
            Engine::Mysql,
        )
        .unwrap();
        assert_eq!(q.sql(), "SELECT password FROM mailbox WHERE username = ? AND active = 1");
        assert_eq!(q.bind_values(&VALUES), ["joe@example.org@realm.test"]);
    }

    #[test]
    fn pgsql_numbers_its_placeholders() {
        let q =
            Query::parse("SELECT p FROM t WHERE u = '%U' AND d = '%d' AND s = 'x'", Engine::Pgsql).unwrap();
        assert_eq!(q.sql(), "SELECT p FROM t WHERE u = $1 AND d = $2 AND s = 'x'");
        assert_eq!(q.bind_values(&VALUES), ["joe", "example.org"]);
    }

    #[test]
    fn every_macro_expands() {
        let q = Query::parse("SELECT '%u|%U|%d|%r|%s|%%|it''s'", Engine::Sqlite).unwrap();
        assert_eq!(q.sql(), "SELECT ?");
        assert_eq!(q.bind_values(&VALUES), ["joe@example.org|joe|example.org|realm.test|smtp|%|it's"]);
        let no_domain = MacroValues { login: "joe", ..VALUES };
        assert_eq!(q.bind_values(&no_domain), ["joe|joe||realm.test|smtp|%|it's"]);
    }

    #[test]
    fn injection_stays_in_the_value() {
        let q = Query::parse("SELECT p FROM t WHERE u = '%u'", Engine::Mysql).unwrap();
        let evil = MacroValues { login: "x' OR '1'='1", ..VALUES };
        assert_eq!(q.sql(), "SELECT p FROM t WHERE u = ?");
        assert_eq!(q.bind_values(&evil), ["x' OR '1'='1"]);
    }

    #[test]
    fn literals_without_macros_and_escapes_are_kept() {
        let q =
            Query::parse(r"SELECT p FROM `t` WHERE a = 'it\'s ''x''' AND u = '%u'", Engine::Mysql).unwrap();
        assert_eq!(q.sql(), r"SELECT p FROM `t` WHERE a = 'it\'s ''x''' AND u = ?");
        let q = Query::parse(r#"SELECT "p" FROM t WHERE a = 'c:\' AND u = '%u'"#, Engine::Pgsql).unwrap();
        assert_eq!(q.sql(), r#"SELECT "p" FROM t WHERE a = 'c:\' AND u = $1"#);
    }

    #[test]
    fn refuses_what_could_splice_or_mislead() {
        let err = |s, e| Query::parse(s, e).unwrap_err();
        assert!(err("SELECT p FROM t WHERE u = %u", Engine::Mysql).contains("outside single quotes"));
        assert!(err("SELECT p FROM t WHERE u = \"%u\"", Engine::Sqlite).contains("single quotes"));
        assert!(err("SELECT p FROM t WHERE u = '%x'", Engine::Mysql).contains("unknown macro %x"));
        assert!(err("SELECT p FROM t WHERE u = '%u%'", Engine::Mysql).contains("lone %"));
        assert!(err("SELECT p FROM t WHERE u = '%u", Engine::Mysql).contains("unterminated"));
        assert!(err("SELECT p FROM t WHERE u = ?", Engine::Mysql).contains('?'));
        assert!(err("SELECT p FROM t WHERE u = $1", Engine::Pgsql).contains("$n"));
        assert!(err("SELECT p FROM t", Engine::Mysql).contains("no quoted macro"));
        assert!(err(r"SELECT p FROM t WHERE u = '\%u'", Engine::Mysql).contains("backslash"));
    }

    #[test]
    fn debug_does_not_list_values() {
        let q = Query::parse("SELECT p FROM t WHERE u = '%u'", Engine::Mysql).unwrap();
        assert_eq!(format!("{q:?}"), "Query { sql: \"SELECT p FROM t WHERE u = ?\", params: 1 }");
    }
}
