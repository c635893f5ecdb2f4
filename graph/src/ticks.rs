//! Axis arithmetic: "nice" y ticks (1, 2, 2.5, 5 x 10^n) with SI-scaled labels, and time
//! ticks on the boundaries people read (10 s, 5 min, hours, local midnight, Mondays, months,
//! years) in the chart's time zone.

use crate::time::{Civil, Tz, civil_from_days, days_from_civil};

/// A resolved value axis.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct YAxis {
    pub lo: f64,
    pub hi: f64,
    pub step: f64,
    pub ticks: Vec<f64>,
}

/// Values beyond this are clamped so that `hi - lo` stays finite.
const LIMIT: f64 = 1e300;

/// The axis for data spanning `min..=max` with about `target` intervals; a fixed end
/// (`yMin`/`yMax`) is kept exactly, the other end is rounded out to a tick.
pub(crate) fn y_axis(
    min: f64,
    max: f64,
    target: usize,
    fix_lo: Option<f64>,
    fix_hi: Option<f64>,
) -> YAxis {
    let (mut a, mut b) = if min.is_finite() && max.is_finite() && min <= max {
        (min, max)
    } else {
        (0.0, 1.0)
    };
    if let Some(lo) = fix_lo {
        a = lo;
    }
    if let Some(hi) = fix_hi {
        b = hi;
    }
    a = a.clamp(-LIMIT, LIMIT);
    b = b.clamp(-LIMIT, LIMIT);
    if b <= a {
        if fix_hi.is_some() && fix_lo.is_none() {
            a = b - (b.abs() * 0.1).max(1.0);
        } else if a == 0.0 {
            b = 1.0;
        } else {
            b = a + (a.abs() * 0.1).max(f64::MIN_POSITIVE * 1e10);
            if fix_lo.is_none() {
                a -= a.abs() * 0.1;
            }
        }
    }
    let step = nice_step((b - a) / f64::from(u32::try_from(target.max(1)).unwrap_or(5)));
    let lo = if fix_lo.is_some() {
        a
    } else {
        (a / step).floor() * step
    };
    let hi = if fix_hi.is_some() {
        b
    } else {
        (b / step).ceil() * step
    };
    let first = (lo / step - 1e-9).ceil();
    let mut ticks = Vec::new();
    for k in 0..64 {
        let v = (first + f64::from(k)) * step;
        if v > hi + step * 1e-9 {
            break;
        }
        ticks.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
    }
    YAxis {
        lo,
        hi,
        step,
        ticks,
    }
}

