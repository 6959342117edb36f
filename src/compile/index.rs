//! Index nodes: many tests of one attribute answered by one lookup.
//!
//! A decision diagram tests one variable per node, and it cannot know that two tests
//! are related: `"tag1" in resource.labels` and `"tag2" in resource.labels` are
//! independent booleans to it, and so are `resource.path matches "/a/*"` and
//! `resource.path matches "/b/*"` (which exclude each other). Thousands of such policies
//! would make a diagram whose paths multiply, split by the budget into thousands of small
//! diagrams a request walks one by one.
//!
//! So when many rules of a group are each a conjunction with one such test of the same
//! attribute (their *anchor*), the compiler groups them by anchor and builds an index
//! node instead: an entry per anchor, leading to the diagram of what those rules require
//! besides it, and a rest diagram for the rules without one. Walking the node looks up
//! the request's value once and walks the rest and the entries whose anchor holds, uniting
//! the rules they reach (the semantics is the same union the diagram would have had):
//! - **members**: `"c" in set` (or `set contains "c"`) for string constants: each element
//!   of the request's set is looked up in a hash table, so the cost follows the size of
//!   the request's set, not the number of policies;
//! - **patterns**: `matches`, `starts_with`, `ends_with` and `contains` with a constant:
//!   an Aho–Corasick automaton finds the patterns whose longest literal the string holds,
//!   and only those are matched in full, so the cost follows the string's length and the
//!   patterns that nearly match.
//!
//! An entry keeps the number of its anchor's test, so explanations name it and the prover
//! reads the node back as the diagram it stands for (`rest + Σ anchor ∧ entry`).

use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::formula::{Atom, FieldPath, Formula};
use crate::hir::glob::{glob_matches, longest_literal};
use crate::hir::{Base, HExpr, StrOp, Value};

/// What an index looks up in the request's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum IndexKind {
    /// Constants contained in a set attribute.
    Members,
    /// Patterns a string attribute matches.
    Patterns,
}

/// One entry: the anchor test it stands for, and the diagram walked when the test holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The anchor, by its number in the plan's tests.
    pub test: u32,
    pub child: u32,
}

/// An index node's entries, and the lookup built from them (rebuilt after
/// deserializing, by [`IndexTable::rebuild`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexTable {
    pub kind: IndexKind,
    pub entries: Vec<IndexEntry>,
    #[serde(skip)]
    lookup: Lookup,
}

#[derive(Debug, Clone, Default)]
enum Lookup {
    #[default]
    Empty,
    /// Entries by the constant they look for.
    Members(FxHashMap<Arc<str>, Vec<u32>>),
    Patterns(Box<Patterns>),
}

/// The pattern entries: an automaton over the literals they need, the entries each
/// literal stands for, the entries that need no literal, and each entry's full check.
#[derive(Debug, Clone)]
struct Patterns {
    searcher: Option<AhoCorasick>,
    by_needle: Vec<Vec<u32>>,
    always: Vec<u32>,
    checks: Vec<Check>,
}

/// How a pattern entry matches a string in full.
#[derive(Debug, Clone)]
enum Check {
    Glob(Arc<str>),
    Str(StrOp, Arc<str>),
    /// An entry whose test is not a pattern (never built by the compiler): it matches
    /// nothing, so a damaged plan cannot widen a decision through it.
    Never,
}

impl Check {
    fn holds(&self, text: &str) -> bool {
        match self {
            Check::Glob(pattern) => glob_matches(pattern, text),
            Check::Str(StrOp::StartsWith, part) => text.starts_with(&**part),
            Check::Str(StrOp::EndsWith, part) => text.ends_with(&**part),
            Check::Str(StrOp::Contains, part) => text.contains(&**part),
            Check::Never => false,
        }
    }

    /// A string every match contains.
    fn needle(&self) -> String {
        match self {
            Check::Glob(pattern) => longest_literal(pattern),
            Check::Str(_, part) => part.to_string(),
            // Filed under a needle no automaton reports for a string that matches
            // nothing anyway; the full check refuses it in any case.
            Check::Never => "\u{0}".to_string(),
        }
    }
}

impl IndexTable {
    pub fn new(kind: IndexKind, entries: Vec<IndexEntry>) -> Self {
        IndexTable { kind, entries, lookup: Lookup::Empty }
    }

