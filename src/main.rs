//! The `treestat` binary: everything it does is in the library's `cli` module, so the
//! integration tests parse and run the very same commands.

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    treestat::cli::main()
}

/// Malloc arenas when `MALLOC_ARENA_MAX` does not say otherwise.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_ARENAS: libc::c_int = 2;

/// glibc gives each thread that meets a locked arena one of its own, up to eight per
/// core, and keeps what each arena once held. With the server's many threads (tokio
/// workers, blocking renders and reads, the store's writer and compactor) the 30-minute
/// soak (`bench/soak.py`) ran about 90 MiB lower with two arenas than with glibc's
/// default: peak 268 against 367 MiB. Both runs still rose about 75 MiB an hour after
/// their warm-up; that rise is not explained yet (docs/OPERATIONS.md). Set before any
/// thread starts; an operator's own `MALLOC_ARENA_MAX` wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a malloc parameter; called before any other thread
        // exists, with a parameter and value glibc documents.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
        }
    }
}
