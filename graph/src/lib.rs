//! treestat-graph: renders series into PNG, SVG and JPEG charts.
//!
//! Will hold the chart model (series, markers, options), the layout (axes, legend,
//! ticks) and the encoders. See DESIGN.md §5 (`/graph`).
