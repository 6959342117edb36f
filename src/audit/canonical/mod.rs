//! RFC 8785 canonical JSON, written straight from any `Serialize` value.
//!
//! Every audit entry is hashed in canonical form on the deciding path, so encoding it
//! is part of each decision's cost. The maintained canonicalizer
//! (`serde_json_canonicalizer`) sorts every object through a set of owned UTF-16 keys
//! and needs a `serde_json::Value`, which made encoding half of an audited decision.
//! [`encode`] (in `serializer.rs`) writes typed values and `Value`s alike, sorting each
//! object's names once and escaping strings in one pass. Numbers other than integers
//! that a double holds exactly still go through the canonicalizer, which implements the
//! ECMAScript number form; the tests hold [`encode`] to the canonicalizer's bytes on
//! arbitrary values and on the runtime's own types.

use std::cmp::Ordering;

use serde_json::{Number, Value as Json};

mod serializer;

pub use serializer::{encode, members, Members};

/// The largest integer magnitude a double holds exactly: up to it, the ECMAScript form
/// of an integer is its decimal digits.
const EXACT: u64 = 1 << 53;

/// The order RFC 8785 sorts member names in: by their UTF-16 code units.
///
/// UTF-8 bytes sort as code points do, and code points sort as UTF-16 does except that
/// a character from U+10000 up (a surrogate pair, D800–DFFF) sorts before one from
/// U+E000 to U+FFFF. So the bytes decide, unless the first difference is between the
/// lead bytes of two such characters (EE or EF against F0 to F4).
pub fn utf16_order(a: &str, b: &str) -> Ordering {
    let (left, right) = (a.as_bytes(), b.as_bytes());
    let Some((x, y)) = left.iter().zip(right).find(|(x, y)| x != y) else {
        return left.len().cmp(&right.len());
    };
    let high_bmp = |byte: u8| matches!(byte, 0xee | 0xef);
    let supplementary = |byte: u8| byte >= 0xf0;
    if (high_bmp(*x) && supplementary(*y)) || (supplementary(*x) && high_bmp(*y)) {
        return a.encode_utf16().cmp(b.encode_utf16());
    }
    x.cmp(y)
}

/// A number in the ECMAScript form RFC 8785 §3.2.2.3 asks for.
pub fn write_number(number: &Number, out: &mut Vec<u8>) -> Result<(), String> {
    let small = |magnitude: u64| magnitude <= EXACT;
    match (number.as_u64(), number.as_i64()) {
        (Some(whole), _) if small(whole) => out.extend_from_slice(whole.to_string().as_bytes()),
        (None, Some(whole)) if small(whole.unsigned_abs()) => out.extend_from_slice(whole.to_string().as_bytes()),
        _ => out.extend(
            serde_json_canonicalizer::to_vec(&Json::Number(number.clone())).map_err(|error| error.to_string())?,
        ),
    }
    Ok(())
}

/// A string as JSON.stringify writes it (RFC 8785 §3.2.2.2): the two-character escapes
/// for `"`, `\` and the controls that have one, `\u00xx` for the other controls, and
/// every other character as itself.
///
/// Entries are mostly plain text, so the bytes are scanned eight at a time and a word
/// with nothing to escape is passed over whole.
pub fn write_string(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut at = 0;
    while at < bytes.len() {
        if let Some(word) = bytes.get(at..at + 8) {
            let word = u64::from_le_bytes(<[u8; 8]>::try_from(word).unwrap_or_default());
            if !may_need_escape(word) {
                at += 8;
                continue;
            }
        }
        let end = (at + 8).min(bytes.len());
        for (offset, &byte) in bytes.get(at..end).unwrap_or_default().iter().enumerate() {
            if let Some(short) = escape(byte) {
                let here = at + offset;
                out.extend_from_slice(bytes.get(start..here).unwrap_or_default());
                out.extend_from_slice(&[b'\\', short]);
                if short == b'u' {
                    out.extend_from_slice(&[b'0', b'0', hex_digit(byte >> 4), hex_digit(byte & 0xf)]);
                }
                start = here + 1;
            }
        }
        at = end;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
}

/// Whether any of the eight bytes of `word` may be a control, `"` or `\`: never false
/// when one is (it may be true when none is, and then the bytes are looked at one by one).
fn may_need_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |limit: u8| word.wrapping_sub(ONES * u64::from(limit)) & !word & HIGH;
    let equal = |byte: u8| {
        let diff = word ^ (ONES * u64::from(byte));
        diff.wrapping_sub(ONES) & !diff & HIGH
    };
    (below(0x20) | equal(b'"') | equal(b'\\')) != 0
}

