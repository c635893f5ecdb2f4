//! Target expressions: Graphite's grammar, as graphite-web 1.1 parses it.
//!
//! ```text
//! expr   := call | string | number | bool | path
//! call   := name "(" [ arg ( "," arg )* ] ")"
//! arg    := [ name "=" ] expr
//! string := '...' | "..."        (kept raw: a backslash only hides the quote after it)
//! path   := metric characters, globs (* ? [..] {a,b}) included
//! ```

use crate::Error;

/// A parsed target expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A path expression (`a.*.b`).
    Path(String),
    /// A function call with positional and keyword arguments.
    Call {
        /// The function's name.
        name: String,
        /// Positional arguments.
        args: Vec<Expr>,
        /// Keyword arguments, in order.
        kwargs: Vec<(String, Expr)>,
    },
    /// A quoted string (without its quotes).
    Str(String),
    /// A number, and whether it was written as an integer.
    Num(f64, bool),
    /// `true` or `false`.
    Bool(bool),
}

/// Parses one target.
///
/// # Errors
/// A 400 error saying where the text stops making sense.
pub fn parse(text: &str) -> Result<Expr, Error> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    p.ws();
    let e = p.expr()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("unexpected text"));
    }
    Ok(e)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

/// Bytes that end a path outside braces.
fn ends_path(b: u8) -> bool {
    matches!(b, b'(' | b')' | b',' | b'\'' | b'"' | b'=') || b.is_ascii_whitespace()
}

impl Parser<'_> {
    fn err(&self, what: &str) -> Error {
        Error::bad_request(format!("target {:?}: {what} at byte {}", self.text, self.i))
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn expr(&mut self) -> Result<Expr, Error> {
        match self.peek() {
            None => Err(self.err("missing expression")),
            Some(q @ (b'\'' | b'"')) => self.string(q),
            Some(_) => {
                let start = self.i;
                let word = self.word()?;
                if word.is_empty() {
                    return Err(self.err("unexpected character"));
                }
                let save = self.i;
                self.ws();
                let is_name = word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    && word.as_bytes()[0].is_ascii_alphabetic();
                if is_name && self.peek() == Some(b'(') {
                    self.i += 1;
                    return self.call(word);
                }
                self.i = save;
                if word == "true" || word == "false" {
                    return Ok(Expr::Bool(word == "true"));
                }
                if let Some(n) = number(&word) {
                    return Ok(n);
                }
                let _ = start;
                Ok(Expr::Path(word))
            }
        }
    }

    /// A run of path characters; commas inside `{}` belong to the path.
    fn word(&mut self) -> Result<String, Error> {
        let start = self.i;
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            match b {
                b'{' => depth += 1,
                b'}' => depth = depth.saturating_sub(1),
                b',' if depth > 0 => {}
                _ if ends_path(b) => break,
                _ => {}
            }
            self.i += 1;
        }
        if depth > 0 {
            return Err(self.err("unclosed '{'"));
        }
        Ok(self.text[start..self.i].to_string())
    }

    fn string(&mut self, q: u8) -> Result<Expr, Error> {
        self.i += 1;
        let start = self.i;
        while let Some(b) = self.peek() {
            if b == b'\\' {
                self.i += 2;
                continue;
            }
            if b == q {
                let s = self.text[start..self.i].to_string();
                self.i += 1;
                return Ok(Expr::Str(s));
            }
            self.i += 1;
        }
        Err(self.err("unclosed string"))
    }

    fn call(&mut self, name: String) -> Result<Expr, Error> {
        let mut args = Vec::new();
        let mut kwargs = Vec::new();
        self.ws();
        if self.peek() == Some(b')') {
            self.i += 1;
            return Ok(Expr::Call { name, args, kwargs });
        }
        loop {
            self.ws();
            // `name=value`?
            let save = self.i;
            let mut kw = None;
            while let Some(b) = self.peek() {
                if b.is_ascii_alphanumeric() || b == b'_' {
                    self.i += 1;
                } else {
                    break;
                }
            }
            if self.i > save {
                let n = self.text[save..self.i].to_string();
                self.ws();
                if self.peek() == Some(b'=') {
                    self.i += 1;
                    self.ws();
                    kw = Some(n);
                } else {
                    self.i = save;
                }
            }
            let e = self.expr()?;
            match kw {
                Some(k) => kwargs.push((k, e)),
                None if kwargs.is_empty() => args.push(e),
                None => return Err(self.err("positional argument after a keyword argument")),
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b')') => {
                    self.i += 1;
                    return Ok(Expr::Call { name, args, kwargs });
                }
                _ => return Err(self.err("expected ',' or ')'")),
            }
        }
    }
}

fn number(w: &str) -> Option<Expr> {
    let b = w.as_bytes();
    let digits = |c: &u8| c.is_ascii_digit();
    if !b.iter().any(digits) {
        return None;
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    let v: f64 = w.parse().ok()?;
    let int = b
        .iter()
        .all(|c| c.is_ascii_digit() || *c == b'-' || *c == b'+');
    Some(Expr::Num(v, int))
}

impl Expr {
    /// Every path expression inside, in order.
    pub fn paths(&self, out: &mut Vec<String>) {
        match self {
            Expr::Path(p) => out.push(p.clone()),
            Expr::Call { args, kwargs, .. } => {
                for a in args {
                    a.paths(out);
                }
                for (_, a) in kwargs {
                    a.paths(out);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: Vec<Expr>) -> Expr {
        Expr::Call {
            name: name.into(),
            args,
            kwargs: vec![],
        }
    }

    #[test]
    fn parses_nested_calls_strings_numbers_and_globs() {
        assert_eq!(
            parse("sumSeries(a.{x,y}.*, scale(b.c, -2.5), 'h(\\d)', true, 3)").unwrap(),
            call(
                "sumSeries",
                vec![
                    Expr::Path("a.{x,y}.*".into()),
                    call(
                        "scale",
                        vec![Expr::Path("b.c".into()), Expr::Num(-2.5, false)]
                    ),
                    Expr::Str("h(\\d)".into()),
                    Expr::Bool(true),
                    Expr::Num(3.0, true),
                ]
            )
        );
        let kw = parse("summarize(a.b, \"1h\", func='max')").unwrap();
        let Expr::Call { kwargs, .. } = kw else {
            panic!()
        };
        assert_eq!(kwargs, vec![("func".to_string(), Expr::Str("max".into()))]);
        assert_eq!(parse("200.count").unwrap(), Expr::Path("200.count".into()));
        assert_eq!(
            parse("cpu.10_3_1_12.idle").unwrap(),
            Expr::Path("cpu.10_3_1_12.idle".into())
        );
    }

    #[test]
    fn refuses_broken_text() {
        for t in ["sum(a", "a.{b", "f('x)", "f(a,)", "f(a b)", ""] {
            assert!(parse(t).is_err(), "{t}");
        }
    }
}
