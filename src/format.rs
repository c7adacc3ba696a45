//! Number formatting for people: the terminal tables and the HTML report.
//!
//! Pure functions, one per format. Two pairs look alike but differ on
//! purpose, and each says where it is used:
//!
//! * rates: [`si`] has fixed decimals so that terminal columns line up
//!   (`1.53M`, `812.4k`); [`rate`] keeps at most three significant digits
//!   and drops trailing zeros (`1.2M`, `450k`), for the page's tables and
//!   chart axes;
//! * durations: [`duration_ns`] (and [`duration`] for a
//!   [`std::time::Duration`]) is the one format everywhere, spaced with a
//!   proper `µ` and at most three significant digits (`850 ns`, `7.89 µs`,
//!   `2.16 ms`, `1.2 s`); [`ns`] is the same for terminal columns, with `-`
//!   for nothing measured.
//!
//! [`plural`] puts a count before a noun in the right number (`1 room`,
//! `2 rooms`, `1,000 answers`).

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

/// Nanoseconds for terminal columns: `-` for 0 (nothing measured), else as
/// [`duration_ns`] (`850 ns`, `7.89 µs`, `2.16 ms`).
pub fn ns(v: u64) -> String {
    match v {
        0 => "-".into(),
        v => duration_ns(v as f64),
    }
}

/// A [`std::time::Duration`] as [`duration_ns`] does it (`0 ns` for zero).
pub fn duration(d: std::time::Duration) -> String {
    duration_ns(d.as_nanos() as f64)
}

/// `n` and a noun in the right number, `n` with thousands separators:
/// `plural(1, "room")` is `1 room`, `plural(2_000, "room")` `2,000 rooms`.
/// English's regular plurals: `retry` → `retries`, `process` →
/// `processes`, else an `s`.
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        return format!("1 {noun}");
    }
    let consonant_y = noun.ends_with('y')
        && !noun
            .chars()
            .rev()
            .nth(1)
            .is_some_and(|c| "aeiou".contains(c));
    let many = if consonant_y {
        format!("{}ies", &noun[..noun.len() - 1])
    } else if noun.ends_with('s') || noun.ends_with('x') || noun.ends_with("sh") {
        format!("{noun}es")
    } else {
        format!("{noun}s")
    };
    format!("{} {many}", thousands(n))
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
    fn ns_is_duration_with_a_dash_for_nothing() {
        assert_eq!(ns(0), "-");
        assert_eq!(ns(850), "850 ns");
        assert_eq!(ns(7_891), "7.89 µs");
        assert_eq!(ns(12_345), "12.3 µs");
        assert_eq!(ns(2_160_600), "2.16 ms");
        assert_eq!(ns(4_500_000_000), "4.5 s");
        assert_eq!(duration(std::time::Duration::from_millis(200)), "200 ms");
        assert_eq!(duration(std::time::Duration::ZERO), "0 ns");
    }

    #[test]
    fn plural_agrees_with_the_count() {
        assert_eq!(plural(0, "room"), "0 rooms");
        assert_eq!(plural(1, "room"), "1 room");
        assert_eq!(plural(2, "round"), "2 rounds");
        assert_eq!(plural(1_000, "answer"), "1,000 answers");
        assert_eq!(plural(3, "retry"), "3 retries");
        assert_eq!(plural(2, "process"), "2 processes");
        assert_eq!(plural(2, "key"), "2 keys");
        assert_eq!(plural(14, "strategy"), "14 strategies");
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
