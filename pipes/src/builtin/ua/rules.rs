//! The built-in user-agent rules: no data file, a few substring scans per new UA string.
//!
//! They cover what access logs mostly hold (IE, Edge, Chrome, Firefox, Safari, Opera,
//! the Chinese shells the original knew, common bots and tools) and report versions as
//! `major.minor`. For the long tail, configure a uap-core `regexes.yaml` instead.

/// What the rules found in one UA string. Versions are `major.minor` or `unknown`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Browser family and version.
    pub browser: (String, String),
    /// OS family and version.
    pub os: (String, String),
    /// Rendering engine (`webkit`, `blink`, `gecko`, `trident`, `presto`, `edgehtml`).
    pub engine: Option<(String, String)>,
    /// A browser shell around another engine (Maxthon, 360SE, ...).
    pub vendor: Option<(String, String)>,
}

/// Version text when a UA names none.
pub const UNKNOWN: &str = "unknown";

/// `major.minor` from the digits at the start of `s` (`16.0.912.75` -> `16.0`,
/// `50` -> `50.0`, `15.0a2` -> `15.0`); `None` if `s` does not start with a digit.
pub fn major_minor(s: &str) -> Option<String> {
    let digits = |t: &str| t.bytes().take_while(u8::is_ascii_digit).count();
    let n = digits(s);
    if n == 0 {
        return None;
    }
    let major = &s[..n];
    let rest = &s[n..];
    let minor = match rest.strip_prefix(['.', '_']) {
        Some(r) if digits(r) > 0 => &r[..digits(r)],
        _ => "0",
    };
    Some(format!("{major}.{minor}"))
}

/// The version right after `token` (`Chrome/` -> `16.0`), if `token` occurs.
fn after(ua: &str, token: &str) -> Option<String> {
    let i = ua.find(token)?;
    Some(major_minor(&ua[i + token.len()..]).unwrap_or_else(|| UNKNOWN.to_string()))
}

fn pair(family: &str, version: Option<String>) -> (String, String) {
    (
        family.to_string(),
        version.unwrap_or_else(|| UNKNOWN.to_string()),
    )
}

fn vendor(ua: &str) -> Option<(String, String)> {
    if let Some(i) = ua.find("Maxthon") {
        let v = major_minor(ua[i + 7..].trim_start_matches([' ', '/']));
        return Some(pair("Maxthon", v));
    }
    if let Some(v) = after(ua, "TencentTraveler") {
        return Some(pair("TencentTraveler", Some(v)));
    }
    if ua.contains("MetaSr") {
        return Some(pair("Sogou", after(ua, "MetaSr ")));
    }
    if let Some(i) = ua.to_ascii_lowercase().find("baidubrowser") {
        let rest = ua.get(i + 12..).unwrap_or("").trim_start_matches('/');
        return Some(pair("baidubrowser", major_minor(rest)));
    }
    if ua.contains("360SE") {
        return Some(pair("360SE", None));
    }
    if ua.contains("360EE") {
        return Some(pair("360EE", None));
    }
    None
}

fn bot(ua: &str) -> Option<(String, String)> {
    let lower = ua.to_ascii_lowercase();
    let k = ["bot", "spider", "crawler"]
        .iter()
        .filter_map(|w| lower.find(w).map(|i| i + w.len()))
        .min()?;
    // The bot's name is the word holding the match: back to a separator.
    let start = ua[..k]
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let name = &ua[start..k];
    let version = ua[k..].strip_prefix(['/', ' ']).and_then(major_minor);
    Some(pair(if name.is_empty() { "Bot" } else { name }, version))
}

