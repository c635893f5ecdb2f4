//! A thin layer over chromiumoxide for the page tests: launch Debian's Chromium with
//! the flags that keep it off the network, open pages, evaluate JavaScript, wait for a
//! condition, take screenshots, and record every request URL a page makes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chromiumoxide::Page;
use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::dom::SetFileInputFilesParams;
use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::cdp::browser_protocol::input::{
    DispatchMouseEventParams, DispatchMouseEventType, DispatchTouchEventParams,
    DispatchTouchEventReturns, DispatchTouchEventType, MouseButton, TouchPoint,
};
use chromiumoxide::cdp::browser_protocol::network::EventRequestWillBeSent;
use chromiumoxide::cdp::browser_protocol::page::CaptureScreenshotFormat;
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::types::{Command, Method, MethodId};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::Mutex;

/// Where Debian's `chromium` package puts the browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A running headless Chromium with its own profile directory.
pub struct Chrome {
    browser: Browser,
    handler: tokio::task::JoinHandle<()>,
    _profile: tempfile::TempDir,
    /// Every request URL any page opened through [`Chrome::page`] made.
    pub requests: Arc<Mutex<Vec<String>>>,
}

/// The flags from the brief besides `--headless` and `--no-sandbox` (set through the
/// builder): no GPU, no QUIC, and no background traffic (Chromium otherwise floods a
/// closed network with update, sync and safe-browsing calls). Keys without the dashes.
const FLAGS: &[&str] = &[
    "disable-gpu",
    "disable-quic",
    "no-first-run",
    "disable-background-networking",
    "disable-component-update",
    "disable-sync",
    "disable-default-apps",
    "disable-domain-reliability",
    "disable-client-side-phishing-detection",
    "no-default-browser-check",
    "metrics-recording-only",
    "disable-dev-shm-usage",
];

