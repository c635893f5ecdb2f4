//! The fuzz binaries link libpython through treestat-pipes: add its directory as an
//! rpath (as the root crate's build.rs does), so they start without LD_LIBRARY_PATH.

fn main() {
    let cfg = pyo3_build_config::get();
    if let Some(dir) = &cfg.lib_dir {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
}
