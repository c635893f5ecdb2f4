//! treestat-engine: the metric tree, actions, path queries, intervals, the trend store
//! and the push listeners. See DESIGN.md §2-§4 and §7.
