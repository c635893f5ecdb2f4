//! `treestat report`'s HTML page in real Chromium (issue 19, acceptance 2): opened from
//! a `file://` address it draws every panel, its tables sort and filter, it fits a
//! 360 px phone, it switches theme, and it makes no request at all (every request
//! the tab makes is recorded through the DevTools `Network.requestWillBeSent` events;
//! a control page with one remote image shows that such a request would be seen).
//! Screenshots go to `target/screenshots/report-*.png`.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::cdp::Chrome;

const PATIENCE: Duration = Duration::from_secs(60);

/// The panels' section ids, the general statistics first.
const SECTIONS: [&str; 15] = [
    "general",
    "visitors",
    "timeline",
    "urls",
    "not_found",
    "ips",
    "os",
    "browsers",
    "hour_of_day",
    "hosts",
    "referrers",
    "referring_sites",
    "status",
    "geo",
    "response_time",
];

/// A small log in the `$request_time` format (so the response-time panel fills): 3,000
/// lines over two days, 60 URLs with skewed hits (404s among them), 5 user agents.
fn write_log(path: &Path) {
    let uas = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
        "curl/8.4.0",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    ];
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0u64..3000 {
        let sec = i * 57;
        // Skewed towards small numbers, so URLs differ in hits.
        let k = ((i * 7919) % 60).min((i * 104_729) % 61);
        let status = if k < 4 { 404 } else { 200 };
        writeln!(
            w,
            r#"10.0.{}.{} - - [{:02}/Nov/2023:{:02}:{:02}:{:02} +0000] "GET /p/{k} HTTP/1.1" {status} {} "https://ref{}.example/" "{}" {}.{:03}"#,
            i % 7,
            i % 50,
            1 + sec / 86_400,
            sec / 3600 % 24,
            sec / 60 % 60,
            sec % 60,
            100 + i % 900,
            i % 3,
            uas[usize::try_from(i % 5).unwrap()],
            i % 2,
            (i * 37) % 1000,
        )
        .unwrap();
    }
}

fn make_report(dir: &Path) -> Result<std::path::PathBuf, String> {
    let log = dir.join("access.log");
    write_log(&log);
    let out = dir.join("report.html");
    let format = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time"#;
    let run = Command::new(env!("CARGO_BIN_EXE_treestat"))
        .args(["report", "--format", format, "-o"])
        .arg(&out)
        .arg(&log)
        .output()
        .map_err(|e| format!("treestat report: {e}"))?;
    if !run.status.success() {
        return Err(format!(
            "treestat report failed: {}",
            String::from_utf8_lossy(&run.stderr)
        ));
    }
    Ok(out)
}

async fn eval_json(tab: &crate::cdp::Tab, js: &str) -> Result<Value, String> {
    tab.eval(js).await
}

