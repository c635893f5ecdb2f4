//! `treestat graph ... -o chart.pdf` (issue 18): the format follows the file's extension,
//! PDF included, through a real server; pdftoppm (poppler-utils, installed by .ci/run)
//! renders the file back to a non-blank page of the chart's size, and pdffonts finds the
//! font embedded. An unknown extension is refused, naming the four.

use crate::common;

use std::process::{Command, Output};

use common::{base, quiet_config, stop, wait_for};
use treestat::server::Server;

fn treestat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_treestat"))
        .args(args)
        .env_remove("TREESTAT_TOKEN")
        .output()
        .expect("treestat runs")
}

fn poppler(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!("{tool}: {e}; install poppler-utils (apt-get install poppler-utils)")
    });
    assert!(
        out.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn graph_writes_a_pdf_when_the_file_ends_in_pdf() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = rt
        .block_on(Server::start(quiet_config(dir.path())))
        .expect("server starts");
    let base = base(&server);
    let engine = server.engine.clone();
    wait_for("a trend point", || {
        engine.push_json(br#"{"pdf":{"a":5,"b":3}}"#).unwrap();
        let out = treestat(&["query", "--server", &base, "pdf,*", "--from", "-1h"]);
        let table = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success() && table.lines().count() > 1).then_some(())
    });

    let out_dir = tempfile::tempdir().unwrap();
    let chart = out_dir.path().join("chart.pdf");
    let chart_s = chart.to_str().unwrap();
    let out = treestat(&[
        "graph",
        "pdf,*",
        "-o",
        chart_s,
        "--server",
        &base,
        "--from",
        "-10min",
        "--width",
        "600",
        "--height",
        "300",
        "--title",
        "From the CLI",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pdf = std::fs::read(&chart).unwrap();
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    let fonts = poppler("pdffonts", &[chart_s]);
    assert!(
        fonts.contains("DejaVuSans") && fonts.contains(" yes "),
        "{fonts}"
    );
    assert!(poppler("pdftotext", &[chart_s, "-"]).contains("From the CLI"));
    // A grey PGM page: "P5 <w> <h> 255" and one byte a pixel.
    let page = out_dir.path().join("page");
    poppler(
        "pdftoppm",
        &[
            "-gray",
            "-r",
            "72",
            "-singlefile",
            chart_s,
            page.to_str().unwrap(),
        ],
    );
    let pgm = std::fs::read(out_dir.path().join("page.pgm")).unwrap();
    let header: Vec<&[u8]> = pgm.splitn(5, |b| b.is_ascii_whitespace()).collect();
    assert_eq!(
        &header[..4],
        [&b"P5"[..], b"600", b"300", b"255"],
        "page size"
    );
    let pixels = header[4];
    assert_eq!(pixels.len(), 600 * 300);
    let dark = pixels.iter().filter(|&&p| p < 128).count();
    assert!(dark > 600, "the page is blank ({dark} dark pixels)");

    let bmp = out_dir.path().join("chart.bmp");
    let out = treestat(&[
        "graph",
        "pdf,*",
        "-o",
        bmp.to_str().unwrap(),
        "--server",
        &base,
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("must end in .png, .svg, .jpg or .pdf"),
        "{err}"
    );
    stop(&rt, server);
}
