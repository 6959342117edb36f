//! Runtime values: what request attributes hold and what expressions compute.
//!
//! Decimals are fixed-point (four fractional digits, as in Cedar), durations are
//! nanoseconds and timestamps are nanoseconds since the Unix epoch, so every number is an
//! exact 64-bit integer and comparisons never round. Their text forms are in
//! [`crate::syntax::literal`]. Enum values carry their declaration
//! position, which orders them.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use crate::syntax::literal::{
    decimal_text, duration_text, parse_timestamp, timestamp_field, timestamp_text, DECIMAL_SCALE,
};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum Value {
    Bool(bool),
    Int(i64),
    /// Fixed point: `12.5` is `125000`.
    Decimal(i64),
    String(Arc<str>),
    /// Nanoseconds.
    Duration(i64),
    /// Nanoseconds since 1970-01-01T00:00:00Z.
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

    /// Whether a number is above, at or below zero; `None` for anything else.
    pub fn sign(&self) -> Option<Ordering> {
        self.as_fixed().map(|fixed| fixed.cmp(&0))
    }

    /// Order as the language defines it, for values of one ordered kind.
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        if let (Some(a), Some(b)) = (self.as_fixed(), other.as_fixed()) {
            return Some(a.cmp(&b));
        }
        match (self, other) {
            (Value::Duration(a), Value::Duration(b)) | (Value::Timestamp(a), Value::Timestamp(b)) => Some(a.cmp(b)),
            (Value::Enum(a), Value::Enum(b)) if a.enum_name == b.enum_name => Some(a.ordinal.cmp(&b.ordinal)),
            // Strings order by their Unicode code points, as Rust's `str` does.
            (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
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
            Value::Duration(nanos) => json!(duration_text(*nanos)),
            Value::Timestamp(nanos) => json!(timestamp_text(*nanos)),
            Value::Enum(value) => json!(value.variant),
            Value::Set(items) => serde_json::Value::Array(items.iter().map(Value::to_json).collect()),
            Value::Record(fields) => {
                serde_json::Value::Object(fields.iter().map(|(name, value)| (name.clone(), value.to_json())).collect())
            }
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(text) => write!(f, "{}", crate::syntax::print::quote(text)),
            Value::Enum(value) => f.write_str(&value.variant),
            Value::Decimal(fixed) => f.write_str(&decimal_text(*fixed)),
            Value::Duration(nanos) => f.write_str(&duration_text(*nanos)),
            Value::Timestamp(nanos) => f.write_str(&timestamp_text(*nanos)),
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
        let nanos = parse_timestamp("2026-11-30T10:00:00Z").expect("valid");
        assert_eq!(timestamp_text(nanos), "2026-11-30T10:00:00Z");
        assert_eq!(timestamp_field(nanos, "weekday"), Some(1));
        assert_eq!(timestamp_field(nanos, "hour"), Some(10));
    }
}
