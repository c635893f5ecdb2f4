//! Parse-only throughput per log format (criterion): lines/s of splitting into fields.
//!
//! `cargo bench -p treestat-pipes --bench parse`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use treestat_pipes::format::Format;

const COMBINED: &str = r#"85.181.35.98 - - [07/Dec/2016:11:05:07 +0100] "GET /ocelot/assets/app.js?v=12 HTTP/1.1" 200 57112 "https://example.org/ocelot" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36""#;
const COMMON: &str = r#"85.181.35.98 - frank [07/Dec/2016:11:05:07 +0100] "GET /ocelot/assets/app.js?v=12 HTTP/1.1" 200 57112"#;
const VCOMBINED: &str = r#"example.org:443 85.181.35.98 - - [07/Dec/2016:11:05:07 +0100] "GET /ocelot/assets/app.js?v=12 HTTP/1.1" 200 57112 "https://example.org/ocelot" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36""#;
const PEACH: &str = r#"[17/Jan/2012:17:37:26 +0800] 200 hdn.xnimg.cn 10.22.200.100:80 0.001 0.001 183.213.96.62 - GET /photos/x.jpg HTTP/1.1 4428 "http://www.renren.com/419816894" "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 5.1; Trident/4.0; .NET CLR 2.0.50727; 360SE)" "-""#;
const CUSTOM_FMT: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time"#;
/// `combined` as a `regex:` format, against the splitter's `combined` on the same line.
const COMBINED_RE: &str = r#"regex:^(?P<remote_addr>\S+) \S+ (?P<remote_user>\S+) \[(?P<time_local>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?P<body_bytes_sent>\d+|-) "(?P<http_referer>(?:[^"\\]|\\.)*)" "(?P<http_user_agent>(?:[^"\\]|\\.)*)""#;
const CUSTOM: &str = r#"85.181.35.98 - - [07/Dec/2016:11:05:07 +0100] "GET /ocelot HTTP/1.1" 200 571 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:49.0) Gecko/20100101 Firefox/49.0" 0.012 0.010, 0.002"#;

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    for (name, fmt, line) in [
        ("combined", "combined", COMBINED),
        ("common", "common", COMMON),
        ("vcombined", "vcombined", VCOMBINED),
        ("peach", "peach", PEACH),
        ("custom", CUSTOM_FMT, CUSTOM),
        ("regex_combined", COMBINED_RE, COMBINED),
    ] {
        let f = Format::new(fmt).expect("format compiles");
        let mut spans = Vec::new();
        assert!(f.split(line, &mut spans).is_ok(), "{name} line parses");
        g.bench_function(name, |b| {
            b.iter(|| f.split(black_box(line), &mut spans).is_ok());
        });
    }
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
