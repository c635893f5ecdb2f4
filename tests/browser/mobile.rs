//! The page steps on a phone: no horizontal scrolling at 360 px on any page, and one
//! finger panning, two fingers pinch-zooming the trend chart.

use super::cdp::{Chrome, Tab};
use super::steps::{PATIENCE, Site, chart_range};

/// A 360 px wide viewport shows no horizontal scrolling on any page.
pub async fn phone(chrome: &Chrome, site: &Site) -> Result<(), String> {
    for (name, path, ready) in [
        (
            "7-phone-realtime",
            "/realtime/br",
            "document.querySelector('[data-path=\"br,ie,7\"]')",
        ),
        (
            "8-phone-trend",
            "/trend/view/?p=br,ie",
            "window.treestat.charts().some((c) => c.min !== null)",
        ),
        (
            "9-phone-views",
            "/setting/view",
            "document.querySelector('#list li')",
        ),
    ] {
        let tab = chrome.page(&site.url(path), 360, 740).await?;
        tab.wait_for(ready, &format!("{path} at 360 px"), PATIENCE)
            .await?;
        let w = tab
            .eval("[document.documentElement.scrollWidth, document.documentElement.clientWidth, document.body.scrollWidth]")
            .await?;
        tab.screenshot(&site.shots, name).await?;
        let (scroll, client) = (w[0].as_i64().unwrap_or(0), w[1].as_i64().unwrap_or(0));
        if scroll > client || w[2].as_i64().unwrap_or(0) > client {
            return Err(format!(
                "{path} scrolls sideways at 360 px: content {w}, viewport {client}"
            ));
        }
    }
    Ok(())
}

async fn page_range(tab: &Tab) -> Result<(f64, f64), String> {
    let r = tab.eval("window.treestat.range()").await?;
    Ok((
        r["from"].as_f64().unwrap_or(0.0),
        r["until"].as_f64().unwrap_or(0.0),
    ))
}

/// Touch on a phone: one finger pans the chart, two fingers pinch-zoom it.
pub async fn touch(chrome: &Chrome, site: &Site) -> Result<(), String> {
    let tab = chrome
        .page(&site.url("/trend/view/?p=br,ie"), 360, 740)
        .await?;
    chart_range(&tab, "br,ie").await?;
    let rect = tab
        .eval(
            "(() => { document.querySelector('.chart').scrollIntoView({block: 'center'});\
             const r = document.querySelector('.chart .u-over').getBoundingClientRect();\
             return [r.left, r.top, r.width, r.height]; })()",
        )
        .await?;
    let num = |i: usize| rect[i].as_f64().unwrap_or(0.0);
    let (left, top, width, height) = (num(0), num(1), num(2), num(3));
    let y = top + height / 2.0;
    let (from0, until0) = page_range(&tab).await?;
    let span0 = until0 - from0;
    let at = |f: f64| left + width * f;
    let drag: Vec<_> = (0..=8)
        .map(|i| vec![(at(0.7 - 0.05 * f64::from(i)), y)])
        .collect();
    tab.touch(&drag).await?;
    tab.wait_for(
        &format!("window.treestat.range().from > {from0} + {span0} * 0.3"),
        "a one-finger drag to pan the chart",
        PATIENCE,
    )
    .await?;
    let (from1, until1) = page_range(&tab).await?;
    let span1 = until1 - from1;
    let pinch: Vec<_> = (0..=8)
        .map(|i| {
            let d = 0.1 + 0.03 * f64::from(i);
            vec![(at(0.5 - d), y), (at(0.5 + d), y)]
        })
        .collect();
    tab.touch(&pinch).await?;
    tab.wait_for(
        &format!("(() => {{ const r = window.treestat.range(); return r.until - r.from < {span1} * 0.6; }})()"),
        "a pinch to zoom the chart in",
        PATIENCE,
    )
    .await?;
    let (from2, until2) = page_range(&tab).await?;
    println!(
        "touch: pan moved the range by {:.0}s; pinch zoomed {:.0}s -> {:.0}s",
        from1 - from0,
        span1,
        until2 - from2
    );
    tab.screenshot(&site.shots, "9b-phone-pinched").await?;
    Ok(())
}