impl Chrome {
    /// Launches Chromium from `exe`.
    pub async fn launch(exe: &Path) -> Result<Chrome, String> {
        let profile = tempfile::tempdir().map_err(|e| format!("profile dir: {e}"))?;
        let config = BrowserConfig::builder()
            .chrome_executable(exe)
            .disable_default_args()
            .no_sandbox()
            .args(FLAGS.iter().copied())
            .user_data_dir(profile.path())
            .window_size(1280, 900)
            .viewport(None)
            .launch_timeout(Duration::from_secs(60))
            .request_timeout(Duration::from_secs(60))
            .build()?;
        let (browser, mut events) = Browser::launch(config)
            .await
            .map_err(|e| format!("launching {}: {e}", exe.display()))?;
        let handler = tokio::spawn(async move { while events.next().await.is_some() {} });
        Ok(Chrome {
            browser,
            handler,
            _profile: profile,
            requests: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// A new tab at `url` with a viewport of `width` x `height` CSS pixels; every
    /// request it makes is recorded in [`Chrome::requests`].
    pub async fn page(&self, url: &str, width: i64, height: i64) -> Result<Tab, String> {
        let page = self
            .browser
            .new_page("about:blank")
            .await
            .map_err(|e| format!("new tab: {e}"))?;
        let mut sent = page
            .event_listener::<EventRequestWillBeSent>()
            .await
            .map_err(|e| format!("network events: {e}"))?;
        let log = self.requests.clone();
        tokio::spawn(async move {
            while let Some(ev) = sent.next().await {
                log.lock().await.push(ev.request.url.clone());
            }
        });
        let tab = Tab { page };
        tab.viewport(width, height).await?;
        tab.goto(url).await?;
        Ok(tab)
    }

    /// Closes the browser.
    pub async fn close(mut self) {
        let _ = self.browser.close().await;
        let _ = self.browser.wait().await;
        self.handler.abort();
    }
}

/// `Input.dispatchTouchEvent` of type `touchEnd`: the protocol wants an empty
/// `touchPoints` array, which the generated params leave out when empty.
#[derive(Debug)]
struct TouchEnd;

impl serde::Serialize for TouchEnd {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({ "type": "touchEnd", "touchPoints": [] }).serialize(s)
    }
}

impl Method for TouchEnd {
    fn identifier(&self) -> MethodId {
        "Input.dispatchTouchEvent".into()
    }
}

impl Command for TouchEnd {
    type Response = DispatchTouchEventReturns;
}

/// One tab.
pub struct Tab {
    /// The chromiumoxide page.
    pub page: Page,
}

impl Tab {
    /// Closes the tab, ending its event streams: Chromium holds at most 6 connections
    /// per host across all tabs, and a tab left open with a stream keeps one.
    pub async fn close(self) -> Result<(), String> {
        self.page
            .close()
            .await
            .map_err(|e| format!("closing a tab: {e}"))
    }

    /// Navigates and waits for the load.
    pub async fn goto(&self, url: &str) -> Result<(), String> {
        self.page
            .goto(url)
            .await
            .map_err(|e| format!("opening {url}: {e}"))?;
        Ok(())
    }

    /// Emulates a viewport of `width` x `height` CSS pixels (a phone when narrow).
    pub async fn viewport(&self, width: i64, height: i64) -> Result<(), String> {
        let params = SetDeviceMetricsOverrideParams::builder()
            .width(width)
            .height(height)
            .device_scale_factor(1.0)
            .mobile(width < 600)
            .build()?;
        self.page
            .execute(params)
            .await
            .map_err(|e| format!("viewport: {e}"))?;
        Ok(())
    }

    /// Evaluates `js` (awaiting a promise) and returns its JSON value.
    pub async fn eval(&self, js: &str) -> Result<Value, String> {
        let params = EvaluateParams::builder()
            .expression(js)
            .await_promise(true)
            .return_by_value(true)
            .build()?;
        let res = self
            .page
            .evaluate_expression(params)
            .await
            .map_err(|e| format!("evaluating {js:?}: {e}"))?;
        Ok(res.value().cloned().unwrap_or(Value::Null))
    }

    /// Polls `js` until it is truthy; fails with `what` after `limit` (a bound for a
    /// broken page, far above what a working one needs, not a speed requirement).
    /// A page that is navigating (a reload it started itself), or one whose new
    /// document is not built yet (the expression throws, e.g. reading a property of an
    /// element not there yet), is polled again; the last exception is the failure if
    /// the limit passes.
    pub async fn wait_for(&self, js: &str, what: &str, limit: Duration) -> Result<Value, String> {
        let start = tokio::time::Instant::now();
        loop {
            let v = match self.eval(js).await {
                Ok(v) => v,
                Err(e)
                    if (navigating(&e) || e.contains("Uncaught")) && start.elapsed() <= limit =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let truthy = !matches!(&v, Value::Null | Value::Bool(false)) && v != 0 && v != "";
            if truthy {
                return Ok(v);
            }
            if start.elapsed() > limit {
                return Err(format!("waited {limit:?} for {what}; last value {v}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a PNG of the viewport to `dir/name.png`.
    pub async fn screenshot(&self, dir: &Path, name: &str) -> Result<PathBuf, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join(format!("{name}.png"));
        let params = ScreenshotParams::builder()
            .format(CaptureScreenshotFormat::Png)
            .full_page(false)
            .build();
        self.page
            .save_screenshot(params, &path)
            .await
            .map_err(|e| format!("screenshot {name}: {e}"))?;
        Ok(path)
    }

    /// Drags the mouse from `(x0, y)` to `(x1, y)` in CSS pixels, in steps.
    pub async fn drag(&self, x0: f64, x1: f64, y: f64) -> Result<(), String> {
        let ev = |kind, x: f64| {
            DispatchMouseEventParams::builder()
                .r#type(kind)
                .x(x)
                .y(y)
                .button(MouseButton::Left)
                .buttons(1)
                .click_count(1)
                .build()
        };
        let mut steps = vec![ev(DispatchMouseEventType::MouseMoved, x0)?];
        steps.push(ev(DispatchMouseEventType::MousePressed, x0)?);
        for i in 1..=10 {
            let x = x0 + (x1 - x0) * f64::from(i) / 10.0;
            steps.push(ev(DispatchMouseEventType::MouseMoved, x)?);
        }
        steps.push(ev(DispatchMouseEventType::MouseReleased, x1)?);
        for step in steps {
            self.page
                .execute(step)
                .await
                .map_err(|e| format!("mouse: {e}"))?;
        }
        Ok(())
    }

    /// A touch gesture: the fingers at each frame (CSS pixels), from touching down at
    /// the first frame to lifting at the last.
    pub async fn touch(&self, frames: &[Vec<(f64, f64)>]) -> Result<(), String> {
        let points = |f: &[(f64, f64)]| {
            f.iter()
                .map(|&(x, y)| TouchPoint::new(x, y))
                .collect::<Vec<_>>()
        };
        let mut events = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            let kind = if i == 0 {
                DispatchTouchEventType::TouchStart
            } else {
                DispatchTouchEventType::TouchMove
            };
            events.push(DispatchTouchEventParams::new(kind, points(f)));
        }
        for ev in events {
            self.page
                .execute(ev)
                .await
                .map_err(|e| format!("touch: {e}"))?;
        }
        self.page
            .execute(TouchEnd)
            .await
            .map_err(|e| format!("touch end: {e}"))?;
        Ok(())
    }

    /// Sets the files of the `<input type=file>` matched by `selector`, as a user
    /// picking them does (the page gets its `change` event).
    pub async fn upload(&self, selector: &str, file: &Path) -> Result<(), String> {
        let input = self
            .page
            .find_element(selector)
            .await
            .map_err(|e| format!("{selector}: {e}"))?;
        let params = SetFileInputFilesParams::builder()
            .file(file.display().to_string())
            .backend_node_id(input.backend_node_id)
            .build()?;
        self.page
            .execute(params)
            .await
            .map_err(|e| format!("upload: {e}"))?;
        Ok(())
    }
}

/// Whether an evaluation failed only because the page was between documents.
fn navigating(error: &str) -> bool {
    [
        "navigated or closed",
        "context was destroyed",
        "Cannot find context",
    ]
    .iter()
    .any(|m| error.contains(m))
}