fn browser(ua: &str) -> (String, String) {
    if let Some(v) = ["Edg/", "Edge/", "EdgA/", "EdgiOS/"]
        .iter()
        .find_map(|t| after(ua, t))
    {
        return pair("Edge", Some(v));
    }
    if let Some(v) = after(ua, "OPR/") {
        return pair("Opera", Some(v));
    }
    if ua.contains("Opera") {
        let v = after(ua, "Version/")
            .or_else(|| after(ua, "Opera/"))
            .or_else(|| after(ua, "Opera "));
        return pair("Opera", v);
    }
    if let Some(v) = after(ua, "MSIE ") {
        return pair("IE", Some(v));
    }
    if ua.contains("Trident/") && ua.contains("rv:") {
        return pair("IE", after(ua, "rv:"));
    }
    if let Some(b) = bot(ua) {
        return b;
    }
    if let Some(v) = after(ua, "Firefox/").or_else(|| after(ua, "FxiOS/")) {
        return pair("Firefox", Some(v));
    }
    if let Some(v) = after(ua, "Chromium/") {
        return pair("Chromium", Some(v));
    }
    if let Some(v) = after(ua, "Chrome/").or_else(|| after(ua, "CriOS/")) {
        return pair("Chrome", Some(v));
    }
    if ua.contains("Safari/") {
        let family = if ua.contains("Mobile") {
            "Mobile Safari"
        } else {
            "Safari"
        };
        return pair(family, after(ua, "Version/"));
    }
    for tool in [
        "curl/",
        "Wget/",
        "python-requests/",
        "Go-http-client/",
        "okhttp/",
    ] {
        if let Some(v) = after(ua, tool) {
            return pair(&tool[..tool.len() - 1], Some(v));
        }
    }
    if ua.starts_with("libcurl") {
        return pair("libcurl", None);
    }
    pair("Other", None)
}

fn windows(nt: &str) -> &'static str {
    match nt {
        "10.0" => "10",
        "6.3" => "8.1",
        "6.2" => "8",
        "6.1" => "7",
        "6.0" => "Vista",
        "5.2" | "5.1" => "XP",
        "5.0" => "2000",
        _ => UNKNOWN,
    }
}

fn os(ua: &str) -> (String, String) {
    if let Some(v) = after(ua, "Windows Phone ") {
        return pair("Windows Phone", Some(v));
    }
    if let Some(v) = after(ua, "Windows NT ") {
        return pair("Windows", Some(windows(&v).to_string()));
    }
    if ua.contains("Windows 98") || ua.contains("Win98") {
        return pair("Windows", Some("98".into()));
    }
    if ua.contains("Windows") {
        return pair("Windows", None);
    }
    if let Some(v) = after(ua, "Android ") {
        return pair("Android", Some(v));
    }
    if ua.contains("Android") {
        return pair("Android", None);
    }
    if ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod") {
        return pair("iOS", after(ua, " OS "));
    }
    if let Some(v) = after(ua, "Mac OS X ") {
        return pair("Mac OS X", Some(v));
    }
    if ua.contains("Macintosh") {
        return pair("Mac OS X", None);
    }
    if ua.contains("CrOS") {
        return pair("Chrome OS", None);
    }
    if ua.contains("Linux") {
        return pair("Linux", None);
    }
    if ua.contains("FreeBSD") {
        return pair("FreeBSD", None);
    }
    pair("Other", None)
}

fn engine(ua: &str, browser: &(String, String)) -> Option<(String, String)> {
    if let Some(v) = after(ua, "Trident/") {
        return Some(pair("trident", Some(v)));
    }
    if ua.contains("MSIE ") {
        return Some(pair("trident", None));
    }
    if let Some(v) = after(ua, "Presto/") {
        return Some(pair("presto", Some(v)));
    }
    if let Some(v) = after(ua, "Edge/") {
        return Some(pair("edgehtml", Some(v)));
    }
    if let Some(v) = after(ua, "AppleWebKit/") {
        // Chrome 28 and everything built on it since render with Blink.
        let chrome_major = ua
            .find("Chrome/")
            .and_then(|i| ua[i + 7..].split('.').next()?.parse::<u32>().ok());
        return Some(match chrome_major {
            Some(m) if m >= 28 => pair("blink", Some(format!("{m}.0"))),
            _ if browser.0 == "Opera" || browser.0 == "Edge" => pair("blink", None),
            _ => pair("webkit", Some(v)),
        });
    }
    if ua.contains("Gecko/") && !ua.contains("like Gecko") {
        return Some(pair("gecko", after(ua, "rv:")));
    }
    None
}

