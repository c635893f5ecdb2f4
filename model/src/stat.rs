//! The statistics a reader may ask of a leaf (`?stat=` on `/get`, `/api/q`, `/trend`, ...):
//! one vocabulary, parsed and printed here only.
//!
//! Two families share it. The quantile family (`p50` .. `p999`, `pN.N`) reads a
//! histogram leaf's sketch. Etsy statsd's flushed names (`count_ps`, `sum_squares`,
//! `median`, `lower`, `upper`, `std`, and per percent threshold N `upper_N`, `mean_N`,
//! `sum_N`, `count_N`, `sum_squares_N`, with Etsy's `lower_topN` ... for negative
//! thresholds) are printed exactly as Etsy names them (`upper_99_9` for 99.9), and
//! `upper_99.9` is accepted too.
//!
//! Percents are kept as thousandths of a percent (`p99.9` is 99 900), so a `Stat` is
//! `Eq` and `Hash` and prints back the way it was typed; three decimals are the most
//! a stat may carry.

use std::fmt;
use std::str::FromStr;

/// One statistic of a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stat {
    /// Number of samples.
    Count,
    /// Sum of the samples.
    Sum,
    /// Their mean (what a histogram leaf reports without `stat`).
    Mean,
    /// The smallest sample.
    Min,
    /// The largest sample.
    Max,
    /// A quantile, in thousandths of a percent: `p99` is 99 000, `p99.9` 99 900.
    Quantile(u32),
    /// Etsy's `count_ps`: samples per second of the interval.
    CountPs,
    /// The sum per second of the interval: a counter's (an `add` leaf's) rate, Etsy
    /// statsd's `stats.<name>` beside `stats_counts.<name>` (the plain value).
    Rate,
    /// Etsy's `sum_squares`: the sum of the squared samples.
    SumSquares,
    /// Etsy's `median`: the middle sample, or the mean of the two middle ones.
    Median,
    /// Etsy's `lower`: the smallest sample.
    Lower,
    /// Etsy's `upper`: the largest sample.
    Upper,
    /// Etsy's `std`: the population standard deviation.
    Std,
    /// A statistic of the samples within a percent threshold (Etsy's
    /// `percentThreshold`, in thousandths of a percent; negative: the top ones).
    Threshold(ThresholdStat, i32),
    /// Etsy's histogram bin `bin_<upper>`: how many samples of the interval fall below
    /// `upper` (in thousandths; `None`: Etsy's `inf`) and at or above the bin before it
    /// in the configured bins. Known only where stored (`[[listen.statsd_histogram]]`).
    Bin(Option<i32>),
}

/// What [`Stat::Threshold`] reports of the samples within the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThresholdStat {
    /// `upper_N` (`lower_topN` for a negative threshold): the boundary sample.
    Bound,
    /// `mean_N`.
    Mean,
    /// `sum_N`.
    Sum,
    /// `count_N`: how many samples are within.
    Count,
    /// `sum_squares_N`.
    SumSquares,
}

/// The thousandths in one percent.
pub const PERCENT: u32 = 1000;

impl Stat {
    /// The quantile a `Quantile` stat asks for, in 0..=1.
    pub fn quantile(per_mille_percent: u32) -> f64 {
        f64::from(per_mille_percent) / f64::from(PERCENT * 100)
    }

    /// The 0-based rank of the `q`-quantile of `n > 0` samples: the nearest rank,
    /// `ceil(q n)`-th smallest (`p99` of 3 samples is the largest, as Etsy's
    /// `upper_90` and most users read it; DDSketch's paper reads `floor(q (n - 1))`,
    /// the second). `q n` within a few ulps of a whole number counts as that number
    /// (`0.07 * 100` is `7.000000000000001` in floating point, and p7 of 100 samples
    /// is the 7th); `p0` is rank 0, `p100` rank `n - 1`.
    pub fn quantile_rank(q: f64, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Exact below 2^53 samples.
        #[allow(clippy::cast_precision_loss)]
        let x = q.clamp(0.0, 1.0) * n as f64;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let k = (x - x * 4.0 * f64::EPSILON).ceil() as u64;
        k.clamp(1, n) - 1
    }

    /// The threshold as Etsy's configured number (`90`, `99.9`, `-10`).
    pub fn threshold_percent(milli: i32) -> f64 {
        f64::from(milli) / f64::from(PERCENT)
    }

    /// Whether only a histogram leaf can answer it (the rest are read from any leaf's
    /// sum, count, min and max).
    pub fn needs_histogram(self) -> bool {
        !matches!(
            self,
            Stat::Count
                | Stat::Sum
                | Stat::Rate
                | Stat::Mean
                | Stat::Min
                | Stat::Max
                | Stat::Lower
                | Stat::Upper
        )
    }

