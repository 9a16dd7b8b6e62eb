//! Dovecot-style query templates turned into parameterised SQL.
//!
//! Dovecot expands `%u`, `%n`, `%d` into the query text and escapes them. tresor never puts a
//! user-supplied value into SQL text: each variable becomes a bind parameter. A quoted literal
//! that holds variables (`'%u'`, `'%n@%d'`, `'/var/vmail/%d/%n'`) becomes *one* parameter whose
//! value is the literal with the variables filled in; a bare `%u` becomes one parameter too.
//! Placeholders are `?` (SQLite, MySQL) or `$1, $2, …` (PostgreSQL).
//!
//! Variables: `%u` / `%{user}` (the whole address), `%n` / `%{username}` (local part),
//! `%d` / `%{domain}`, each optionally with Dovecot's `L` (lowercase) or `U` (uppercase)
//! modifier (`%Lu`), and `%%` for a literal `%`. `%w` (the password) is refused: tresor never
//! sends a password to the database.

use crate::Backend;

/// A parsed query template.
#[derive(Clone, Debug)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
}

/// The values the variables stand for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Vars<'a> {
    pub(crate) user: &'a str,
    pub(crate) username: &'a str,
    pub(crate) domain: &'a str,
}

impl Template {
    /// Parses `src` for `backend`; with `allow_vars` false any variable is an error (the
    /// iterate query has no user to expand).
    pub(crate) fn parse(src: &str, backend: Backend, allow_vars: bool) -> Result<Self, String> {
        let mut parser = Parser {
            chars: src.chars().peekable(),
            backend,
            allow_vars,
            pieces: Vec::new(),
            sql: String::new(),
        };
        parser.run()?;
        let mut pieces = parser.pieces;
        if !parser.sql.is_empty() {
            pieces.push(Piece::Sql(parser.sql));
        }
        if pieces
            .iter()
            .all(|p| matches!(p, Piece::Sql(s) if s.trim().is_empty()))
        {
            return Err("the query is empty".to_owned());
        }
        Ok(Self { pieces })
    }

