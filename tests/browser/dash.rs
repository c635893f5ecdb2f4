//! The overview dashboard (issue 19's acceptance 1) against a freshly started server
//! with the built-in host modules and a pipe tailing an access log: host charts with
//! data within two intervals, the access-log panels filling, a dashboard edited and
//! saved from the page, the phone layout, both themes, the realtime tree with
//! `_treestat` folded, and the time from page load to the first chart.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::cdp::{Chrome, Tab};
use super::steps::Site;

/// Far above what a working page needs; only a broken page ever reaches it.
const PATIENCE: Duration = Duration::from_secs(60);

/// The host panels every Linux machine fills (disk I/O and swap may have nothing).
const HOST_PANELS: [&str; 4] = ["CPU", "Load", "Memory", "Network in/out"];

/// The access-log panels the tailed log fills (`Vendors` stays out: no such browser).
const LOG_PANELS: [&str; 9] = [
    "Requests by status class",
    "Response time",
    "Bytes sent",
    "Top URLs",
    "404 URLs",
    "Browsers",
    "Operating systems",
    "Virtual hosts",
    "Countries",
];

/// The log format of the tailed file: combined plus `$request_time $host`.
pub const LOG_FORMAT: &str = "$remote_addr - $remote_user [$time_local] \"$request\" $status \
     $body_bytes_sent \"$http_referer\" \"$http_user_agent\" $request_time $host";

/// Lines for the tailed log: the shared fixture logs' combined lines (those with the
/// combined format's six quotes) with a request time and a host appended, and the private 192.168 client replaced by addresses the
/// GeoIP test database knows (GB, SE, US), so the countries panel has countries.
pub fn log_lines(testdata: &Path) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let known = ["81.2.69.142", "89.160.20.112", "216.160.83.56"];
    for (i, name) in ["mtail-apache-combined.log", "beats-nginx-access.log"]
        .iter()
        .enumerate()
    {
        let path = testdata.join("logs").join(name);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{} (the shared test logs): {e}", path.display()))?;
        // Lines with a field past the user agent (one beats line) are not this format.
        for (j, line) in text
            .lines()
            .filter(|l| l.matches('"').count() == 6)
            .enumerate()
        {
            let line = line.replacen("192.168.1.23", known[j % known.len()], 1);
            let time = [0.004, 0.012, 0.045, 0.2, 0.9][(i + j) % 5];
            let host = ["www.example.com", "api.example.com"][j % 2];
            out.push(format!("{line} {time} {host}"));
        }
    }
    Ok(out)
}

fn js_str(s: &str) -> String {
    Value::from(s).to_string()
}

/// The panels shown on the page, by title: `[[title, intervals seen when first shown]]`.
const SHOWN: &str = "Object.fromEntries(window.treestat.panels().filter((p) => p.shown)\
     .map((p) => [p.title, p.series.length]))";

async fn wait_panels(tab: &Tab, titles: &[&str], what: &str) -> Result<Value, String> {
    let list = Value::from(titles.to_vec()).to_string();
    tab.wait_for(
        &format!("(() => {{ const s = {SHOWN}; return {list}.every((t) => s[t] > 0) && s; }})()"),
        what,
        PATIENCE,
    )
    .await
}

