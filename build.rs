//! Records libpython's directory as an rpath of the `treestat` binary, so the Python
//! pipes and agent modules (pyo3) find the same libpython at run time that the build
//! linked against, without `LD_LIBRARY_PATH`. (The pinned pyo3-build-config has no
//! `add_libpython_rpath_link_args`; this is what it does.)

fn main() {
    let cfg = pyo3_build_config::get();
    if let Some(dir) = &cfg.lib_dir {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-changed=build.rs");
}
