//! `sql_select` with Cyrus's quoted macros turned into a prepared statement and its parameters.
//!
//! Cyrus's sql plugin pastes the expanded macros between the operator's single quotes, so a
//! login holding `'` rewrites the query. Here every single-quoted string literal that contains a
//! `%` becomes one placeholder (`?` for MySQL and SQLite, `$n` for PostgreSQL) whose value is the
//! literal's expansion: `'%u@%r'` → `?` bound to `joe@example.org`. No request data ever becomes
//! SQL text. Literals without `%`, quoted names and comments are left as written; [`lex`] finds
//! them by the engine's rules. Hand-written: no crate parses this syntax.

use super::lex::{self, Engine, Kind, Token};
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
        let tokens = lex::tokens(select, engine)?;
        let bytes = select.as_bytes();
        let mut sql = String::with_capacity(select.len());
        let mut params = Vec::new();
        for (n, token) in tokens.iter().enumerate() {
            let text = &select[token.span.clone()];
            let body = &select[token.body.clone()];
            let at = token.span.start;
            match token.kind {
                Kind::Str { .. } if !body.contains('%') => sql.push_str(text),
                Kind::Str { backslash } => {
                    if at > 0 && (lex::is_word_byte(bytes[at - 1]) || bytes[at - 1] == b'&') {
                        return Err(format!(
                            "the quoted macro string at byte {at} is joined to the word before it \
                             (a prefixed string such as E'…', N'…' or _utf8'…' cannot be a parameter)"
                        ));
                    }
                    if beside_string(tokens[..n].iter().rev()) || beside_string(tokens[n + 1..].iter()) {
                        return Err(format!(
                            "the quoted macro string at byte {at} stands next to another string \
                             (MySQL joins them; write one string)"
                        ));
                    }
                    params.push(template(body, backslash)?);
                    match engine {
                        Engine::Pgsql => {
                            sql.push_str(&format!("${}", params.len()));
                            // `$1AND` or `$12` would read differently from `'%u'AND`.
                            if bytes.get(token.span.end).is_some_and(|&b| lex::is_word_byte(b)) {
                                sql.push(' ');
                            }
                        }
                        Engine::Mysql | Engine::Sqlite => sql.push('?'),
                    }
                }
                Kind::Quoted { .. } if body.contains('%') => {
                    let open = text.chars().next().unwrap_or('"');
                    return Err(format!(
                        "a macro inside {open}…{open} at byte {at} (macros go inside single quotes)"
                    ));
                }
                Kind::Quoted { .. } | Kind::Comment => sql.push_str(text),
                Kind::Char('%') => {
                    return Err(format!(
                        "macro at byte {at} is outside single quotes (write '%u', never %u: \
                         each quoted string becomes a bound parameter)"
                    ));
                }
                Kind::Char('?') if engine != Engine::Pgsql => {
                    return Err("contains `?` (placeholders are added by saslauthd)".into());
                }
                Kind::Char('$')
                    if engine == Engine::Pgsql && bytes.get(at + 1).is_some_and(u8::is_ascii_digit) =>
                {
                    return Err("contains `$n` (placeholders are added by saslauthd)".into());
                }
                // SQLite's named parameters (`:name`, `@name`, `$name`; `#name` internally).
                Kind::Char(c @ (':' | '@' | '$' | '#'))
                    if engine == Engine::Sqlite
                        && bytes.get(at + 1).is_some_and(|&b| lex::is_word_byte(b))
                        && !(c == '$' && at > 0 && lex::is_word_byte(bytes[at - 1])) =>
                {
                    return Err(format!(
                        "contains the SQLite parameter `{c}…` at byte {at} (placeholders are added by saslauthd)"
                    ));
                }
                Kind::Char(c) => sql.push(c),
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

/// Whether the first token that is neither blank nor a comment is a string value.
fn beside_string<'a>(mut tokens: impl Iterator<Item = &'a Token>) -> bool {
    tokens
        .find(|t| match t.kind {
            Kind::Char(c) => !c.is_whitespace(),
            Kind::Comment => false,
            _ => true,
        })
        .is_some_and(|t| matches!(t.kind, Kind::Str { .. } | Kind::Quoted { string: true }))
}

/// A single-quoted body holding macros → its template; `backslash` when `\` is an escape in it.
fn template(body: &str, backslash: bool) -> Result<Template, String> {
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
            '\\' if backslash => {
                // An escape means the server's settings decide what the operator meant for the
                // value (MySQL's NO_BACKSLASH_ESCAPES); rather than guess, refuse.
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
    fn comments_are_kept_and_never_expanded() {
        // A quote or a macro inside a comment is the comment's, not a string or a parameter.
        let q =
            Query::parse("SELECT p FROM t WHERE u = '%u' -- it's the old '%U' form", Engine::Pgsql).unwrap();
        assert_eq!(q.sql(), "SELECT p FROM t WHERE u = $1 -- it's the old '%U' form");
        assert_eq!(q.bind_values(&VALUES), ["joe@example.org"]);
        let q =
            Query::parse("SELECT p /* don't: '%r' */ FROM t WHERE u = '%u' # 100%", Engine::Mysql).unwrap();
        assert_eq!(q.sql(), "SELECT p /* don't: '%r' */ FROM t WHERE u = ? # 100%");
        assert_eq!(q.params.len(), 1);
        let q = Query::parse("SELECT p FROM t /* /* it's */ '%r' */ WHERE u = '%u'", Engine::Pgsql).unwrap();
        assert_eq!(q.sql(), "SELECT p FROM t /* /* it's */ '%r' */ WHERE u = $1");
        // MySQL's `--` without a space is two minus signs: the string after it is a parameter.
        let q = Query::parse("SELECT p FROM t WHERE n = 1--'%u'", Engine::Mysql).unwrap();
        assert_eq!(q.sql(), "SELECT p FROM t WHERE n = 1--?");
        // Everything quoted is in a comment: no parameter at all.
        let err = Query::parse("SELECT p FROM t -- WHERE u = '%u'", Engine::Sqlite).unwrap_err();
        assert!(err.contains("no quoted macro"), "{err}");
    }

    #[test]
    fn odd_quoting_lands_where_the_server_sees_it() {
        // Doubled quotes, MySQL backslash escapes, PostgreSQL E'' and $$ strings, SQLite [names].
        let q = Query::parse(r"SELECT p FROM t WHERE a = 'x\\' AND u = 'it''s %u'", Engine::Mysql).unwrap();
        assert_eq!(q.sql(), r"SELECT p FROM t WHERE a = 'x\\' AND u = ?");
        assert_eq!(q.bind_values(&VALUES), ["it's joe@example.org"]);
        let q = Query::parse(r"SELECT p FROM t WHERE a = E'\'' AND b = $$'$$ AND u = '%u'", Engine::Pgsql)
            .unwrap();
        assert_eq!(q.sql(), r"SELECT p FROM t WHERE a = E'\'' AND b = $$'$$ AND u = $1");
        let q = Query::parse("SELECT [it's] FROM t WHERE u = '%u'", Engine::Sqlite).unwrap();
        assert_eq!(q.sql(), "SELECT [it's] FROM t WHERE u = ?");
        // PostgreSQL: a standard string keeps its backslash; `::` casts and `?` operators stay.
        let q = Query::parse(r"SELECT p FROM t WHERE u = '\%u'::text AND j ? 'k'", Engine::Pgsql).unwrap();
        assert_eq!(q.sql(), r"SELECT p FROM t WHERE u = $1::text AND j ? 'k'");
        assert_eq!(q.bind_values(&VALUES), [r"\joe@example.org"]);
        // A word right after the string stays a separate word after `$n`.
        let q = Query::parse("SELECT p FROM t WHERE u = '%u'AND d = '%d'1", Engine::Pgsql).unwrap();
        assert_eq!(q.sql(), "SELECT p FROM t WHERE u = $1 AND d = $2 1");
    }

    #[test]
    fn odd_quoting_that_could_mislead_is_refused() {
        let err = |s, e| Query::parse(s, e).unwrap_err();
        // Prefixed strings cannot become a bare placeholder.
        assert!(err("SELECT p FROM t WHERE u = E'%u'", Engine::Pgsql).contains("joined to the word"));
        assert!(err("SELECT p FROM t WHERE u = N'%u'", Engine::Mysql).contains("joined to the word"));
        assert!(err("SELECT p FROM t WHERE u = _utf8mb4'%u'", Engine::Mysql).contains("joined"));
        assert!(err("SELECT p FROM t WHERE u = U&'%u'", Engine::Pgsql).contains("joined"));
        // MySQL joins adjacent strings: 'a' 'b' is 'ab', but `? 'b'` is a syntax error.
        assert!(err("SELECT p FROM t WHERE u = '%u' '@x'", Engine::Mysql).contains("next to another"));
        assert!(err("SELECT p FROM t WHERE u = 'x' /* c */ '%u'", Engine::Mysql).contains("next to"));
        // Macros in other quotes, in dollar quotes, SQLite named parameters.
        assert!(err("SELECT p FROM t WHERE u = $$%u$$", Engine::Pgsql).contains("macro inside $"));
        assert!(err("SELECT p FROM t WHERE u = `%u`", Engine::Mysql).contains("macro inside `"));
        assert!(err("SELECT p FROM t WHERE u = [%u]", Engine::Sqlite).contains("macro inside ["));
        assert!(err("SELECT p FROM t WHERE u = '%u' AND d = :dom", Engine::Sqlite).contains(":…"));
        assert!(err("SELECT p FROM t WHERE u = '%u' AND d = @dom", Engine::Sqlite).contains("@…"));
        assert!(err("SELECT p FROM t WHERE u = '%u' AND d = $dom", Engine::Sqlite).contains("$…"));
        assert!(Query::parse("SELECT p$1 FROM t WHERE u = '%u'", Engine::Sqlite).is_ok(), "a$ name");
        // Executable comments, and quotes the comment or string never closes.
        assert!(err("SELECT /*!50000 p */ FROM t WHERE u = '%u'", Engine::Mysql).contains("executable"));
        assert!(err("SELECT p FROM t WHERE u = '%u' /* x", Engine::Pgsql).contains("unterminated /*"));
        assert!(err("SELECT p FROM t WHERE u = 'it''%u", Engine::Pgsql).contains("unterminated '"));
        assert!(err("SELECT p FROM t WHERE u = '%u' -- x\nAND v = %r", Engine::Pgsql).contains("outside"));
    }

    #[test]
    fn debug_does_not_list_values() {
        let q = Query::parse("SELECT p FROM t WHERE u = '%u'", Engine::Mysql).unwrap();
        assert_eq!(format!("{q:?}"), "Query { sql: \"SELECT p FROM t WHERE u = ?\", params: 1 }");
    }
}
