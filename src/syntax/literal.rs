//! The text forms of decimals, durations and timestamps, read and written.
//!
//! Policies write these values as literals and requests send them as JSON strings (and
//! decimals as JSON numbers too), so one strict reader serves both: a value either has
//! exactly one meaning or is refused with the reason. Every writer here produces text
//! its reader takes back to the same value, which is what the prover's counterexamples
//! rely on.
//!
//! - A **decimal** is `-?DIGITS(.DIGITS)?` with at most [`DECIMAL_DIGITS`] fractional
//!   digits, stored as a 64-bit fixed-point integer: `-0.5` is `-5000`.
//! - A **duration** is an optional `-` and one or more number–unit pairs (`d`, `h`, `m`,
//!   `s`, `ms`, `us`, `ns`), stored in nanoseconds: `1h30m`, `-15m`, `250ms`.
//! - A **timestamp** is RFC 3339 with at most nine fractional digits, stored as
//!   nanoseconds since the Unix epoch.
//!
//! Nanoseconds in 64 bits cover durations of up to about 292 years and timestamps from
//! 1677-09-21 to 2262-04-11; values outside are refused, never clamped.

use std::fmt::Write;

/// Fractional digits of a decimal value, which is stored as a scaled 64-bit integer.
pub const DECIMAL_DIGITS: u32 = 4;

/// The scale of a fixed-point decimal: 1.0 is stored as `DECIMAL_SCALE`.
pub const DECIMAL_SCALE: i64 = 10_i64.pow(DECIMAL_DIGITS);

/// Nanoseconds in a millisecond.
pub const NANOS_PER_MILLI: i64 = 1_000_000;

/// The units of a duration, largest first, with their length in nanoseconds.
const DURATION_UNITS: [(&str, i64); 7] = [
    ("d", 86_400_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

/// Why a literal was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiteralError {
    /// Not of the form at all; the text says what was expected.
    Syntax(&'static str),
    /// A decimal with more fractional digits than are kept.
    Precision { digits: usize },
    /// A value outside the range the type holds.
    Range,
}

impl std::fmt::Display for LiteralError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LiteralError::Syntax(expected) => write!(f, "expected {expected}"),
            LiteralError::Precision { digits } => {
                write!(f, "{digits} fractional digits, more than the {DECIMAL_DIGITS} a decimal keeps")
            }
            LiteralError::Range => f.write_str("out of range"),
        }
    }
}

/// Reads a decimal: `-?DIGITS(.DIGITS)?`, at most four fractional digits, within the
/// 64-bit fixed-point range (±922337203685477.5807, and -922337203685477.5808).
pub fn parse_decimal(text: &str) -> Result<i64, LiteralError> {
    const FORM: LiteralError = LiteralError::Syntax("a decimal such as `12.5` or `-0.25`");
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit());
    if !all_digits(whole) || fraction.is_some_and(|fraction| !all_digits(fraction)) {
        return Err(FORM);
    }
    let fraction = fraction.unwrap_or("");
    if fraction.len() > DECIMAL_DIGITS as usize {
        return Err(LiteralError::Precision { digits: fraction.len() });
    }
    fixed_from_digits(negative, whole, fraction)
}

/// The fixed-point value of `whole.fraction`, signed; the fraction has at most four
/// digits.
fn fixed_from_digits(negative: bool, whole: &str, fraction: &str) -> Result<i64, LiteralError> {
    let mut magnitude: u128 = 0;
    let padded = fraction.bytes().chain(std::iter::repeat(b'0')).take(DECIMAL_DIGITS as usize);
    for digit in whole.bytes().chain(padded) {
        magnitude = magnitude
            .checked_mul(10)
            .and_then(|m| m.checked_add(u128::from(digit - b'0')))
            .ok_or(LiteralError::Range)?;
        if magnitude > u128::from(i64::MAX.unsigned_abs()) + 1 {
            return Err(LiteralError::Range);
        }
    }
    signed(negative, magnitude)
}

/// A magnitude with its sign, if it fits in 64 bits.
fn signed(negative: bool, magnitude: u128) -> Result<i64, LiteralError> {
    let wide = i128::try_from(magnitude).map_err(|_| LiteralError::Range)?;
    i64::try_from(if negative { -wide } else { wide }).map_err(|_| LiteralError::Range)
}

