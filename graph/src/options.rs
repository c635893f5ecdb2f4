//! Chart options and their parsing from URL query parameters.
//!
//! Sizes are bounded, not clamped: `width=100000` is an error that says the bounds, so a
//! dashboard author sees the mistake instead of a silently different image. Unknown
//! parameter names are ignored (the web layer shares the query string with other
//! options); unknown values of known parameters are errors naming the parameter.

use crate::GraphError;
use crate::theme::{Rgb, Theme};
use crate::time::{Tz, parse_time};

/// Smallest accepted width or height, in pixels.
pub const MIN_SIZE: u32 = 16;
/// Largest accepted width or height, in pixels (a 4096x4096 RGBA canvas is 64 MiB).
pub const MAX_SIZE: u32 = 4096;
/// Default size, as used when `width`/`height` are not given.
pub const DEFAULT_WIDTH: u32 = 800;
/// Default height.
pub const DEFAULT_HEIGHT: u32 = 400;
/// Default range when `from` is not given: one day before `until`.
pub const DEFAULT_RANGE_SECS: i64 = 86_400;
/// Longest accepted title, in characters.
pub const MAX_TITLE_CHARS: usize = 500;
/// Most colours accepted in `colors`.
pub const MAX_COLORS: usize = 64;
/// Accepted `lineWidth` range, in pixels.
pub const LINE_WIDTH_RANGE: (f64, f64) = (0.1, 20.0);

/// How each series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChartType {
    /// Lines (the default).
    #[default]
    Line,
    /// Lines with a translucent fill down to zero, series overlapping.
    Area,
    /// Filled bands stacked on each other.
    Stacked,
    /// Bars per time bucket, series side by side.
    Bar,
}

/// What the chart is about; fixes axis, units and arrangement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    /// Plain values with SI-scaled axis labels.
    #[default]
    Default,
    /// Percentages stacked on a fixed 0-100 axis (Ganglia's CPU report).
    Cpu,
    /// Bytes per second with SI units: inbound series above the axis, outbound mirrored
    /// below it.
    Net,
    /// Horizontal bars of the top series by total (a "top URLs" chart); ignores `type`.
    Url,
}

/// How missing buckets (time without data inside a series, see [`crate::Series::step`])
/// are drawn: `gaps=gap` (the default) or `gaps=zero`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Gaps {
    /// Left empty: the line, band or bars stop and start again; nothing is drawn across
    /// time without data.
    #[default]
    Gap,
    /// Drawn as zero (Graphite's `drawNullAsZero`): the series steps down to 0 one step
    /// after its last point and back up one step before the next.
    Zero,
}

/// Everything about a chart except its data. Build with [`GraphOptions::new`] or
/// [`GraphOptions::from_query`]; [`crate::render`] checks the bounds again, so setting
/// fields directly is safe.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphOptions {
    /// Start of the time axis, unix seconds.
    pub from: i64,
    /// End of the time axis, unix seconds; must be after `from`.
    pub until: i64,
    /// Pixels, [`MIN_SIZE`]..=[`MAX_SIZE`].
    pub width: u32,
    /// Pixels, [`MIN_SIZE`]..=[`MAX_SIZE`].
    pub height: u32,
    /// `type`.
    pub chart_type: ChartType,
    /// `style`.
    pub style: Style,
    /// `theme`.
    pub theme: Theme,
    /// Drawn centred above the plot.
    pub title: Option<String>,
    /// Whether to draw the legend (default on).
    pub legend: bool,
    /// Fixed bottom of the y axis instead of the data's.
    pub y_min: Option<f64>,
    /// Fixed top of the y axis instead of the data's.
    pub y_max: Option<f64>,
    /// Width of series lines in pixels (default 1.5).
    pub line_width: f64,
    /// Series colours in order, instead of the theme's palette (cycled).
    pub colors: Vec<Rgb>,
    /// Zone of the time axis labels.
    pub tz: Tz,
    /// How missing buckets are drawn (`gaps`).
    pub gaps: Gaps,
}

