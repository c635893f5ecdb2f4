//! The built-in pipes and how a pipe config entry becomes one.
//!
//! | name | trees |
//! |---|---|
//! | `ua` | `br,<family>,<ver>`, `os,<family>,<ver>`, `engine,<name>,<ver>`, `vendor,<name>,<ver>` |
//! | `status` | `status,<c>xx,<code>` |
//! | `errors` | `errors,<code>,<url>` for 4xx and 5xx |
//! | `bytes` | `bytes,total`, `bytes,avg` |
//! | `request_time`, `upstream_time` | `<name>,avg`, `<name>,max`, `<name>,bucket,<le>`; histograms `<name>,hist`, `<name>,status,<c>xx`, `<name>,host,<host>`, `<name>,url,<path>` |
//! | `url` | `url,<path>` (capped, rest under `url,other`) |
//! | `host` | `host,<host>` (capped) |
//! | `geo` | `geo,<continent>,<country>,<city>` (needs `path` to a MaxMind database) |

pub mod counts;
pub mod geo;
pub mod latency;
pub mod ua;

use crate::pipeline::PipeConfig;
use counts::{CountKind, CountPipe};
use treestat_pipe_api::{Pipe, PipeError};

/// Names of the built-in pipes.
pub const BUILTINS: [&str; 9] = [
    "ua",
    "status",
    "errors",
    "bytes",
    "request_time",
    "upstream_time",
    "url",
    "host",
    "geo",
];

/// Default cap on distinct URLs (`url`, `errors`) and hosts.
pub const DEFAULT_CAP: usize = 1000;

/// Builds a built-in pipe from its config entry; `None` if `cfg.pipe` names none.
pub fn build(cfg: &PipeConfig) -> Option<Result<Box<dyn Pipe>, PipeError>> {
    let cap = cfg.cap.unwrap_or(DEFAULT_CAP);
    let boxed = |p: Box<dyn Pipe>| Ok(p);
    let pipe = match cfg.pipe.as_str() {
        "ua" => match &cfg.path {
            Some(p) => ua::UaPipe::with_regexes(p).map(|p| Box::new(p) as Box<dyn Pipe>),
            None => boxed(Box::<ua::UaPipe>::default()),
        },
        "status" => boxed(Box::new(CountPipe::new(CountKind::Status, cap))),
        "errors" => boxed(Box::new(CountPipe::new(CountKind::Errors, cap))),
        "url" => boxed(Box::new(CountPipe::new(CountKind::Url, cap))),
        "host" => boxed(Box::new(CountPipe::new(CountKind::Host, cap))),
        "bytes" => boxed(Box::<latency::BytesPipe>::default()),
        "request_time" => latency::LatencyPipe::request_time(cfg.buckets.clone(), cap)
            .map(|p| Box::new(p) as Box<dyn Pipe>),
        "upstream_time" => latency::LatencyPipe::upstream_time(cfg.buckets.clone(), cap)
            .map(|p| Box::new(p) as Box<dyn Pipe>),
        "geo" => match &cfg.path {
            Some(p) => geo::GeoPipe::open(p).map(|p| Box::new(p) as Box<dyn Pipe>),
            None => Err(PipeError::new(
                "geo needs `path` to a MaxMind City or Country database (.mmdb)",
            )),
        },
        _ => return None,
    };
    Some(pipe)
}
