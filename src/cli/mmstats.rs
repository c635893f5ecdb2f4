//! `treestat mmstats slurp|poll|clean`, as the original slurpstats, pollstats and
//! cleanstats.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum MmstatsCommand {
    /// Print every field of every file (default: the mmstats-* files in $MMSTATS_PATH
    /// or the temp dir), as slurpstats does.
    Slurp {
        /// Files or directories.
        files: Vec<PathBuf>,
    },
    /// A vmstat-like line per tick with the change of each field since the last tick,
    /// summed over files, as pollstats does.
    Poll {
        /// Label prefix put in front of every field name.
        #[arg(short = 'p', long, default_value = "")]
        prefix: String,
        /// Number of lines to print (default: until interrupted).
        #[arg(short = 'c', long)]
        count: Option<u64>,
        /// Seconds between lines.
        #[arg(short = 'd', long, default_value_t = 1.0)]
        delay: f64,
        /// Field names, comma-separated.
        fields: String,
        /// Files or directories.
        files: Vec<PathBuf>,
    },
    /// Remove files whose writer process is gone; keep live ones, as cleanstats does.
    Clean {
        /// Files or directories.
        files: Vec<PathBuf>,
    },
}

pub(super) fn mmstats(cmd: MmstatsCommand) -> anyhow::Result<()> {
    use treestat_mmstats as mm;
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    match cmd {
        MmstatsCommand::Slurp { files } => {
            let report = mm::slurp(&mm::expand_files(&files), &mut out, &mut err)?;
            if !report.failed.is_empty() {
                anyhow::bail!("{} file(s) could not be read", report.failed.len());
            }
        }
        MmstatsCommand::Poll {
            prefix,
            count,
            delay,
            fields,
            files,
        } => {
            let delay = Duration::try_from_secs_f64(delay)
                .map_err(|_| anyhow::anyhow!("--delay {delay} is not a number of seconds"))?;
            let files = mm::expand_files(&files);
            mm::poll(&prefix, &[fields], &files, count, delay, &mut out, &mut err)?;
        }
        MmstatsCommand::Clean { files } => {
            let report = mm::clean(&mm::expand_files(&files), &mut out)?;
            drop(report);
        }
    }
    Ok(())
}
