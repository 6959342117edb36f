//! RFC 8785 canonical JSON written straight from any `Serialize` value.
//!
//! An audited decision's entry is mostly typed data: the stamped request, the decision,
//! its obligations. Turning it into a `serde_json::Value` first allocates a tree of maps
//! only to sort it and drop it, which was a quarter of an audited decision's cost. This
//! serializer writes each object's members into one buffer, sorts their names (UTF-16
//! order) and copies them out once; the buffers are reused, thread by thread.
//!
//! It writes exactly what `serde_json::to_value` followed by an RFC 8785 canonicalizer
//! writes: the same number forms, non-finite floats as `null`, bytes as arrays of numbers, map
//! keys as serde_json makes them (strings, and integers, characters and booleans as
//! their text), and a member named twice keeps its last value. Where serde_json would
//! refuse a value (an integer wider than 64 bits, a key that is not text) this refuses
//! it too, and so does it for a float key, which serde_json writes in a form RFC 8785
//! does not define. The tests hold it to those bytes on arbitrary values and on the
//! runtime's own types.

use std::fmt::Write;
use std::ops::Range;

use serde::ser::{self, Impossible, Serialize};
use serde_json::Number;

use super::{utf16_order, write_members, write_number, write_string};

/// Why a value has no canonical form.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Error(String);

impl ser::Error for Error {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        Error(message.to_string())
    }
}

/// The canonical bytes of `value`.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(512);
    value.serialize(Serializer { out: &mut out, members: None }).map_err(|error| error.0)?;
    Ok(out)
}

/// The members of `value`, which must serialize as an object, in canonical order.
pub fn members<T: Serialize + ?Sized>(value: &T) -> Result<Members, String> {
    let (mut unused, mut members) = (Vec::new(), Members::default());
    value.serialize(Serializer { out: &mut unused, members: Some(&mut members) }).map_err(|error| error.0)?;
    Ok(members)
}

/// An object's members: each name, with its value's canonical bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Members {
    names: Vec<(Name, Range<usize>)>,
    bytes: Vec<u8>,
    /// The text of the names that are map keys, one after another.
    keys: String,
}

/// A member's name: a struct's field, or a map key's text in [`Members::keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Name {
    Field(&'static str),
    Key(Range<usize>),
}

fn name_in<'m>(keys: &'m str, name: &'m Name) -> &'m str {
    match name {
        Name::Field(field) => field,
        Name::Key(range) => keys.get(range.clone()).unwrap_or_default(),
    }
}

impl Members {
    /// Adds a member whose value is already in canonical form.
    pub fn push(&mut self, name: &'static str, value: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(value);
        self.names.push((Name::Field(name), start..self.bytes.len()));
    }

    /// Each member's name and canonical bytes, in the order they were given.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.names
            .iter()
            .map(|(name, range)| (name_in(&self.keys, name), self.bytes.get(range.clone()).unwrap_or_default()))
    }

    /// Puts the members in canonical order, keeping the last value of a name given twice.
    fn sort(&mut self) {
        let keys = &self.keys;
        let order =
            |a: &(Name, Range<usize>), b: &(Name, Range<usize>)| utf16_order(name_in(keys, &a.0), name_in(keys, &b.0));
        if self.names.is_sorted_by(|a, b| order(a, b).is_lt()) {
            return;
        }
        // Stable: a name given twice keeps its values in order; the later one stays.
        self.names.sort_by(order);
        self.names.dedup_by(|later, kept| {
            let same = name_in(keys, &later.0) == name_in(keys, &kept.0);
            if same {
                std::mem::swap(later, kept);
            }
            same
        });
    }

    /// The members as one object, in canonical order.
    pub fn into_object(mut self) -> Vec<u8> {
        self.sort();
        let mut out = Vec::with_capacity(self.bytes.len() + self.keys.len() + 8 * self.names.len() + 2);
        self.write_object(&mut out);
        self.recycle();
        out
    }

    /// Gives the list back to this thread's spare lists, for the next object encoded
    /// here to fill without growing it again.
    pub fn recycle(self) {
        return_members(self);
    }

    /// Writes the (sorted) members as an object.
    fn write_object(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        write_members(self.iter(), out);
        out.push(b'}');
    }

    fn clear(&mut self) {
        self.names.clear();
        self.bytes.clear();
        self.keys.clear();
    }
}

