//! PDF output (issue 18): rendered back to an image with poppler's `pdftoppm`, it must
//! look like the PNG of the same chart (dark-pixel share and bounding box); it must be
//! vector (no raster image inside), keep its text as text (`pdftotext` finds the title),
//! and embed its font (`pdffonts` says `emb yes`, the file holds a `/FontFile2`).
//! Needs poppler-utils (Debian; `.ci/run` installs it).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{markers, options, series_for};
use treestat_graph::{Format, Style, render};

const TITLE: &str = "Requests per second";

fn tool(name: &str, args: &[&str]) -> String {
    let out = Command::new(name).args(args).output().unwrap_or_else(|e| {
        panic!("{name}: {e}; install poppler-utils (apt-get install poppler-utils)")
    });
    assert!(
        out.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Share of pixels darker than mid-grey, and the box that holds them.
fn ink(img: &image::RgbImage) -> (f64, (u32, u32, u32, u32)) {
    let mut n = 0usize;
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, p) in img.enumerate_pixels() {
        let lum = u32::from(p.0[0]) * 3 + u32::from(p.0[1]) * 6 + u32::from(p.0[2]);
        if lum < 128 * 10 {
            n += 1;
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
    }
    let total = f64::from(img.width() * img.height());
    (n as f64 / total, (x0, y0, x1, y1))
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> TempDir {
    let d = std::env::temp_dir().join(format!("treestat-graph-pdf-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    TempDir(d)
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[test]
fn pdf_renders_back_like_the_png_with_its_font_embedded() {
    let opts = options(&[
        ("from", "-6h"),
        ("width", "400"),
        ("height", "200"),
        ("title", TITLE),
        ("type", "area"),
        ("tz", "UTC"),
    ]);
    let series = series_for(Style::Default, opts.from, opts.until);
    let marks = markers(opts.from, opts.until);
    let pdf = render(&series, &marks, &opts, Format::Pdf).expect("pdf renders");
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    let png = render(&series, &marks, &opts, Format::Png).expect("png renders");

    let raw = String::from_utf8_lossy(&pdf);
    assert!(
        raw.contains("/FontFile2"),
        "no embedded TrueType font program"
    );
    assert!(
        !raw.contains("/Subtype /Image"),
        "a raster image inside: not vector"
    );

    let dir = temp_dir();
    let file = dir.0.join("chart.pdf");
    std::fs::write(&file, &pdf).expect("write pdf");

    let fonts = tool("pdffonts", &[path_str(&file)]);
    let rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert!(!rows.is_empty(), "pdffonts lists no font:\n{fonts}");
    for row in &rows {
        assert!(row.contains("DejaVu"), "{fonts}");
        // Columns: name type encoding emb sub uni object ID.
        let cols: Vec<&str> = row.split_whitespace().collect();
        let emb = cols.len().checked_sub(5).map(|i| cols[i]);
        assert_eq!(emb, Some("yes"), "font not embedded:\n{fonts}");
    }
    let text = tool("pdftotext", &[path_str(&file), "-"]);
    for word in [TITLE, "web,req", "deploy", "UTC"] {
        assert!(
            text.contains(word),
            "{word:?} is not text in the PDF: {text:?}"
        );
    }

    // 400 x 200 pt at 72 dpi: the PNG's pixel grid.
    let prefix = dir.0.join("page");
    tool(
        "pdftoppm",
        &[
            "-png",
            "-r",
            "72",
            "-singlefile",
            path_str(&file),
            path_str(&prefix),
        ],
    );
    let back = image::open(dir.0.join("page.png"))
        .expect("pdftoppm wrote a PNG")
        .to_rgb8();
    assert_eq!(back.dimensions(), (400, 200));
    let ours = image::load_from_memory(&png).expect("png").to_rgb8();
    let (a, box_a) = ink(&back);
    let (b, box_b) = ink(&ours);
    eprintln!("dark share: PDF {a:.4}, PNG {b:.4}; boxes {box_a:?} {box_b:?}");
    assert!(a > 0.01, "the PDF renders blank ({a} dark)");
    assert!(
        (a - b).abs() <= 0.25 * b,
        "dark share: PDF {a:.4}, PNG {b:.4}"
    );
    let near = |p: u32, q: u32| p.abs_diff(q) <= 4;
    assert!(
        near(box_a.0, box_b.0)
            && near(box_a.1, box_b.1)
            && near(box_a.2, box_b.2)
            && near(box_a.3, box_b.3),
        "ink boxes differ: PDF {box_a:?}, PNG {box_b:?}"
    );
}

#[test]
fn pdf_is_a_format_of_its_own() {
    assert_eq!(Format::from_extension("PDF").unwrap(), Format::Pdf);
    assert_eq!(Format::Pdf.content_type(), "application/pdf");
    assert_eq!(Format::Pdf.extension(), "pdf");
    // Empty and hostile charts convert too.
    let opts = options(&[("from", "-1h"), ("title", "<b>&amp; \"x\"</b>")]);
    let pdf = render(&[], &[], &opts, Format::Pdf).expect("renders");
    assert!(pdf.starts_with(b"%PDF-"));
}