/// A symmetric axis `-hi..=hi` for mirrored (`net`) charts: `hi` is `m` rounded up to
/// 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 x 10^n; ticks at 0, ±hi and, when `fine`, ±hi/2.
pub(crate) fn mirrored_axis(m: f64, fine: bool) -> YAxis {
    let m = if m.is_finite() && m > 0.0 {
        m.min(LIMIT)
    } else {
        1.0
    };
    let mag = 10f64.powf(m.log10().floor());
    let f = m / mag;
    let nf = [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .into_iter()
        .find(|&n| f <= n * (1.0 + 1e-12))
        .unwrap_or(10.0);
    let hi = nf * mag;
    let ticks = if fine {
        vec![-hi, -hi / 2.0, 0.0, hi / 2.0, hi]
    } else {
        vec![-hi, 0.0, hi]
    };
    YAxis {
        lo: -hi,
        hi,
        step: if fine { hi / 2.0 } else { hi },
        ticks,
    }
}

fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nf = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 2.5 {
        2.5
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nf * mag
}

/// How an axis' labels are scaled: one SI prefix and one number of decimals for all.
#[derive(Debug, Clone)]
pub(crate) struct SiScale {
    div: f64,
    prefix: &'static str,
    decimals: usize,
    unit: &'static str,
}

impl SiScale {
    /// For an axis whose largest absolute tick is `max_abs` and whose step is `step`;
    /// `unit` (like `B/s`) follows the prefix after a space.
    pub fn new(max_abs: f64, step: f64, unit: &'static str) -> SiScale {
        const UP: [(f64, &str); 6] = [
            (1e18, "E"),
            (1e15, "P"),
            (1e12, "T"),
            (1e9, "G"),
            (1e6, "M"),
            (1e3, "k"),
        ];
        const DOWN: [(f64, &str); 3] = [(1e-3, "m"), (1e-6, "µ"), (1e-9, "n")];
        // Below 10,000 plain numbers read better than "0.25k".
        let (div, prefix) = if max_abs >= 1e4 {
            UP.iter()
                .copied()
                .find(|(d, _)| max_abs >= *d)
                .unwrap_or((1.0, ""))
        } else if max_abs > 0.0 && max_abs < 0.01 {
            DOWN.iter()
                .copied()
                .find(|(d, _)| max_abs >= *d)
                .unwrap_or((1e-9, "n"))
        } else {
            (1.0, "")
        };
        let s = step / div;
        let mut decimals = 0usize;
        while decimals < 6 {
            let scaled = s * 10f64.powi(i32::try_from(decimals).unwrap_or(0));
            if (scaled - scaled.round()).abs() < 1e-6 * scaled.abs().max(1.0) {
                break;
            }
            decimals += 1;
        }
        SiScale {
            div,
            prefix,
            decimals,
            unit,
        }
    }

    /// The label of `v`.
    pub fn format(&self, v: f64) -> String {
        let x = v / self.div;
        let num = if x == 0.0 {
            "0".to_owned()
        } else if x.abs() >= 1e6 {
            // Beyond the largest prefix (E): scientific notation, not 300 digits.
            format!("{x:.2e}")
        } else {
            format!("{x:.*}", self.decimals)
        };
        let num = if num.starts_with('-') && num[1..].bytes().all(|b| b == b'0' || b == b'.') {
            num[1..].to_owned()
        } else {
            num
        };
        let prefix = if x == 0.0 { "" } else { self.prefix };
        if self.unit.is_empty() {
            format!("{num}{prefix}")
        } else {
            format!("{num} {prefix}{}", self.unit)
        }
    }
}

/// One scale for a column of figures (the `url` style's bar ends), so they read alike
/// (`224` beside `72`, not `72.0`): the SI prefix of the largest, and as many decimals as
/// give the largest three significant digits and the smallest non-zero one at least one
/// (at most three decimals).
pub(crate) fn column_scale(values: &[f64], unit: &'static str) -> SiScale {
    let finite = || values.iter().map(|v| v.abs()).filter(|v| v.is_finite());
    let max = finite().fold(0.0f64, f64::max);
    let min = finite().filter(|&v| v > 0.0).fold(f64::INFINITY, f64::min);
    let mut scale = SiScale::new(max, 1.0, unit);
    let digits = |v: f64, sig: i32| -> usize {
        if v > 0.0 && v.is_finite() {
            let exp = (v / scale.div).log10().floor();
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "clamped to 0..=3"
            )]
            let d = (f64::from(sig - 1) - exp).clamp(0.0, 3.0) as usize;
            d
        } else {
            0
        }
    };
    scale.decimals = digits(max, 3).max(digits(min, 1));
    scale
}

const FIXED_STEPS: [i64; 20] = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400,
    172_800, 604_800,
];
const MONTH_STEPS: [i64; 4] = [1, 2, 3, 6];
const YEAR_STEPS: [i64; 11] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500];

