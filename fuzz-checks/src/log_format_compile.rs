//! The nginx `log_format` compiler and the `regex:` format (`Format::new` on a pipe's
//! configured format text), then the compiled format splitting lines. Checks: no panic
//! on any format text; a compiled format names each field once; every span of every
//! line it splits lies inside the line on character boundaries.
//!
//! Input: the first line is the format text, the rest are log lines.

use treestat_pipe_api::Span;
use treestat_pipes::format::Format;

/// Checks one input; panics on a finding.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (format_text, lines) = text.split_once('\n').unwrap_or((text, ""));
    // Big regexes only measure the regex crate's compile time.
    if format_text.len() > 512 {
        return;
    }
    let Ok(format) = Format::new(format_text) else {
        return;
    };
    let names = format.schema().names();
    for (i, n) in names.iter().enumerate() {
        assert!(
            !names[..i].contains(n),
            "{format_text:?}: field {n:?} twice"
        );
    }
    let mut spans = Vec::new();
    for line in lines.split('\n') {
        let Ok(record) = format.parse(line, &mut spans) else {
            continue;
        };
        for (i, sp) in record.spans().iter().enumerate() {
            if *sp == Span::ABSENT {
                continue;
            }
            let (s, e) = (sp.start as usize, sp.end as usize);
            assert!(
                s <= e && e <= line.len(),
                "{format_text:?}: field {i} {s}..{e} of {line:?}"
            );
            assert!(
                line.is_char_boundary(s) && line.is_char_boundary(e),
                "{format_text:?}: field {i} {s}..{e} splits a character of {line:?}"
            );
        }
        let _ = record.iter().count();
    }
}
