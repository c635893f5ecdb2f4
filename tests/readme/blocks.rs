//! The README's ```sh blocks read into commands ([`steps`]), and the comparison of a
//! command's output with the README's ([`matches`]); the walk in `tests/readme.rs`
//! runs them.

/// One command of a ```sh block.
#[derive(Debug)]
pub(super) struct Step {
    /// The README line it starts on (1-based).
    pub(super) line: usize,
    /// The command as printed, without its comment (lines of a quoted string that
    /// spans lines joined by `\n`).
    pub(super) command: String,
    /// Its trailing comment, without `#`.
    pub(super) comment: Option<String>,
    /// The full-line comments printed under it, without `#`.
    pub(super) below: Vec<String>,
}

impl Step {
    /// The output the README shows for it, if a comment is its output.
    pub(super) fn expected(&self) -> Option<String> {
        match self.comment.as_deref() {
            Some(c) if c.starts_with('[') || c.starts_with('{') => Some(c.to_string()),
            Some(c) if !c.ends_with(':') => None,
            _ if self.below.is_empty() => None,
            _ => Some(self.below.join("\n")),
        }
    }
}

/// Quote state of the shell text scanned so far.
#[derive(Clone, Copy, Default, PartialEq)]
enum Quote {
    #[default]
    None,
    Single,
    Double,
}

/// Scans `line` from quote state `q`: the code part, the comment (a `#` that starts a
/// word outside quotes) and the quote state at the end of the code.
fn scan(line: &str, mut q: Quote) -> (&str, Option<&str>, Quote) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match q {
            Quote::Single if c == b'\'' => q = Quote::None,
            Quote::Single => {}
            Quote::Double if c == b'\\' => i += 1,
            Quote::Double if c == b'"' => q = Quote::None,
            Quote::Double => {}
            Quote::None => match c {
                b'\\' => i += 1,
                b'\'' => q = Quote::Single,
                b'"' => q = Quote::Double,
                b'#' if i == 0 || bytes[i - 1].is_ascii_whitespace() => {
                    return (&line[..i], Some(line[i + 1..].trim()), q);
                }
                _ => {}
            },
        }
        i += 1;
    }
    (line, None, q)
}

/// Every command of the README's ```sh blocks, in order.
pub(super) fn steps(readme: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut in_sh = false;
    // A command still open: inside a quoted string or after a trailing backslash.
    let mut open: Option<(Step, Quote)> = None;
    for (n, line) in readme.lines().enumerate() {
        if !in_sh {
            in_sh = line.trim() == "```sh";
            continue;
        }
        if line.trim() == "```" {
            assert!(
                open.is_none(),
                "README.md:{}: a ```sh block ends inside a command",
                n + 1
            );
            in_sh = false;
            continue;
        }
        let (mut step, q) = match open.take() {
            Some((mut s, q)) => {
                s.command.push('\n');
                (s, q)
            }
            None => {
                let t = line.trim_start();
                if t.is_empty() {
                    continue;
                }
                if let Some(c) = t.strip_prefix('#') {
                    let last = steps.last_mut().expect("a comment before any command");
                    last.below.push(c.trim().to_string());
                    continue;
                }
                let step = Step {
                    line: n + 1,
                    command: String::new(),
                    comment: None,
                    below: Vec::new(),
                };
                (step, Quote::None)
            }
        };
        let (code, comment, q) = scan(line, q);
        step.command.push_str(code.trim_end());
        step.comment = comment.map(str::to_string);
        let continued = q == Quote::None && step.command.ends_with('\\');
        if q != Quote::None || continued {
            if continued {
                step.command.pop();
            }
            open = Some((step, q));
        } else {
            step.command = step.command.trim().to_string();
            steps.push(step);
        }
    }
    steps
}

/// `text` matches `pattern`, where `...` stands for any text and runs of white space
/// compare equal.
pub(super) fn matches(pattern: &str, text: &str) -> bool {
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let (pattern, text) = (norm(pattern), norm(text));
    let pieces: Vec<&str> = pattern.split("...").collect();
    let (first, last) = (pieces[0], pieces[pieces.len() - 1]);
    if pieces.len() == 1 {
        return text == pattern;
    }
    if !text.starts_with(first) {
        return false;
    }
    let mut at = first.len();
    for piece in &pieces[1..pieces.len() - 1] {
        match text[at..].find(piece) {
            Some(i) => at += i + piece.len(),
            None => return false,
        }
    }
    text.len() - last.len() >= at && text.ends_with(last)
}

#[test]
fn the_parser_reads_commands_comments_and_outputs() {
    let s = steps(
        "x\n```sh\na 'b\n# c' d   # e f\n\nmore \\\n  args\nrep\n# out: 1,\n#   2\nnc x   # it answers:\n# --OK\n```\n",
    );
    assert_eq!(s.len(), 4);
    assert_eq!(s[0].command, "a 'b\n# c' d");
    assert_eq!(s[0].comment.as_deref(), Some("e f"));
    assert_eq!(s[0].expected(), None);
    assert_eq!(s[1].command, "more \n  args");
    assert_eq!(s[2].expected().as_deref(), Some("out: 1,\n2"));
    assert_eq!(s[3].expected().as_deref(), Some("--OK"));
    assert!(matches("[[1],...]", "[[1], [2],[3]]"));
    assert!(matches("a ... b ... c", "a x b y  c"));
    assert!(!matches("a ... b", "a x c"));
    assert!(!matches("ab...ba", "aba"));
}