/// Ticks between `from` and `until` (inclusive) with at most `max_ticks` of them, each
/// with its label in `tz`.
pub(crate) fn time_ticks(from: i64, until: i64, tz: &Tz, max_ticks: usize) -> Vec<(i64, String)> {
    let max = i64::try_from(max_ticks.max(1)).unwrap_or(1);
    let span = (until - from).max(1);
    let mut out: Vec<(i64, String)> = Vec::new();
    if let Some(&step) = FIXED_STEPS.iter().find(|&&s| span / s <= max) {
        // Ticks are steps of local wall-clock time, so hours and midnights stay on the
        // hour across a DST change.
        let local_from = from + i64::from(tz.offset_at(from));
        let mut local = if step == 604_800 {
            // Weeks start on Monday; 1970-01-05 (day 4) was one.
            let day = local_from.div_euclid(86_400);
            (day - (day - 4).rem_euclid(7)) * 86_400
        } else {
            local_from.div_euclid(step) * step
        };
        // Bounded: a few steps of lead-in plus the ticks themselves.
        for _ in 0..max_ticks + 8 {
            let t = tz.unix_of_local(local);
            local += step;
            if t > until {
                break;
            }
            if t >= from && out.last().is_none_or(|(prev, _)| t > *prev) {
                out.push((t, label_fixed(tz.civil(t), step)));
            }
        }
        return out;
    }
    let start = tz.civil(from);
    let months_span = span / (30 * 86_400);
    if let Some(&m) = MONTH_STEPS.iter().find(|&&m| months_span / m <= max) {
        let mut idx = start.year * 12 + i64::from(start.month) - 1;
        idx -= idx.rem_euclid(m);
        loop {
            let (y, mo) = (
                idx.div_euclid(12),
                u32::try_from(idx.rem_euclid(12) + 1).unwrap_or(1),
            );
            let t = tz.unix(civil_date(y, mo, 1));
            if t > until || out.len() > max_ticks + 1 {
                break;
            }
            if t >= from {
                let label = if mo == 1 {
                    y.to_string()
                } else {
                    civil_date(y, mo, 1).month_name().into()
                };
                out.push((t, label));
            }
            idx += m;
        }
        return out;
    }
    let years_span = span / (365 * 86_400);
    let k = YEAR_STEPS
        .iter()
        .copied()
        .find(|&k| years_span / k <= max)
        .unwrap_or(10_000);
    let mut y = start.year - start.year.rem_euclid(k);
    loop {
        let t = tz.unix(civil_date(y, 1, 1));
        if t > until || out.len() > max_ticks + 1 {
            break;
        }
        if t >= from {
            out.push((t, y.to_string()));
        }
        y += k;
    }
    out
}

fn civil_date(year: i64, month: u32, day: u32) -> Civil {
    let (year, month, day) = civil_from_days(days_from_civil(year, month, day));
    Civil {
        year,
        month,
        day,
        hour: 0,
        minute: 0,
        second: 0,
    }
}

