//! The types of Mandate values, as the checker sees them.
//!
//! Types are resolved and span-free, so the package environment that holds them stays
//! equal across edits that only move text around, which is what lets the incremental
//! database skip re-checking files that did not change.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    Bool,
    Int,
    Decimal,
    String,
    Duration,
    Timestamp,
    Set(Box<Type>),
    /// `Map<String, T>`: string keys, each with a value of `T`.
    Map(Box<Type>),
    Record(Arc<RecordType>),
    /// A value of the named enum.
    Enum(String),
    /// The request's resource, of the named resource type.
    Resource(String),
    /// The request's task; the kind is known after `task is Kind`.
    Task(Option<String>),
    /// The request's action.
    Action,
    /// A type that could not be determined because of an earlier error. It is compatible
    /// with everything, so one mistake gives one diagnostic.
    Unknown,
}

/// Attributes of a record, resource, agent, context or behavior.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct RecordType {
    pub fields: BTreeMap<String, Field>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field {
    pub ty: Type,
    pub optional: bool,
}

impl RecordType {
    pub fn get(&self, name: &str) -> Option<&Field> {
        self.fields.get(name)
    }

    pub fn required(&self) -> impl Iterator<Item = (&String, &Field)> {
        self.fields.iter().filter(|(_, field)| !field.optional)
    }
}

impl Type {
    pub fn is_numeric(&self) -> bool {
        matches!(self, Type::Int | Type::Decimal | Type::Unknown)
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Type::Unknown)
    }

    /// Whether two values of these types can be compared with `==`.
    pub fn comparable(&self, other: &Type) -> bool {
        match (self, other) {
            (Type::Unknown, _) | (_, Type::Unknown) => true,
            (a, b) if a.is_numeric() && b.is_numeric() => true,
            (Type::Set(a), Type::Set(b)) | (Type::Map(a), Type::Map(b)) => a.comparable(b),
            (Type::Task(_), Type::Task(_)) => true,
            (a, b) => a == b,
        }
    }

    /// Whether a value of type `self` may be used where `expected` is required.
    pub fn fits(&self, expected: &Type) -> bool {
        match (self, expected) {
            (Type::Unknown, _) | (_, Type::Unknown) => true,
            (Type::Int, Type::Decimal) => true,
            (Type::Set(a), Type::Set(b)) | (Type::Map(a), Type::Map(b)) => a.fits(b),
            (Type::Record(a), Type::Record(b)) => record_fits(a, b),
            (a, b) => a == b,
        }
    }

    /// Whether values of this type are ordered by `<` and friends.
    pub fn ordered(&self) -> bool {
        matches!(
            self,
            Type::Int | Type::Decimal | Type::Duration | Type::Timestamp | Type::Enum(_) | Type::String | Type::Unknown
        )
    }
}

fn record_fits(actual: &RecordType, expected: &RecordType) -> bool {
    expected.fields.iter().all(|(name, field)| match actual.get(name) {
        Some(present) => present.ty.fits(&field.ty),
        None => field.optional,
    }) && actual.fields.keys().all(|name| expected.fields.contains_key(name))
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("Bool"),
            Type::Int => f.write_str("Int"),
            Type::Decimal => f.write_str("Decimal"),
            Type::String => f.write_str("String"),
            Type::Duration => f.write_str("Duration"),
            Type::Timestamp => f.write_str("Timestamp"),
            Type::Set(inner) => write!(f, "Set<{inner}>"),
            Type::Map(inner) => write!(f, "Map<String, {inner}>"),
            Type::Record(record) => {
                f.write_str("{ ")?;
                for (index, (name, field)) in record.fields.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    let optional = if field.optional { "?" } else { "" };
                    write!(f, "{name}{optional}: {}", field.ty)?;
                }
                f.write_str(" }")
            }
            Type::Enum(name) | Type::Resource(name) => f.write_str(name),
            Type::Task(Some(kind)) => write!(f, "task {kind}"),
            Type::Task(None) => f.write_str("task"),
            Type::Action => f.write_str("action"),
            Type::Unknown => f.write_str("unknown"),
        }
    }
}
