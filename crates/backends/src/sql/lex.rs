//! Where the operator's `sql_select` has strings, quoted identifiers and comments, by each
//! engine's own lexical rules.
//!
//! [`super::query`] turns a single-quoted string holding macros into a bound parameter; that is
//! only sound if it finds exactly the strings the server will find. A `'` inside a comment, a
//! MySQL `\'`, a PostgreSQL `E'…'` or `$$…$$` string or a SQLite `[…]` name would otherwise
//! shift what is quoted and what is SQL. Constructs whose meaning depends on the server's state
//! rather than on the text (MySQL's executable `/*! … */` comments) are refused.

use std::ops::Range;

/// The database engine (`sql_engine`): whose lexical rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// MySQL or MariaDB.
    Mysql,
    /// PostgreSQL.
    Pgsql,
    /// SQLite (`sql_database` is the file).
    Sqlite,
}

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A `'…'` string; `backslash` when `\` escapes the next character in it (MySQL, and
    /// PostgreSQL's `E'…'`).
    Str {
        /// Whether `\` is an escape character inside.
        backslash: bool,
    },
    /// Any other quoted text: `"…"`, `` `…` ``, `[…]`, `$tag$…$tag$`. Copied as written.
    Quoted {
        /// Whether the server reads it as a string value (MySQL `"…"`, PostgreSQL `$$…$$`)
        /// rather than a name.
        string: bool,
    },
    /// `-- …`, `# …` (MySQL) or `/* … */`. Copied as written; the server ignores it.
    Comment,
    /// One character of plain SQL.
    Char(char),
}

/// A token and where it is in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub kind: Kind,
    /// Its bytes in the text, quotes and comment markers included.
    pub span: Range<usize>,
    /// For quoted kinds, the bytes between the delimiters.
    pub body: Range<usize>,
}

/// Split `sql` into tokens as `engine` would; the error says what is wrong.
pub fn tokens(sql: &str, engine: Engine) -> Result<Vec<Token>, String> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let next = b.get(i + 1).copied();
        let (kind, body, end) = match b[i] {
            b'\'' => {
                let backslash = match engine {
                    Engine::Mysql => true,
                    // `E'…'`, unless the E ends a longer word (`LIKE'…'` is LIKE then a string).
                    Engine::Pgsql => {
                        i >= 1 && matches!(b[i - 1], b'e' | b'E') && (i < 2 || !is_word_byte(b[i - 2]))
                    }
                    Engine::Sqlite => false,
                };
                let end = quoted_end(b, i + 1, b'\'', backslash).ok_or("unterminated '…' string")?;
                (Kind::Str { backslash }, i + 1..end - 1, end)
            }
            b'"' => {
                let backslash = engine == Engine::Mysql;
                let end = quoted_end(b, i + 1, b'"', backslash).ok_or("unterminated \"…\" string")?;
                (Kind::Quoted { string: engine == Engine::Mysql }, i + 1..end - 1, end)
            }
            b'`' if engine != Engine::Pgsql => {
                let end = quoted_end(b, i + 1, b'`', false).ok_or("unterminated `…` name")?;
                (Kind::Quoted { string: false }, i + 1..end - 1, end)
            }
            b'[' if engine == Engine::Sqlite => {
                let close = find(b, i + 1, b"]").ok_or("unterminated […] name")?;
                (Kind::Quoted { string: false }, i + 1..close, close + 1)
            }
            b'-' if next == Some(b'-') && dashes_comment(b, i, engine) => {
                let end = find(b, i, b"\n").unwrap_or(b.len());
                (Kind::Comment, i..end, end)
            }
            b'#' if engine == Engine::Mysql => {
                let end = find(b, i, b"\n").unwrap_or(b.len());
                (Kind::Comment, i..end, end)
            }
            b'/' if next == Some(b'*') => {
                if engine == Engine::Mysql && (b[i + 2..].starts_with(b"!") || b[i + 2..].starts_with(b"M!"))
                {
                    return Err("contains a MySQL executable comment /*! … */ (its text is SQL the \
                                server may or may not run)"
                        .into());
                }
                let end =
                    block_comment_end(b, i, engine == Engine::Pgsql).ok_or("unterminated /* comment")?;
                (Kind::Comment, i..end, end)
            }
            b'$' if engine == Engine::Pgsql && (i == 0 || !is_word_byte(b[i - 1])) => {
                match dollar_tag(b, i) {
                    Some(tag_len) => {
                        let tag = &b[i..i + tag_len];
                        let close = find(b, i + tag_len, tag).ok_or("unterminated $$…$$ string")?;
                        (Kind::Quoted { string: true }, i + tag_len..close, close + tag_len)
                    }
                    None => (Kind::Char('$'), i..i, i + 1),
                }
            }
            _ => {
                // Multi-byte characters are plain SQL text (identifiers, operators are ASCII).
                let c = sql[i..].chars().next().ok_or("not at a character boundary")?;
                (Kind::Char(c), i..i, i + c.len_utf8())
            }
        };
        i = end;
        out.push(Token { kind, span: start..end, body });
    }
    Ok(out)
}