/// Appends `lines` to `log` every 300 ms until `stop` is cancelled.
pub fn feed_log(
    log: PathBuf,
    lines: Vec<String>,
    stop: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<Result<(), String>> {
    tokio::spawn(async move {
        let mut f = tokio::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&log)
            .await
            .map_err(|e| format!("{}: {e}", log.display()))?;
        while !stop.is_cancelled() {
            let batch: String = lines.iter().map(|l| format!("{l}\n")).collect();
            f.write_all(batch.as_bytes())
                .await
                .map_err(|e| format!("appending to the log: {e}"))?;
            f.flush().await.map_err(|e| e.to_string())?;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        Ok(())
    })
}

/// Milliseconds from navigation start to the first chart drawn, read from the page's
/// performance mark.
async fn first_chart_ms(tab: &Tab) -> Result<f64, String> {
    let v = tab
        .wait_for(
            "(() => { const m = performance.getEntriesByName('treestat:first-chart')[0];\
             return m ? m.startTime : false; })()",
            "the first-chart performance mark",
            PATIENCE,
        )
        .await?;
    v.as_f64().ok_or_else(|| format!("the mark is {v}"))
}

/// Acceptance 1 on `/`: host charts, then (with the log fed) the access-log panels.
pub async fn overview(
    chrome: &Chrome,
    site: &Site,
    log: &Path,
    testdata: &Path,
) -> Result<(), String> {
    let tab = chrome.page(&site.url("/"), 1400, 1000).await?;
    // Host charts with data within two intervals: the panels show once a series has a
    // value; the page counts the interval messages it received until then.
    let shown = wait_panels(&tab, &HOST_PANELS, "the host panels on /").await?;
    let seen = tab.eval("window.treestat.intervals").await?;
    let seen = seen.as_i64().unwrap_or(i64::MAX);
    if seen > 2 {
        return Err(format!(
            "the host panels {shown} showed only after {seen} interval messages, more than two"
        ));
    }
    let first = first_chart_ms(&tab).await?;
    println!(
        "overview: host panels {shown} shown after {seen} interval messages; first chart {first:.0} ms after navigation start"
    );
    // No access log yet: its section is left out, not shown empty.
    let hidden = tab
        .eval("[...document.querySelectorAll('.dash-section')].filter((s) => s.hidden).map((s) => s.querySelector('h2').textContent)")
        .await?;
    if hidden != Value::from(vec!["Access log"]) {
        return Err(format!(
            "before any log line the hidden sections are {hidden}"
        ));
    }

    let stop = tokio_util::sync::CancellationToken::new();
    let feeder = feed_log(log.to_path_buf(), log_lines(testdata)?, stop.clone());
    let filled = wait_panels(&tab, &LOG_PANELS, "the access-log panels to fill").await;
    // Some history for the screenshots: 15 interval messages in all.
    let more = tab
        .wait_for(
            "window.treestat.intervals >= 15",
            "15 interval messages",
            PATIENCE,
        )
        .await;
    stop.cancel();
    feeder.await.map_err(|e| e.to_string())??;
    let filled = filled?;
    more?;
    let vendors = tab
        .eval("window.treestat.panels().find((p) => p.title === 'Vendors').shown")
        .await?;
    if vendors != Value::Bool(false) {
        return Err("the Vendors panel shows though no vendor browser is in the log".into());
    }
    let links = tab
        .eval("document.querySelector('.dash-panel[data-pattern=\"status,*\"] h3 a').getAttribute('href')")
        .await?;
    if links.as_str() != Some("/trend/view/?p=status%2C*&range=3600") {
        return Err(format!("the status panel links to {links}"));
    }
    println!("overview: access-log panels {filled}");
    // The whole grid in one picture (the charts' size does not follow the height).
    tab.viewport(1400, 1800).await?;
    tab.eval("window.scrollTo(0, 0)").await?;
    tab.screenshot(&site.shots, "20-overview").await?;
    tab.eval("document.getElementById('theme').click()").await?;
    wait_panels(&tab, &HOST_PANELS, "the panels redrawn in the dark theme").await?;
    tab.screenshot(&site.shots, "21-overview-dark").await?;
    tab.eval("document.getElementById('theme').click()").await?;
    tab.viewport(1400, 1000).await?;

    // The phone layout: one column, no sideways scrolling.
    let phone = chrome.page(&site.url("/"), 360, 740).await?;
    wait_panels(&phone, &HOST_PANELS, "the host panels at 360 px").await?;
    let w = phone
        .eval("[document.documentElement.scrollWidth, document.documentElement.clientWidth, document.body.scrollWidth]")
        .await?;
    phone.screenshot(&site.shots, "22-phone-overview").await?;
    phone
        .eval("document.getElementById('theme').click()")
        .await?;
    wait_panels(&phone, &HOST_PANELS, "the phone layout in the dark theme").await?;
    phone
        .screenshot(&site.shots, "22b-phone-overview-dark")
        .await?;
    phone
        .eval("document.getElementById('theme').click()")
        .await?;
    let client = w[1].as_i64().unwrap_or(0);
    if w[0].as_i64().unwrap_or(0) > client || w[2].as_i64().unwrap_or(0) > client {
        return Err(format!("/ scrolls sideways at 360 px: {w}"));
    }

    // Time from page load to the first chart, over reloads (the data is there now).
    let mut times = Vec::new();
    for _ in 0..5 {
        tab.goto(&site.url("/")).await?;
        times.push(first_chart_ms(&tab).await?);
        wait_panels(&tab, &LOG_PANELS, "every panel after a reload").await?;
    }
    times.sort_by(f64::total_cmp);
    println!(
        "overview: first chart after reload {:.0} ms median, {:.0}..{:.0} ms over {} loads (1400 px, {} panels shown)",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        times.len(),
        tab.eval("window.treestat.panels().filter((p) => p.shown).length")
            .await?,
    );
    Ok(())
}

/// Copy the overview, edit its JSON on the page, save it under a new name: the page
/// opens `/dashboard/<name>` with the change, and the API answers what was saved.
pub async fn edit(chrome: &Chrome, site: &Site) -> Result<(), String> {
    let tab = chrome.page(&site.url("/"), 1400, 1000).await?;
    wait_panels(&tab, &["CPU"], "the overview before editing").await?;
    tab.eval("document.getElementById('edit').click()").await?;
    tab.wait_for(
        "!document.getElementById('editor').hidden && document.getElementById('json').value.length > 100",
        "the editor with the overview's JSON",
        PATIENCE,
    )
    .await?;
    let edited = tab
        .eval(
            "(() => { const t = document.getElementById('json'); const d = JSON.parse(t.value);\
             d.title = 'Edited in the browser'; d.window = 120;\
             d.sections = [d.sections[0]]; d.sections[0].panels = d.sections[0].panels.slice(0, 3);\
             d.sections[0].panels[0].size = 'w';\
             t.value = JSON.stringify(d, null, 2); document.getElementById('saveName').value = 'my board';\
             return d; })()",
        )
        .await?;
    // The shot before Save: Save navigates to the saved dashboard, and a screenshot
    // taken across that navigation can wait for a frame that never comes (it timed
    // out once under load).
    tab.screenshot(&site.shots, "23-dashboard-editing").await?;
    tab.eval("document.getElementById('save').click()").await?;
    let saved = tab
        .wait_for(
            "location.pathname === '/dashboard/my%20board' || document.getElementById('editError').textContent",
            "the save to finish",
            PATIENCE,
        )
        .await?;
    if saved != Value::Bool(true) {
        return Err(format!("saving the dashboard failed: {saved}"));
    }
    tab.wait_for(
        "location.pathname === '/dashboard/my%20board'\
         && document.getElementById('dashTitle').textContent === 'Edited in the browser'\
         && window.treestat.panels().length === 3",
        "the saved dashboard opened at /dashboard/my%20board",
        PATIENCE,
    )
    .await?;
    wait_panels(&tab, &["CPU"], "the saved dashboard's CPU panel").await?;
    let stored = tab
        .eval("fetch('/api/dashboards/my%20board').then((r) => r.json())")
        .await?;
    let mut want = edited.clone();
    want["name"] = Value::from("my board");
    if stored != want {
        return Err(format!("saved {edited}\nthe API answers {stored}"));
    }
    let listed = tab
        .eval("fetch('/api/dashboards').then((r) => r.json()).then((l) => l.map((d) => d.name))")
        .await?;
    if listed != serde_json::json!(["my board", "overview"]) {
        return Err(format!("the list is {listed}"));
    }
    tab.screenshot(&site.shots, "24-dashboard-saved").await?;
    tab.goto(&site.url("/dashboard/")).await?;
    tab.wait_for(
        "document.querySelector('#dashList li[data-name=\"my board\"] a')?.getAttribute('href') === '/dashboard/my%20board'\
         && document.querySelector('#dashList li[data-name=\"overview\"] a')?.getAttribute('href') === '/'",
        "both dashboards listed on /dashboard/",
        PATIENCE,
    )
    .await?;
    tab.screenshot(&site.shots, "25-dashboard-list").await?;
    Ok(())
}

/// The realtime tree keeps its own route; the server's `_treestat` subtree is folded.
pub async fn realtime_folded(chrome: &Chrome, site: &Site) -> Result<(), String> {
    let tab = chrome.page(&site.url("/realtime/"), 1400, 1000).await?;
    tab.wait_for(
        "document.querySelector('[data-path=\"_treestat\"]') && document.querySelector('[data-path^=\"cpu,\"]')",
        "the realtime tree with _treestat and the host modules",
        PATIENCE,
    )
    .await?;
    let inside = tab
        .eval(&format!(
            "document.querySelectorAll('[data-path^={}]').length",
            js_str("_treestat,")
        ))
        .await?;
    if inside != 0 {
        return Err(format!("{inside} rows under _treestat are open by default"));
    }
    let nav = tab
        .eval("[...document.querySelectorAll('header nav a')].map((a) => a.getAttribute('href'))")
        .await?;
    if nav != serde_json::json!(["/", "/realtime/", "/trend/view/", "/setting/view"]) {
        return Err(format!("the navigation is {nav}"));
    }
    Ok(())
}
