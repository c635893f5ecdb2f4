//! Every access-log format splitting outside lines: the four presets, a custom
//! `log_format` and a `regex:` format. Checks: every span a line yields lies inside the
//! line on character boundaries (native pipes get the spans as byte offsets); and, as a
//! model, a `combined` line written from field values that hold no delimiter splits
//! back into exactly those values.
//!
//! Input: the first byte picks the format (or the model), the rest are lines.

use treestat_pipe_api::Span;
use treestat_pipes::format::Format;

const FORMATS: [&str; 7] = [
    "combined",
    "common",
    "vcombined",
    "peach",
    r#"$remote_addr [$time_local] "$request" $status $request_time $upstream_response_time "$http_x_forwarded_for" ${host}x"#,
    r"regex:^(?P<remote_addr>\S+) \S+ (?P<remote_user>\S+) \[(?P<time_local>[^\]]*)\] (?P<request>[^ ]*) (?P<status>\d{3})",
    "'$host:$server_port $request'",
];

fn check_spans(format: &Format, line: &str) {
    let mut spans = Vec::new();
    let Ok(record) = format.parse(line, &mut spans) else {
        return;
    };
    assert_eq!(record.spans().len(), format.schema().len());
    for (i, sp) in record.spans().iter().enumerate() {
        if *sp == Span::ABSENT {
            continue;
        }
        let (s, e) = (sp.start as usize, sp.end as usize);
        assert!(
            s <= e && e <= line.len(),
            "{}: field {i} span {s}..{e} of {line:?}",
            format.text()
        );
        assert!(
            line.is_char_boundary(s) && line.is_char_boundary(e),
            "{}: field {i} span {s}..{e} splits a character of {line:?}",
            format.text()
        );
        assert!(record.raw(i).is_some());
    }
    let _ = record.iter().count();
}

/// Field values for a `combined` line from the input: pieces between `\u{1}`, each
/// cleaned of what would end its field.
fn combined_model(rest: &str) {
    let mut parts = rest.split('\u{1}');
    let mut next = |bad: &[char], fallback: &str| {
        let v: String = parts
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| !bad.contains(c))
            .collect();
        let v = v.trim().to_string();
        if v.is_empty() {
            fallback.to_string()
        } else {
            v
        }
    };
    let ws = [' ', '\t', '\r', '\n', '"', '\\', ',', ':'];
    let addr = next(&ws, "1.2.3.4");
    let user = next(&ws, "-");
    let time = next(&[']', '\r', '\n'], "17/Jan/2012:17:37:26 +0800");
    let method = next(&ws, "GET");
    let uri = next(&ws, "/");
    // The protocol is only told from the uri when it looks like one.
    let proto = format!("HTTP/{}", next(&ws, "1.1"));
    let status = next(&ws, "200");
    let bytes = next(&ws, "0");
    let referer = next(&['"', '\\', '\r', '\n'], "-");
    let agent = next(&['"', '\\', '\r', '\n'], "-");
    let line = format!(
        r#"{addr} - {user} [{time}] "{method} {uri} {proto}" {status} {bytes} "{referer}" "{agent}""#
    );
    let f = Format::new("combined").unwrap();
    let mut spans = Vec::new();
    let record = f
        .parse(&line, &mut spans)
        .unwrap_or_else(|e| panic!("{line:?} refused: {e:?}"));
    for (name, want) in [
        ("remote_addr", &addr),
        ("remote_user", &user),
        ("time_local", &time),
        ("method", &method),
        ("uri", &uri),
        ("protocol", &proto),
        ("status", &status),
        ("body_bytes_sent", &bytes),
        ("http_referer", &referer),
        ("http_user_agent", &agent),
    ] {
        let i = f.schema().index(name).unwrap();
        assert_eq!(record.raw(i), Some(want.as_str()), "{name} of {line:?}");
    }
    assert_eq!(
        record.raw(f.schema().index("request").unwrap()),
        Some(format!("{method} {uri} {proto}").as_str()),
        "request of {line:?}"
    );
}

/// Checks one input; panics on a finding.
pub fn run(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let pick = usize::from(pick);
    if pick >= FORMATS.len() {
        combined_model(text);
        return;
    }
    let format = Format::new(FORMATS[pick]).unwrap();
    for line in text.split('\n') {
        check_spans(&format, line);
    }
}
