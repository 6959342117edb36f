//! Semantics: name resolution and type checking against the schema.
//!
//! **Architecture invariant:** checking never stops at the first mistake. Every problem
//! becomes a diagnostic in a [`Sink`], unknown types degrade to [`types::Type::Unknown`]
//! so that one mistake is reported once, and every declaration is checked.

pub mod calls;
pub mod check;
pub mod env;
pub mod errors;
pub mod expr;
pub mod suggest;
pub mod types;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use crate::diagnostics::Diagnostic;
use crate::syntax::Span;

/// What a bare name or `Enum::variant` path in an expression refers to, and which meaning
/// an overloaded operator has, as the checker resolved them. Lowering to the HIR reads
/// these instead of resolving again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NameRes {
    /// A request root such as `agent`.
    Root(String),
    /// A quantifier variable or function parameter.
    Local(String),
    /// A task parameter read bare inside the task's own clauses.
    Param(String),
    /// An enum value, with its position in the enum's declaration.
    Variant { enum_name: String, variant: String, ordinal: u32 },
    /// An action name.
    Action(String),
    /// Marks a `contains` whose left operand is a set: membership, not a substring test.
    SetContains,
    /// Marks a `contains` on strings.
    StrContains,
}

/// Whose attribute an `x.name` or `x has name` reads, as the checker typed `x`. Editor
/// tooling reads these to show an attribute's type and to find its declaration.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttrOwner {
    Agent,
    Context,
    Behavior,
    Chain,
    /// The arguments of the named action.
    Args(String),
    /// The named resource type.
    Resource(String),
    /// The named record type.
    Record(String),
    /// The parameters of the named task.
    Task(String),
    /// The fields every task instance has (`id`, `start`, `deadline`).
    TaskBuiltin,
    /// A record type written inline, or the parts of a timestamp: described in words.
    Other(String),
}

/// What an attribute access read: its owner, and the attribute's type there.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrRes {
    pub owner: AttrOwner,
    pub ty: types::Type,
    pub optional: bool,
}

/// A file's checking results: its diagnostics, and what each name in it resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Checked {
    pub diagnostics: Vec<Diagnostic>,
    pub names: BTreeMap<Span, NameRes>,
    /// For each attribute name read in an expression (by the span of the name), what it
    /// read in each request environment the expression was checked in.
    pub attributes: BTreeMap<Span, Vec<AttrRes>>,
    /// Expressions not checked in some request environment because a guard before them
    /// (`resource is T`, `action == a`) rules that environment out. One skipped in every
    /// environment never matters and has no resolutions.
    pub skipped: BTreeSet<Span>,
    /// Expressions that guards made skippable but that were checked in some environment.
    pub checked: BTreeSet<Span>,
}

/// Collects a file's diagnostics, dropping exact repeats: a condition checked for several
/// request environments reports each mistake once. Also records name resolutions.
pub struct Sink {
    file: Arc<str>,
    diagnostics: Vec<Diagnostic>,
    seen: HashSet<(String, Option<Span>, String)>,
    names: BTreeMap<Span, NameRes>,
    attributes: BTreeMap<Span, Vec<AttrRes>>,
    skipped: BTreeSet<Span>,
    checked: BTreeSet<Span>,
}

impl Sink {
    pub fn new(file: Arc<str>) -> Self {
        Sink {
            file,
            diagnostics: Vec::new(),
            seen: HashSet::new(),
            names: BTreeMap::new(),
            attributes: BTreeMap::new(),
            skipped: BTreeSet::new(),
            checked: BTreeSet::new(),
        }
    }

    /// Records what the name at `span` resolved to. A condition is checked once per
    /// request environment, and one expression must mean one thing in all of them: a
    /// name that resolves differently in another environment is an error.
    pub fn resolve(&mut self, span: Span, resolution: NameRes) {
        match self.names.get(&span) {
            None => {
                self.names.insert(span, resolution);
            }
            Some(first) if *first == resolution => {}
            Some(first) => {
                let error = errors::TypeError::Ambiguous {
                    first: describe_resolution(first),
                    second: describe_resolution(&resolution),
                    span,
                };
                self.report(error);
            }
        }
    }

    /// Records what the attribute name at `span` read, once per distinct reading.
    pub fn attribute(&mut self, span: Span, resolution: AttrRes) {
        let readings = self.attributes.entry(span).or_default();
        if !readings.contains(&resolution) {
            readings.push(resolution);
        }
    }

    /// Records that the expression at `span` was not checked in some environment.
    pub fn skip(&mut self, span: Span) {
        self.skipped.insert(span);
    }

    /// Records that a guarded expression was checked in some environment.
    pub fn check(&mut self, span: Span) {
        self.checked.insert(span);
    }

    pub fn into_checked(self) -> Checked {
        Checked {
            diagnostics: self.diagnostics,
            names: self.names,
            attributes: self.attributes,
            skipped: self.skipped,
            checked: self.checked,
        }
    }

    pub fn report(&mut self, error: impl miette::Diagnostic) {
        let diagnostic = Diagnostic::from_miette(&error, &self.file);
        self.push(diagnostic);
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        let key = (diagnostic.code.clone(), diagnostic.primary_span(), diagnostic.message.clone());
        if self.seen.insert(key) {
            self.diagnostics.push(diagnostic);
        }
    }

    pub fn file(&self) -> &Arc<str> {
        &self.file
    }

    pub fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diagnostics
    }
}

fn describe_resolution(resolution: &NameRes) -> String {
    match resolution {
        NameRes::Root(root) => format!("the request's `{root}`"),
        NameRes::Local(name) | NameRes::Param(name) => format!("`{name}`"),
        NameRes::Variant { enum_name, variant, .. } => format!("`{enum_name}::{variant}`"),
        NameRes::Action(action) => format!("the action `{action}`"),
        NameRes::SetContains => "set membership".to_string(),
        NameRes::StrContains => "a substring test".to_string(),
    }
}

/// Checks a `matches` pattern: `*` is a wildcard, `\*` and `\\` are escapes, and any
/// other backslash is a mistake.
pub fn validate_pattern(pattern: &str) -> Result<(), String> {
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('*') | Some('\\') => {}
                Some(other) => return Err(format!("`\\{other}` is not an escape; only `\\*` and `\\\\` are")),
                None => return Err("the pattern ends with a lone `\\`".to_string()),
            }
        }
    }
    Ok(())
}
