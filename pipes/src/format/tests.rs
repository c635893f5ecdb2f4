//! Unit tests of format compilation and splitting.

use super::*;

const PEACH_LINE: &str = r#"[17/Jan/2012:17:37:26 +0800] 200 hdn.xnimg.cn 10.22.200.100:80 0.001 0.001 183.213.96.62 - GET /photos/x.jpg HTTP/1.1 4428 "http://www.renren.com/419816894" "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 5.1; Trident/4.0; .NET CLR 2.0.50727; 360SE)" "-""#;

fn fields(f: &Format, line: &str) -> Vec<(String, String)> {
    let mut spans = Vec::new();
    let r = f.parse(line, &mut spans).expect("line parses");
    r.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn get(f: &Format, line: &str, name: &str) -> Option<String> {
    let mut spans = Vec::new();
    let r = f.parse(line, &mut spans).expect("line parses");
    r.by_name(name).map(str::to_string)
}

#[test]
fn peach_splits_all_fifteen_fields() {
    let f = Format::new("peach").unwrap();
    let got = fields(&f, PEACH_LINE);
    let want = [
        ("time_local", "17/Jan/2012:17:37:26 +0800"),
        ("status", "200"),
        ("host", "hdn.xnimg.cn"),
        ("upstream_addr", "10.22.200.100:80"),
        ("upstream_response_time", "0.001"),
        ("request_time", "0.001"),
        ("remote_addr", "183.213.96.62"),
        ("request", "GET /photos/x.jpg HTTP/1.1"),
        ("bytes_sent", "4428"),
        ("http_referer", "http://www.renren.com/419816894"),
        (
            "http_user_agent",
            "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 5.1; Trident/4.0; .NET CLR 2.0.50727; 360SE)",
        ),
        ("method", "GET"),
        ("uri", "/photos/x.jpg"),
        ("protocol", "HTTP/1.1"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn peach_keeps_upstream_lists_whole() {
    let f = Format::new("peach").unwrap();
    let line = r#"[17/Jan/2012:17:37:26 +0800] 502 h 10.0.0.1:80, 10.0.0.2:80 : 10.0.0.3:80 0.000, 1.000 : 0.500 1.600 1.2.3.4 - POST /x HTTP/1.0 10 "-" "ua" "-""#;
    assert_eq!(
        get(&f, line, "upstream_addr").as_deref(),
        Some("10.0.0.1:80, 10.0.0.2:80 : 10.0.0.3:80")
    );
    let t = get(&f, line, "upstream_response_time").unwrap();
    assert_eq!(t, "0.000, 1.000 : 0.500");
    assert_eq!(sum_times(&t), Some(1.5));
    assert_eq!(get(&f, line, "method").as_deref(), Some("POST"));
    assert_eq!(sum_times("-"), None);
}

#[test]
fn combined_handles_forwarded_lists_ipv6_and_empty_requests() {
    let f = Format::new("combined").unwrap();
    let l1 = r#"10.0.0.2, 10.0.0.1, 127.0.0.1 - - [07/Dec/2016:11:05:07 +0100] "GET /ocelot HTTP/1.1" 200 571 "-" "Mozilla/5.0""#;
    assert_eq!(
        get(&f, l1, "remote_addr").as_deref(),
        Some("10.0.0.2, 10.0.0.1, 127.0.0.1")
    );
    let l2 = r#"127.0.0.1 - - [12/Apr/2018:09:48:40 +0200] "" 400 0 "-" "-""#;
    assert_eq!(get(&f, l2, "method"), None);
    assert_eq!(get(&f, l2, "status").as_deref(), Some("400"));
    assert_eq!(get(&f, l2, "http_user_agent"), None);
    let l3 = r#"2001:db8::1 - - [23/Mar/2018:12:31:05 +0000] "GET /index.html HTTP/1.1" 304 - "https://x/" "libcurl" "extra""#;
    assert_eq!(get(&f, l3, "body_bytes_sent"), None);
    assert_eq!(get(&f, l3, "remote_addr").as_deref(), Some("2001:db8::1"));
}

#[test]
fn escaped_quotes_stay_inside_a_quoted_field() {
    let f = Format::new("combined").unwrap();
    let l = r#"1.2.3.4 - - [x] "GET /a\"b HTTP/1.1" 200 1 "-" "say \"hi\"""#;
    assert_eq!(get(&f, l, "uri").as_deref(), Some(r#"/a\"b"#));
    assert_eq!(
        get(&f, l, "http_user_agent").as_deref(),
        Some(r#"say \"hi\""#)
    );
}

#[test]
fn bad_lines_are_reported_not_panicked() {
    let f = Format::new("peach").unwrap();
    let mut spans = Vec::new();
    for l in ["this is not a log line", "", "[", "[x] 200", "\"\"\"\""] {
        assert!(f.parse(l, &mut spans).is_err(), "{l:?}");
    }
    let long = "x".repeat(MAX_LINE + 1);
    assert_eq!(f.split(&long, &mut spans), Err(BadLine::TooLong));
    let c = Format::new("combined").unwrap();
    assert!(
        c.parse(r#"1.2.3.4 - - [x] "GET / HTTP/1.1"#, &mut spans)
            .is_err()
    );
}

#[test]
fn custom_formats_compile_and_bad_ones_are_refused() {
    let f = Format::new(
        r#"'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent $request_time_us "$http_referer" "$http_user_agent"'"#,
    )
    .unwrap();
    assert_eq!(f.name(), "custom");
    let l = r#"192.168.74.9 - - [04/Apr/2018:10:29:11 +0000] "GET /docs/ HTTP/1.1" 200 1880 8680 "-" "Mozilla/5.0""#;
    assert_eq!(get(&f, l, "request_time_us").as_deref(), Some("8680"));
    let utf8 = Format::new("$a «» $b").unwrap();
    assert_eq!(get(&utf8, "x «» y", "b").as_deref(), Some("y"));
    let braces = Format::new("${host}:$server_port").unwrap();
    assert_eq!(get(&braces, "a:80", "server_port").as_deref(), Some("80"));
    for bad in ["nothing", "$a$b", "$a $a", "x $ y", "${open"] {
        let e = Format::new(bad).unwrap_err();
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn vcombined_reads_the_virtual_host() {
    let f = Format::new("vcombined").unwrap();
    let l = r#"example.org:443 1.2.3.4 - bob [x] "GET / HTTP/2.0" 200 5 "-" "curl/8""#;
    assert_eq!(get(&f, l, "host").as_deref(), Some("example.org"));
    assert_eq!(get(&f, l, "remote_user").as_deref(), Some("bob"));
    assert_eq!(get(&f, l, "protocol").as_deref(), Some("HTTP/2.0"));
}

mod prop {
    use super::super::Format;
    use proptest::prelude::*;

    proptest! {
        /// No line, however broken, panics the splitter, and every span it reports
        /// lies inside the line on character boundaries.
        #[test]
        fn any_line_splits_or_is_refused(line in "[ -~\\t\"\\[\\]éü,]{0,200}") {
            for name in ["combined", "common", "vcombined", "peach"] {
                let f = Format::new(name).unwrap();
                let mut spans = Vec::new();
                if let Ok(r) = f.parse(&line, &mut spans) {
                    for i in 0..f.schema().len() {
                        let _ = r.raw(i);
                    }
                    for sp in r.spans() {
                        if sp.start != u32::MAX {
                            prop_assert!(line.get(sp.start as usize..sp.end as usize).is_some());
                        }
                    }
                }
            }
        }

        /// Lines built from the combined format with arbitrary field values parse back.
        #[test]
        fn combined_round_trips(
            ip in "[0-9a-f.:]{1,39}",
            uri in "/[a-zA-Z0-9/._?=&%-]{0,60}",
            status in 100u16..600,
            ua in "[ -!#-\\[\\]-~]{1,80}",
        ) {
            let line = format!(
                r#"{ip} - - [10/Oct/2000:13:55:36 -0700] "GET {uri} HTTP/1.1" {status} 10 "-" "{ua}""#
            );
            let f = Format::new("combined").unwrap();
            let mut spans = Vec::new();
            let r = f.parse(&line, &mut spans).unwrap();
            prop_assert_eq!(r.by_name("uri"), Some(uri.as_str()));
            let status_text = status.to_string();
            prop_assert_eq!(r.by_name("status"), Some(status_text.as_str()));
            prop_assert_eq!(r.raw(f.schema().index("http_user_agent").unwrap()), Some(ua.as_str()));
        }
    }
}