/// The letter after the backslash that escapes `byte`, if it needs one (`u` for a
/// control written as `\u00xx`).
fn escape(byte: u8) -> Option<u8> {
    Some(match byte {
        b'"' | b'\\' => byte,
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        0x08 => b'b',
        0x0c => b'f',
        0x00..=0x1f => b'u',
        _ => return None,
    })
}

/// Writes members (names with their values' canonical bytes), comma-separated, in the
/// order given: an object's inside, or a run of it.
pub fn write_members<'m>(members: impl IntoIterator<Item = (&'m str, &'m [u8])>, out: &mut Vec<u8>) {
    for (index, (name, value)) in members.into_iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_string(name, out);
        out.push(b':');
        out.extend_from_slice(value);
    }
}

fn hex_digit(nibble: u8) -> u8 {
    match nibble {
        0..=9 => b'0' + nibble,
        _ => b'a' + nibble - 10,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may fail loudly

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn reference(value: &Json) -> String {
        String::from_utf8(serde_json_canonicalizer::to_vec(value).unwrap()).unwrap()
    }

    fn ours(value: &Json) -> String {
        String::from_utf8(encode(value).unwrap()).unwrap()
    }

    /// Keys and strings that sort or escape differently in UTF-8 and UTF-16, controls,
    /// and numbers at and past the edges of what a double holds exactly.
    #[test]
    fn edge_values_match_the_canonicalizer() {
        let values = [
            json!({"\u{10000}": 1, "\u{ffff}": 2, "\u{e000}": 3, "z": 4, "": 5, "A": 6, "a": 7}),
            json!(["\u{0}\u{1}\u{8}\u{9}\u{a}\u{b}\u{c}\u{d}\u{1f}\u{7f}\u{2028}\"\\/é😀"]),
            json!([9007199254740992u64, 9007199254740993u64, -9007199254740992i64, -9007199254740993i64]),
            json!([u64::MAX, i64::MIN, 0, -0.0, 1.5, 1e21, 1e-7, 123456789012345680000.0, 0.1, -1e300]),
            json!({"b": {"d": [], "c": {}}, "a": [null, true, false]}),
        ];
        for value in values {
            assert_eq!(ours(&value), reference(&value));
        }
    }

    fn arbitrary_json() -> impl Strategy<Value = Json> {
        let leaf = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::Bool),
            any::<i64>().prop_map(Json::from),
            any::<u64>().prop_map(Json::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Json::from),
            "\\PC{0,8}|[\\x00-\\x1f\"\\\\]{0,4}".prop_map(Json::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
                prop::collection::btree_map("\\PC{0,4}", inner, 0..6)
                    .prop_map(|members| Json::Object(members.into_iter().collect())),
            ]
        })
    }

    /// What the reference canonicalizer writes for `serde_json::to_value` of `value`:
    /// what the typed encoding must write.
    fn through_value<T: serde::Serialize>(value: &T) -> Result<String, String> {
        let value = serde_json::to_value(value).map_err(|error| error.to_string())?;
        Ok(reference(&value))
    }

    fn typed<T: serde::Serialize>(value: &T) -> Result<String, String> {
        encode(value).map(|bytes| String::from_utf8(bytes).unwrap())
    }

    #[derive(serde::Serialize)]
    enum Shape {
        Unit,
        Newtype(Vec<u8>),
        Tuple(i8, Option<f32>),
        Struct { z: u128, a: i128, é: char },
    }

    #[derive(serde::Serialize)]
    struct Flattened {
        b: &'static str,
        #[serde(flatten)]
        rest: std::collections::BTreeMap<String, f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u8>,
        shapes: Vec<Shape>,
        keyed: std::collections::BTreeMap<i32, bool>,
        #[serde(with = "serde_bytes_as_seq")]
        bytes: Vec<u8>,
    }

    mod serde_bytes_as_seq {
        pub fn serialize<S: serde::Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_bytes(bytes)
        }
    }

    /// Variants, options, bytes, wide integers, non-finite floats, integer keys and a
    /// member named twice (a flattened map repeating a field) all come out as through
    /// a `Value`.
    #[test]
    fn typed_values_encode_as_through_a_value() {
        let value = Flattened {
            b: "first",
            rest: [("b".to_string(), 2.5), ("a".to_string(), f64::NAN), ("\u{10000}".to_string(), 1e21)].into(),
            skipped: None,
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(vec![0, 255]),
                Shape::Tuple(-1, Some(0.1)),
                Shape::Tuple(0, None),
                Shape::Struct { z: u128::from(u64::MAX), a: i128::from(i64::MIN), é: '"' },
            ],
            keyed: [(-3, true), (10, false), (2, true)].into(),
            bytes: vec![1, 2, 3],
        };
        assert_eq!(typed(&value).unwrap(), through_value(&value).unwrap());
        for wide in [u128::MAX, u128::from(u64::MAX) + 1] {
            assert!(typed(&Shape::Struct { z: wide, a: 0, é: 'x' }).is_err());
            assert!(through_value(&Shape::Struct { z: wide, a: 0, é: 'x' }).is_err());
        }
        assert!(encode(&std::collections::HashMap::from([(vec![1u8], 1)])).is_err(), "a key must be text");
    }

    /// A request document, as the runtime stamps it, encodes as through a `Value`.
    #[test]
    fn a_request_document_encodes_as_through_a_value() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/eval/request.json")).unwrap();
        let request: crate::eval::RequestDoc = serde_json::from_str(&text).unwrap();
        assert_eq!(typed(&request).unwrap(), through_value(&request).unwrap());
    }

    /// `members` splits an object into its members in canonical order, and refuses
    /// anything else.
    #[test]
    fn members_are_an_objects_and_in_order() {
        let value = json!({"z": [1], "a": {"y": null, "b": "x"}, "\u{e000}": 1, "\u{10000}": 2});
        let members = members(&value).unwrap();
        let members: Vec<(&str, &[u8])> = members.iter().collect();
        let names: Vec<&str> = members.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, ["a", "z", "\u{10000}", "\u{e000}"]);
        assert_eq!(members[0].1, br#"{"b":"x","y":null}"#);
        for not_an_object in [json!([1]), json!("text"), json!(null)] {
            assert!(super::members(&not_an_object).is_err(), "{not_an_object}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_values_match_the_canonicalizer(value in arbitrary_json()) {
            prop_assert_eq!(ours(&value), reference(&value));
        }

        #[test]
        fn names_sort_by_their_utf16_code_units(a in "[a\u{e000}\u{ffff}\u{10000}\u{10ffff}é]{0,4}", b in "[a\u{e000}\u{ffff}\u{10000}\u{10ffff}é]{0,4}") {
            prop_assert_eq!(utf16_order(&a, &b), a.encode_utf16().cmp(b.encode_utf16()));
            prop_assert_eq!(utf16_order(&a, &a), Ordering::Equal);
        }

        /// Long strings, where most bytes are scanned eight at a time, escape as the
        /// canonicalizer escapes them wherever the characters to escape fall: a word's
        /// first or last byte, two words at once, bytes 0x1f and 0x20 at the edge of the
        /// controls, `\x7f` and non-ASCII text, which stay as they are.
        #[test]
        fn long_strings_escape_as_the_canonicalizer_does(text in "[a-z \"\\\\\x00-\x1f\x20\x7fé€😀]{0,40}") {
            let value = Json::String(text);
            prop_assert_eq!(ours(&value), reference(&value));
        }

    }
}
