//! `serve` finds its host modules from the configuration file, not from the folder it
//! was started in (issue #12): the real binary, started in an unrelated working
//! folder, runs the module folder named by the `agent_conf` beside its `--conf`.

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;

use common::free_port;

#[test]
fn host_modules_come_from_the_config_files_folder_wherever_serve_starts() {
    let top = tempfile::tempdir().unwrap();
    let etc = top.path().join("etc");
    let elsewhere = top.path().join("elsewhere");
    std::fs::create_dir_all(etc.join("mods")).unwrap();
    std::fs::create_dir_all(elsewhere.join("conf/modules")).unwrap();
    std::fs::write(
        etc.join("treestat.toml"),
        "[server]\nagent_conf = \"agent.toml\"\n",
    )
    .unwrap();
    std::fs::write(
        etc.join("agent.toml"),
        "modules = \"mods\"\ninterval = \"1s\"\n",
    )
    .unwrap();
    std::fs::write(etc.join("mods/uptime.conf"), "").unwrap();
    let http = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_treestat"))
        .current_dir(&elsewhere)
        .arg("serve")
        .arg("--conf")
        .arg(etc.join("treestat.toml"))
        .arg("--data")
        .arg(top.path().join("data"))
        .args(["--http", &format!("127.0.0.1:{http}")])
        .args(["--tcp", "off", "--udp", "off", "--statsd", "off"])
        .args(["--graphite", "off", "--interval", "1s"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Generous: the module reports within a second or two.
    let deadline = Instant::now() + Duration::from_secs(120);
    let found = loop {
        if TcpStream::connect(("127.0.0.1", http)).is_ok()
            && let Ok(mut r) = ureq::get(&format!("http://127.0.0.1:{http}/all")).call()
        {
            let all = r.body_mut().read_to_string().unwrap();
            if all.contains("uptime") {
                break true;
            }
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(found, "the uptime module of etc/mods never reported");
}
