//! treestat-graphite: the core of treestat's Graphite render and find API
//! (docs/GRAFANA.md): target expressions ([`expr`]), the functions dashboards use with
//! graphite-web 1.1.8's semantics ([`funcs`]), names ([`names`]), Graphite's time
//! formats ([`time`]), and the answers' formats ([`output`]).
//!
//! It knows nothing of treestat's store: the web crate implements [`Source`] over the
//! trend store and the engine's ring, and this crate does the rest.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod args;
mod error;
pub mod eval;
pub mod expr;
pub mod funcs;
pub mod names;
pub mod output;
mod render;
pub mod series;
pub mod time;

pub use args::{Ctx, Source};
pub use error::Error;
pub use eval::eval;
pub use render::{VERSION, align, render};
pub use series::{Consolidate, Series};
