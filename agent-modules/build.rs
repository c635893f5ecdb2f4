//! Embeds libpython's directory as an rpath so test, bench and example binaries that
//! embed Python find libpython3.x.so at run time without LD_LIBRARY_PATH.
//!
//! pyo3-build-config 0.27 has no `add_libpython_rpath_link_args` (the name the working
//! rules give), so this does the same from the resolved interpreter config.

fn main() {
    let config = pyo3_build_config::get();
    if let Some(dir) = &config.lib_dir {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