fn label_fixed(c: Civil, step: i64) -> String {
    let midnight = c.hour == 0 && c.minute == 0 && c.second == 0;
    if step >= 86_400 || midnight {
        format!("{} {}", c.month_name(), c.day)
    } else if step < 60 {
        format!("{:02}:{:02}:{:02}", c.hour, c.minute, c.second)
    } else {
        format!("{:02}:{:02}", c.hour, c.minute)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_y_axis() {
        let a = y_axis(0.0, 97.0, 5, None, None);
        assert_eq!((a.lo, a.hi, a.step), (0.0, 100.0, 20.0));
        assert_eq!(a.ticks, vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        let a = y_axis(5.0, 5.0, 5, None, None);
        assert!(a.lo < 5.0 && a.hi > 5.0);
        let a = y_axis(f64::NAN, f64::NAN, 5, None, None);
        assert_eq!((a.lo, a.hi), (0.0, 1.0));
        let a = y_axis(0.0, 50.0, 5, None, Some(10.0));
        assert_eq!(a.hi, 10.0);
        let a = mirrored_axis(5.9e6, true);
        assert_eq!(a.ticks, vec![-6e6, -3e6, 0.0, 3e6, 6e6]);
        assert_eq!(mirrored_axis(f64::NAN, false).ticks, vec![-1.0, 0.0, 1.0]);
        let a = y_axis(-1e308, 1e308, 5, None, None);
        assert!(a.ticks.len() <= 64 && a.lo.is_finite() && a.hi.is_finite());
    }

    #[test]
    fn si_labels() {
        let s = SiScale::new(2_500_000.0, 500_000.0, "");
        assert_eq!(s.format(1_500_000.0), "1.5M");
        assert_eq!(s.format(0.0), "0");
        let s = SiScale::new(2e9, 1e9, "B/s");
        assert_eq!(s.format(1e9), "1 GB/s");
        let s = SiScale::new(80.0, 20.0, "");
        assert_eq!(s.format(-0.0), "0");
        assert_eq!(SiScale::new(0.004, 0.001, "").format(0.002), "2m");
        assert_eq!(SiScale::new(1.0, 0.25, "").format(0.75), "0.75");
        let one = |v: f64, unit| column_scale(&[v], unit).format(v);
        assert_eq!(one(123_456.0, ""), "123k");
        assert_eq!(one(12_345.0, "B/s"), "12.3 kB/s");
        assert!(one(1e300, "").len() < 12, "{}", one(1e300, ""));
        assert_eq!(SiScale::new(1750.0, 250.0, "").format(1500.0), "1500");
    }

    /// Issue 18: a column of figures read `224` beside `72.0`; one scale per column now.
    #[test]
    fn a_column_of_figures_has_one_precision() {
        let col = |v: &[f64]| -> Vec<String> {
            let s = column_scale(v, "");
            v.iter().map(|&x| s.format(x)).collect()
        };
        assert_eq!(col(&[224.0, 72.0, 9.0]), ["224", "72", "9"]);
        assert_eq!(col(&[1.5, 0.25]), ["1.50", "0.25"]);
        assert_eq!(col(&[12_300.0, 72.0]), ["12.30k", "0.07k"]);
        assert_eq!(col(&[2.5e6, 1.25e6]), ["2.50M", "1.25M"]);
        assert_eq!(col(&[0.0, 0.0]), ["0", "0"]);
        assert_eq!(col(&[0.004, 0.002]), ["4.00m", "2.00m"]);
    }

    #[test]
    fn time_ticks_align_to_boundaries() {
        let tz = &Tz::UTC;
        let from = 1_700_000_000; // 2023-11-14 22:13:20 UTC
        let t = time_ticks(from, from + 6 * 3600, tz, 8);
        assert!(t.iter().all(|(ts, _)| ts % 3600 == 0));
        assert_eq!(t[0].1, "23:00");
        assert_eq!(t[1].1, "Nov 15");
        let t = time_ticks(from, from + 120, tz, 6);
        assert!(
            t.iter().all(|(ts, l)| ts % 30 == 0 && l.len() == 8),
            "{t:?}"
        );
        let t = time_ticks(from, from + 14 * 86_400, tz, 3);
        assert!(t.iter().all(|(ts, _)| (ts / 86_400 - 4) % 7 == 0), "{t:?}");
        let t = time_ticks(from, from + 400 * 86_400, tz, 6);
        assert!(t.iter().any(|(_, l)| l == "2024"), "{t:?}");
        let t = time_ticks(0, crate::time::MAX_TIME, tz, 10);
        assert!(!t.is_empty() && t.len() <= 12);
        let plus8 = Tz::parse("+08:00").unwrap();
        let t = time_ticks(from, from + 6 * 3600, &plus8, 8);
        assert_eq!(t[0].1, "07:00");
        // 2023-03-26 00:00 UTC; Paris springs forward at 01:00 UTC: ticks stay on the hour.
        let paris = Tz::parse("Europe/Paris").unwrap();
        let t = time_ticks(1_679_788_800, 1_679_788_800 + 6 * 3600, &paris, 8);
        let labels: Vec<&str> = t.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(
            labels,
            [
                "01:00", "03:00", "04:00", "05:00", "06:00", "07:00", "08:00"
            ],
            "{t:?}"
        );
    }
}
