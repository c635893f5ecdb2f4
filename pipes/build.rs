//! Lets test and bench binaries that embed Python find the pyenv libpython at run time.
//!
//! pyo3-build-config 0.27 (the workspace pin) has no `add_libpython_rpath_link_args`
//! (it arrived in a later release), so this adds the same rpath from the resolved
//! interpreter config.

fn main() {
    let cfg = pyo3_build_config::get();
    if let Some(dir) = &cfg.lib_dir {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
}
