//! Runs a package's `test` blocks: each is turned into a request, validated and decided
//! like any other, and its decision compared with the one it expects.
//!
//! Parts a test leaves out get defaults, so tests stay short:
//! - `context.time`: the task's `start` if given, else [`DEFAULT_TIME`];
//! - the task's `start`: the time; its `deadline`: `start` plus the task's `ttl` (one day
//!   when it declares none); its `id`: the test's name;
//! - the agent's and the resource's `id`: `"agent"` and `"resource"`; a test without an
//!   `agent` part acts as an agent with only that id.
//!
//! Nothing else is filled in: a test without a `chain` is a request without one, which
//! is invalid. `mandate check` reports such a test, and a test whose request is invalid
//! fails whatever it expects, so no test passes for the wrong reason.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value as Json};

use super::decision::Decision;
use super::engine::PolicySet;
use super::expr::Evaluator;
use super::request::{EntityDoc, Request, RequestDoc, ResourceDoc, TaskDoc};
use crate::diagnostics::Diagnostic;
use crate::hir::value::{parse_timestamp, timestamp_text, Value};
use crate::hir::{Fields, HExpr, Origin, TestCase};
use crate::syntax::ast;

/// When a test that gives no time is decided: Monday 5 January 2026, 10:00 UTC.
pub const DEFAULT_TIME: &str = "2026-01-05T10:00:00Z";

const DAY: i64 = 86_400_000_000_000;

/// The outcome of one test.
#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    pub name: String,
    pub origin: Origin,
    pub expected: ast::Decision,
    pub decision: Decision,
    pub passed: bool,
    /// What the test expected and did not get: the decision, its reason code, its
    /// determining policies, its messages or its obligations; first, an invalid request.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mismatches: Vec<Mismatch>,
}

/// One expectation a decision does not meet.
#[derive(Debug, Clone, Serialize)]
pub struct Mismatch {
    /// The expectation and the decision, in words: "expects the reason `forbidden`, but
    /// it is `no_permit`".
    pub text: String,
    /// What the decision says instead, to show beside the expectation: "the reason is
    /// `no_permit`".
    #[serde(skip)]
    pub decided: String,
    /// Where the test states the expectation in its file (a `test` block's clause).
    #[serde(skip)]
    pub at: Option<crate::syntax::Span>,
    #[serde(skip)]
    part: Part,
}

/// What an expectation is about; messages by their place among the test's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Request,
    Decision,
    Reason,
    Policies,
    Message(usize),
    Ttl,
    Tags,
    GrantMessage(usize),
}

impl TestResult {
    /// A failed test as a diagnostic at the test: what it expected, what was decided
    /// (beside each expectation a `test` block states), and the decision's explanation
    /// path.
    pub fn failure(&self) -> Diagnostic {
        use crate::diagnostics::Severity;
        let message = match self.mismatches.as_slice() {
            [] => format!("test `{}` fails", self.name),
            [only] => format!("test `{}` {}", self.name, only.text),
            several => {
                let texts: Vec<&str> = several.iter().map(|mismatch| mismatch.text.as_str()).collect();
                format!("test `{}`: {}", self.name, texts.join("; "))
            }
        };
        let mut diagnostic =
            Diagnostic::new("mandate::test::failed", Severity::Error, message, self.origin.file.clone());
        // A mismatch that is not written anywhere (an invalid request, any mismatch of a
        // test file) points at the test's name; the others at what they expect.
        let at_name = self.mismatches.is_empty() || self.mismatches.iter().any(|mismatch| mismatch.at.is_none());
        if at_name {
            let span = crate::syntax::Span::new(self.origin.start, self.origin.end);
            let only_decision = self.mismatches.iter().all(|mismatch| mismatch.part == Part::Decision);
            let label = match only_decision {
                true => format!("expects {}", self.expected.keyword()),
                false => "this test".to_string(),
            };
            diagnostic = diagnostic.with_label(span, &label, true);
        }
        let written = self.mismatches.iter().filter_map(|mismatch| Some((mismatch.at?, &mismatch.decided)));
        for (index, (at, decided)) in written.enumerate() {
            diagnostic = diagnostic.with_label(at, decided, !at_name && index == 0);
        }
        diagnostic.with_help(format!("the decision:\n{}", self.decision.to_text()))
    }

    /// The failure in one line: `expected allow, got deny` when only the decision differs,
    /// else every mismatch.
    pub fn summary(&self) -> String {
        match self.mismatches.iter().all(|mismatch| mismatch.part == Part::Decision) {
            true => format!("expected {}, got {}", self.expected.keyword(), self.decision.decision.word()),
            false => {
                let texts: Vec<&str> = self.mismatches.iter().map(|mismatch| mismatch.text.as_str()).collect();
                texts.join("; ")
            }
        }
    }
}

