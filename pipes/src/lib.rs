//! treestat-pipes: turns access-log lines into tree updates.
//!
//! Will hold the log formats (presets and nginx `log_format` strings compiled into fast
//! parsers), the small pipe API, the built-in pipes, the native (`.so`) and Python pipe
//! loaders, and the file tailer. See DESIGN.md §6.
