//! Runtime values: what request attributes hold and what expressions compute.
//!
//! Decimals are fixed-point (four fractional digits, as in Cedar), durations are
//! milliseconds and timestamps are milliseconds since the Unix epoch, so every number is an
//! exact 64-bit integer and comparisons never round. Enum values carry their declaration
//! position, which orders them.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::syntax::DECIMAL_DIGITS;

/// The scale of a fixed-point decimal: 1.0 is stored as `DECIMAL_SCALE`.
pub const DECIMAL_SCALE: i64 = 10_i64.pow(DECIMAL_DIGITS);

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum Value {
    Bool(bool),
    Int(i64),
    /// Fixed point: `12.5` is `125000`.
    Decimal(i64),
    String(Arc<str>),
    /// Milliseconds.
    Duration(i64),
    /// Milliseconds since 1970-01-01T00:00:00Z.
    Timestamp(i64),
    Enum(EnumValue),
    /// Elements sorted and without repeats.
    Set(Arc<[Value]>),
    Record(Arc<BTreeMap<String, Value>>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EnumValue {
    pub enum_name: Arc<str>,
    pub variant: Arc<str>,
    pub ordinal: u32,
}

impl PartialOrd for EnumValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for EnumValue {
    fn cmp(&self, other: &Self) -> Ordering {
        (&self.enum_name, self.ordinal).cmp(&(&other.enum_name, other.ordinal))
    }
}

impl Value {
    pub fn string(text: &str) -> Value {
        Value::String(Arc::from(text))
    }

    /// A set from any values: sorted, repeats removed.
    pub fn set(mut items: Vec<Value>) -> Value {
        items.sort();
        items.dedup();
        Value::Set(Arc::from(items))
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(value) => Some(*value),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    /// Numbers on one fixed-point scale, so integers and decimals compare.
    pub fn as_fixed(&self) -> Option<i128> {
        match self {
            Value::Int(value) => Some(i128::from(*value) * i128::from(DECIMAL_SCALE)),
            Value::Decimal(value) => Some(i128::from(*value)),
            _ => None,
        }
    }

    /// Equality as the language defines it: an integer equals the decimal of the same
    /// amount.
    pub fn same(&self, other: &Value) -> bool {
        match (self.as_fixed(), other.as_fixed()) {
            (Some(a), Some(b)) => a == b,
            _ => self == other,
        }
    }

    /// Order as the language defines it, for values of one ordered kind.
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        if let (Some(a), Some(b)) = (self.as_fixed(), other.as_fixed()) {
            return Some(a.cmp(&b));
        }
        match (self, other) {
            (Value::Duration(a), Value::Duration(b)) | (Value::Timestamp(a), Value::Timestamp(b)) => Some(a.cmp(b)),
            (Value::Enum(a), Value::Enum(b)) if a.enum_name == b.enum_name => Some(a.ordinal.cmp(&b.ordinal)),
            _ => None,
        }
    }

    /// The value as JSON, in the request format.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Value::Bool(value) => json!(value),
            Value::Int(value) => json!(value),
            Value::Decimal(value) => json!(decimal_text(*value)),
            Value::String(text) => json!(text),
            Value::Duration(millis) => json!(crate::syntax::print::duration_text(*millis)),
            Value::Timestamp(millis) => json!(timestamp_text(*millis)),
            Value::Enum(value) => json!(value.variant),
            Value::Set(items) => serde_json::Value::Array(items.iter().map(Value::to_json).collect()),
            Value::Record(fields) => {
                serde_json::Value::Object(fields.iter().map(|(name, value)| (name.clone(), value.to_json())).collect())
            }
        }
    }
}

/// `125000` → `"12.5"`.
pub fn decimal_text(fixed: i64) -> String {
    let scale = DECIMAL_SCALE.unsigned_abs();
    let sign = if fixed < 0 { "-" } else { "" };
    let magnitude = fixed.unsigned_abs();
    let fraction = format!("{:04}", magnitude % scale);
    let fraction = fraction.trim_end_matches('0');
    let fraction = if fraction.is_empty() { "0" } else { fraction };
    format!("{sign}{}.{fraction}", magnitude / scale)
}

/// Milliseconds since the epoch as RFC 3339 in UTC.
pub fn timestamp_text(millis: i64) -> String {
    let nanos = i128::from(millis) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| format!("{millis}ms"))
}

/// Parses RFC 3339 into milliseconds since the epoch.
pub fn parse_timestamp_millis(text: &str) -> Result<i64, String> {
    let at = crate::semantics::parse_timestamp(text)?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).map_err(|_| "out of range".to_string())
}

/// The calendar fields of a timestamp, in UTC.
pub fn timestamp_field(millis: i64, field: &str) -> Option<i64> {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).ok()?;
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

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(text) => write!(f, "{}", crate::syntax::print::quote(text)),
            Value::Enum(value) => f.write_str(&value.variant),
            Value::Decimal(fixed) => f.write_str(&decimal_text(*fixed)),
            Value::Duration(millis) => f.write_str(&crate::syntax::print::duration_text(*millis)),
            Value::Timestamp(millis) => f.write_str(&timestamp_text(*millis)),
            other => write!(f, "{}", other.to_json()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_print_exactly() {
        assert_eq!(decimal_text(125_000), "12.5");
        assert_eq!(decimal_text(-5), "-0.0005");
        assert_eq!(decimal_text(10_000), "1.0");
    }

    #[test]
    fn integers_and_decimals_compare() {
        assert!(Value::Int(2).same(&Value::Decimal(20_000)));
        assert_eq!(Value::Int(1).compare(&Value::Decimal(15_000)), Some(Ordering::Less));
    }

    #[test]
    fn timestamps_round_trip() {
        let millis = parse_timestamp_millis("2026-11-30T10:00:00Z").expect("valid");
        assert_eq!(timestamp_text(millis), "2026-11-30T10:00:00Z");
        assert_eq!(timestamp_field(millis, "weekday"), Some(1));
        assert_eq!(timestamp_field(millis, "hour"), Some(10));
    }
}
