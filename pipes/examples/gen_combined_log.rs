//! Writes a realistic combined-format access log for benchmarks: client addresses from
//! a few thousand, a Zipf-like spread over a few hundred URLs and ~40 real user agents
//! (so the UA cache hits as it does in production), status and size mixes.
//! Deterministic (a fixed xorshift seed).
//!
//! `cargo run --release -p treestat-pipes --example gen_combined_log -- OUT [LINES]`
//! (LINES defaults to 1000000).

use std::io::{BufWriter, Write};

const UAS: [&str; 40] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.43 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.6045.163 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.61",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/105.0.0.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    "curl/7.68.0",
    "curl/8.4.0",
    "Wget/1.21.2",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 5.1; Trident/4.0; .NET CLR 2.0.50727; 360SE)",
    "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1; Trident/4.0; .NET CLR 2.0.50727; Maxthon 2.0)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
    "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0; SE 2.X MetaSr 1.0)",
    "Mozilla/5.0 (Windows NT 5.1) AppleWebKit/535.7 (KHTML, like Gecko) Chrome/16.0.912.75 Safari/535.7",
    "Opera/9.80 (Windows NT 6.0) Presto/2.12.388 Version/12.14",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/75.0.3770.100 Safari/537.36",
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 6.1; rv:15.0) Gecko/20120716 Firefox/15.0a2",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.12; rv:50.0) Gecko/20100101 Firefox/50.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 12_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 4.4.2) baidubrowser/5.3.4.0 (Baidu; P1 4.4.2)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/55.0.2883.87 Safari/537.36 QQBrowser/9.6.1",
    "Mozilla/5.0 (compatible; Facebot 1.0; https://developers.facebook.com/docs/sharing/webmasters/crawler)",
    "Amazon CloudFront",
    "okhttp/4.12.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
    "-",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Roughly Zipf: small values much more often.
    fn skewed(&mut self, n: u64) -> u64 {
        let a = self.below(n);
        let b = self.below(a + 1);
        self.below(b + 1)
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .unwrap_or_else(|| "target/bench-combined-1m.log".to_string());
    let n: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let mut w = BufWriter::new(std::fs::File::create(&out)?);
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let pages = [
        "",
        "/index.html",
        "/api/v1/items",
        "/static/app.js",
        "/static/style.css",
    ];
    let months = ["Nov", "Dec"];
    for i in 0..n {
        let ip = format!(
            "{}.{}.{}.{}",
            [81, 89, 175, 216, 10, 192][usize::try_from(r.below(6)).unwrap_or(0)],
            r.below(256),
            r.below(16),
            r.below(256)
        );
        let url = match r.skewed(500) {
            0 => "/".to_string(),
            k if k < 5 => pages[usize::try_from(k).unwrap_or(0)].to_string(),
            k => format!("/article/{k}?ref={}", r.below(20)),
        };
        let status = match r.below(100) {
            0..=84 => 200,
            85..=91 => 304,
            92..=96 => 404,
            97 => 301,
            98 => 500,
            _ => 502,
        };
        let bytes = if status == 304 {
            0
        } else {
            200 + r.below(60_000)
        };
        let ua = UAS[usize::try_from(r.skewed(UAS.len() as u64)).unwrap_or(0)];
        let method = if r.below(20) == 0 { "POST" } else { "GET" };
        let sec = i / 100;
        writeln!(
            w,
            r#"{ip} - - [{:02}/{}/2023:{:02}:{:02}:{:02} +0000] "{method} {url} HTTP/1.1" {status} {bytes} "https://example.org/" "{ua}""#,
            1 + (sec / 86_400) % 28,
            months[usize::try_from((sec / 2_419_200) % 2).unwrap_or(0)],
            (sec / 3600) % 24,
            (sec / 60) % 60,
            sec % 60,
        )?;
    }
    w.flush()?;
    eprintln!("wrote {n} lines to {out}");
    Ok(())
}
