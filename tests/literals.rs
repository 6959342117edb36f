//! The readers of decimals, durations and timestamps (`mandate::syntax::literal`) against
//! independent reference implementations written here: a decimal is computed with
//! Rust's own integer parsing of the digit strings, a duration's form is checked by a
//! regular expression and its value by separate arithmetic, and a timestamp by a
//! separate RFC 3339 reader and civil-calendar arithmetic. Generators draw boundary
//! values first (both signs of zero, the smallest fraction of each sign, the range
//! limits and one past them, empty strings, a unit-less number), then random ones.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

use mandate::syntax::literal::{
    decimal_text, duration_text, parse_decimal, parse_duration, parse_json_decimal, parse_timestamp, timestamp_text,
    LiteralError,
};
use proptest::prelude::*;
use regex::Regex;
use std::sync::LazyLock;

static DECIMAL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^-?[0-9]+(\.[0-9]+)?$").unwrap());
static DURATION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^-?([0-9]+(ms|us|ns|d|h|m|s))+$").unwrap());
static DURATION_PAIR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"([0-9]+)(ms|us|ns|d|h|m|s)").unwrap());
static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.([0-9]+))?([Zz]|([+-])([0-9]{2}):([0-9]{2}))$",
    )
    .unwrap()
});

// ------------------------------------------------------------------------------------
// Decimals
// ------------------------------------------------------------------------------------

/// The reference: `-?D+(.D{1,4})?` read as an integer number of ten-thousandths with
/// `i128::from_str`, then fitted into 64 bits.
fn reference_decimal(text: &str) -> Result<i64, &'static str> {
    if !DECIMAL.is_match(text) {
        return Err("syntax");
    }
    let negative = text.starts_with('-');
    let unsigned = text.trim_start_matches('-');
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if fraction.len() > 4 {
        return Err("precision");
    }
    let digits = format!("{whole}{fraction:0<4}");
    let magnitude: i128 = match digits.trim_start_matches('0') {
        "" => 0,
        significant if significant.len() > 30 => return Err("range"),
        significant => significant.parse().unwrap(),
    };
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value).map_err(|_| "range")
}

fn kind(result: &Result<i64, LiteralError>) -> Result<i64, &'static str> {
    match result {
        Ok(value) => Ok(*value),
        Err(LiteralError::Syntax(_)) => Err("syntax"),
        Err(LiteralError::Precision { .. }) => Err("precision"),
        Err(LiteralError::Range) => Err("range"),
    }
}

/// Decimal texts, boundaries first.
fn decimal_texts() -> impl Strategy<Value = String> {
    let edges = prop::sample::select(vec![
        "0",
        "-0",
        "0.0",
        "-0.0",
        "0.0001",
        "-0.0001",
        "0.00001",
        "-0.5",
        "0.5",
        "-1.5",
        "1.5",
        "-1",
        "1",
        "922337203685477.5807",
        "922337203685477.5808",
        "-922337203685477.5808",
        "-922337203685477.5809",
        "922337203685477",
        "922337203685478",
        "-922337203685478",
        "99999999999999999999999",
        "",
        "-",
        ".5",
        "1.",
        "1.-5",
        "1.+5",
        "+1",
        "--1",
        "1e2",
        " 1",
        "1 ",
        "0x10",
        "1.2.3",
        "007.50",
        "-007.5000",
        "1.50000",
    ])
    .prop_map(str::to_string);
    let random = (
        any::<bool>(),
        prop::string::string_regex("[0-9]{1,16}").unwrap(),
        prop::option::of(prop::string::string_regex("[0-9]{0,6}").unwrap()),
    )
        .prop_map(|(negative, whole, fraction)| {
            let sign = if negative { "-" } else { "" };
            match fraction {
                Some(fraction) => format!("{sign}{whole}.{fraction}"),
                None => format!("{sign}{whole}"),
            }
        });
    let noise = prop::string::string_regex("[-+.0-9e ]{0,12}").unwrap();
    prop_oneof![3 => edges, 5 => random, 2 => noise]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    #[test]
    fn decimals_read_as_the_reference_reads_them(text in decimal_texts()) {
        prop_assert_eq!(kind(&parse_decimal(&text)), reference_decimal(&text), "{:?}", text);
    }

    #[test]
    fn every_decimal_prints_as_text_that_reads_back(fixed in prop_oneof![
        prop::sample::select(vec![0, 1, -1, 5_000, -5_000, i64::MAX, i64::MIN, i64::MAX - 1, i64::MIN + 1]),
        any::<i64>(),
    ]) {
        let text = decimal_text(fixed);
        prop_assert_eq!(parse_decimal(&text), Ok(fixed), "{}", text);
        prop_assert_eq!(reference_decimal(&text), Ok(fixed), "{}", text);
    }

    /// A JSON number is the same decimal however it is written: `12345e-4`, `1.2345`,
    /// `123.45e-2`, …; one more nonzero digit past the fourth is too precise.
    #[test]
    fn json_numbers_read_as_the_same_decimal(fixed in prop_oneof![
        prop::sample::select(vec![0i64, 1, -1, 5_000, -5_000, 999_999_999_999_999, -999_999_999_999_999]),
        -999_999_999_999_999i64..999_999_999_999_999,
    ]) {
        let sign = if fixed < 0 { "-" } else { "" };
        let digits = fixed.unsigned_abs().to_string();
        for shift in 0..digits.len() {
            let (whole, fraction) = digits.split_at(digits.len() - shift);
            let mantissa = if fraction.is_empty() { whole.to_string() } else { format!("{whole}.{fraction}") };
            let text = format!("{sign}{mantissa}e{}", shift as i64 - 4);
            prop_assert_eq!(parse_json_decimal(&text), Ok(fixed), "{}", text);
        }
        let too_precise = format!("{sign}{digits}1e-5");
        prop_assert!(matches!(parse_json_decimal(&too_precise), Err(LiteralError::Precision { .. })), "{}", too_precise);
    }
}