/// A JSON number held as a double, as a decimal without reading its text: the value
/// [`parse_json_decimal`] reads from the number's shortest text, when that text has at
/// most four fractional digits and the value is under 10^11 in magnitude; `None`
/// otherwise (the text decides those, or says why it cannot).
///
/// Below 10^11 the doubles are less than 2 × 10^-5 apart, so each multiple of 10^-4 is
/// the shortest text of exactly one double: the one that its rounded ten-thousandths,
/// divided back, give again.
pub fn decimal_of_double(value: f64) -> Option<i64> {
    if value.abs() >= 1e11 || !value.is_finite() {
        return None;
    }
    let scaled = (value * 10_000.0).round();
    (scaled / 10_000.0 == value).then_some(scaled as i64)
}

/// A JSON number as a decimal, from its text: integers, fractions and exponents
/// (`1.5e2`), as long as the value has at most four fractional digits.
pub fn parse_json_decimal(text: &str) -> Result<i64, LiteralError> {
    let exact = ExactNumber::parse(text).ok_or(LiteralError::Syntax("a number"))?;
    exact.fixed()
}

/// A JSON number written out exactly: its sign, its significant digits (no leading or
/// trailing zeros) and where the decimal point goes (`value = 0.DIGITS × 10^point`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExactNumber {
    negative: bool,
    digits: String,
    point: i64,
}

impl ExactNumber {
    /// Reads JSON number syntax: `-?DIGITS(.DIGITS)?([eE][+-]?DIGITS)?`.
    pub fn parse(text: &str) -> Option<ExactNumber> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(at) => (rest.get(..at)?, Some(rest.get(at + 1..)?)),
            None => (rest, None),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || mantissa.ends_with('.') {
            return None;
        }
        let exponent: i64 = match exponent {
            Some(exponent) => {
                let unsigned = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
                if unsigned.is_empty() || !all_digits(unsigned) {
                    return None;
                }
                // Exponents far beyond any representable value saturate; they are out of
                // range either way.
                exponent.parse::<i64>().unwrap_or(if exponent.starts_with('-') { -1_000_000 } else { 1_000_000 })
            }
            None => 0,
        };
        let all: String = format!("{whole}{fraction}");
        let leading = all.len() - all.trim_start_matches('0').len();
        let digits = all.trim_start_matches('0').trim_end_matches('0').to_string();
        let point = i64::try_from(whole.len()).ok()? - i64::try_from(leading).ok()? + exponent;
        if digits.is_empty() {
            return Some(ExactNumber { negative: false, digits, point: 0 });
        }
        Some(ExactNumber { negative, digits, point })
    }

    /// The value as fixed point, if it has at most four fractional digits and fits.
    pub fn fixed(&self) -> Result<i64, LiteralError> {
        if self.digits.is_empty() {
            return Ok(0);
        }
        let digits = self.digits.len() as i64;
        let fractional = (digits - self.point).max(0);
        if fractional > i64::from(DECIMAL_DIGITS) {
            return Err(LiteralError::Precision { digits: fractional as usize });
        }
        if self.point > 20 {
            return Err(LiteralError::Range);
        }
        let (whole, fraction) = if self.point <= 0 {
            ("0".to_string(), format!("{}{}", "0".repeat((-self.point) as usize), self.digits))
        } else if self.point >= digits {
            (format!("{}{}", self.digits, "0".repeat((self.point - digits) as usize)), String::new())
        } else {
            let (whole, fraction) = self.digits.split_at(self.point as usize);
            (whole.to_string(), fraction.to_string())
        };
        fixed_from_digits(self.negative, &whole, &fraction)
    }
}

/// `125000` → `"12.5"`: the shortest text [`parse_decimal`] reads back as `fixed`.
pub fn decimal_text(fixed: i64) -> String {
    let scale = DECIMAL_SCALE.unsigned_abs();
    let sign = if fixed < 0 { "-" } else { "" };
    let magnitude = fixed.unsigned_abs();
    let fraction = format!("{:04}", magnitude % scale);
    let fraction = fraction.trim_end_matches('0');
    let fraction = if fraction.is_empty() { "0" } else { fraction };
    format!("{sign}{}.{fraction}", magnitude / scale)
}

/// Reads a duration in nanoseconds: an optional `-`, then one or more number–unit pairs
/// (`1h30m`, `90s`, `250ms`). A number without a unit, or anything else, is refused.
pub fn parse_duration(text: &str) -> Result<i64, LiteralError> {
    const FORM: LiteralError =
        LiteralError::Syntax("a duration such as `15m`, `1h30m` or `250ms` (units d, h, m, s, ms, us, ns)");
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if rest.is_empty() {
        return Err(FORM);
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(FORM);
        }
        let (number, after) = rest.split_at(digits);
        let (unit, size) = DURATION_UNITS
            .iter()
            .filter(|(unit, _)| after.starts_with(unit))
            .max_by_key(|(unit, _)| unit.len())
            .ok_or(FORM)?;
        // The longest unit that fits: `ms` before `m`, `ns` never taken for `n` + `s`.
        let amount: i128 = number.parse().map_err(|_| LiteralError::Range)?;
        total = amount
            .checked_mul(i128::from(*size))
            .and_then(|part| total.checked_add(part))
            .ok_or(LiteralError::Range)?;
        if total > i128::from(i64::MAX) + 1 {
            return Err(LiteralError::Range);
        }
        rest = after.get(unit.len()..).unwrap_or_default();
    }
    i64::try_from(if negative { -total } else { total }).map_err(|_| LiteralError::Range)
}

