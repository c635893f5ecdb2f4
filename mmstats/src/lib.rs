//! treestat-mmstats: the mmstats version-1 file format ("/proc for your application").
//!
//! Will hold the single-writer, double-buffered writer and the reader used by the
//! agent's `mmstats` module and the `treestat mmstats` commands.