impl GraphOptions {
    /// Defaults: the day before `now`, 800x400, line, default style, light theme, legend
    /// on, UTC.
    pub fn new(now: i64) -> Self {
        Self {
            from: now.saturating_sub(DEFAULT_RANGE_SECS),
            until: now,
            width: DEFAULT_WIDTH,
            height: DEFAULT_HEIGHT,
            chart_type: ChartType::Line,
            style: Style::Default,
            theme: Theme::Light,
            title: None,
            legend: true,
            y_min: None,
            y_max: None,
            line_width: 1.5,
            colors: Vec::new(),
            tz: Tz::UTC,
            gaps: Gaps::Gap,
        }
    }

    /// Parses URL query parameters: `from`, `until`, `width`, `height`, `style`, `type`,
    /// `theme`, `title`, `legend`, `yMin`, `yMax`, `lineWidth`, `colors`, `tz`, `gaps`.
    /// Times are resolved against `now` with [`parse_time`]. A repeated parameter: the
    /// last wins. Other names are ignored. Without `tz` the labels are in UTC.
    ///
    /// # Errors
    /// The first bad parameter, named in the error ([`GraphError::param`]).
    pub fn from_query(params: &[(String, String)], now: i64) -> Result<Self, GraphError> {
        Self::from_query_in_zone(params, now, Tz::UTC)
    }

    /// [`GraphOptions::from_query`] with `zone` as the default of `tz` (a server passes
    /// its own zone, [`Tz::local`]).
    ///
    /// # Errors
    /// The first bad parameter, named in the error ([`GraphError::param`]).
    pub fn from_query_in_zone(
        params: &[(String, String)],
        now: i64,
        zone: Tz,
    ) -> Result<Self, GraphError> {
        let mut o = Self::new(now);
        o.tz = zone;
        let (mut from, mut until) = (None, None);
        for (name, value) in params {
            let v = value.as_str();
            match name.as_str() {
                "from" => from = Some(v),
                "until" => until = Some(v),
                "width" => o.width = parse_size("width", v)?,
                "height" => o.height = parse_size("height", v)?,
                "style" => o.style = parse_style(v)?,
                "type" => o.chart_type = parse_type(v)?,
                "theme" => o.theme = parse_theme(v)?,
                "title" => o.title = (!v.trim().is_empty()).then(|| v.trim().to_owned()),
                "legend" => o.legend = parse_bool("legend", v)?,
                "yMin" => o.y_min = Some(parse_finite("yMin", v)?),
                "yMax" => o.y_max = Some(parse_finite("yMax", v)?),
                "lineWidth" => o.line_width = parse_finite("lineWidth", v)?,
                "colors" => o.colors = parse_colors(v)?,
                "tz" => o.tz = Tz::parse(v)?,
                "gaps" => o.gaps = parse_gaps(v)?,
                _ => {}
            }
        }
        if let Some(u) = until {
            o.until = parse_time(u, now).map_err(|e| e.for_param("until"))?;
        }
        o.from = match from {
            Some(f) => parse_time(f, now).map_err(|e| e.for_param("from"))?,
            None => o.until.saturating_sub(DEFAULT_RANGE_SECS).max(0),
        };
        o.validate()?;
        Ok(o)
    }