/// Writes nanoseconds in the largest units that divide them: `90m` → `1h30m`; the text
/// [`parse_duration`] reads back as the same value.
pub fn duration_text(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    if nanos < 0 {
        out.push('-');
    }
    let mut rest = nanos.unsigned_abs();
    for (suffix, size) in DURATION_UNITS {
        let size = size.unsigned_abs();
        if rest >= size {
            let _ = write!(out, "{}{suffix}", rest / size);
            rest %= size;
        }
    }
    out
}

/// Reads an RFC 3339 timestamp into nanoseconds since the epoch.
pub fn parse_timestamp(text: &str) -> Result<i64, String> {
    if let Some(fraction) = fractional_seconds(text) {
        if fraction > 9 {
            return Err(format!("{fraction} fractional digits of a second, more than the 9 kept"));
        }
    }
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|error| error.to_string())?;
    i64::try_from(at.unix_timestamp_nanos())
        .map_err(|_| "out of range: timestamps lie between 1677-09-21 and 2262-04-11".to_string())
}

/// Reads a moment in one of the forms tools send: RFC 3339 (`2026-12-24T09:30:00Z`,
/// with any offset), a date and time without an offset (`2026-12-24 09:30`, `T` or a
/// space between, seconds optional), or a date alone (`2026-12-24`). The forms without an
/// offset are read as UTC; a date alone is its first instant.
pub fn parse_moment(text: &str) -> Result<i64, String> {
    let rfc3339 = match parse_timestamp(text) {
        Ok(nanos) => return Ok(nanos),
        Err(reason) => reason,
    };
    use time::macros::format_description;
    let forms: [&[time::format_description::BorrowedFormatItem<'_>]; 4] = [
        format_description!("[year]-[month]-[day] [hour]:[minute]"),
        format_description!("[year]-[month]-[day]T[hour]:[minute]"),
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
    ];
    let moment = forms.iter().find_map(|form| time::PrimitiveDateTime::parse(text, form).ok()).or_else(|| {
        time::Date::parse(text, format_description!("[year]-[month]-[day]")).ok().map(|day| day.midnight())
    });
    let Some(moment) = moment else {
        let forms = "RFC 3339 (\"2026-12-24T09:30:00Z\"), \"2026-12-24 09:30\" or \"2026-12-24\"";
        // A date in the right shape with a part out of range says which part.
        return Err(match rfc3339.contains("range") {
            true => format!("{rfc3339}; expected {forms}"),
            false => format!("expected {forms}"),
        });
    };
    i64::try_from(moment.assume_utc().unix_timestamp_nanos())
        .map_err(|_| "out of range: timestamps lie between 1677-09-21 and 2262-04-11".to_string())
}

/// The first instant of the UTC day a moment falls in.
pub fn day_start(nanos: i64) -> i64 {
    const DAY: i64 = 86_400 * 1_000_000_000;
    nanos.div_euclid(DAY).saturating_mul(DAY)
}

/// How many digits follow the seconds' decimal point, if there is one.
fn fractional_seconds(text: &str) -> Option<usize> {
    let time_part = text.get(10..)?;
    let dot = time_part.find('.')?;
    Some(time_part.get(dot + 1..)?.bytes().take_while(u8::is_ascii_digit).count())
}

/// Nanoseconds since the epoch as RFC 3339 in UTC, with as many fractional digits as
/// the value needs.
///
/// Every audited decision writes several, so this is plain arithmetic on the days since
/// the epoch (the proleptic Gregorian calendar, as RFC 3339 uses) rather than a general
/// formatter; a test holds it to the `time` crate's RFC 3339 text.
pub fn timestamp_text(nanos: i64) -> String {
    const NANOS_PER_SECOND: i64 = 1_000_000_000;
    let (seconds, fraction) = (nanos.div_euclid(NANOS_PER_SECOND), nanos.rem_euclid(NANOS_PER_SECOND));
    let (days, of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let mut text = String::with_capacity(30);
    // Nanoseconds in an i64 span the years 1677 to 2262: four digits always suffice.
    let mut fields = *b"0000-00-00T00:00:00";
    let (hour, minute, second) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
    for (at, value, width) in
        [(0, year, 4), (5, month, 2), (8, day, 2), (11, hour, 2), (14, minute, 2), (17, second, 2)]
    {
        write_digits(fields.get_mut(at..at + width).unwrap_or_default(), value);
    }
    text.extend(fields.iter().map(|byte| char::from(*byte)));
    if fraction > 0 {
        let mut digits = [b'0'; 9];
        write_digits(&mut digits, fraction);
        let needed = digits.iter().rposition(|digit| *digit != b'0').map_or(0, |last| last + 1);
        text.push('.');
        text.extend(digits.iter().take(needed).map(|digit| char::from(*digit)));
    }
    text.push('Z');
    text
}

/// Writes `value` (not negative) in decimal into all of `digits`, zero-padded.
fn write_digits(digits: &mut [u8], mut value: i64) {
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// The (year, month, day) of a count of days since 1970-01-01, by H. Hinnant's
/// `civil_from_days`, in eras of 400 years.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The calendar fields of a timestamp, in UTC.
pub fn timestamp_field(nanos: i64, field: &str) -> Option<i64> {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos)).ok()?;
    Some(match field {
        "year" => i64::from(at.year()),
        "month" => i64::from(u8::from(at.month())),
        "day" => i64::from(at.day()),
        "hour" => i64::from(at.hour()),
        "minute" => i64::from(at.minute()),
        "second" => i64::from(at.second()),
        "weekday" => i64::from(at.weekday().number_from_monday()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `time` crate's RFC 3339 text of a timestamp: what [`timestamp_text`] writes.
    fn rfc3339(nanos: i64) -> String {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    }

    /// The ends of the range, the epoch, the instants around it, leap days and the
    /// turn of centuries are written as the `time` crate writes them.
    #[test]
    fn timestamps_are_written_as_rfc3339() {
        const SECOND: i64 = 1_000_000_000;
        let days = |days: i64| days * 86_400 * SECOND;
        let edges = [
            i64::MIN,
            i64::MAX,
            0,
            -1,
            1,
            SECOND - 1,
            -SECOND,
            days(-719_468 + 719_162),
            days(11_016),
            days(11_016) + 500_000_000,
            days(10_956) - 1,
            days(-25_567),
            days(-25_508),
            days(19_782) + 123_400,
        ];
        for nanos in edges {
            assert_eq!(timestamp_text(nanos), rfc3339(nanos), "{nanos}");
        }
    }

    /// Doubles near and far from the multiples of 10^-4, whole ones and the range's ends.
    fn doubles() -> impl proptest::strategy::Strategy<Value = f64> {
        use proptest::prelude::*;
        prop_oneof![
            (-1_000_000_000_000_000i64..1_000_000_000_000_000).prop_map(|k| k as f64 / 10_000.0),
            (-1_000_000_000_000_000i64..1_000_000_000_000_000).prop_map(|k| k as f64 / 100_000.0),
            (-100_000_000i64..100_000_000).prop_map(|k| k as f64 / 10_000.0),
            (-1e12f64..1e12),
            proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO,
            Just(99_999_999_999.999_9),
            Just(-99_999_999_999.999_9),
            Just(1e11),
        ]
    }

    proptest::proptest! {
        /// A double read as a decimal is the decimal its shortest JSON text reads as.
        #[test]
        fn doubles_read_as_their_text_reads(value in doubles()) {
            let Some(number) = serde_json::Number::from_f64(value) else { return Ok(()) };
            let from_text = parse_json_decimal(&number.to_string()).ok();
            match decimal_of_double(value) {
                Some(decimal) => proptest::prop_assert_eq!(Some(decimal), from_text, "{}", number),
                None if value.abs() < 1e11 => proptest::prop_assert_eq!(from_text, None, "{}", number),
                None => {}
            }
        }

        #[test]
        fn any_timestamp_is_written_as_rfc3339(nanos in proptest::num::i64::ANY) {
            proptest::prop_assert_eq!(timestamp_text(nanos), rfc3339(nanos));
        }
    }

    #[test]
    fn decimals_keep_their_sign() {
        assert_eq!(parse_decimal("-0.5"), Ok(-5_000));
        assert_eq!(parse_decimal("-0.0001"), Ok(-1));
        assert_eq!(parse_decimal("-1.5"), Ok(-15_000));
        assert_eq!(parse_decimal("-0"), Ok(0));
        assert_eq!(parse_decimal("922337203685477.5807"), Ok(i64::MAX));
        assert_eq!(parse_decimal("-922337203685477.5808"), Ok(i64::MIN));
        assert_eq!(parse_decimal("-922337203685477.5809"), Err(LiteralError::Range));
        assert_eq!(parse_decimal("922337203685477.5808"), Err(LiteralError::Range));
        assert_eq!(parse_decimal("0.12345"), Err(LiteralError::Precision { digits: 5 }));
        for bad in ["1.-5", "1.+5", "+1", "", "-", ".5", "1.", "1e2", " 1", "1 ", "--1", "0x1"] {
            assert!(matches!(parse_decimal(bad), Err(LiteralError::Syntax(_))), "{bad:?}");
        }
    }

    #[test]
    fn json_numbers_read_exactly() {
        assert_eq!(parse_json_decimal("1.5e2"), Ok(1_500_000));
        assert_eq!(parse_json_decimal("-0.5"), Ok(-5_000));
        assert_eq!(parse_json_decimal("1e-4"), Ok(1));
        assert_eq!(parse_json_decimal("1e-5"), Err(LiteralError::Precision { digits: 5 }));
        assert_eq!(parse_json_decimal("1.2345678901234567e+20"), Err(LiteralError::Range));
        assert_eq!(parse_json_decimal("-0.0"), Ok(0));
        assert_eq!(ExactNumber::parse("100.0"), ExactNumber::parse("1e2"));
        assert_ne!(ExactNumber::parse("0.10000000000000001"), ExactNumber::parse("0.1"));
    }

    #[test]
    fn moments_read_the_forms_tools_send() {
        let rfc = parse_timestamp("2026-12-24T09:30:00Z").unwrap();
        assert_eq!(parse_moment("2026-12-24T09:30:00Z"), Ok(rfc));
        assert_eq!(parse_moment("2026-12-24T10:30:00+01:00"), Ok(rfc));
        assert_eq!(parse_moment("2026-12-24 09:30"), Ok(rfc));
        assert_eq!(parse_moment("2026-12-24T09:30"), Ok(rfc));
        assert_eq!(parse_moment("2026-12-24 09:30:00"), Ok(rfc));
        let midnight = parse_timestamp("2026-12-24T00:00:00Z").unwrap();
        assert_eq!(parse_moment("2026-12-24"), Ok(midnight));
        assert_eq!(day_start(rfc), midnight);
        assert_eq!(day_start(midnight), midnight);
        // Before 1970 the day still starts at its midnight.
        let old = parse_timestamp("1969-12-31T23:00:00Z").unwrap();
        assert_eq!(day_start(old), parse_timestamp("1969-12-31T00:00:00Z").unwrap());
        for bad in
            ["", "2026-12-32", "2026-02-30", "24/12/2026", "2026-12-24 25:00", "2026-12-24x", " 2026-12-24", "tomorrow"]
        {
            assert!(parse_moment(bad).is_err(), "{bad:?}");
        }
        assert!(parse_moment("2263-01-01").is_err());
    }

    #[test]
    fn durations_are_pairs_and_nothing_else() {
        assert_eq!(parse_duration("1h30m"), Ok(90 * 60 * 1_000_000_000));
        assert_eq!(parse_duration("-15m"), Ok(-15 * 60 * 1_000_000_000));
        assert_eq!(parse_duration("250ms"), Ok(250_000_000));
        assert_eq!(parse_duration("1ns"), Ok(1));
        for bad in ["", "30", "-", "1d30", "7d99999999", "999999999999", "1h 30m", "1H", "m", "1.5h", "+1h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_duration("107000d"), Err(LiteralError::Range));
    }

    #[test]
    fn durations_print_back() {
        for nanos in [0, 1, -1, 90 * 60 * 1_000_000_000, i64::MAX, i64::MIN, -86_400_000_000_001] {
            assert_eq!(parse_duration(&duration_text(nanos)), Ok(nanos), "{nanos}");
        }
    }

    #[test]
    fn timestamps_keep_nanoseconds() {
        let at = parse_timestamp("2026-11-30T10:00:00.000999Z").expect("valid");
        assert_eq!(at % 1_000_000_000, 999_000);
        assert_eq!(parse_timestamp(&timestamp_text(at)), Ok(at));
        assert!(parse_timestamp("2026-11-30T10:00:00.0000000001Z").is_err());
        assert!(parse_timestamp("9999-12-31T23:59:59Z").is_err());
        assert_eq!(timestamp_field(parse_timestamp("2026-11-30T10:00:00Z").expect("valid"), "weekday"), Some(1));
    }
}