thread_local! {
    /// Emptied member lists kept for the next objects on this thread, so that encoding
    /// an entry allocates (almost) nothing once a thread has encoded one.
    static SPARE: std::cell::RefCell<Vec<Members>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// How many emptied member lists a thread keeps, and how large each may stay: enough
/// for the objects of an entry, and at most a megabyte per thread however large a request
/// once was.
const SPARE_LISTS: usize = 16;
const SPARE_BYTES: usize = 64 << 10;

fn spare_members() -> Members {
    SPARE.with(|spare| spare.try_borrow_mut().ok().and_then(|mut spare| spare.pop())).unwrap_or_default()
}

fn return_members(mut members: Members) {
    if members.bytes.capacity() + members.keys.capacity() > SPARE_BYTES {
        return;
    }
    members.clear();
    SPARE.with(|spare| {
        if let Ok(mut spare) = spare.try_borrow_mut() {
            if spare.len() < SPARE_LISTS {
                spare.push(members);
            }
        }
    });
}

/// Writes one value to `out`; at the top of [`members`], an object's members go to
/// `members` instead.
struct Serializer<'o> {
    out: &'o mut Vec<u8>,
    members: Option<&'o mut Members>,
}

impl<'o> Serializer<'o> {
    /// Where a value that is not an object goes: not at the top of [`members`].
    fn plain(self) -> Result<&'o mut Vec<u8>, Error> {
        match self.members {
            Some(_) => Err(Error("an entry must be an object".to_string())),
            None => Ok(self.out),
        }
    }

    /// Writes a value that is not an object.
    fn scalar(self, write: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>) -> Result<(), Error> {
        write(self.plain()?)
    }

    fn number(self, number: Number) -> Result<(), Error> {
        self.scalar(|out| write_number(&number, out).map_err(Error))
    }

    /// An object whose end writes `suffix` after its closing brace.
    fn object(self, suffix: &'static [u8]) -> Object<'o> {
        Object { out: self.out, sink: self.members, members: spare_members(), key: None, suffix }
    }

    /// Opens `{"variant":` for an enum variant's content.
    fn variant(self, variant: &str) -> Result<&'o mut Vec<u8>, Error> {
        let out = self.plain()?;
        out.push(b'{');
        write_string(variant, out);
        out.push(b':');
        Ok(out)
    }
}

fn too_wide() -> Error {
    Error("number out of range".to_string())
}

/// Integers up to 64 bits are numbers as they are.
macro_rules! integers {
    ($($method:ident: $type:ty),*) => {$(
        fn $method(self, value: $type) -> Result<(), Error> {
            self.number(value.into())
        }
    )*};
}

impl<'o> ser::Serializer for Serializer<'o> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Array<'o>;
    type SerializeTuple = Array<'o>;
    type SerializeTupleStruct = Array<'o>;
    type SerializeTupleVariant = Array<'o>;
    type SerializeMap = Object<'o>;
    type SerializeStruct = Object<'o>;
    type SerializeStructVariant = Object<'o>;

    integers!(
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64
    );

    fn serialize_bool(self, value: bool) -> Result<(), Error> {
        self.scalar(|out| {
            out.extend_from_slice(if value { b"true" } else { b"false" });
            Ok(())
        })
    }

    fn serialize_i128(self, value: i128) -> Result<(), Error> {
        match (i64::try_from(value), u64::try_from(value)) {
            (Ok(small), _) => self.number(small.into()),
            (_, Ok(large)) => self.number(large.into()),
            _ => Err(too_wide()),
        }
    }

    fn serialize_u128(self, value: u128) -> Result<(), Error> {
        self.number(u64::try_from(value).map_err(|_| too_wide())?.into())
    }

    fn serialize_f32(self, value: f32) -> Result<(), Error> {
        self.serialize_f64(f64::from(value))
    }

    fn serialize_f64(self, value: f64) -> Result<(), Error> {
        match Number::from_f64(value) {
            Some(number) => self.number(number),
            None => self.serialize_unit(),
        }
    }

    fn serialize_char(self, value: char) -> Result<(), Error> {
        self.serialize_str(value.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, value: &str) -> Result<(), Error> {
        self.scalar(|out| {
            write_string(value, out);
            Ok(())
        })
    }

    fn serialize_bytes(self, value: &[u8]) -> Result<(), Error> {
        self.scalar(|out| {
            out.push(b'[');
            for (index, byte) in value.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(byte.to_string().as_bytes());
            }
            out.push(b']');
            Ok(())
        })
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.scalar(|out| {
            out.extend_from_slice(b"null");
            Ok(())
        })
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<(), Error> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        let out = self.variant(variant)?;
        value.serialize(Serializer { out: &mut *out, members: None })?;
        out.push(b'}');
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Array<'o>, Error> {
        let out = self.plain()?;
        out.push(b'[');
        Ok(Array { out, first: true, close: b"]" })
    }

    fn serialize_tuple(self, len: usize) -> Result<Array<'o>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Array<'o>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Array<'o>, Error> {
        let out = self.variant(variant)?;
        out.push(b'[');
        Ok(Array { out, first: true, close: b"]}" })
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Object<'o>, Error> {
        Ok(self.object(b""))
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Object<'o>, Error> {
        Ok(self.object(b""))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Object<'o>, Error> {
        let out = self.variant(variant)?;
        Ok(Object { out, sink: None, members: spare_members(), key: None, suffix: b"}" })
    }
}

