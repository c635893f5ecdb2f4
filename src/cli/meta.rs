//! `treestat completions SHELL` and `treestat man`: the shell completion script and the
//! manual page, both made from the command line's own definition and printed to stdout
//! (packagers put them in place: `treestat completions bash >
//! /usr/share/bash-completion/completions/treestat`, `treestat man >
//! /usr/local/share/man/man1/treestat.1`, `treestat man serve > .../treestat-serve.1`).

use std::io::Write;

use clap::Command;

/// Prints the completion script of the command line `cmd` for `shell`.
pub(super) fn completions(mut cmd: Command, shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, &mut cmd, "treestat", &mut out);
    out.flush()?;
    Ok(())
}

/// Prints the manual page (roff, section 1) of the command line `cmd`, or with a
/// command's name that command's own page (`treestat-serve(1)`, every flag), as `git
/// help` pages do.
pub(super) fn man(mut cmd: Command, command: Option<&str>) -> anyhow::Result<()> {
    // Built, so the subcommands carry the global flags (`--log-format`).
    cmd.build();
    let page = match command {
        None => cmd,
        Some(name) => cmd
            .find_subcommand(name)
            .filter(|s| !s.is_hide_set())
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no command {name:?} (`treestat --help` lists them)"))?
            // clap names are `&'static str` (without its `string` feature); the
            // process prints one page and exits.
            .name(&*Box::leak(format!("treestat-{name}").into_boxed_str()))
            .version(env!("CARGO_PKG_VERSION")),
    };
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(page).render(&mut out)?;
    out.flush()?;
    Ok(())
}