    /// A bin's upper bound in thousandths, if `upper` is one (at most three decimals,
    /// within ±2,147,483).
    pub fn bin_milli(upper: f64) -> Option<i32> {
        let m = (upper * 1000.0).round();
        #[allow(clippy::cast_possible_truncation)] // checked to fit
        ((upper * 1000.0 - m).abs() < 1e-6 && m.abs() <= f64::from(i32::MAX)).then_some(m as i32)
    }
}

/// Parses a comma-separated list of stats (`p50,p99,upper_90`); empty parts are skipped.
///
/// # Errors
/// The first name that is not a stat.
pub fn parse_stats(list: &str) -> Result<Vec<Stat>, ParseStatError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect()
}

/// A name that is not a stat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseStatError(pub String);

impl fmt::Display for ParseStatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown stat {:?} (expected count, sum, rate, mean, min, max, pN or pN.N, count_ps, \
             sum_squares, median, lower, upper, std, upper_N, mean_N, sum_N, count_N, \
             sum_squares_N, lower_topN or bin_N)",
            self.0
        )
    }
}

impl std::error::Error for ParseStatError {}

/// Reads `99`, `99.9`, `99_9` (Etsy's spelling) as thousandths: at most three decimals.
fn parse_milli(s: &str) -> Option<u32> {
    let (int, frac) = match s.find(['.', '_']) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    if int.is_empty()
        || frac.len() > 3
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (s.contains(['.', '_']) && frac.is_empty())
    {
        return None;
    }
    let whole: u32 = int.parse().ok()?;
    let mut milli = whole.checked_mul(PERCENT)?;
    let mut scale = 100;
    for b in frac.bytes() {
        milli = milli.checked_add(u32::from(b - b'0') * scale)?;
        scale /= 10;
    }
    Some(milli)
}

/// Prints thousandths of a percent as `99`, or with `sep` before the decimals (`99.9`).
fn write_milli(f: &mut fmt::Formatter<'_>, milli: u32, sep: char) -> fmt::Result {
    let whole = milli / PERCENT;
    let frac = milli % PERCENT;
    if frac == 0 {
        return write!(f, "{whole}");
    }
    let digits = format!("{frac:03}");
    write!(f, "{whole}{sep}{}", digits.trim_end_matches('0'))
}

impl FromStr for Stat {
    type Err = ParseStatError;

    fn from_str(s: &str) -> Result<Stat, ParseStatError> {
        let bad = || ParseStatError(s.to_string());
        let lower = s.to_ascii_lowercase();
        let plain = match lower.as_str() {
            "count" => Some(Stat::Count),
            "sum" => Some(Stat::Sum),
            "mean" | "avg" | "average" => Some(Stat::Mean),
            "min" => Some(Stat::Min),
            "max" => Some(Stat::Max),
            "count_ps" => Some(Stat::CountPs),
            "rate" => Some(Stat::Rate),
            "sum_squares" => Some(Stat::SumSquares),
            "median" => Some(Stat::Median),
            "lower" => Some(Stat::Lower),
            "upper" => Some(Stat::Upper),
            "std" => Some(Stat::Std),
            _ => None,
        };
        if let Some(stat) = plain {
            return Ok(stat);
        }
        if let Some(n) = lower.strip_prefix("bin_") {
            if n == "inf" {
                return Ok(Stat::Bin(None));
            }
            // Etsy writes `bin_0_5` for 0.5.
            let (neg, n) = n.strip_prefix('-').map_or((false, n), |r| (true, r));
            let milli = parse_milli(n).ok_or_else(bad)?;
            let milli = i32::try_from(milli).map_err(|_| bad())?;
            return Ok(Stat::Bin(Some(if neg { -milli } else { milli })));
        }
        if let Some(n) = lower.strip_prefix('p') {
            // `p999` is the common spelling of 99.9 (digits after a leading `99` are
            // decimals); `p50`, `p99.9` are read as written.
            let milli =
                if n.len() > 2 && n.starts_with("99") && n.bytes().all(|b| b.is_ascii_digit()) {
                    parse_milli(&format!("{}.{}", &n[..2], &n[2..]))
                } else {
                    parse_milli(n)
                };
            return match milli {
                Some(m) if m <= 100 * PERCENT => Ok(Stat::Quantile(m)),
                _ => Err(bad()),
            };
        }
        let prefixes = [
            ("sum_squares_", ThresholdStat::SumSquares),
            ("upper_", ThresholdStat::Bound),
            ("lower_", ThresholdStat::Bound),
            ("mean_", ThresholdStat::Mean),
            ("sum_", ThresholdStat::Sum),
            ("count_", ThresholdStat::Count),
        ];
        for (prefix, what) in prefixes {
            let Some(n) = lower.strip_prefix(prefix) else {
                continue;
            };
            let (top, n) = match n.strip_prefix("top") {
                Some(rest) => (true, rest),
                None => (false, n),
            };
            // Etsy names a negative threshold's bound `lower_topN`, a positive one's
            // `upper_N`; the other pairings name nothing.
            if prefix == "lower_" && !top || prefix == "upper_" && top {
                return Err(bad());
            }
            let milli = parse_milli(n)
                .filter(|&m| m > 0 && m <= 100 * PERCENT)
                .ok_or_else(bad)?;
            let milli = i32::try_from(milli).map_err(|_| bad())?;
            return Ok(Stat::Threshold(what, if top { -milli } else { milli }));
        }
        Err(bad())
    }
}

