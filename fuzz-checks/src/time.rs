//! The time grammar of the model crate (`parse_time`, `parse_duration`: `/trend`,
//! `/graph`, `/export`, `/markers`, the CLI, every config duration). The crate offers no
//! formatter, so the model is the documented grammar itself:
//! - any accepted time lies in 0..=MAX_TIME, any accepted duration within 10^12 s;
//! - a duration written back in seconds parses to itself (to the microsecond);
//! - a duration `d` with a unit and the offset `now-d` / `now+d` / `-d` agree:
//!   `now -/+ trunc(d)`, held within 0..=MAX_TIME;
//! - whole epoch seconds in range are themselves; a duration without a unit is refused
//!   as an offset (`MissingUnit`).
//!
//! Input: 8 bytes of `now`, then the text.

use treestat_model::{MAX_SPAN_SECS, MAX_TIME, TimeErrorKind, parse_duration, parse_time};

/// Checks one input; panics on a finding.
pub fn run(data: &[u8]) {
    let Some((now, text)) = data.split_first_chunk::<8>() else {
        return;
    };
    let now = i64::from_le_bytes(*now);
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    if let Ok(t) = parse_time(text, now) {
        assert!((0..=MAX_TIME).contains(&t), "{text:?} at {now}: {t}");
    }
    let Ok(d) = parse_duration(text) else {
        return;
    };
    let secs = d.as_secs_f64();
    assert!(secs <= MAX_SPAN_SECS * (1.0 + 1e-12), "{text:?}: {secs}s");
    let written = format!("{secs}s");
    let back = parse_duration(&written)
        .unwrap_or_else(|e| panic!("{text:?} = {d:?}, written back as {written:?}: {e}"));
    let diff = back.abs_diff(d);
    assert!(
        diff.as_micros() <= 1,
        "{text:?} = {d:?}, {written:?} = {back:?}"
    );

    let body = text.trim();
    if body.starts_with(['-', '+']) {
        return; // a sign would be a second one after now-
    }
    let has_unit = body.trim_end().ends_with(|c: char| c.is_ascii_alphabetic());
    // Offsets drop the fraction of the span in seconds; the duration is exact to the ns,
    // so compare with the whole seconds of the span as the grammar computes it.
    let whole = i64::try_from(d.as_secs()).unwrap();
    for (prefix, sign) in [
        ("now-", -1),
        ("now+", 1),
        ("-", -1),
        ("+", 1),
        ("NOW - ", -1),
    ] {
        let offset = format!("{prefix}{body}");
        match parse_time(&offset, now) {
            Ok(t) => {
                assert!(has_unit, "{offset:?} accepted without a unit");
                let want = now.checked_add(sign * whole).map(|w| w.clamp(0, MAX_TIME));
                // The grammar truncates the f64 span; a duration rounds it to the ns:
                // they differ by at most one second at a whole-second boundary.
                let ok = want.is_some_and(|w| (t - w).abs() <= 1 || t == w);
                assert!(ok, "{offset:?} at {now}: {t}, want {want:?} ({d:?})");
            }
            Err(e) => {
                if has_unit {
                    assert_eq!(
                        e.kind(),
                        TimeErrorKind::TooLarge,
                        "{offset:?} at {now}: {e}"
                    );
                    let overflows = |w: i64| now.checked_add(sign * w).is_none();
                    assert!(
                        overflows(whole) || overflows(whole + 1),
                        "{offset:?} at {now}"
                    );
                } else {
                    assert_eq!(e.kind(), TimeErrorKind::MissingUnit, "{offset:?}: {e}");
                }
            }
        }
    }
    if let Ok(n) = body.parse::<i64>()
        && body.bytes().all(|b| b.is_ascii_digit())
    {
        match parse_time(body, now) {
            Ok(t) => assert_eq!(t, n),
            Err(e) => {
                assert!(!(0..=MAX_TIME).contains(&n), "{body:?}: {e}");
                assert_eq!(e.kind(), TimeErrorKind::OutOfRange);
            }
        }
    }
}
