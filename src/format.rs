//! Number formatting for people: the terminal tables and the HTML report.
//!
//! Pure functions, one per format. Two pairs look alike but differ on
//! purpose, and each says where it is used:
//!
//! * rates: [`si`] has fixed decimals so that terminal columns line up
//!   (`1.53M`, `812.4k`); [`rate`] keeps at most three significant digits
//!   and drops trailing zeros (`1.2M`, `450k`), for the page's tables and
//!   chart axes;
//! * durations: [`ns`] is compact for terminal columns (`850ns`, `12.3us`,
//!   `4.5ms`, `-` for nothing measured); [`duration_ns`] is spaced with a
//!   proper `µ` and goes up to seconds (`850 ns`, `12 µs`, `4.5 ms`), for the
//!   page.

/// An integer with a comma between groups of three digits: `1234567` →
/// `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate with an SI prefix and fixed decimals, for terminal columns: two
/// decimals in millions (`1.53M`), one in thousands (`812.4k`), none below
/// (`950`). Zero, negative and non-finite values are `0`.
pub fn si(v: f64) -> String {
    if !v.is_finite() || v <= 0.0 {
        "0".into()
    } else if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// Nanoseconds, compact, for terminal columns: `-` for 0 (nothing
/// measured), whole nanoseconds below 10 µs (`850ns`), then one decimal in
/// microseconds below 10 ms (`12.3us`), else in milliseconds (`4.5ms`).
pub fn ns(v: u64) -> String {
    match v {
        0 => "-".into(),
        v if v < 10_000 => format!("{v}ns"),
        v if v < 10_000_000 => format!("{:.1}us", v as f64 / 1e3),
        v => format!("{:.1}ms", v as f64 / 1e6),
    }
}

/// Nanoseconds as a short human duration, for the report: the largest unit
/// of ns, µs, ms and s that keeps the value at 1 or more, with at most
/// three significant digits (`850 ns`, `12 µs`, `4.5 ms`, `1.2 s`).
pub fn duration_ns(ns: f64) -> String {
    let (v, unit) = if ns >= 1e9 {
        (ns / 1e9, "s")
    } else if ns >= 1e6 {
        (ns / 1e6, "ms")
    } else if ns >= 1e3 {
        (ns / 1e3, "µs")
    } else {
        (ns, "ns")
    };
    format!("{} {unit}", significant(v))
}

/// A rate with an SI prefix (k, M, G) and at most three significant digits,
/// for the report's tables and chart axes: `1.2M`, `450k`, `12.5`.
pub fn rate(per_s: f64) -> String {
    if per_s >= 1e9 {
        format!("{}G", significant(per_s / 1e9))
    } else if per_s >= 1e6 {
        format!("{}M", significant(per_s / 1e6))
    } else if per_s >= 1e3 {
        format!("{}k", significant(per_s / 1e3))
    } else {
        significant(per_s)
    }
}

/// Three significant digits at most (for values below 1000), without
/// trailing zeros: `123`, `12.3`, `1.23`, `2`.
fn significant(v: f64) -> String {
    let s = if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn si_has_fixed_decimals() {
        assert_eq!(si(1_530_000.0), "1.53M");
        assert_eq!(si(1e6), "1.00M");
        assert_eq!(si(812_400.0), "812.4k");
        assert_eq!(si(1000.0), "1.0k");
        assert_eq!(si(950.0), "950");
        assert_eq!(si(0.4), "0");
        assert_eq!(si(0.0), "0");
        assert_eq!(si(-5.0), "0");
        assert_eq!(si(f64::NAN), "0");
        assert_eq!(si(f64::INFINITY), "0");
    }

    #[test]
    fn ns_is_compact() {
        assert_eq!(ns(0), "-");
        assert_eq!(ns(850), "850ns");
        assert_eq!(ns(9_999), "9999ns");
        assert_eq!(ns(10_000), "10.0us");
        assert_eq!(ns(12_345), "12.3us");
        assert_eq!(ns(9_999_999), "10000.0us");
        assert_eq!(ns(10_000_000), "10.0ms");
        assert_eq!(ns(4_500_000_000), "4500.0ms");
    }

    #[test]
    fn duration_picks_a_unit_and_three_digits() {
        assert_eq!(duration_ns(0.0), "0 ns");
        assert_eq!(duration_ns(850.0), "850 ns");
        assert_eq!(duration_ns(1.5), "1.5 ns");
        assert_eq!(duration_ns(1000.0), "1 µs");
        assert_eq!(duration_ns(12_000.0), "12 µs");
        assert_eq!(duration_ns(12_345.0), "12.3 µs");
        assert_eq!(duration_ns(4_500_000.0), "4.5 ms");
        assert_eq!(duration_ns(1_234_000_000.0), "1.23 s");
        assert_eq!(duration_ns(125_000_000_000.0), "125 s");
    }

    #[test]
    fn rate_keeps_three_significant_digits() {
        assert_eq!(rate(0.0), "0");
        assert_eq!(rate(12.5), "12.5");
        assert_eq!(rate(950.0), "950");
        assert_eq!(rate(1000.0), "1k");
        assert_eq!(rate(450_000.0), "450k");
        assert_eq!(rate(1_200_000.0), "1.2M");
        assert_eq!(rate(1_234_567.0), "1.23M");
        assert_eq!(rate(2.5e9), "2.5G");
    }
}
