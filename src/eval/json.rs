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

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value as Json;

use super::request::RequestError;
use crate::syntax::literal::ExactNumber;

/// Checks a request's JSON text, already read as a [`super::RequestDoc`] (so its own parts
/// are known and unrepeated), for repeated keys and inexact numbers inside the parts that
/// hold values, reporting the first problem by its path (`resource.attrs.class`,
/// `args.to[2]`).
pub fn check_strict(text: &str) -> Result<(), RequestError> {
    let parts: RawParts<'_> = serde_json::from_str(text).map_err(|error| super::request::json_error(&error))?;
    let checked = [
        ("agent.attrs", parts.agent.and_then(|entity| entity.attrs)),
        ("task.params", parts.task.and_then(|task| task.params)),
        ("args", parts.args),
        ("resource.attrs", parts.resource.and_then(|entity| entity.attrs)),
        ("context", parts.context),
        ("behavior", parts.behavior),
    ];
    for (path, raw) in checked {
        if let Some(raw) = raw {
            walk(raw.get(), &mut path.to_string())?;
        }
    }
    Ok(())
}

/// The parts of a request that hold values, as raw text; everything else is skipped.
#[derive(Deserialize)]
struct RawParts<'a> {
    #[serde(borrow)]
    agent: Option<RawEntity<'a>>,
    #[serde(borrow)]
    task: Option<RawTask<'a>>,
    #[serde(borrow)]
    args: Option<&'a RawValue>,
    #[serde(borrow)]
    resource: Option<RawEntity<'a>>,
    #[serde(borrow)]
    context: Option<&'a RawValue>,
    #[serde(borrow)]
    behavior: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawEntity<'a> {
    #[serde(borrow)]
    attrs: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawTask<'a> {
    #[serde(borrow)]
    params: Option<&'a RawValue>,
}

fn walk(raw: &str, path: &mut String) -> Result<(), RequestError> {
    match raw.trim_start().as_bytes().first() {
        Some(b'{') => {
            let Entries(entries) = serde_json::from_str(raw).map_err(|error| super::request::json_error(&error))?;
            let mut seen: HashSet<&str> = HashSet::new();
            for (index, (key, value)) in entries.iter().enumerate() {
                let length = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                // Small objects are compared pairwise; larger ones through a set.
                let repeated = if entries.len() <= 16 {
                    entries.iter().take(index).any(|(earlier, _)| earlier == key)
                } else {
                    !seen.insert(key)
                };
                if repeated {
                    return Err(RequestError::new(
                        path,
                        "duplicate_field",
                        format!("`{}` appears more than once in one object", &**key),
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
/// shortest form, has the value written. Without an exponent and with at most 15
/// significant digits that always holds (a double tells every such decimal apart), so
/// only longer numbers are parsed to check.
fn exact_number(raw: &str, path: &str) -> Result<(), RequestError> {
    let plain = !raw.contains(['e', 'E']);
    let significant = raw.trim_start_matches(['-', '0', '.']).bytes().filter(u8::is_ascii_digit).count();
    if plain && significant <= 15 {
        return Ok(());
    }
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

/// The message a repeated key fails deserialization with, found again by
/// [`is_repeated_key`].
const REPEATED_KEY: &str = "a key appears more than once in one object";

/// Whether a deserialization error is a repeated key found by [`strict_object`].
pub fn is_repeated_key(error: &serde_json::Error) -> bool {
    error.to_string().starts_with(REPEATED_KEY)
}

/// Deserializes a JSON object as [`serde_json::Map`], refusing a key repeated in it or in
/// any object nested in it.
pub fn strict_object<'de, D: Deserializer<'de>>(deserializer: D) -> Result<serde_json::Map<String, Json>, D::Error> {
    match deserializer.deserialize_map(StrictJson)? {
        Json::Object(map) => Ok(map),
        _ => Err(serde::de::Error::custom("expected an object")),
    }
}

/// Builds a JSON value as `serde_json::Value` does, but fails on a repeated key.
struct StrictJson;

impl<'de> serde::de::DeserializeSeed<'de> for StrictJson {
    type Value = Json;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictJson {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Json, E> {
        Ok(Json::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Json, E> {
        Ok(Json::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Json, E> {
        Ok(Json::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Json, E> {
        Ok(serde_json::Number::from_f64(value).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Json, E> {
        Ok(Json::String(value.to_string()))
    }

    fn visit_string<E>(self, value: String) -> Result<Json, E> {
        Ok(Json::String(value))
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element_seed(StrictJson)? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(StrictJson)?;
            if object.insert(key, value).is_some() {
                return Err(serde::de::Error::custom(REPEATED_KEY));
            }
        }
        Ok(Json::Object(object))
    }
}

/// Whether a (valid) JSON text has a number that may not read back as written: one with
/// an exponent or more than 15 significant digits. A scan of the bytes: strings are
/// skipped, escapes included.
pub fn has_long_numbers(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(byte) = bytes.get(at) {
        match byte {
            b'"' => {
                at += 1;
                while let Some(inner) = bytes.get(at) {
                    match inner {
                        b'\\' => at += 2,
                        b'"' => break,
                        _ => at += 1,
                    }
                }
                at += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = at;
                while bytes.get(at).is_some_and(|b| matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')) {
                    at += 1;
                }
                let number = text.get(start..at).unwrap_or_default();
                let significant = number.trim_start_matches(['-', '0', '.']).bytes().filter(u8::is_ascii_digit).count();
                if number.contains(['e', 'E']) || significant > 15 {
                    return true;
                }
            }
            _ => at += 1,
        }
    }
    false
}

/// An object's entries in order, repeats kept; keys are borrowed from the text unless
/// they hold escapes.
struct Entries<'a>(Vec<(Key<'a>, &'a RawValue)>);

/// An object key, borrowed from the request text when it can be.
#[derive(PartialEq, Eq, Hash)]
struct Key<'a>(std::borrow::Cow<'a, str>);

impl std::ops::Deref for Key<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }

            fn visit_borrowed_str<E: serde::de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(Key(std::borrow::Cow::Borrowed(text)))
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(Key(std::borrow::Cow::Owned(text.to_string())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

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
                while let Some(entry) = map.next_entry::<Key<'de>, &'de RawValue>()? {
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
        let escaped = r#"{"context": {"a": 1, "\u0061": 2}}"#;
        assert_eq!(code(escaped), Some(("context.a".to_string(), "duplicate_field".to_string())));
        assert_eq!(code(r#"{"args": {"a": {"b": 1}, "c": {"b": 1}}}"#), None);
    }

    #[test]
    fn numbers_must_be_exact() {
        assert_eq!(code(r#"{"behavior": {"x": 0.1, "y": -0.5, "z": 1e2, "w": 12345678901234567}}"#), None);
        let lossy = r#"{"args": {"amount": 0.10000000000000001}}"#;
        assert_eq!(code(lossy), Some(("args.amount".to_string(), "imprecise_number".to_string())));
        assert!(code(r#"{"task": {"params": {"a": 12345678901234.5678}}}"#).is_some());
        assert!(code(r#"{"agent": {"attrs": {"a": 123456789012345678901234}}}"#).is_some());
    }
}