/// Every panel, sorting, filtering, theme, phone width, and no request.
pub async fn report_page(chrome: &Chrome, shots: &Path) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = make_report(dir.path())?;
    let url = format!("file://{}", file.display());
    let size = std::fs::metadata(&file).map_err(|e| e.to_string())?.len();

    // Control: a page with a remote image is seen asking for it.
    let control = dir.path().join("control.html");
    std::fs::write(&control, r#"<img src="http://127.0.0.1:9/pixel.png">"#)
        .map_err(|e| e.to_string())?;
    let ctl = chrome
        .page(&format!("file://{}", control.display()), 400, 300)
        .await?;
    ctl.wait_for(
        "document.images[0] && document.images[0].complete",
        "the control image to fail",
        PATIENCE,
    )
    .await?;
    let seen = chrome.requests.lock().await.clone();
    if !seen.iter().any(|u| u.starts_with("http://127.0.0.1:9/")) {
        return Err(format!(
            "the control page's request was not recorded: {seen:?}"
        ));
    }
    chrome.requests.lock().await.clear();

    let tab = chrome.page(&url, 1400, 900).await?;
    tab.wait_for(
        "document.body.dataset.ready === '1'",
        "the report to draw",
        PATIENCE,
    )
    .await?;
    let ids = eval_json(
        &tab,
        "[...document.querySelectorAll('main section')].map(s => s.id)",
    )
    .await?;
    for id in SECTIONS {
        let want = format!("panel-{id}");
        if !ids
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == want.as_str()))
        {
            return Err(format!("panel {id} missing; sections: {ids}"));
        }
    }
    // With $request_time, $http_referer and times every panel but hosts and geo has data.
    let off = eval_json(
        &tab,
        "[...document.querySelectorAll('main section[data-available=false]')].map(s => s.id)",
    )
    .await?;
    if off != serde_json::json!(["panel-hosts", "panel-geo"]) {
        return Err(format!("panels without data: {off}"));
    }
    let svgs = eval_json(&tab, "document.querySelectorAll('main svg').length").await?;
    if svgs.as_u64().unwrap_or(0) < 10 {
        return Err(format!("only {svgs} charts"));
    }
    let valid = eval_json(
        &tab,
        "document.querySelector('[data-stat=\"Valid requests\"] b').textContent",
    )
    .await?;
    if valid != "3,000" {
        return Err(format!("valid requests shown as {valid}"));
    }
    // Nothing in the page points elsewhere (the CSP would block it; it must not be there).
    let refs = eval_json(
        &tab,
        "[...document.querySelectorAll('[src],[href]')].map(e => e.getAttribute('src') || e.getAttribute('href')).filter(u => !u.startsWith('#') && !u.startsWith('data:'))",
    )
    .await?;
    if refs != serde_json::json!([]) {
        return Err(format!("the page references {refs}"));
    }
    tab.screenshot(shots, "report-1400").await?;

    // Sorting: Hits descending first, a click makes it ascending.
    let hits = "[...document.querySelectorAll('#panel-urls tbody tr')].map(r => Number(r.children[1].textContent.replace(/,/g, '')))";
    let before = eval_json(&tab, hits).await?;
    tab.eval("document.querySelector('#panel-urls th[data-col=hits]').click()")
        .await?;
    let after = eval_json(&tab, hits).await?;
    let sorted = |v: &Value, asc: bool| {
        let n: Vec<f64> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_f64)
            .collect();
        n.len() > 1
            && n.windows(2)
                .all(|w| if asc { w[0] <= w[1] } else { w[0] >= w[1] })
    };
    if !sorted(&before, false) || !sorted(&after, true) || before == after {
        return Err(format!("sorting by hits: {before} then {after}"));
    }
    // Filtering keeps matching rows only.
    let keys = tab
        .eval(
            "(() => { const i = document.querySelector('#panel-urls input'); i.value = '/p/3'; \
             i.dispatchEvent(new Event('input')); \
             return [...document.querySelectorAll('#panel-urls tbody tr')].map(r => r.children[0].textContent); })()",
        )
        .await?;
    let want = tab
        .eval(
            "JSON.parse(document.getElementById('report-data').textContent).panels\
             .find(p => p.id === 'urls').rows.map(r => r.key).filter(k => k.includes('/p/3'))",
        )
        .await?;
    let want: Vec<String> = want
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    if want.is_empty() {
        return Err("no URL holds /p/3".into());
    }
    let mut got: Vec<String> = keys
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    got.sort();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    if got != want_sorted {
        return Err(format!("filter /p/3 kept {got:?}"));
    }
    // The other theme.
    let theme = tab
        .eval("document.getElementById('theme').click(); document.documentElement.dataset.theme")
        .await?;
    if theme != "dark" && theme != "light" {
        return Err(format!("theme button set {theme}"));
    }
    let bg = tab
        .eval("getComputedStyle(document.body).backgroundColor")
        .await?;
    tab.screenshot(
        shots,
        &format!("report-1400-{}", theme.as_str().unwrap_or("x")),
    )
    .await?;

    // A phone: no sideways scrolling of the page.
    let phone = chrome.page(&url, 360, 740).await?;
    phone
        .wait_for(
            "document.body.dataset.ready === '1'",
            "the report on a phone",
            PATIENCE,
        )
        .await?;
    let width = phone.eval("document.documentElement.scrollWidth").await?;
    if width.as_u64().unwrap_or(u64::MAX) > 360 {
        return Err(format!("the page is {width} px wide on a 360 px phone"));
    }
    phone.screenshot(shots, "report-360").await?;

    let urls = chrome.requests.lock().await.clone();
    let foreign: Vec<&String> = urls
        .iter()
        .filter(|u| **u != url && !u.starts_with("data:"))
        .collect();
    if urls.is_empty() || !foreign.is_empty() {
        return Err(format!(
            "requests besides the file itself: {foreign:?} (all: {urls:?})"
        ));
    }
    println!(
        "report page: {size} bytes, {} requests (the file itself), theme {theme} gives background {bg}",
        urls.len()
    );
    Ok(())
}
