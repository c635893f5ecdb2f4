//! The `treestat` binary: everything it does is in the library's `cli` module, so the
//! integration tests parse and run the very same commands.

fn main() -> anyhow::Result<()> {
    treestat::cli::run()
}