/// An array being written: its elements go straight to `out`.
struct Array<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
    /// What closes it: `]`, or `]}` for a tuple variant.
    close: &'static [u8],
}

impl Array<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        value.serialize(Serializer { out: &mut *self.out, members: None })
    }

    fn close(self) -> Result<(), Error> {
        self.out.extend_from_slice(self.close);
        Ok(())
    }
}

/// The four ways serde writes a sequence all append an element, then close it.
macro_rules! array_impl {
    ($($serialize:ident :: $element:ident),*) => {$(
        impl ser::$serialize for Array<'_> {
            type Ok = ();
            type Error = Error;

            fn $element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.element(value)
            }

            fn end(self) -> Result<(), Error> {
                self.close()
            }
        }
    )*};
}

array_impl!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// An object being written: each member's value goes to its member list, which is
/// sorted and copied out when it ends.
struct Object<'o> {
    out: &'o mut Vec<u8>,
    /// At the top of [`members`]: where the sorted members go instead of `out`.
    sink: Option<&'o mut Members>,
    members: Members,
    /// A map's key (where it is in the member list's keys), until its value comes.
    key: Option<Range<usize>>,
    /// What follows the closing brace: `}` for a struct variant.
    suffix: &'static [u8],
}

impl Object<'_> {
    fn member<T: Serialize + ?Sized>(&mut self, name: Name, value: &T) -> Result<(), Error> {
        let start = self.members.bytes.len();
        value.serialize(Serializer { out: &mut self.members.bytes, members: None })?;
        self.members.names.push((name, start..self.members.bytes.len()));
        Ok(())
    }

    fn close(mut self) -> Result<(), Error> {
        self.members.sort();
        if let Some(sink) = self.sink {
            *sink = self.members;
            return Ok(());
        }
        self.members.write_object(self.out);
        self.out.extend_from_slice(self.suffix);
        return_members(self.members);
        Ok(())
    }
}

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        let start = self.members.keys.len();
        key.serialize(KeyWriter(&mut self.members.keys))?;
        self.key = Some(start..self.members.keys.len());
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self.key.take().ok_or_else(|| Error("a map value came without its key".to_string()))?;
        self.member(Name::Key(key), value)
    }

    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

/// A struct and a struct variant are written alike: fields by name, then the close.
macro_rules! struct_impl {
    ($($serialize:ident),*) => {$(
        impl ser::$serialize for Object<'_> {
            type Ok = ();
            type Error = Error;

            fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
                self.member(Name::Field(key), value)
            }

            fn end(self) -> Result<(), Error> {
                self.close()
            }
        }
    )*};
}

struct_impl!(SerializeStruct, SerializeStructVariant);

/// Writes a map key's text, as serde_json makes it, to the end of a string.
struct KeyWriter<'k>(&'k mut String);

impl KeyWriter<'_> {
    fn text(self, value: impl std::fmt::Display) -> Result<(), Error> {
        write!(self.0, "{value}").map_err(|error| Error(error.to_string()))
    }
}

fn key_must_be_text() -> Error {
    Error("a map key must be a string, an integer, a character or a boolean".to_string())
}

/// Booleans, characters and integers are keys by their text.
macro_rules! texts {
    ($($method:ident: $type:ty),*) => {$(
        fn $method(self, value: $type) -> Result<(), Error> {
            self.text(value)
        }
    )*};
}

impl ser::Serializer for KeyWriter<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    texts!(
        serialize_bool: bool, serialize_char: char,
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64, serialize_i128: i128,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64, serialize_u128: u128
    );

    fn serialize_f32(self, _value: f32) -> Result<(), Error> {
        Err(key_must_be_text())
    }

    fn serialize_f64(self, _value: f64) -> Result<(), Error> {
        Err(key_must_be_text())
    }

    fn serialize_str(self, value: &str) -> Result<(), Error> {
        self.0.push_str(value);
        Ok(())
    }

    fn serialize_bytes(self, _value: &[u8]) -> Result<(), Error> {
        Err(key_must_be_text())
    }

    fn serialize_none(self) -> Result<(), Error> {
        Err(key_must_be_text())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<(), Error> {
        Err(key_must_be_text())
    }

    fn serialize_unit(self) -> Result<(), Error> {
        Err(key_must_be_text())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Err(key_must_be_text())
    }

    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<(), Error> {
        self.text(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(key_must_be_text())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(key_must_be_text())
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(key_must_be_text())
    }

    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeTupleStruct, Error> {
        Err(key_must_be_text())
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(key_must_be_text())
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(key_must_be_text())
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct, Error> {
        Err(key_must_be_text())
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(key_must_be_text())
    }
}