    /// Builds the lookup from the entries' tests; call after deserializing.
    pub fn rebuild(&mut self, tests: &[HExpr]) {
        let anchor = |entry: &IndexEntry| tests.get(entry.test as usize).and_then(anchor_of);
        self.lookup = match self.kind {
            IndexKind::Members => {
                let mut table: FxHashMap<Arc<str>, Vec<u32>> = FxHashMap::default();
                for (number, entry) in self.entries.iter().enumerate() {
                    if let Some(Anchor { key: Key::Member(constant), .. }) = anchor(entry) {
                        table.entry(constant).or_default().push(number as u32);
                    }
                }
                Lookup::Members(table)
            }
            IndexKind::Patterns => {
                let checks: Vec<Check> = self
                    .entries
                    .iter()
                    .map(|entry| match anchor(entry) {
                        Some(Anchor { key: Key::Pattern(check), .. }) => check,
                        _ => Check::Never,
                    })
                    .collect();
                Lookup::Patterns(Box::new(Patterns::new(checks)))
            }
        };
    }

    /// The entries whose anchor holds for the request's value, in entry order; `Err` for
    /// a value of another kind than the index reads. An absent value holds no anchor.
    pub fn matching(&self, value: Option<&Value>) -> Result<Vec<u32>, String> {
        let mut found = match (&self.lookup, value) {
            (_, None) | (Lookup::Empty, _) => Vec::new(),
            (Lookup::Members(table), Some(Value::Set(items))) => items
                .iter()
                .filter_map(|item| item.as_str().and_then(|text| table.get(text)))
                .flatten()
                .copied()
                .collect(),
            (Lookup::Patterns(patterns), Some(Value::String(text))) => patterns.matching(text),
            (_, Some(other)) => return Err(format!("holds {other}, which the policies do not compare it as")),
        };
        found.sort_unstable();
        found.dedup();
        Ok(found)
    }
}

impl Patterns {
    fn new(checks: Vec<Check>) -> Self {
        let mut needles: Vec<String> = Vec::new();
        let mut by_needle: Vec<Vec<u32>> = Vec::new();
        let mut positions: FxHashMap<String, usize> = FxHashMap::default();
        let mut always = Vec::new();
        for (number, check) in checks.iter().enumerate() {
            let needle = check.needle();
            if needle.is_empty() {
                always.push(number as u32);
                continue;
            }
            let at = *positions.entry(needle.clone()).or_insert_with(|| {
                needles.push(needle);
                by_needle.push(Vec::new());
                by_needle.len() - 1
            });
            if let Some(entries) = by_needle.get_mut(at) {
                entries.push(number as u32);
            }
        }
        let searcher = AhoCorasick::builder().match_kind(MatchKind::Standard).build(&needles).ok();
        Patterns { searcher, by_needle, always, checks }
    }