/// Applies the built-in rules to one UA string.
pub fn parse(ua: &str) -> Parsed {
    let browser = browser(ua);
    let engine = engine(ua, &browser);
    Parsed {
        os: os(ua),
        vendor: vendor(ua),
        engine,
        browser,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(family: &str, v: &str) -> (String, String) {
        (family.to_string(), v.to_string())
    }

    #[test]
    fn the_originals_user_agents() {
        let a = parse(
            "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 5.1; Trident/4.0; .NET CLR 2.0.50727; 360SE)",
        );
        assert_eq!(a.browser, p("IE", "8.0"));
        assert_eq!(a.os, p("Windows", "XP"));
        assert_eq!(a.engine, Some(p("trident", "4.0")));
        assert_eq!(a.vendor, Some(p("360SE", UNKNOWN)));
        let b = parse(
            "Mozilla/5.0 (Windows NT 5.1) AppleWebKit/535.7 (KHTML, like Gecko) Chrome/16.0.912.75 Safari/535.7",
        );
        assert_eq!(b.browser, p("Chrome", "16.0"));
        assert_eq!(b.engine, Some(p("webkit", "535.7")));
        assert_eq!(b.vendor, None);
        let c = parse(
            "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1; Trident/4.0; .NET CLR 2.0.50727; Maxthon 2.0)",
        );
        assert_eq!(c.browser, p("IE", "7.0"));
        assert_eq!(c.vendor, Some(p("Maxthon", "2.0")));
    }

    #[test]
    fn modern_browsers_engines_and_oses() {
        let chrome = parse(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36",
        );
        assert_eq!(chrome.browser, p("Chrome", "70.0"));
        assert_eq!(chrome.os, p("Mac OS X", "10.14"));
        assert_eq!(chrome.engine, Some(p("blink", "70.0")));
        let ff = parse("Mozilla/5.0 (Windows NT 6.1; rv:15.0) Gecko/20120716 Firefox/15.0a2");
        assert_eq!(ff.browser, p("Firefox", "15.0"));
        assert_eq!(ff.os, p("Windows", "7"));
        assert_eq!(ff.engine, Some(p("gecko", "15.0")));
        let ie11 = parse("Mozilla/5.0 (Windows NT 10.0; Trident/7.0; rv:11.0) like Gecko");
        assert_eq!(ie11.browser, p("IE", "11.0"));
        let edge = parse(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
        );
        assert_eq!(edge.browser, p("Edge", "120.0"));
        let ios = parse(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 12_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.0 Mobile/15E148 Safari/604.1",
        );
        assert_eq!(ios.browser, p("Mobile Safari", "12.0"));
        assert_eq!(ios.os, p("iOS", "12.1"));
        assert_eq!(ios.engine, Some(p("webkit", "605.1")));
        let opera = parse("Opera/9.80 (Windows NT 6.0) Presto/2.12.388 Version/12.14");
        assert_eq!(opera.browser, p("Opera", "12.14"));
        assert_eq!(opera.engine, Some(p("presto", "2.12")));
        let sogou = parse(
            "Mozilla/5.0 (Windows NT 6.1) AppleWebKit/535.1 (KHTML, like Gecko) Chrome/14.0.835.163 Safari/535.1 SE 2.X MetaSr 1.0",
        );
        assert_eq!(sogou.vendor, Some(p("Sogou", "1.0")));
        let baidu =
            parse("Mozilla/5.0 (Linux; Android 4.4.2) baidubrowser/5.3.4.0 (Baidu; P1 4.4.2)");
        assert_eq!(baidu.vendor, Some(p("baidubrowser", "5.3")));
        assert_eq!(baidu.os, p("Android", "4.4"));
    }

    #[test]
    fn bots_tools_and_nonsense() {
        let g = parse("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)");
        assert_eq!(g.browser, p("Googlebot", "2.1"));
        let f = parse(
            "Mozilla/5.0 (compatible; Facebot 1.0; https://developers.facebook.com/docs/sharing/webmasters/crawler)",
        );
        assert_eq!(f.browser, p("Facebot", "1.0"));
        assert_eq!(parse("curl/7.68.0").browser, p("curl", "7.68"));
        assert_eq!(parse("libcurl").browser, p("libcurl", UNKNOWN));
        let junk = parse("\u{1}\u{2}é,,");
        assert_eq!(parse("éébot").browser, p("bot", UNKNOWN));
        assert_eq!(
            parse("x baidubrowser").vendor,
            Some(p("baidubrowser", UNKNOWN))
        );
        assert_eq!(junk.browser, p("Other", UNKNOWN));
        assert_eq!(junk.engine, None);
        assert_eq!(major_minor("x"), None);
        assert_eq!(major_minor("7"), Some("7.0".into()));
    }
}