/// Whether a byte can be part of a word (identifier or keyword) in the engines' lexers.
pub fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// The byte just past the closing `quote` of a body starting at `from`: a doubled quote is part
/// of the body, and with `backslash` so is the character after a `\`.
fn quoted_end(b: &[u8], from: usize, quote: u8, backslash: bool) -> Option<usize> {
    let mut i = from;
    while i < b.len() {
        if backslash && b[i] == b'\\' {
            i += 2;
        } else if b[i] == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return Some(i + 1);
            }
        } else {
            i += 1;
        }
    }
    None
}

/// Whether the `--` at `at` opens a comment: always in PostgreSQL and SQLite; in MySQL only when
/// a space or control character (or the end) follows, else `1--1` would be a comment.
fn dashes_comment(b: &[u8], at: usize, engine: Engine) -> bool {
    engine != Engine::Mysql || b.get(at + 2).is_none_or(|&c| c <= b' ' || c == 0x7f)
}

/// The byte just past the `*/` closing the comment opened at `at`; PostgreSQL nests them.
fn block_comment_end(b: &[u8], at: usize, nested: bool) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = at;
    while i + 1 < b.len() {
        match (b[i], b[i + 1]) {
            (b'/', b'*') if depth == 0 || nested => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// The length of a PostgreSQL dollar-quote delimiter (`$$`, `$tag$`) starting at `at`.
fn dollar_tag(b: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    if b.get(i).is_some_and(|c| c.is_ascii_digit()) {
        return None;
    }
    while let Some(&c) = b.get(i) {
        if c == b'$' {
            return Some(i + 1 - at);
        }
        if c == b'_' || c.is_ascii_alphanumeric() || c >= 0x80 {
            i += 1;
        } else {
            return None;
        }
    }
    None
}

/// The first `needle` at or after `from`.
fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// The tokens other than single characters, as (kind, text).
    fn quoted(sql: &str, engine: Engine) -> Vec<(Kind, &str)> {
        tokens(sql, engine)
            .unwrap()
            .into_iter()
            .filter(|t| !matches!(t.kind, Kind::Char(_)))
            .map(|t| (t.kind, &sql[t.span]))
            .collect()
    }

    const STR: Kind = Kind::Str { backslash: false };
    const ESC: Kind = Kind::Str { backslash: true };
    const NAME: Kind = Kind::Quoted { string: false };

    #[test]
    fn strings_with_doubled_quotes_and_backslashes() {
        assert_eq!(quoted("a = 'it''s' OR b = ''", Engine::Sqlite), [(STR, "'it''s'"), (STR, "''")]);
        assert_eq!(
            quoted(r"a = 'it\'s' OR b = 'c:\\'", Engine::Mysql),
            [(ESC, r"'it\'s'"), (ESC, r"'c:\\'")]
        );
        assert_eq!(
            quoted(r"a = 'c:\' OR b = E'\'' OR c = LIKE'x'", Engine::Pgsql),
            [(STR, r"'c:\'"), (ESC, r"'\''"), (STR, "'x'")]
        );
    }

    #[test]
    fn names_per_engine() {
        assert_eq!(
            quoted(r#"SELECT "a""b", `c`, [d'e] FROM t"#, Engine::Sqlite),
            [(NAME, r#""a""b""#), (NAME, "`c`"), (NAME, "[d'e]")]
        );
        assert_eq!(
            quoted(r#"SELECT "a\"b" FROM t"#, Engine::Mysql),
            [(Kind::Quoted { string: true }, r#""a\"b""#)]
        );
        // `[` is array syntax in PostgreSQL, not a quote.
        assert_eq!(quoted("SELECT a[1] FROM t WHERE b = 'x'", Engine::Pgsql), [(STR, "'x'")]);
    }

    #[test]
    fn comments_per_engine() {
        assert_eq!(quoted("SELECT 1 -- it's\nFROM t", Engine::Pgsql), [(Kind::Comment, "-- it's")]);
        assert_eq!(quoted("SELECT 1 -- it's", Engine::Mysql), [(Kind::Comment, "-- it's")]);
        // MySQL: `--` needs a space after it, else it is two minus signs.
        assert_eq!(quoted("SELECT 1--'x'", Engine::Mysql), [(ESC, "'x'")]);
        assert_eq!(quoted("SELECT 1--'x'", Engine::Sqlite), [(Kind::Comment, "--'x'")]);
        assert_eq!(quoted("SELECT 1 # it's", Engine::Mysql), [(Kind::Comment, "# it's")]);
        assert_eq!(quoted("SELECT 1 # 'x'", Engine::Pgsql), [(STR, "'x'")]);
        assert_eq!(quoted("a /* it's */ 'x'", Engine::Sqlite), [(Kind::Comment, "/* it's */"), (STR, "'x'")]);
        // PostgreSQL nests block comments; the others end at the first `*/`.
        assert_eq!(
            quoted("/* /* */ 'x' */ 'y'", Engine::Pgsql),
            [(Kind::Comment, "/* /* */ 'x' */"), (STR, "'y'")]
        );
        assert_eq!(quoted("/* /* */ 'x'", Engine::Mysql), [(Kind::Comment, "/* /* */"), (ESC, "'x'")]);
        assert_eq!(quoted("/*+ hint */ 'x'", Engine::Mysql)[0], (Kind::Comment, "/*+ hint */"));
    }

    #[test]
    fn postgres_dollar_quotes() {
        let dq = Kind::Quoted { string: true };
        assert_eq!(
            quoted("a = $$it's$$ AND b = $q$x$$y$q$ AND c = 'z'", Engine::Pgsql),
            [(dq, "$$it's$$"), (dq, "$q$x$$y$q$"), (STR, "'z'")]
        );
        // `$` inside a word, or before a digit, is not a quote.
        assert_eq!(quoted("a$b$ = 'x'", Engine::Pgsql), [(STR, "'x'")]);
        assert!(quoted("a = $1", Engine::Pgsql).is_empty());
    }

    #[test]
    fn refuses_what_it_cannot_place() {
        let err = |s, e| tokens(s, e).unwrap_err();
        assert!(err("a = 'x", Engine::Sqlite).contains("unterminated '"));
        assert!(err(r"a = 'x\'", Engine::Mysql).contains("unterminated '"));
        assert!(err("a = \"x", Engine::Pgsql).contains("unterminated \""));
        assert!(err("a = `x", Engine::Mysql).contains("unterminated `"));
        assert!(err("a = [x", Engine::Sqlite).contains("unterminated ["));
        assert!(err("a /* x", Engine::Sqlite).contains("unterminated /*"));
        assert!(err("/* /* */ 'x'", Engine::Pgsql).contains("unterminated /*"));
        assert!(err("a = $$x", Engine::Pgsql).contains("unterminated $$"));
        assert!(err("SELECT /*! 'x' */ 1", Engine::Mysql).contains("executable comment"));
        assert!(err("SELECT /*M!100000 'x' */ 1", Engine::Mysql).contains("executable comment"));
    }

    #[test]
    fn spans_cover_the_text() {
        let sql = "SELECT \"p\" /* c */ FROM t WHERE u = 'é' -- end";
        for engine in [Engine::Mysql, Engine::Pgsql, Engine::Sqlite] {
            let toks = tokens(sql, engine).unwrap();
            let joined: String = toks.iter().map(|t| &sql[t.span.clone()]).collect();
            assert_eq!(joined, sql);
        }
    }
}