    /// The entries that match `text`: candidates whose literal it contains, checked in
    /// full. Without an automaton (it could not be built), every entry is checked.
    fn matching(&self, text: &str) -> Vec<u32> {
        let mut candidates: Vec<u32> = self.always.clone();
        match &self.searcher {
            Some(searcher) => {
                // A needle can occur at every position of a long string: the needles found
                // are kept without repeats (folded whenever the list doubles), so they
                // never outnumber the needles, and each adds its entries once.
                let mut needles: Vec<u32> = Vec::new();
                let mut fold_at = 64;
                for found in searcher.find_overlapping_iter(text) {
                    needles.push(found.pattern().as_u32());
                    if needles.len() >= fold_at {
                        needles.sort_unstable();
                        needles.dedup();
                        fold_at = (needles.len() * 2).max(64);
                    }
                }
                needles.sort_unstable();
                needles.dedup();
                for needle in needles {
                    candidates.extend(self.by_needle.get(needle as usize).into_iter().flatten());
                }
            }
            None => candidates.extend(0..self.checks.len() as u32),
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates.retain(|entry| self.checks.get(*entry as usize).is_some_and(|check| check.holds(text)));
        candidates
    }
}

/// What an anchor test looks for.
enum Key {
    Member(Arc<str>),
    Pattern(Check),
}

/// A test an index can answer: the attribute, the kind of index, and what it looks for.
struct Anchor {
    field: FieldPath,
    kind: IndexKind,
    key: Key,
}

fn anchor_of(expr: &HExpr) -> Option<Anchor> {
    let field = |expr: &HExpr| match expr {
        HExpr::Field(Base::Root(root), path) => Some(FieldPath { root: *root, path: path.clone() }),
        _ => None,
    };
    let (field, kind, key) = match expr {
        HExpr::In(element, set) | HExpr::SetContains(set, element) => match &**element {
            HExpr::Const(Value::String(constant)) => (field(set)?, IndexKind::Members, Key::Member(constant.clone())),
            _ => return None,
        },
        HExpr::Matches(text, pattern) => {
            (field(text)?, IndexKind::Patterns, Key::Pattern(Check::Glob(pattern.clone())))
        }
        HExpr::Str(op, text, part) => match &**part {
            HExpr::Const(Value::String(part)) => {
                (field(text)?, IndexKind::Patterns, Key::Pattern(Check::Str(*op, part.clone())))
            }
            _ => return None,
        },
        _ => return None,
    };
    Some(Anchor { field, kind, key })
}

/// The attribute and kind of index a formula's anchor would use: a test the formula
/// requires (a conjunct at its top) that an index can answer. The first such conjunct
/// counts.
pub fn anchors(formula: &Formula) -> Vec<(FieldPath, IndexKind)> {
    let mut found = Vec::new();
    for conjunct in conjuncts(formula) {
        if let Formula::Atom(Atom::Test(expr)) = conjunct {
            if let Some(anchor) = anchor_of(expr) {
                let key = (anchor.field, anchor.kind);
                if !found.contains(&key) {
                    found.push(key);
                }
            }
        }
    }
    found
}

/// The formula's first conjunct that is an anchor on `field` of `kind`, and the formula
/// with that conjunct removed.
pub fn take_anchor(formula: &Formula, field: &FieldPath, kind: IndexKind) -> Option<(HExpr, Formula)> {
    let parts = conjuncts(formula);
    let at = parts.iter().position(|part| match part {
        Formula::Atom(Atom::Test(expr)) => {
            anchor_of(expr).is_some_and(|anchor| anchor.field == *field && anchor.kind == kind)
        }
        _ => false,
    })?;
    let Some(Formula::Atom(Atom::Test(test))) = parts.get(at) else { return None };
    let rest = parts
        .iter()
        .enumerate()
        .filter(|(index, _)| *index != at)
        .fold(Formula::Const(true), |all, (_, part)| Formula::and(all, (*part).clone()));
    Some((test.clone(), rest))
}

/// The conjuncts at the top of a formula, left to right.
fn conjuncts(formula: &Formula) -> Vec<&Formula> {
    let mut parts = Vec::new();
    let mut pending = vec![formula];
    while let Some(next) = pending.pop() {
        match next {
            Formula::And(a, b) => {
                pending.push(b);
                pending.push(a);
            }
            other => parts.push(other),
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(kind: IndexKind, tests: &[HExpr]) -> IndexTable {
        let entries = (0..tests.len() as u32).map(|test| IndexEntry { test, child: test }).collect();
        let mut table = IndexTable::new(kind, entries);
        table.rebuild(tests);
        table
    }

    fn path() -> HExpr {
        HExpr::field(crate::hir::Root::Resource, &["path"])
    }

    #[test]
    fn members_are_looked_up_by_element() {
        let labels = HExpr::field(crate::hir::Root::Resource, &["labels"]);
        let tests: Vec<HExpr> = ["a", "b", "c"]
            .iter()
            .map(|tag| HExpr::In(Box::new(HExpr::Const(Value::string(tag))), Box::new(labels.clone())))
            .collect();
        let index = table(IndexKind::Members, &tests);
        let request = Value::set(vec![Value::string("c"), Value::string("a"), Value::string("z")]);
        assert_eq!(index.matching(Some(&request)), Ok(vec![0, 2]));
        assert_eq!(index.matching(None), Ok(vec![]));
        assert!(index.matching(Some(&Value::Int(1))).is_err());
    }

    #[test]
    fn patterns_match_exactly_as_the_evaluator_does() {
        let tests = vec![
            HExpr::Matches(Box::new(path()), Arc::from("/team1/*")),
            HExpr::Matches(Box::new(path()), Arc::from("/team10/*")),
            HExpr::Str(StrOp::StartsWith, Box::new(path()), Box::new(HExpr::Const(Value::string("/team1")))),
            HExpr::Str(StrOp::EndsWith, Box::new(path()), Box::new(HExpr::Const(Value::string(".txt")))),
            HExpr::Matches(Box::new(path()), Arc::from("*")),
            HExpr::Matches(Box::new(path()), Arc::from("*a*b*")),
        ];
        let index = table(IndexKind::Patterns, &tests);
        let check = |text: &str| index.matching(Some(&Value::string(text))).expect("a string");
        assert_eq!(check("/team1/x.txt"), vec![0, 2, 3, 4]);
        assert_eq!(check("/team10/ab"), vec![1, 2, 4, 5]);
        assert_eq!(check(""), vec![4]);
    }

    #[test]
    fn a_needle_found_everywhere_adds_its_entries_once() {
        let contains =
            |part: &str| HExpr::Str(StrOp::Contains, Box::new(path()), Box::new(HExpr::Const(Value::string(part))));
        let tests = vec![contains("a"), contains("a"), contains("aa"), HExpr::Const(Value::Bool(true))];
        let index = table(IndexKind::Patterns, &tests);
        let text = "a".repeat(100_000);
        assert_eq!(index.matching(Some(&Value::string(&text))), Ok(vec![0, 1, 2]));
        assert_eq!(index.matching(Some(&Value::string("\u{0}"))), Ok(vec![]));
    }
}
