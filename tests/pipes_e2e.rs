//! Plugins through a running server (issue 4, acceptance 3): the native C pipe, the
//! native Rust pipe and a Python pipe load from the configuration and build their
//! trees from log lines posted over HTTP; broken plugins are reported with their cause
//! and the server keeps serving.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use treestat::config::Config;
use treestat::server::Server;

const PEACH: &str = r#"[17/Jan/2012:17:37:26 +0800] 200 hdn.xnimg.cn 10.22.200.100:80 0.001 0.001 183.213.96.62 - GET /photos/x.jpg HTTP/1.1 4428 "http://www.renren.com/419816894" "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 5.1; Trident/4.0; .NET CLR 2.0.50727; 360SE)" "-"
[17/Jan/2012:17:00:55 +0800] 304 10.2.76.28 - - 0.000 10.2.76.25 - GET /highcharts/js/modules/exporting.js HTTP/1.1 158 "http://10.2.76.28/highcharts/examples/bar-basic.htm" "Mozilla/5.0 (Windows NT 5.1) AppleWebKit/535.7 (KHTML, like Gecko) Chrome/16.0.912.75 Safari/535.7" "-"
[17/Jan/2012:17:37:27 +0800] 200 hdn.xnimg.cn 10.22.200.100:80 0.001 0.900 183.213.96.63 - POST /a.jpg HTTP/1.1 100 "-" "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1; Trident/4.0; .NET CLR 2.0.50727; Maxthon 2.0)" "-"
this is not a log line
"#;

fn pipes_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pipes")
}

fn out_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("treestat-e2e-plugins");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn cc(name: &str, src: &Path) -> PathBuf {
    let so = out_dir().join(format!("lib{name}.so"));
    run(Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-I"])
        .arg(pipes_dir().join("include"))
        .arg("-o")
        .arg(&so)
        .arg(src));
    so
}

fn c_pipe() -> &'static Path {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| cc("methods", &pipes_dir().join("examples/native-c/methods.c")))
}

fn rust_pipe() -> &'static Path {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| {
        let target = out_dir().join("native-rust-target");
        run(Command::new(env!("CARGO"))
            .args(["build", "--release", "--offline", "--manifest-path"])
            .arg(pipes_dir().join("examples/native-rust/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS"));
        target.join("release/libtreestat_pipe_example_slo.so")
    })
}

fn wrong_abi() -> PathBuf {
    let src = out_dir().join("wrong_abi.c");
    std::fs::write(
        &src,
        "#include \"treestat_pipe.h\"\nconst uint32_t treestat_pipe_abi_version = 99;\n",
    )
    .unwrap();
    cc("wrong_abi", &src)
}

fn server_config(data: &Path, accesslog: &str) -> Config {
    let text = format!(
        "[server]\nhttp = \"127.0.0.1:0\"\ndata = {data:?}\n\
         [listen]\ntcp = \"off\"\nudp = \"off\"\nstatsd = \"off\"\ngraphite = \"off\"\n\
         [engine]\ninterval = \"1s\"\n{accesslog}"
    );
    Config::parse(&text).unwrap()
}

fn post_lines(base: &str, lines: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent
        .post(&format!("{base}/push"))
        .header("content-type", "text/plain")
        .send(lines)
        .unwrap();
    let body = resp.body_mut().read_to_string().unwrap();
    (resp.status().as_u16(), body)
}

fn get(base: &str, pattern: &str) -> serde_json::Value {
    let body = ureq::get(&format!("{base}/get/{pattern}"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_rust_and_python_pipes_build_their_trees_through_the_server() {
    let (c, rust) = tokio::task::spawn_blocking(|| (c_pipe().to_owned(), rust_pipe().to_owned()))
        .await
        .unwrap();
    let python = pipes_dir().join("examples/python/referers.py");
    let dir = tempfile::tempdir().unwrap();
    let accesslog = format!(
        "[accesslog]\nformat = \"peach\"\npipes = [\"status\", \
         {{ pipe = \"native\", path = {c:?}, config = {{ prefix = \"methods\" }} }}, \
         {{ pipe = \"native\", path = {rust:?}, config = {{ threshold = 0.5 }} }}, \
         {{ pipe = \"python\", path = {python:?} }}]\n"
    );
    let server = Server::start(server_config(dir.path(), &accesslog))
        .await
        .unwrap();
    let base = format!("http://{}", server.bound.http.unwrap());
    tokio::task::spawn_blocking(move || {
        let (status, body) = post_lines(&base, PEACH);
        assert_eq!(status, 200, "{body}");
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["log"]["lines"], 4, "{answer}");
        assert_eq!(answer["log"]["bad_lines"], 1, "{answer}");
        assert_eq!(
            get(&base, "status"),
            serde_json::json!([["status,2xx,200", 2.0], ["status,3xx,304", 1.0]])
        );
        // C: requests per method and the biggest response.
        let methods = get(&base, "methods");
        assert!(
            methods.to_string().contains(r#"["methods,GET",2.0]"#),
            "{methods}"
        );
        assert!(
            methods.to_string().contains(r#"["methods,POST",1.0]"#),
            "{methods}"
        );
        // Rust: requests within the latency objective (0.5 s) and beyond it.
        assert_eq!(
            get(&base, "slo"),
            serde_json::json!([["slo,ok", 2.0], ["slo,slow", 1.0]])
        );
        // Python: requests per referring host.
        let referers = get(&base, "referer");
        assert_eq!(
            referers,
            serde_json::json!([
                ["referer,10.2.76.28", 1.0],
                ["referer,direct", 1.0],
                ["referer,www.renren.com", 1.0]
            ])
        );
    })
    .await
    .unwrap();
    server.shutdown_token().cancel();
    server.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_plugins_are_reported_and_the_server_keeps_serving() {
    let bad_abi = tokio::task::spawn_blocking(wrong_abi).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let broken_py = dir.path().join("broken.py");
    std::fs::write(&broken_py, "def process(fields)\n    return 1\n").unwrap();
    for (plugin, cause) in [
        (
            format!("{{ pipe = \"native\", path = {bad_abi:?} }}"),
            "ABI version",
        ),
        (
            format!("{{ pipe = \"python\", path = {broken_py:?} }}"),
            "SyntaxError",
        ),
    ] {
        let data = tempfile::tempdir().unwrap();
        let accesslog = format!("[accesslog]\nformat = \"peach\"\npipes = [{plugin}]\n");
        let server = Server::start(server_config(data.path(), &accesslog))
            .await
            .unwrap();
        let base = format!("http://{}", server.bound.http.unwrap());
        tokio::task::spawn_blocking(move || {
            let (status, body) = post_lines(&base, PEACH);
            assert!(status >= 400, "{status} {body}");
            assert!(body.contains(cause), "the answer names the cause: {body}");
            // Everything else still serves.
            let agent = ureq::Agent::new_with_defaults();
            agent
                .post(&format!("{base}/push"))
                .header("content-type", "application/json")
                .send(r#"{"still":{"up":1}}"#)
                .unwrap();
            assert_eq!(get(&base, "still"), serde_json::json!([["still,up", 1.0]]));
        })
        .await
        .unwrap();
        server.shutdown_token().cancel();
        tokio::time::timeout(Duration::from_secs(10), server.wait())
            .await
            .unwrap()
            .unwrap();
    }
}
