//! The HTML form: one file holding the page, its style, its script and the report's
//! JSON. Nothing is fetched: no fonts (the system's), no scripts or styles from
//! elsewhere, charts drawn as inline SVG; a Content-Security-Policy of
//! `default-src 'none'` in the page makes the browser refuse any request a link or
//! value in the data might otherwise start.

use serde_json::Value;

const PAGE: &str = include_str!("assets/report.html");
const STYLE: &str = include_str!("assets/report.css");
const SCRIPT: &str = include_str!("assets/report.js");

/// The report as one self-contained page.
pub fn render(report: &Value) -> String {
    // `<` never appears outside JSON strings, and inside them `\u003c` reads the same:
    // no `</script>` in the data can end the element early.
    let data = report.to_string().replace('<', "\\u003c");
    let mut out = String::with_capacity(PAGE.len() + STYLE.len() + SCRIPT.len() + data.len());
    // Each placeholder appears once; the data goes last so its text is never searched.
    let (head, rest) = PAGE.split_once("/*STYLE*/").unwrap_or((PAGE, ""));
    let (mid, rest) = rest.split_once("/*DATA*/").unwrap_or((rest, ""));
    let (mid2, tail) = rest.split_once("/*SCRIPT*/").unwrap_or((rest, ""));
    out.push_str(head);
    out.push_str(STYLE);
    out.push_str(mid);
    out.push_str(&data);
    out.push_str(mid2);
    out.push_str(SCRIPT);
    out.push_str(tail);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_cannot_close_the_script() {
        let page = render(&serde_json::json!({ "x": "</script><script>alert(1)</script>" }));
        assert_eq!(
            page.matches("</script>").count(),
            2,
            "only the page's own two"
        );
        assert!(page.contains(r"\u003c/script>"));
        for needle in ["http://", "https://", "src=\"", "@import", "url("] {
            let outside_data = page.replace(r#"http://www.w3.org/2000/svg"#, "");
            assert!(
                !outside_data.contains(needle),
                "the page references {needle}"
            );
        }
    }
}
