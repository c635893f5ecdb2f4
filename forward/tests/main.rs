//! The forward crate's one integration-test binary (issue 17): each file a module.

mod carbon;
mod common;
mod faults;
mod points;
mod prometheus;
