//! Splitting a SQL file into its statements, so that a schema file is sent
//! one statement at a time. Citus forwards some DDL on a distributed table
//! (`DROP POLICY` among it) to the shards as the client's query string, and
//! refuses one holding several statements ("cannot insert multiple commands
//! into a prepared statement"); plain PostgreSQL does not mind either way.
//!
//! The split follows PostgreSQL's lexer as far as a `;` can hide: in
//! single-quoted strings (`''` doubled; backslash escapes in `E'…'`),
//! quoted identifiers, dollar-quoted bodies (`$$` and `$tag$`), `--`
//! comments and nested `/* */` comments. What the files never use is
//! refused rather than guessed at: a SQL-standard function body
//! (`BEGIN ATOMIC … END`) holds bare `;`s. An unterminated quote or
//! comment is an error, never a statement cut in two.

use anyhow::bail;

/// One statement of a file: its text, without the `;`, and the line it
/// starts on (its leading comment's, if it has one), for errors.
#[derive(Debug, PartialEq, Eq)]
pub struct Statement<'a> {
    pub line: usize,
    pub text: &'a str,
}

/// The statements of `sql`, in order; the text between statements that
/// holds only comments and white space is dropped.
pub fn split(sql: &str) -> anyhow::Result<Vec<Statement<'_>>> {
    let bytes = sql.as_bytes();
    let mut statements = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        i = match bytes[i] {
            b';' => {
                push(&mut statements, sql, start, i)?;
                start = i + 1;
                i + 1
            }
            b'\'' => {
                let escapes =
                    i > 0 && bytes[i - 1].eq_ignore_ascii_case(&b'e') && !continues_word(bytes, i - 1);
                quoted(bytes, i, b'\'', escapes).ok_or_else(|| unterminated("string", sql, i))?
            }
            b'"' => quoted(bytes, i, b'"', false).ok_or_else(|| unterminated("quoted identifier", sql, i))?,
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                bytes[i..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |n| i + n + 1)
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                block_comment(bytes, i).ok_or_else(|| unterminated("comment", sql, i))?
            }
            b'$' if !continues_word(bytes, i) => match dollar_tag(bytes, i) {
                Some(tag) => {
                    let body = i + tag.len();
                    let end = find(&bytes[body..], tag)
                        .ok_or_else(|| unterminated("dollar-quoted body", sql, i))?;
                    body + end + tag.len()
                }
                None => i + 1,
            },
            _ => i + 1,
        };
    }
    push(&mut statements, sql, start, sql.len())?;
    Ok(statements)
}

/// Adds `sql[start..end]` unless it is only comments and white space.
fn push<'a>(
    statements: &mut Vec<Statement<'a>>,
    sql: &'a str,
    start: usize,
    end: usize,
) -> anyhow::Result<()> {
    let untrimmed = &sql[start..end];
    let text = untrimmed.trim();
    if is_blank(text) {
        return Ok(());
    }
    let line = line_of(sql, start + (untrimmed.len() - untrimmed.trim_start().len()));
    if mentions_atomic_body(text) {
        bail!(
            "line {line}: a SQL-standard function body (BEGIN ATOMIC) cannot be split at its semicolons; \
             write the body dollar-quoted"
        );
    }
    statements.push(Statement { line, text });
    Ok(())
}

/// Whether `text` holds nothing but comments and white space.
fn is_blank(text: &str) -> bool {
    let mut rest = text.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, tail)| tail).trim_start();
        } else if rest.starts_with("/*") {
            match block_comment(rest.as_bytes(), 0) {
                Some(end) => rest = rest[end..].trim_start(),
                None => return false,
            }
        } else {
            return rest.is_empty();
        }
    }
}

/// Whether a statement cut at a `;` may end inside `BEGIN ATOMIC`: the word
/// pair anywhere in it, quotes and comments included. The files never write
/// it, so a false alarm is loud, and a body cut in two is never silent.
fn mentions_atomic_body(statement: &str) -> bool {
    let lower = statement.to_ascii_lowercase();
    let mut words = lower.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
    let mut previous = "";
    for word in words.by_ref() {
        if previous == "begin" && word == "atomic" {
            return true;
        }
        if !word.is_empty() {
            previous = word;
        }
    }
    false
}

/// The end (one past the closing quote) of a quoted string or identifier
/// opened at `open`; a doubled quote stands for itself.
fn quoted(bytes: &[u8], open: usize, quote: u8, backslash_escapes: bool) -> Option<usize> {
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if backslash_escapes => i += 2,
            b if b == quote && bytes.get(i + 1) == Some(&quote) => i += 2,
            b if b == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The end of a `/* */` comment opened at `open`; they nest.
fn block_comment(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut i = open;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
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

/// The dollar-quote tag opened at `open` (`$$` or `$name$`), or none for a
/// `$` that opens no quote (`$1`, a parameter).
fn dollar_tag(bytes: &[u8], open: usize) -> Option<&[u8]> {
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'$' => return Some(&bytes[open..=i]),
            b if b == b'_'
                || b.is_ascii_alphabetic()
                || (i > open + 1 && b.is_ascii_digit())
                || b >= 0x80 =>
            {
                i += 1
            }
            _ => return None,
        }
    }
    None
}

