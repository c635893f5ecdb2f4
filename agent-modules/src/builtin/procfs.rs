//! Reading the kernel's text files (`/proc/stat`, `/proc/meminfo`, ...).

/// The whole file, or a message naming it.
pub(crate) fn read_file(path: &str) -> std::result::Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}