// ------------------------------------------------------------------------------------
// Durations
// ------------------------------------------------------------------------------------

/// The reference: the form by a regular expression, the value by summing each pair in
/// 128 bits and fitting the total into 64.
fn reference_duration(text: &str) -> Result<i64, &'static str> {
    if !DURATION.is_match(text) {
        return Err("syntax");
    }
    let mut total: i128 = 0;
    for found in DURATION_PAIR.captures_iter(text) {
        let unit: i128 = match &found[2] {
            "d" => 86_400_000_000_000,
            "h" => 3_600_000_000_000,
            "m" => 60_000_000_000,
            "s" => 1_000_000_000,
            "ms" => 1_000_000,
            "us" => 1_000,
            _ => 1,
        };
        let digits = found[1].trim_start_matches('0');
        if digits.len() > 30 {
            return Err("range");
        }
        let amount: i128 = if digits.is_empty() { 0 } else { digits.parse().unwrap() };
        total = total.checked_add(amount.checked_mul(unit).ok_or("range")?).ok_or("range")?;
        if total > i128::from(i64::MAX) + 1 {
            return Err("range");
        }
    }
    let value = if text.starts_with('-') { -total } else { total };
    i64::try_from(value).map_err(|_| "range")
}

fn duration_texts() -> impl Strategy<Value = String> {
    let edges = prop::sample::select(vec![
        "",
        "-",
        "0",
        "30",
        "0s",
        "-0s",
        "1d30",
        "7d99999999",
        "999999999999",
        "1h30m",
        "90s",
        "250ms",
        "1us",
        "1ns",
        "-15m",
        "106751d",
        "106752d",
        "106751d23h47m16s854ms775us807ns",
        "106751d23h47m16s854ms775us808ns",
        "-106751d23h47m16s854ms775us808ns",
        "1h 30m",
        "1H",
        "m",
        "1.5h",
        "+1h",
        "1h-5m",
        "1mss",
        "1dd",
    ])
    .prop_map(str::to_string);
    let pairs = (
        any::<bool>(),
        prop::collection::vec((0u64..100_000, prop::sample::select(vec!["d", "h", "m", "s", "ms", "us", "ns"])), 1..4),
    )
        .prop_map(|(negative, pairs)| {
            let body: String = pairs.iter().map(|(amount, unit)| format!("{amount}{unit}")).collect();
            if negative {
                format!("-{body}")
            } else {
                body
            }
        });
    let noise = prop::string::string_regex("[-0-9dhmsun ]{0,10}").unwrap();
    prop_oneof![3 => edges, 5 => pairs, 2 => noise]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    #[test]
    fn durations_read_as_the_reference_reads_them(text in duration_texts()) {
        prop_assert_eq!(kind(&parse_duration(&text)), reference_duration(&text), "{:?}", text);
    }

    #[test]
    fn every_duration_prints_as_text_that_reads_back(nanos in prop_oneof![
        prop::sample::select(vec![0, 1, -1, i64::MAX, i64::MIN, 86_400_000_000_000, -60_000_000_001]),
        any::<i64>(),
    ]) {
        let text = duration_text(nanos);
        prop_assert_eq!(parse_duration(&text), Ok(nanos), "{}", text);
        prop_assert_eq!(reference_duration(&text), Ok(nanos), "{}", text);
    }
}

