//! treestat-agent: the per-host agent.
//!
//! Will hold the module API, the built-in host modules, the Python (gmond) and native
//! module loaders, the buffered transports and the relay. See DESIGN.md §8.
