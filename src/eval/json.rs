//! Strict reading of request JSON: what a lenient parser would silently resolve is an
//! error here.
//!
//! JSON parsers disagree on two things: which of two equal keys in one object wins, and
//! what a number with more digits than a double holds means. A gateway that inspects a
//! request with one parser and Mandate deciding it with another must never see two
//! different requests, so a request is refused if any object repeats a key, or if any
//! number does not read back as written: parsed into the nearest double (correctly
//! rounded) and written in its shortest form, it must have the value the text has
//! (`0.10000000000000001` would be read as `0.1`; send such values as strings). The walk
//! runs over the raw text, so it sees what the sender wrote, at any depth.

use std::collections::HashSet;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::request::RequestError;
use crate::syntax::literal::ExactNumber;

/// Checks a syntactically valid JSON text for repeated keys and inexact numbers,
/// reporting the first problem by its path (`resource.attrs.class`, `args.to[2]`).
pub fn check_strict(text: &str) -> Result<(), RequestError> {
    let raw: &RawValue = serde_json::from_str(text).map_err(|error| super::request::json_error(&error))?;
    walk(raw.get(), &mut String::new())
}

fn walk(raw: &str, path: &mut String) -> Result<(), RequestError> {
    match raw.trim_start().as_bytes().first() {
        Some(b'{') => {
            let Entries(entries) = serde_json::from_str(raw).map_err(|error| super::request::json_error(&error))?;
            let mut seen: HashSet<&str> = HashSet::with_capacity(entries.len());
            for (key, value) in &entries {
                let length = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                if !seen.insert(key.as_str()) {
                    return Err(RequestError::new(
                        path,
                        "duplicate_field",
                        format!("`{key}` appears more than once in one object"),
                        Some("give each key once: parsers disagree about which of two equal keys wins".to_string()),
                    ));
                }
                walk(value.get(), path)?;
                path.truncate(length);
            }
            Ok(())
        }
        Some(b'[') => {
            let items: Vec<&RawValue> =
                serde_json::from_str(raw).map_err(|error| super::request::json_error(&error))?;
            for (index, item) in items.iter().enumerate() {
                let length = path.len();
                path.push_str(&format!("[{index}]"));
                walk(item.get(), path)?;
                path.truncate(length);
            }
            Ok(())
        }
        Some(b'-' | b'0'..=b'9') => exact_number(raw.trim(), path),
        _ => Ok(()),
    }
}

/// A number is accepted when the double a JSON parser reads from it, written in its
/// shortest form, has the value written.
fn exact_number(raw: &str, path: &str) -> Result<(), RequestError> {
    let read: serde_json::Number = serde_json::from_str(raw).map_err(|error| super::request::json_error(&error))?;
    if ExactNumber::parse(raw).is_some() && ExactNumber::parse(raw) == ExactNumber::parse(&read.to_string()) {
        return Ok(());
    }
    Err(RequestError::new(
        path,
        "imprecise_number",
        format!("the number {raw} has more digits than a JSON number carries exactly (it reads as {read})"),
        Some("send it as a string, such as \"12345678901234.5678\" for a decimal".to_string()),
    ))
}

/// An object's entries in order, repeats kept.
struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> Option<(String, String)> {
        check_strict(text).err().map(|error| (error.path, error.code))
    }

    #[test]
    fn repeated_keys_are_refused_at_any_depth() {
        let nested = r#"{"resource": {"attrs": {"class": "secret", "class": "internal"}}}"#;
        assert_eq!(code(nested), Some(("resource.attrs.class".to_string(), "duplicate_field".to_string())));
        let in_array = r#"{"args": {"to": [{"a": 1}, {"a": 1, "a": 2}]}}"#;
        assert_eq!(code(in_array), Some(("args.to[1].a".to_string(), "duplicate_field".to_string())));
        assert_eq!(code(r#"{"a": {"b": 1}, "c": {"b": 1}}"#), None);
    }

    #[test]
    fn numbers_must_be_exact() {
        assert_eq!(code(r#"{"x": 0.1, "y": -0.5, "z": 1e2, "w": 12345678901234567}"#), None);
        let lossy = r#"{"args": {"amount": 0.10000000000000001}}"#;
        assert_eq!(code(lossy), Some(("args.amount".to_string(), "imprecise_number".to_string())));
        assert!(code(r#"{"a": 12345678901234.5678}"#).is_some());
        assert!(code(r#"{"a": 123456789012345678901234}"#).is_some());
    }
}