// ------------------------------------------------------------------------------------
// Timestamps
// ------------------------------------------------------------------------------------

/// Days from 1970-01-01 to a civil date (proleptic Gregorian), by Howard Hinnant's
/// algorithm.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The reference RFC 3339 reader: nanoseconds since the epoch, or why not.
fn reference_timestamp(text: &str) -> Result<i64, &'static str> {
    let found = TIMESTAMP.captures(text).ok_or("syntax")?;
    let number = |index: usize| found[index].parse::<i64>().unwrap();
    let (year, month, day, hour, minute, second) = (number(1), number(2), number(3), number(4), number(5), number(6));
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err("date");
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err("time");
    }
    let fraction = found.get(8).map_or("", |m| m.as_str());
    if fraction.len() > 9 {
        return Err("precision");
    }
    let mut offset = 0i64;
    if let Some(sign) = found.get(10) {
        let (hours, minutes) = (number(11), number(12));
        if hours > 23 || minutes > 59 {
            return Err("offset");
        }
        offset = (hours * 60 + minutes) * 60 * if sign.as_str() == "-" { -1 } else { 1 };
    }
    let nanos_of_second: i128 = format!("{fraction:0<9}").parse().unwrap();
    // A leap second reads as the last nanosecond of the minute before it.
    let (second, nanos_of_second) = if second == 60 { (59, 999_999_999) } else { (second, nanos_of_second) };
    let seconds = i128::from(days_from_civil(year, month, day)) * 86_400
        + i128::from(hour * 3600 + minute * 60 + second)
        - i128::from(offset);
    i64::try_from(seconds * 1_000_000_000 + nanos_of_second).map_err(|_| "range")
}

fn timestamp_texts() -> impl Strategy<Value = String> {
    let edges = prop::sample::select(vec![
        "2026-11-30T10:00:00Z",
        "2026-11-30T10:00:00.000999Z",
        "2026-11-30T10:00:00.999999999Z",
        "2026-11-30T10:00:00.0000000001Z",
        "1970-01-01T00:00:00Z",
        "1969-12-31T23:59:59.999999999Z",
        "1677-09-21T00:12:43.145224192Z",
        "1677-09-21T00:12:43.145224191Z",
        "2262-04-11T23:47:16.854775807Z",
        "2262-04-11T23:47:16.854775808Z",
        "9999-12-31T23:59:59Z",
        "2024-02-29T12:00:00Z",
        "2026-02-29T12:00:00Z",
        "2026-11-30T10:00:00+01:00",
        "2026-11-30T10:00:00-00:30",
        "2026-11-30t10:00:00z",
        "2026-11-30 10:00:00Z",
        "2026-11-30T24:00:00Z",
        "2026-11-30T10:00:00",
        "2026-11-30",
        "",
        "2026-11-30T10:00:00.Z",
        "2026-12-31T23:59:60Z",
    ])
    .prop_map(str::to_string);
    let random = (
        1900i64..2200,
        1i64..13,
        1i64..29,
        0i64..24,
        0i64..60,
        0i64..60,
        prop::option::of(prop::string::string_regex("[0-9]{1,9}").unwrap()),
        prop::option::of((any::<bool>(), 0i64..24, 0i64..60)),
    )
        .prop_map(|(year, month, day, hour, minute, second, fraction, offset)| {
            let fraction = fraction.map(|digits| format!(".{digits}")).unwrap_or_default();
            let zone = match offset {
                Some((negative, hours, minutes)) => {
                    format!("{}{hours:02}:{minutes:02}", if negative { "-" } else { "+" })
                }
                None => "Z".to_string(),
            };
            format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}{zone}")
        });
    prop_oneof![1 => edges, 4 => random]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn timestamps_read_as_the_reference_reads_them(text in timestamp_texts()) {
        match (parse_timestamp(&text), reference_timestamp(&text)) {
            (Ok(ours), Ok(theirs)) => prop_assert_eq!(ours, theirs, "{}", text),
            (Err(_), Err(_)) => {}
            (ours, theirs) => prop_assert!(false, "{text:?}: ours {ours:?}, reference {theirs:?}"),
        }
    }

    #[test]
    fn every_timestamp_prints_as_text_that_reads_back(nanos in prop_oneof![
        prop::sample::select(vec![0, 1, -1, i64::MAX, i64::MIN, 1_000_000, -999_999_999]),
        any::<i64>(),
    ]) {
        let text = timestamp_text(nanos);
        prop_assert_eq!(parse_timestamp(&text), Ok(nanos), "{}", text);
        prop_assert_eq!(reference_timestamp(&text), Ok(nanos), "{}", text);
    }
}