/// Runs every test of the policy set's package, in source order.
pub fn run(set: &PolicySet) -> Vec<TestResult> {
    set.hir().tests.iter().map(|test| run_one(set, test)).collect()
}

/// A test passes when its request is valid and its decision is what it expects: an
/// invalid request is denied, but a test of one proves nothing about the policies, so
/// it fails whatever it expects.
fn run_one(set: &PolicySet, test: &TestCase) -> TestResult {
    let (doc, now) = request(set, test);
    let (decision, valid) = match set.prepare_at(&doc, now) {
        Ok(request) => (set.explain(&request), true),
        Err(errors) => (Decision::invalid(errors), false),
    };
    let wanted = &test.expectations;
    let expect = Expectation {
        decision: test.expect.into(),
        reason: wanted.reason.as_ref().map(|(code, _)| code.clone()),
        policies: wanted.policies.as_ref().map(|(names, _)| names.clone()),
        messages: texts(&wanted.messages),
        obligations: (wanted.ttl.is_some() || wanted.tags.is_some() || !wanted.grant_messages.is_empty()).then(|| {
            ExpectedObligations {
                ttl_ms: wanted.ttl.map(|(nanos, _)| nanos / NANOS_PER_MS),
                tags: wanted.tags.as_ref().map(|(tags, _)| tags.clone()),
                messages: texts(&wanted.grant_messages),
            }
        }),
    };
    let mut mismatches = mismatches(&expect, &decision, valid);
    for mismatch in &mut mismatches {
        mismatch.at = match mismatch.part {
            Part::Request => None,
            Part::Decision => Some(wanted.decision),
            Part::Reason => wanted.reason.as_ref().map(|(_, span)| *span),
            Part::Policies => wanted.policies.as_ref().map(|(_, span)| *span),
            Part::Message(index) => wanted.messages.get(index).map(|(_, span)| *span),
            Part::Ttl => wanted.ttl.map(|(_, span)| span),
            Part::Tags => wanted.tags.as_ref().map(|(_, span)| *span),
            Part::GrantMessage(index) => wanted.grant_messages.get(index).map(|(_, span)| *span),
        };
    }
    TestResult {
        name: test.name.clone(),
        origin: test.origin.clone(),
        expected: test.expect,
        decision,
        passed: mismatches.is_empty(),
        mismatches,
    }
}

const NANOS_PER_MS: i64 = 1_000_000;

fn texts(given: &[(String, crate::syntax::Span)]) -> Option<Vec<String>> {
    (!given.is_empty()).then(|| given.iter().map(|(text, _)| text.clone()).collect())
}

/// A test in a test file (`*.test.json`, `*.test.yaml`): a request in wire form and what
/// its decision must be.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonTest {
    pub name: String,
    /// What the test is about, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    pub request: RequestDoc,
    pub expect: Expectation,
}

/// What a test expects: the decision, and optionally its first reason's code, the
/// policies that determine it (the forbids of a deny, the escalations of an escalate,
/// the permits of an allow, all of them), messages its reason must carry (from its
/// forbids or escalations) and the credential's obligations. A `test` block's
/// `expect … by [...] reason … message "…" grant { … }` says the same.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub decision: super::decision::Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Vec<String>>,
    /// Each must be among the messages of the decision's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obligations: Option<ExpectedObligations>,
}

/// The obligations an allow must carry; only those given are compared.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedObligations {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<i64>,
    /// All of the credential's tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Each must be among the credential's messages (its permits' `grant message`s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<String>>,
}

/// A test file: `{"tests": [...]}` in JSON, `tests: [...]` in YAML.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonTestFile {
    pub tests: Vec<JsonTest>,
}

/// How the names of test files end: JSON, and the same schema in YAML.
pub const TEST_FILE_SUFFIXES: [&str; 3] = [".test.json", ".test.yaml", ".test.yml"];

/// Whether a file name is a test file's.
pub fn is_test_file(name: &str) -> bool {
    TEST_FILE_SUFFIXES.iter().any(|suffix| name.ends_with(suffix))
}

fn is_yaml(file: &str) -> bool {
    file.ends_with(".yaml") || file.ends_with(".yml")
}

