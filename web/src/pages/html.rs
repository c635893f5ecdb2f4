//! The HTML shells of the pages: one layout (header, navigation, theme toggle) with a
//! page-specific body, the page's script and what the URL named, escaped.

/// Which page to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Page {
    /// A dashboard's grid of live charts (`/`, `/dashboard/<name>`).
    Dashboard,
    /// The live tree.
    Realtime,
    /// Trend charts.
    Trend,
    /// Saved views.
    Settings,
}

impl Page {
    fn title(self) -> &'static str {
        match self {
            Page::Dashboard => "Overview",
            Page::Realtime => "Realtime",
            Page::Trend => "Trend",
            Page::Settings => "Views",
        }
    }

    fn script(self) -> &'static str {
        match self {
            Page::Dashboard => "dashboard.js",
            Page::Realtime => "realtime.js",
            Page::Trend => "trend.js",
            Page::Settings => "views.js",
        }
    }

    fn body(self) -> &'static str {
        match self {
            Page::Dashboard => include_str!("../../assets/html/dashboard.html"),
            Page::Realtime => include_str!("../../assets/html/realtime.html"),
            Page::Trend => include_str!("../../assets/html/trend.html"),
            Page::Settings => include_str!("../../assets/html/views.html"),
        }
    }
}

/// Escapes text for an HTML attribute value or text node.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The whole document for a page; `pattern` and `view` (a view's or a dashboard's
/// name) come from the URL.
pub(crate) fn render(page: Page, pattern: &str, view: &str) -> String {
    let nav = |p: Page, href: &str| {
        let current = if p == page {
            " aria-current=\"page\""
        } else {
            ""
        };
        format!("<a href=\"{href}\"{current}>{}</a>", p.title())
    };
    let vendor = if matches!(page, Page::Trend | Page::Dashboard) {
        "<link rel=\"stylesheet\" href=\"/assets/vendor/uplot/uPlot.min.css\">\n\
         <script src=\"/assets/vendor/uplot/uPlot.iife.min.js\"></script>\n"
    } else {
        ""
    };
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n\
         <title>{title} · treestat</title>\n\
         <link rel=\"icon\" href=\"/assets/icon.svg\" type=\"image/svg+xml\">\n\
         <script src=\"/assets/js/theme.js\"></script>\n\
         <link rel=\"stylesheet\" href=\"/assets/css/app.css\">\n{vendor}\
         <script type=\"module\" src=\"/assets/js/{script}\"></script>\n</head>\n\
         <body data-page=\"{page_id}\" data-pattern=\"{pattern}\" data-view=\"{view}\">\n\
         <header class=\"top\">\n<a class=\"brand\" href=\"/\">treestat</a>\n\
         <nav>{n0}{n1}{n2}{n3}</nav>\n\
         <button type=\"button\" id=\"theme\" class=\"icon\" title=\"Light or dark theme\" \
         aria-label=\"Toggle theme\">◐</button>\n</header>\n\
         <main id=\"main\">\n{body}</main>\n<div id=\"toast\" role=\"status\" aria-live=\"polite\"></div>\n\
         </body>\n</html>\n",
        title = page.title(),
        script = page.script(),
        page_id = page.title().to_ascii_lowercase(),
        pattern = escape(pattern),
        view = escape(view),
        n0 = nav(Page::Dashboard, "/"),
        n1 = nav(Page::Realtime, "/realtime/"),
        n2 = nav(Page::Trend, "/trend/view/"),
        n3 = nav(Page::Settings, "/setting/view"),
        body = page.body(),
    )
}