    /// The SQL text with placeholders, and the values to bind in order.
    pub(crate) fn render(&self, backend: Backend, vars: &Vars<'_>) -> (String, Vec<String>) {
        let mut sql = String::new();
        let mut values = Vec::new();
        for piece in &self.pieces {
            match piece {
                Piece::Sql(text) => sql.push_str(text),
                Piece::Param(segs) => {
                    values.push(expand(segs, vars));
                    match backend {
                        Backend::Postgres => {
                            sql.push('$');
                            sql.push_str(&values.len().to_string());
                        }
                        Backend::MySql | Backend::Sqlite => sql.push('?'),
                    }
                }
            }
        }
        (sql, values)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    /// SQL text, copied as is.
    Sql(String),
    /// One bind parameter: text and variables concatenated.
    Param(Vec<Seg>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Text(String),
    Var(Var, Case),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Var {
    Domain,
    User,
    Username,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    Keep,
    Lower,
    Upper,
}

fn expand(segs: &[Seg], vars: &Vars<'_>) -> String {
    let mut out = String::new();
    for seg in segs {
        match seg {
            Seg::Text(text) => out.push_str(text),
            Seg::Var(var, case) => {
                let value = match var {
                    Var::Domain => vars.domain,
                    Var::User => vars.user,
                    Var::Username => vars.username,
                };
                match case {
                    Case::Keep => out.push_str(value),
                    Case::Lower => out.push_str(&value.to_ascii_lowercase()),
                    Case::Upper => out.push_str(&value.to_ascii_uppercase()),
                }
            }
        }
    }
    out
}

struct Parser<'s> {
    chars: std::iter::Peekable<std::str::Chars<'s>>,
    backend: Backend,
    allow_vars: bool,
    pieces: Vec<Piece>,
    sql: String,
}

impl Parser<'_> {
    fn run(&mut self) -> Result<(), String> {
        while let Some(c) = self.chars.next() {
            match c {
                '\'' => self.literal('\'')?,
                '"' if self.backend == Backend::MySql => self.literal('"')?,
                '"' | '`' => self.identifier(c)?,
                '-' if self.chars.peek() == Some(&'-') => self.comment_to_eol(c),
                '/' if self.chars.peek() == Some(&'*') => self.block_comment()?,
                '%' => match self.variable()? {
                    None => self.sql.push('%'),
                    Some(seg) => self.param(vec![seg]),
                },
                _ => self.sql.push(c),
            }
        }
        Ok(())
    }

    fn param(&mut self, segs: Vec<Seg>) {
        if !self.sql.is_empty() {
            self.pieces.push(Piece::Sql(std::mem::take(&mut self.sql)));
        }
        self.pieces.push(Piece::Param(segs));
    }

    /// A quoted string literal. Without variables it stays SQL text; with variables it becomes
    /// one parameter holding the literal's value.
    fn literal(&mut self, quote: char) -> Result<(), String> {
        let mut raw = String::new();
        let mut backslash = false;
        loop {
            let c = self
                .chars
                .next()
                .ok_or_else(|| format!("unterminated {quote}…{quote} string literal"))?;
            if c == quote {
                if self.chars.peek() == Some(&quote) {
                    self.chars.next();
                    raw.push(quote);
                    raw.push(quote);
                    continue;
                }
                break;
            }
            if c == '\\' && self.backend == Backend::MySql {
                backslash = true;
                raw.push(c);
                if let Some(next) = self.chars.next() {
                    raw.push(next);
                }
                continue;
            }
            raw.push(c);
        }
        let segs = self.segments(&raw)?;
        if !segs.iter().any(|s| matches!(s, Seg::Var(..))) {
            self.sql.push(quote);
            for seg in segs {
                if let Seg::Text(text) = seg {
                    self.sql.push_str(&text);
                }
            }
            self.sql.push(quote);
            return Ok(());
        }
        if backslash {
            return Err(format!(
                "a string literal with variables must not contain backslashes: {quote}{raw}{quote}"
            ));
        }
        let doubled: String = [quote, quote].iter().collect();
        let single = quote.to_string();
        let segs = segs
            .into_iter()
            .map(|seg| match seg {
                Seg::Text(text) => Seg::Text(text.replace(&doubled, &single)),
                var => var,
            })
            .collect();
        self.param(segs);
        Ok(())
    }

    /// A quoted identifier: copied, `%%` unescaped, variables refused.
    fn identifier(&mut self, quote: char) -> Result<(), String> {
        let mut raw = String::new();
        loop {
            let c = self
                .chars
                .next()
                .ok_or_else(|| format!("unterminated {quote}…{quote} identifier"))?;
            if c == quote {
                if self.chars.peek() == Some(&quote) {
                    self.chars.next();
                    raw.push(quote);
                    raw.push(quote);
                    continue;
                }
                break;
            }
            raw.push(c);
        }
        self.sql.push(quote);
        for seg in self.segments(&raw)? {
            match seg {
                Seg::Text(text) => self.sql.push_str(&text),
                Seg::Var(..) => {
                    return Err(format!(
                        "variables cannot stand inside a quoted identifier ({quote}…{quote}); \
                         use a '…' string literal"
                    ));
                }
            }
        }
        self.sql.push(quote);
        Ok(())
    }

    fn comment_to_eol(&mut self, first: char) {
        self.sql.push(first);
        for c in self.chars.by_ref() {
            self.sql.push(c);
            if c == '\n' {
                break;
            }
        }
    }

    fn block_comment(&mut self) -> Result<(), String> {
        self.sql.push('/');
        if let Some(star) = self.chars.next() {
            self.sql.push(star);
        }
        let mut prev = '\0';
        for c in self.chars.by_ref() {
            self.sql.push(c);
            if prev == '*' && c == '/' {
                return Ok(());
            }
            prev = c;
        }
        Err("unterminated /* comment".to_owned())
    }

    /// Splits literal or identifier content into text and variables.
    fn segments(&self, raw: &str) -> Result<Vec<Seg>, String> {
        let mut inner = Parser {
            chars: raw.chars().peekable(),
            backend: self.backend,
            allow_vars: self.allow_vars,
            pieces: Vec::new(),
            sql: String::new(),
        };
        let mut segs = Vec::new();
        let mut text = String::new();
        while let Some(c) = inner.chars.next() {
            if c != '%' {
                text.push(c);
                continue;
            }
            match inner.variable()? {
                None => text.push('%'),
                Some(var) => {
                    if !text.is_empty() {
                        segs.push(Seg::Text(std::mem::take(&mut text)));
                    }
                    segs.push(var);
                }
            }
        }
        if !text.is_empty() {
            segs.push(Seg::Text(text));
        }
        Ok(segs)
    }

    /// After a `%`: `None` for `%%`, else the variable.
    fn variable(&mut self) -> Result<Option<Seg>, String> {
        let mut case = Case::Keep;
        let mut c = self.chars.next();
        if c == Some('%') {
            return Ok(None);
        }
        if let Some(m @ ('L' | 'U')) = c {
            case = if m == 'L' { Case::Lower } else { Case::Upper };
            c = self.chars.next();
        }
        let name = match c {
            Some('{') => {
                let mut name = String::new();
                loop {
                    match self.chars.next() {
                        Some('}') => break,
                        Some(ch) => name.push(ch),
                        None => return Err("unterminated %{…} variable".to_owned()),
                    }
                }
                name
            }
            Some(ch) => ch.to_string(),
            None => return Err("a lone '%' at the end; write %% for a literal %".to_owned()),
        };
        let var = match name.as_str() {
            "u" | "user" => Var::User,
            "n" | "username" => Var::Username,
            "d" | "domain" => Var::Domain,
            "w" | "password" => {
                return Err(
                    "%w (the password) cannot be used: tresor never sends passwords \
                            to the database; remove it from the query"
                        .to_owned(),
                );
            }
            other => {
                return Err(format!(
                    "unknown variable %{other}; tresor knows %u, %n, %d (also as %{{user}}, \
                     %{{username}}, %{{domain}}, with L/U modifiers) and %% for a literal %"
                ));
            }
        };
        if !self.allow_vars {
            return Err("this query takes no variables (it lists all users)".to_owned());
        }
        Ok(Some(Seg::Var(var, case)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VARS: Vars<'static> = Vars {
        user: "Alice@Example.org",
        username: "Alice",
        domain: "Example.org",
    };

    fn render(src: &str, backend: Backend) -> (String, Vec<String>) {
        Template::parse(src, backend, true)
            .unwrap()
            .render(backend, &VARS)
    }

    #[test]
    fn quoted_and_bare_variables_become_parameters() {
        let q = "SELECT email AS user, password FROM virtual_users WHERE email='%u'";
        assert_eq!(
            render(q, Backend::Sqlite),
            (
                "SELECT email AS user, password FROM virtual_users WHERE email=?".to_owned(),
                vec!["Alice@Example.org".to_owned()]
            )
        );
        let q = "SELECT 1 FROM t WHERE a = %u AND b = '%Ln' AND c = %Ud";
        assert_eq!(
            render(q, Backend::Postgres),
            (
                "SELECT 1 FROM t WHERE a = $1 AND b = $2 AND c = $3".to_owned(),
                vec![
                    "Alice@Example.org".to_owned(),
                    "alice".to_owned(),
                    "EXAMPLE.ORG".to_owned()
                ]
            )
        );
    }

    #[test]
    fn a_literal_with_text_and_variables_is_one_parameter() {
        let q =
            "SELECT '/var/vmail/%d/%n' AS home, 'it''s' AS x FROM t WHERE email = '%n@%{domain}'";
        let (sql, values) = render(q, Backend::MySql);
        assert_eq!(sql, "SELECT ? AS home, 'it''s' AS x FROM t WHERE email = ?");
        assert_eq!(
            values,
            ["/var/vmail/Example.org/Alice", "Alice@Example.org"]
        );
        // Doubled quotes inside a parameterised literal are unescaped in the value.
        let (sql, values) = render("SELECT 1 WHERE a = 'O''%n'", Backend::Sqlite);
        assert_eq!(sql, "SELECT 1 WHERE a = ?");
        assert_eq!(values, ["O'Alice"]);
    }

    #[test]
    fn percent_escapes_comments_and_identifiers() {
        let (sql, values) = render(
            "SELECT \"quota%%\" FROM t -- %u stays\nWHERE a LIKE 'x%%' AND b = 5 %% 2 /* %d */",
            Backend::Postgres,
        );
        assert_eq!(
            sql,
            "SELECT \"quota%\" FROM t -- %u stays\nWHERE a LIKE 'x%' AND b = 5 % 2 /* %d */"
        );
        assert!(values.is_empty());
        // MySQL: "…" is a string literal, and backslash escapes are honoured when scanning.
        let (sql, values) = render(r#"SELECT 'a\'b' WHERE e = "%u""#, Backend::MySql);
        assert_eq!(sql, r"SELECT 'a\'b' WHERE e = ?");
        assert_eq!(values, ["Alice@Example.org"]);
    }

    #[test]
    fn refuses_what_it_cannot_translate_safely() {
        for (q, backend, needle) in [
            ("SELECT '%w' AS pw", Backend::Sqlite, "%w"),
            ("SELECT %{password}", Backend::Sqlite, "%w"),
            ("SELECT '%r'", Backend::Sqlite, "unknown variable %r"),
            ("SELECT 'x", Backend::Sqlite, "unterminated"),
            ("SELECT \"%u\"", Backend::Postgres, "identifier"),
            ("SELECT `%u`", Backend::MySql, "identifier"),
            ("SELECT 'a\\n%u'", Backend::MySql, "backslash"),
            ("SELECT %", Backend::Sqlite, "lone"),
            ("SELECT %{user", Backend::Sqlite, "unterminated"),
            ("  ", Backend::Sqlite, "empty"),
        ] {
            let err = Template::parse(q, backend, true).unwrap_err();
            assert!(err.contains(needle), "{q}: {err}");
        }
        let err = Template::parse("SELECT email FROM t WHERE d='%d'", Backend::Sqlite, false)
            .unwrap_err();
        assert!(err.contains("no variables"), "{err}");
    }

    #[test]
    fn injection_text_only_ever_lands_in_values() {
        let evil = Vars {
            user: "x' OR '1'='1",
            username: "x' OR '1'='1",
            domain: "'; DROP TABLE virtual_users; --",
        };
        let t = Template::parse(
            "SELECT 1 FROM t WHERE e='%u' AND d=%d",
            Backend::Sqlite,
            true,
        )
        .unwrap();
        let (sql, values) = t.render(Backend::Sqlite, &evil);
        assert_eq!(sql, "SELECT 1 FROM t WHERE e=? AND d=?");
        assert_eq!(values, [evil.user, evil.domain]);
    }
}