/// Runs the tests of the test file named `file` (JSON or YAML, by its name) against
/// `set`. A file that does not read is a diagnostic at the line and column where it
/// stops making sense.
pub fn run_file(set: &PolicySet, file: &str, text: &str) -> Result<Vec<TestResult>, Box<Diagnostic>> {
    let parsed = read_file(file, text)?;
    let file: Arc<str> = Arc::from(file);
    let yaml = is_yaml(&file);
    Ok(parsed.tests.into_iter().map(|test| run_json_test(set, &file, text, yaml, test)).collect())
}

/// Reads a test file, JSON or YAML by its name.
fn read_file(file: &str, text: &str) -> Result<JsonTestFile, Box<Diagnostic>> {
    if is_yaml(file) {
        read_yaml(file, text)
    } else {
        serde_json::from_str(text).map_err(|error| {
            let (line, column) = (error.line(), error.column());
            let at = (line > 0).then(|| (line, column, offset_of(text, line, column, Column::Bytes)));
            bad_file(file, &error.to_string(), at)
        })
    }
}

#[cfg(feature = "cli")]
fn read_yaml(file: &str, text: &str) -> Result<JsonTestFile, Box<Diagnostic>> {
    serde_norway::from_str(text).map_err(|error| {
        let at =
            error.location().map(|at| (at.line(), at.column(), offset_of(text, at.line(), at.column(), Column::Chars)));
        bad_file(file, &error.to_string(), at)
    })
}

/// YAML test files are read by the command line's YAML reader; a library built without
/// it refuses them rather than skipping them.
#[cfg(not(feature = "cli"))]
fn read_yaml(file: &str, _text: &str) -> Result<JsonTestFile, Box<Diagnostic>> {
    Err(bad_file(file, "YAML test files need the `cli` feature", None))
}

/// How a reader counts columns.
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
enum Column {
    Bytes,
    Chars,
}