    /// Checks every bound; [`crate::render`] calls it first.
    ///
    /// # Errors
    /// The first field out of bounds, named as its query parameter.
    pub fn validate(&self) -> Result<(), GraphError> {
        check_size("width", self.width)?;
        check_size("height", self.height)?;
        if self.from >= self.until {
            return Err(GraphError::option(
                "from",
                format!("from ({}) must be before until ({})", self.from, self.until),
            ));
        }
        let (lo, hi) = LINE_WIDTH_RANGE;
        if !(lo..=hi).contains(&self.line_width) {
            return Err(GraphError::option(
                "lineWidth",
                format!("{} is outside {lo}..={hi}", self.line_width),
            ));
        }
        for (name, v) in [("yMin", self.y_min), ("yMax", self.y_max)] {
            if v.is_some_and(|v| !v.is_finite()) {
                return Err(GraphError::option(name, "must be a finite number"));
            }
        }
        if let (Some(lo), Some(hi)) = (self.y_min, self.y_max)
            && lo >= hi
        {
            return Err(GraphError::option(
                "yMin",
                format!("yMin ({lo}) must be below yMax ({hi})"),
            ));
        }
        if self
            .title
            .as_ref()
            .is_some_and(|t| t.chars().count() > MAX_TITLE_CHARS)
        {
            return Err(GraphError::option(
                "title",
                format!("longer than {MAX_TITLE_CHARS} characters"),
            ));
        }
        if self.colors.len() > MAX_COLORS {
            return Err(GraphError::option(
                "colors",
                format!("more than {MAX_COLORS} colours"),
            ));
        }
        Ok(())
    }
}

fn check_size(name: &str, v: u32) -> Result<(), GraphError> {
    if (MIN_SIZE..=MAX_SIZE).contains(&v) {
        Ok(())
    } else {
        Err(GraphError::option(
            name,
            format!("{v} is outside {MIN_SIZE}..={MAX_SIZE} pixels"),
        ))
    }
}

fn parse_size(name: &str, v: &str) -> Result<u32, GraphError> {
    let n: i64 = v
        .trim()
        .parse()
        .map_err(|_| GraphError::option(name, format!("{v:?} is not a whole number of pixels")))?;
    let n = u32::try_from(n).map_err(|_| {
        GraphError::option(
            name,
            format!("{n} is outside {MIN_SIZE}..={MAX_SIZE} pixels"),
        )
    })?;
    check_size(name, n)?;
    Ok(n)
}

fn parse_style(v: &str) -> Result<Style, GraphError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "" | "default" => Ok(Style::Default),
        "cpu" => Ok(Style::Cpu),
        "net" => Ok(Style::Net),
        "url" => Ok(Style::Url),
        _ => Err(GraphError::option(
            "style",
            format!("unknown style {v:?}; use default, cpu, net or url"),
        )),
    }
}

fn parse_type(v: &str) -> Result<ChartType, GraphError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "" | "line" => Ok(ChartType::Line),
        "area" => Ok(ChartType::Area),
        "stacked" | "stack" => Ok(ChartType::Stacked),
        "bar" | "bars" => Ok(ChartType::Bar),
        _ => Err(GraphError::option(
            "type",
            format!("unknown type {v:?}; use line, area, stacked or bar"),
        )),
    }
}

fn parse_gaps(v: &str) -> Result<Gaps, GraphError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "" | "gap" | "gaps" | "none" => Ok(Gaps::Gap),
        "zero" | "0" => Ok(Gaps::Zero),
        _ => Err(GraphError::option(
            "gaps",
            format!("unknown value {v:?}; use gap or zero"),
        )),
    }
}

fn parse_theme(v: &str) -> Result<Theme, GraphError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "" | "light" => Ok(Theme::Light),
        "dark" => Ok(Theme::Dark),
        _ => Err(GraphError::option(
            "theme",
            format!("unknown theme {v:?}; use light or dark"),
        )),
    }
}

fn parse_bool(name: &str, v: &str) -> Result<bool, GraphError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "" | "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        _ => Err(GraphError::option(name, format!("{v:?} is not on/off"))),
    }
}

fn parse_finite(name: &str, v: &str) -> Result<f64, GraphError> {
    match v.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(GraphError::option(
            name,
            format!("{v:?} is not a finite number"),
        )),
    }
}

