//! The `treestat` command line: parses flags, loads the configuration and calls into the
//! library crates. Nothing here holds logic of its own.

fn main() {
    println!("treestat {}", env!("CARGO_PKG_VERSION"));
}