/// The byte offset of a 1-based line and column, kept inside the text and on a character
/// boundary.
fn offset_of(text: &str, line: usize, column: usize, counted: Column) -> usize {
    let starts = crate::diagnostics::line_starts(text);
    let start = starts.get(line.saturating_sub(1)).copied().unwrap_or(text.len()).min(text.len());
    let rest = text.get(start..).unwrap_or_default();
    let line_text = rest.split(['\n', '\r']).next().unwrap_or_default();
    let within = match counted {
        Column::Bytes => column.saturating_sub(1).min(line_text.len()),
        Column::Chars => line_text.char_indices().nth(column.saturating_sub(1)).map_or(line_text.len(), |(at, _)| at),
    };
    let mut at = start + within;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// A test file that does not read: its reader's message, without the position it
/// names (line, column and byte offset), pointing at that position.
fn bad_file(file: &str, message: &str, at: Option<(usize, usize, usize)>) -> Box<Diagnostic> {
    use crate::diagnostics::Severity;
    let message = match at {
        Some((line, column, _)) => message.replacen(&format!(" at line {line} column {column}"), "", 1),
        None => message.to_string(),
    };
    let diagnostic = Diagnostic::new(
        "mandate::test::bad_file",
        Severity::Error,
        format!("test file `{file}` does not read: {message}"),
        Arc::from(file),
    )
    .with_help(
        "a test file holds `tests`, a list of tests, each with a `name`, a `request` and what it must `expect` \
         (docs/language.md, \"Test files\")"
            .to_string(),
    );
    Box::new(match at {
        Some((_, _, at)) => diagnostic.with_label(crate::syntax::Span::new(at, at), "here", true),
        None => diagnostic,
    })
}

fn run_json_test(set: &PolicySet, file: &Arc<str>, text: &str, yaml: bool, test: JsonTest) -> TestResult {
    let (decision, valid) = match set.prepare(&test.request) {
        Ok(request) => (set.explain(&request), true),
        Err(errors) => (Decision::invalid(errors), false),
    };
    let mismatches = mismatches(&test.expect, &decision, valid);
    let (start, end) = name_in(text, &test.name, yaml);
    let expected = test.expect.decision.into();
    TestResult {
        name: test.name,
        origin: Origin { file: file.clone(), start, end },
        expected,
        passed: mismatches.is_empty(),
        decision,
        mismatches,
    }
}

/// Where a test's name is written in its file: quoted in JSON; in YAML after `name:`,
/// quoted or not. The start of the file when it cannot be found.
fn name_in(text: &str, name: &str, yaml: bool) -> (usize, usize) {
    let quoted = serde_json::to_string(name).unwrap_or_default();
    if !yaml {
        return text.find(&quoted).map_or((0, 0), |start| (start, start + quoted.len()));
    }
    let single = format!("'{}'", name.replace('\'', "''"));
    for (key, _) in text.match_indices("name:") {
        let value = text.get(key + "name:".len()..).unwrap_or_default();
        let value_start = key + "name:".len() + (value.len() - value.trim_start_matches([' ', '\t']).len());
        let value = text.get(value_start..).unwrap_or_default();
        let found = [quoted.as_str(), single.as_str(), name].into_iter().find(|form| {
            let after = value.strip_prefix(*form).map(|after| after.chars().next());
            after.is_some_and(|next| next.is_none_or(|c| matches!(c, ' ' | '\t' | '\n' | '\r' | ',' | '}' | '#')))
        });
        if let Some(form) = found {
            return (value_start, value_start + form.len());
        }
    }
    (0, 0)
}

/// What a decision does not meet of an expectation, in words; first, when the request
/// is invalid, that.
fn mismatches(expect: &Expectation, decision: &Decision, valid: bool) -> Vec<Mismatch> {
    let mut found = Vec::new();
    let mut differs = |part: Part, text: String, decided: String| {
        found.push(Mismatch { text, decided, at: None, part });
    };
    if !valid {
        let errors: Vec<String> =
            decision.errors.iter().map(|error| format!("{}: {}", error.path, error.message)).collect();
        let text = format!("the request is invalid ({})", errors.join("; "));
        differs(Part::Request, text, "the request is invalid".to_string());
    }
    let got = decision.decision.word();
    if decision.decision != expect.decision {
        let text = format!("expects {}, but the decision is {got}", expect.decision.word());
        differs(Part::Decision, text, format!("the decision is {got}"));
    }
    let reason = decision.reasons.first();
    let code = reason.map(|reason| reason.code.as_str()).unwrap_or_default();
    if let Some(expected) = expect.reason.as_deref().filter(|expected| *expected != code) {
        let text = format!("expects the reason `{expected}`, but it is `{code}`");
        differs(Part::Reason, text, format!("the reason is `{code}`"));
    }
    if let Some(expected) = &expect.policies {
        let determining = determining(decision);
        let mut wanted: Vec<&str> = expected.iter().map(String::as_str).collect();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted != determining {
            let (wanted, determining) = (wanted.join(", "), determining.join(", "));
            let text = format!("expects the policies [{wanted}], but they are [{determining}]");
            differs(Part::Policies, text, format!("decided by [{determining}]"));
        }
    }
    let carried = reason.map(|reason| reason.messages.as_slice()).unwrap_or_default();
    for (index, expected) in expect.messages.iter().flatten().enumerate() {
        if !carried.contains(expected) {
            let (text, decided) = missing_message("the reason", expected, carried);
            differs(Part::Message(index), text, decided);
        }
    }
    if let Some(expected) = &expect.obligations {
        let obligations = decision.obligations.as_ref();
        let issued = |what: &str| match obligations {
            Some(_) => what.to_string(),
            None => format!("the decision is {got}: no credential"),
        };
        let ttl = obligations.map(|obligations| obligations.ttl_ms);
        if let Some(wanted) = expected.ttl_ms.filter(|wanted| ttl != Some(*wanted)) {
            let actual = ttl.map_or_else(|| "no credential".to_string(), ms_text);
            let text = format!("expects a credential ttl of {}, but it is {actual}", ms_text(wanted));
            differs(Part::Ttl, text, issued(&format!("the ttl is {actual}")));
        }
        if let Some(tags) = &expected.tags {
            let mut wanted = tags.clone();
            wanted.sort();
            wanted.dedup();
            let got = obligations.map(|obligations| obligations.tags.clone()).unwrap_or_default();
            if wanted != got {
                let (wanted, got) = (wanted.join(", "), got.join(", "));
                let text = format!("expects the tags [{wanted}], but they are [{got}]");
                differs(Part::Tags, text, issued(&format!("the tags are [{got}]")));
            }
        }
        let carried = obligations.map(|obligations| obligations.messages.as_slice()).unwrap_or_default();
        for (index, expected) in expected.messages.iter().flatten().enumerate() {
            if !carried.contains(expected) {
                let (text, decided) = missing_message("the credential", expected, carried);
                differs(Part::GrantMessage(index), text, issued(&decided));
            }
        }
    }
    found
}

/// A message a reason or a credential does not carry: the mismatch and its label.
fn missing_message(whose: &str, expected: &str, carried: &[String]) -> (String, String) {
    let quoted: Vec<String> = carried.iter().map(|message| format!("{message:?}")).collect();
    let has = match quoted.as_slice() {
        [] => format!("{whose} carries no message"),
        _ => format!("{whose} carries {}", quoted.join(", ")),
    };
    (format!("expects the message {expected:?}, but {has}"), has)
}

/// Milliseconds as a duration: `600000` is `10m`.
fn ms_text(ms: i64) -> String {
    crate::syntax::literal::duration_text(ms.saturating_mul(NANOS_PER_MS))
}

impl Expectation {
    /// What `decision` is, as an expectation: its outcome, reason and determining
    /// policies.
    pub fn of(decision: &Decision) -> Expectation {
        Expectation {
            decision: decision.decision,
            reason: decision.reasons.first().map(|reason| reason.code.clone()),
            policies: Some(determining(decision).into_iter().map(str::to_string).collect()),
            messages: None,
            obligations: None,
        }
    }
}

/// The policies that determine a decision, sorted: the forbids of a deny, the
/// escalations of an escalate, the permits of an allow.
pub fn determining(decision: &Decision) -> Vec<&str> {
    let names = match decision.decision {
        super::decision::Outcome::Deny => &decision.policies.forbid,
        super::decision::Outcome::Escalate => &decision.policies.escalate,
        super::decision::Outcome::Allow => &decision.policies.permit,
    };
    let mut names: Vec<&str> = names.iter().map(|name| &**name).collect();
    names.sort_unstable();
    names
}

/// The test as a request in wire form, and the time it is decided at.
fn request(set: &PolicySet, test: &TestCase) -> (RequestDoc, i64) {
    let mut context = object(&test.context);
    let mut task_fields = test.task.as_ref().map(|(_, fields)| object(fields)).unwrap_or_default();
    let given_time = context.get("time").or_else(|| task_fields.get("start")).and_then(Json::as_str);
    let now = given_time.and_then(|text| parse_timestamp(text).ok()).unwrap_or_else(default_time);
    context.entry("time").or_insert_with(|| Json::String(timestamp_text(now)));
    let task = test.task.as_ref().map(|(kind, _)| {
        let start = take_string(&mut task_fields, "start").unwrap_or_else(|| timestamp_text(now));
        let ttl = set.hir().tasks.get(kind).and_then(|task| task.ttl).unwrap_or(DAY);
        let deadline = take_string(&mut task_fields, "deadline").unwrap_or_else(|| {
            let start_at = parse_timestamp(&start).unwrap_or(now);
            timestamp_text(start_at.saturating_add(ttl))
        });
        let id = take_string(&mut task_fields, "id").unwrap_or_else(|| test.name.clone());
        TaskDoc { kind: kind.clone(), id, start, deadline, params: task_fields }
    });
    let entity = |fields: &Fields, default_id: &str| {
        let mut attrs = object(fields);
        let id = take_string(&mut attrs, "id").unwrap_or_else(|| default_id.to_string());
        (id, attrs)
    };
    let doc = RequestDoc {
        agent: Some({
            let (id, attrs) = entity(test.agent.as_ref().unwrap_or(&Vec::new()), "agent");
            EntityDoc { id, attrs }
        }),
        chain: test
            .chain
            .iter()
            .flatten()
            .map(|link| constant(link).as_ref().and_then(Value::as_str).unwrap_or_default().to_string())
            .collect(),
        task,
        action: Some(test.action.clone()),
        args: object(&test.args),
        resource: test.resource.as_ref().map(|(ty, fields)| {
            let (id, attrs) = entity(fields, "resource");
            ResourceDoc { ty: ty.clone(), id, attrs }
        }),
        resources: Vec::new(),
        context,
        behavior: object(&test.behavior),
    };
    (doc, now)
}

fn default_time() -> i64 {
    parse_timestamp(DEFAULT_TIME).unwrap_or(0)
}

fn take_string(fields: &mut Map<String, Json>, name: &str) -> Option<String> {
    match fields.remove(name) {
        Some(Json::String(text)) => Some(text),
        _ => None,
    }
}

/// Test values as JSON, in the request format.
fn object(fields: &Fields) -> Map<String, Json> {
    fields
        .iter()
        .map(|(name, expr)| (name.clone(), constant(expr).map_or(Json::Null, |value| value.to_json())))
        .collect()
}

/// The value of a test value expression. The checker allows no request roots in them, so
/// they evaluate against an empty request.
fn constant(expr: &HExpr) -> Option<Value> {
    let empty = Request {
        agent: Arc::new(BTreeMap::new()),
        chain: Arc::from(Vec::new()),
        task: None,
        action: Arc::from(""),
        args: Arc::new(BTreeMap::new()),
        resource: None,
        more_resources: Vec::new(),
        context: Arc::new(BTreeMap::new()),
        behavior: Arc::new(BTreeMap::new()),
    };
    Evaluator::new(&empty, 10_000).eval(expr).ok()
}