impl fmt::Display for Stat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Stat::Count => "count",
            Stat::Sum => "sum",
            Stat::Mean => "mean",
            Stat::Min => "min",
            Stat::Max => "max",
            Stat::CountPs => "count_ps",
            Stat::Rate => "rate",
            Stat::SumSquares => "sum_squares",
            Stat::Median => "median",
            Stat::Lower => "lower",
            Stat::Upper => "upper",
            Stat::Std => "std",
            Stat::Quantile(m) => {
                f.write_str("p")?;
                return write_milli(f, *m, '.');
            }
            Stat::Bin(None) => "bin_inf",
            Stat::Bin(Some(m)) => {
                f.write_str("bin_")?;
                if *m < 0 {
                    f.write_str("-")?;
                }
                return write_milli(f, m.unsigned_abs(), '_');
            }
            Stat::Threshold(what, milli) => {
                let top = *milli < 0;
                let prefix = match what {
                    ThresholdStat::Bound if top => "lower_",
                    ThresholdStat::Bound => "upper_",
                    ThresholdStat::Mean => "mean_",
                    ThresholdStat::Sum => "sum_",
                    ThresholdStat::Count => "count_",
                    ThresholdStat::SumSquares => "sum_squares_",
                };
                f.write_str(prefix)?;
                if top {
                    f.write_str("top")?;
                }
                return write_milli(f, milli.unsigned_abs(), '_');
            }
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in [
            "count",
            "sum",
            "mean",
            "min",
            "max",
            "p50",
            "p99",
            "p99.9",
            "p12.345",
            "count_ps",
            "rate",
            "sum_squares",
            "median",
            "lower",
            "upper",
            "std",
            "upper_90",
            "upper_99_9",
            "mean_90",
            "sum_90",
            "count_90",
            "sum_squares_90",
            "lower_top10",
            "mean_top10",
            "bin_100",
            "bin_0_5",
            "bin_inf",
        ] {
            let s: Stat = name.parse().unwrap();
            assert_eq!(s.to_string(), name);
        }
        assert_eq!("p999".parse(), Ok(Stat::Quantile(99_900)));
        assert_eq!("bin_0_5".parse(), Ok(Stat::Bin(Some(500))));
        assert_eq!("bin_inf".parse(), Ok(Stat::Bin(None)));
        assert_eq!("p9999".parse(), Ok(Stat::Quantile(99_990)));
        assert_eq!("p100".parse(), Ok(Stat::Quantile(100_000)));
        assert_eq!("p5".parse(), Ok(Stat::Quantile(5_000)));
        assert_eq!(
            "upper_99.9".parse(),
            Ok(Stat::Threshold(ThresholdStat::Bound, 99_900))
        );
        assert_eq!(
            parse_stats("p50, upper_90,,mean"),
            Ok(vec![
                Stat::Quantile(50_000),
                Stat::Threshold(ThresholdStat::Bound, 90_000),
                Stat::Mean
            ])
        );
        for bad in [
            "p",
            "p101",
            "p9.",
            "p1.2345",
            "upper_",
            "upper_0",
            "lower_10",
            "upper_top10",
            "median_",
            "sum_x",
            "bogus",
        ] {
            assert!(bad.parse::<Stat>().is_err(), "{bad}");
        }
    }

    /// Nearest rank (issue 15): p99 of three samples is the largest, p50 of four the
    /// second; products a hair above a whole number in floating point are that number.
    #[test]
    fn quantile_ranks_are_nearest_ranks() {
        let r = Stat::quantile_rank;
        assert_eq!(r(0.99, 3), 2);
        assert_eq!(r(0.9, 3), 2);
        assert_eq!(r(0.5, 4), 1);
        assert_eq!(r(0.5, 5), 2);
        assert_eq!(r(0.0, 7), 0);
        assert_eq!(r(1.0, 7), 6);
        assert_eq!(r(0.5, 1), 0);
        for p in 1..=100u32 {
            // p-th of 1..=100 is the p-th sample: rank p - 1.
            assert_eq!(
                r(Stat::quantile(p * PERCENT), 100),
                u64::from(p) - 1,
                "p{p}"
            );
        }
        assert_eq!(r(Stat::quantile(99_900), 1000), 998);
        assert_eq!(r(Stat::quantile(99_900), 1001), 999);
    }
}