/// Whether the byte before `i` belongs to a word, so that `i` continues it
/// (`a$b` is one identifier; the `e` of `table'…'` is no escape prefix).
fn continues_word(bytes: &[u8], i: usize) -> bool {
    i > 0 && matches!(bytes[i - 1], b'_' | b'$' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | 0x80..)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn line_of(sql: &str, at: usize) -> usize {
    sql[..at].matches('\n').count() + 1
}

fn unterminated(what: &str, sql: &str, at: usize) -> anyhow::Error {
    anyhow::anyhow!("unterminated {what} starting on line {}", line_of(sql, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<&str> {
        split(sql).unwrap().into_iter().map(|s| s.text).collect()
    }

    #[test]
    fn splits_at_semicolons_and_drops_what_is_only_comments() {
        let sql =
            "-- heading\ncreate table t (a int);\n\n/* note */\ninsert into t values (1) ;\n-- trailing\n";
        assert_eq!(
            split(sql).unwrap(),
            [
                Statement { line: 1, text: "-- heading\ncreate table t (a int)" },
                Statement { line: 4, text: "/* note */\ninsert into t values (1)" },
            ]
        );
    }

    #[test]
    fn a_semicolon_in_a_string_identifier_or_comment_does_not_split() {
        let sql = "select 'a;b', 'it''s;', \"odd;name\" -- c;d\n from t /* x; /* nested; */ y; */ where e = ';';\nselect 2";
        let got = texts(sql);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].ends_with("where e = ';'"));
        assert_eq!(got[1], "select 2");
    }

    #[test]
    fn escape_strings_take_backslashes_and_plain_strings_do_not() {
        assert_eq!(texts(r"select E'a\';b'; select 1"), [r"select E'a\';b'", "select 1"]);
        // standard_conforming_strings: a backslash in a plain string is itself.
        assert_eq!(texts(r"select 'a\'; select 1"), [r"select 'a\'", "select 1"]);
        // `e` ending a word is no prefix.
        assert_eq!(texts(r"select some'a\'; select 1"), [r"select some'a\'", "select 1"]);
    }

    #[test]
    fn dollar_quoted_bodies_hold_semicolons_and_other_tags() {
        let sql = "create function f() returns int language plpgsql as $function$\nbegin\n  perform 1; -- x\n  return $q$;$q$::int;\nend\n$function$;\ndo $$ begin null; end $$;";
        let got = texts(sql);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].ends_with("$function$"));
        assert_eq!(got[1], "do $$ begin null; end $$");
    }

    #[test]
    fn parameters_and_dollars_inside_words_open_no_quote() {
        assert_eq!(texts("select $1; select a$b$; select 2"), ["select $1", "select a$b$", "select 2"]);
    }

    #[test]
    fn unterminated_quotes_and_comments_are_errors_naming_the_line() {
        for (sql, what) in [
            ("select 1;\nselect 'open", "string"),
            ("select \"open", "quoted identifier"),
            ("select 1; /* open", "comment"),
            ("do $x$ begin end $y$", "dollar-quoted body"),
        ] {
            let err = split(sql).unwrap_err().to_string();
            assert!(err.contains(what), "{sql}: {err}");
        }
        assert!(split("select 1;\nselect 'open").unwrap_err().to_string().contains("line 2"));
    }

    #[test]
    fn a_standard_function_body_is_refused() {
        let err = split("create function f() returns int begin atomic select 1; end;").unwrap_err();
        assert!(err.to_string().contains("BEGIN ATOMIC"), "{err}");
    }

    #[test]
    fn every_schema_file_splits_into_statements_that_end_where_they_should() {
        for (name, sql) in super::super::migrate::SCHEMA_FILES {
            let statements = split(sql).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(statements.len() > 5, "{name}: {} statements", statements.len());
            // The statements hold the file but its separators, white space
            // and the comments after its last statement.
            let kept: usize = statements.iter().map(|s| s.text.len()).sum();
            assert!(kept * 10 > sql.len() * 9, "{name}: only {kept} of {} bytes kept", sql.len());
            for Statement { line, text } in statements {
                assert!(!text.ends_with(';'), "{name}:{line}: {text}");
                let dollars = text.matches("$function$").count();
                assert!(dollars % 2 == 0, "{name}:{line}: a body cut in two: {text}");
            }
        }
    }
}