fn parse_colors(v: &str) -> Result<Vec<Rgb>, GraphError> {
    let list: Vec<&str> = v
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    if list.len() > MAX_COLORS {
        return Err(GraphError::option(
            "colors",
            format!("more than {MAX_COLORS} colours"),
        ));
    }
    list.into_iter()
        .map(|c| {
            Rgb::parse_hex(c).ok_or_else(|| {
                GraphError::option("colors", format!("{c:?} is not a hex colour like #1f77b4"))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn q(pairs: &[(&str, &str)]) -> Result<GraphOptions, GraphError> {
        let v: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        GraphOptions::from_query(&v, NOW)
    }

    #[test]
    fn parses_every_parameter() {
        let o = q(&[
            ("from", "-6h"),
            ("until", "now"),
            ("width", "400"),
            ("height", "200"),
            ("style", "net"),
            ("type", "area"),
            ("theme", "dark"),
            ("title", " Traffic "),
            ("legend", "off"),
            ("yMin", "-5"),
            ("yMax", "1e3"),
            ("lineWidth", "2"),
            ("colors", "#ff0000,00ff00,abc"),
            ("tz", "+08:00"),
            ("gaps", "zero"),
            ("points", "ignored"),
        ])
        .unwrap();
        assert_eq!((o.from, o.until), (NOW - 6 * 3600, NOW));
        assert_eq!((o.width, o.height), (400, 200));
        assert_eq!(
            (o.style, o.chart_type, o.theme),
            (Style::Net, ChartType::Area, Theme::Dark)
        );
        assert_eq!(o.title.as_deref(), Some("Traffic"));
        assert!(!o.legend);
        assert_eq!(
            (o.y_min, o.y_max, o.line_width),
            (Some(-5.0), Some(1000.0), 2.0)
        );
        assert_eq!(
            o.colors,
            vec![Rgb(255, 0, 0), Rgb(0, 255, 0), Rgb(0xaa, 0xbb, 0xcc)]
        );
        assert_eq!(o.tz.offset_at(NOW), 8 * 3600);
        assert_eq!(o.gaps, Gaps::Zero);
    }

    #[test]
    fn defaults() {
        let o = q(&[]).unwrap();
        assert_eq!(o, GraphOptions::new(NOW));
        let o = q(&[("until", "-1h")]).unwrap();
        assert_eq!(o.from, NOW - 3600 - DEFAULT_RANGE_SECS);
        let paris = Tz::parse("Europe/Paris").unwrap();
        let o = GraphOptions::from_query_in_zone(&[], NOW, paris.clone()).unwrap();
        assert_eq!(o.tz, paris);
        let tz = [("tz".to_string(), "UTC".to_string())];
        let o = GraphOptions::from_query_in_zone(&tz, NOW, paris).unwrap();
        assert_eq!(o.tz, Tz::UTC);
    }

    #[test]
    fn errors_name_the_parameter() {
        for (pairs, param) in [
            (vec![("width", "100000")], "width"),
            (vec![("width", "-5")], "width"),
            (vec![("height", "0")], "height"),
            (vec![("height", "abc")], "height"),
            (vec![("style", "pie")], "style"),
            (vec![("type", "donut")], "type"),
            (vec![("theme", "blue")], "theme"),
            (vec![("legend", "maybe")], "legend"),
            (vec![("yMin", "NaN")], "yMin"),
            (vec![("yMin", "5"), ("yMax", "1")], "yMin"),
            (vec![("lineWidth", "500")], "lineWidth"),
            (vec![("colors", "red")], "colors"),
            (vec![("tz", "Europe/Atlantis")], "tz"),
            (vec![("gaps", "interpolate")], "gaps"),
            (vec![("from", "-1h"), ("until", "-2h")], "from"),
            (vec![("from", "soon")], "from"),
            // `-3m` was refused here before issue 17 (m is minutes now, as in /trend).
            (vec![("until", "-3parsecs")], "until"),
        ] {
            let e = q(&pairs).unwrap_err();
            assert_eq!(e.param(), Some(param), "{pairs:?}: {e}");
            assert!(e.is_client_error());
            assert!(e.to_string().starts_with(&format!("bad {param}:")), "{e}");
        }
    }
}
