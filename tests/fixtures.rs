//! The data-driven test harness: every file under `tests/fixtures/` is a test case.
//!
//! A fixture states its expectations in comments. `//~ error[CODE]` (or `warning[CODE]`,
//! `info[CODE]`)
//! at the end of a line expects a diagnostic with that code whose primary label starts on
//! that line; a fixture without annotations expects no diagnostics at all. The harness
//! compares the expectations with what the checker reports, then snapshots the rendered
//! diagnostics (and, for parse fixtures, the span-free outline of the tree) with insta.
//!
//! - `parse/*.mandate`: parsed on its own.
//! - `check/*.mandate`: checked as a one-file package.
//! - `check/NAME/main.mandate`: the folder's `.mandate` files are checked as one package;
//!   files in its subfolders are only reachable through `use`.
//! - `prove/*.mandate`: a package whose `assert` and `bound` lines end in `//~ proved`,
//!   `//~ refuted` or `//~ unknown`, whose permits wider than their task's scope are
//!   marked `//~ wider`, and which may state `//~ risk VERDICT` for the theorem that
//!   raising risk never allows more; likewise `//~ delegation VERDICT`, `//~ limits
//!   VERDICT`, `//~ intent VERDICT` and `//~ graph VERDICT` (all default to proved). A task wider than a bound
//!   is marked `//~ exceeds`. A fixture whose first line is `// variant of DIR` is the
//!   example package in `DIR` plus the fixture as one more file (a deliberately broken
//!   variant); `//~ NAME: VERDICT` names a declaration of the example, and the example's
//!   declarations not named must stay proved. Every counterexample is replayed through
//!   the evaluator, as `mandate eval` would, and must get the outcome the claim rules out.
//! - `lint/*.mandate`: checked and proved as `mandate check` does, so the annotations
//!   (`//~ warning[mandate::lint::redundant]`, `//~ info[…]`, `//~ error[mandate::prove::…]`)
//!   name the prover's lints and over-grants too.
//! - `diff/*.mandate` (a variant of an example, against the example) and
//!   `diff/NAME/new.mandate` (against `NAME/old.mandate`): `mandate diff`, with
//!   `//~ widens` or `//~ no wider` for what `--no-wider` must say; every change's
//!   example replays through both versions, and the report is snapshotted.
//! - `fmt/*.mandate`: formatted by `mandate fmt`; the output (or, for a file that does
//!   not parse, its diagnostics) is snapshotted, and formatting it again must change
//!   nothing and keep every comment.
//! - `eval/*.jsonl`: a first line `{"package": PATH}`, then one case per line:
//!   `{"name", "expect": "allow"|"deny"|"escalate", "request": {…}, "explain": bool}`.
//!   Every decision must match its `expect`; the decisions, as text, are snapshotted.
//! - `graph/*.mandate`: a package compiled as `mandate graph` draws it; the DOT text and
//!   the coverage of the package's tests (`mandate test --coverage`) are snapshotted.
//! - `test/NAME/main.mandate`: the folder is a package whose `test` blocks and test files
//!   (`*.test.json`, `*.test.yaml`, `*.test.yml`) run as `mandate test` runs them. A test
//!   whose name starts with `fails_` must fail and every other must pass; a test file
//!   whose name starts with `bad_` must not read and every other must. The results, the
//!   failures and the files' errors, as `mandate test` shows them, are snapshotted.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use datatest_stable::Utf8Path;
use mandate::db;
use mandate::diagnostics::{Diagnostic, Severity};
use mandate::package::{Loader, PackageSpec};
use mandate::report;
use mandate::syntax::{self, print};

type Result = datatest_stable::Result<()>;

fn parse_fixture(path: &Utf8Path, text: String) -> Result {
    let (ast, diagnostics) = syntax::parse(&text, &Arc::from(path.as_str()));
    let sources = |file: &str| (file == path.as_str()).then(|| Arc::from(text.as_str()));
    compare(&[(path.to_string(), text.clone())], &diagnostics, &sources)?;
    let snapshot =
        format!("{}\n--- diagnostics ---\n{}", print::outline(&ast), report::human(&diagnostics, &sources, false));
    assert_snapshot(path, &snapshot);
    Ok(())
}

fn fmt_fixture(path: &Utf8Path, text: String) -> Result {
    use mandate::format::{comment_texts, format_source};
    let snapshot = match format_source(path.as_str(), &text) {
        Ok(formatted) => {
            let again = format_source(path.as_str(), &formatted)
                .map_err(|diagnostics| format!("the output does not format: {diagnostics:?}\n{formatted}"))?;
            if again != formatted {
                return Err(format!("formatting twice changes the text:\n{formatted}\n--- then ---\n{again}").into());
            }
            if comment_texts(&formatted) != comment_texts(&text) {
                return Err(format!("the comments changed:\n{formatted}").into());
            }
            formatted
        }
        Err(diagnostics) => {
            let sources = |file: &str| (file == path.as_str()).then(|| Arc::from(text.as_str()));
            format!("--- not formatted ---\n{}", report::human(&diagnostics, &sources, false))
        }
    };
    assert_snapshot(path, &snapshot);
    Ok(())
}

fn check_fixture(path: &Utf8Path) -> Result {
    let files: Vec<PathBuf> = if path.file_name() == Some("main.mandate") {
        let dir = path.parent().map(Utf8Path::as_std_path).unwrap_or(std::path::Path::new("."));
        mandate::package::package_files(dir)?
    } else {
        vec![path.as_std_path().to_path_buf()]
    };
    let mut loader = Loader::default();
    let boundary = std::fs::canonicalize("tests/fixtures").expect("fixtures folder");
    let loaded = loader.load(&PackageSpec { root: path.as_std_path().to_path_buf(), files, boundary });
    let mut diagnostics = loaded.diagnostics;
    diagnostics.extend(db::check_package(&loader.db, loaded.package).iter().cloned());
    mandate::diagnostics::sort_unique(&mut diagnostics);
    let sources = |file: &str| loader.source_of(file);
    let annotated: Vec<(String, String)> = loader
        .files()
        .into_iter()
        .map(|file| (file.path(&loader.db).to_string(), file.text(&loader.db).to_string()))
        .filter(|(name, _)| !name.starts_with("<std>"))
        .collect();
    compare(&annotated, &diagnostics, &sources)?;
    assert_snapshot(path, &report::human(&diagnostics, &sources, false));
    Ok(())
}

fn lint_fixture(path: &Utf8Path, text: String) -> Result {
    let (loader, diagnostics) = mandate::package::check_and_prove_paths(
        &[path.as_std_path().to_path_buf()],
        &mandate::prove::ProveOptions::default(),
    );
    let sources = |file: &str| loader.source_of(file);
    compare(&[(path.to_string(), text)], &diagnostics, &sources)?;
    assert_snapshot(path, &report::human(&diagnostics, &sources, false));
    Ok(())
}

/// A prove fixture is a package of its own, or, when its first line is `// variant of
/// DIR`, the example package in `DIR` with the fixture added as one more file.
fn load_prove_fixture(
    path: &Utf8Path,
    text: &str,
) -> std::result::Result<mandate::eval::PolicySet, mandate::eval::LoadError> {
    let limits = mandate::eval::Limits::default();
    let Some(dir) = text.lines().next().and_then(|line| line.strip_prefix("// variant of ")) else {
        return mandate::eval::PolicySet::load(path.as_std_path(), limits);
    };
    let files = mandate::package::package_files(std::path::Path::new(dir.trim())).unwrap_or_default();
    let mut sources: Vec<(String, String)> = files
        .iter()
        .map(|file| (file.display().to_string(), std::fs::read_to_string(file).unwrap_or_default()))
        .collect();
    sources.push((path.to_string(), text.to_string()));
    let borrowed: Vec<(&str, &str)> = sources.iter().map(|(name, text)| (name.as_str(), text.as_str())).collect();
    mandate::eval::PolicySet::from_sources(&borrowed, limits)
}

fn prove_fixture(path: &Utf8Path, text: String) -> Result {
    use mandate::prove::{check, render, ProveOptions};
    let set = match load_prove_fixture(path, &text) {
        Ok(set) => set,
        Err(error) => return Err(format!("{path} does not check:\n{}", error.render()).into()),
    };
    let mut reports = check(&set, &ProveOptions::default());
    let rendered = render(path.as_str(), &reports);
    let expected = ProveExpectations::parse(&text);
    expected.check(path, &text, &reports).map_err(|error| format!("{error}\n{rendered}"))?;
    for report in &reports {
        replay_refutation(&set, report)?;
    }
    for report in &mut reports {
        report.elapsed = std::time::Duration::ZERO;
    }
    assert_snapshot(path, &render(path.as_str(), &reports));
    Ok(())
}

/// Theorems every package has, by the word that names them in an annotation
/// (`//~ risk refuted`); those not annotated must be proved.
const THEOREMS: [(&str, &str); 5] = [
    ("graph", "the compiled graph decides as the policies say"),
    ("intent", "intent containment"),
    ("limits", "delegation within each task's limits"),
    ("delegation", "delegation never escalates"),
    ("risk", "risk is restrict-only"),
];

/// What a prove fixture's annotations expect.
struct ProveExpectations {
    /// By line of the fixture: the verdict of the declaration that starts there.
    lines: Vec<(usize, String)>,
    /// By theorem name.
    theorems: Vec<(&'static str, String)>,
    /// By name, for declarations of the example a variant extends.
    named: Vec<(String, String)>,
}

impl ProveExpectations {
    fn parse(text: &str) -> Self {
        let mut expected = ProveExpectations {
            lines: Vec::new(),
            theorems: THEOREMS.iter().map(|(_, name)| (*name, "proved".to_string())).collect(),
            named: Vec::new(),
        };
        for (index, line) in text.lines().enumerate() {
            let Some((_, annotation)) = line.split_once("//~ ") else { continue };
            let annotation = annotation.trim();
            let theorem = annotation.split_once(' ').and_then(|(word, verdict)| {
                THEOREMS.iter().find(|(own, _)| *own == word).map(|(_, name)| (*name, verdict))
            });
            match (annotation.split_once(": "), theorem, annotation) {
                // `//~ NAME: VERDICT` names a declaration of the example a variant extends.
                (Some((name, verdict)), _, _) => expected.named.push((name.to_string(), verdict.to_string())),
                (None, Some((name, verdict)), _) => {
                    if let Some(slot) = expected.theorems.iter_mut().find(|(own, _)| *own == name) {
                        slot.1 = verdict.to_string();
                    }
                }
                // A permit wider than its task's scope is "refuted" as within scope; a task
                // wider than a bound is "refuted" as within it.
                (None, None, "wider" | "exceeds") => expected.lines.push((index + 1, "refuted".to_string())),
                (None, None, verdict) => expected.lines.push((index + 1, verdict.to_string())),
            }
        }
        expected
    }

    /// Compares the reports with the expectations: theorems by name, the fixture's own
    /// declarations by line, the example's by name.
    fn check(mut self, path: &Utf8Path, text: &str, reports: &[mandate::prove::Report]) -> Result {
        let line_of = |offset: usize| text.get(..offset).map_or(0, |before| before.matches('\n').count() + 1);
        let theorem =
            |name: &str| reports.iter().find(|report| report.name == name).map(|report| report.verdict.word());
        for (name, verdict) in &self.theorems {
            if theorem(name) != Some(verdict.as_str()) {
                return Err(format!("{name}: expected {verdict}").into());
            }
        }
        let (own, others): (Vec<_>, Vec<_>) =
            reports.iter().filter(|report| report.kind != "theorem").partition(|report| report.file == path.as_str());
        for report in others {
            let named = self.named.iter().find(|(name, _)| *name == report.name);
            let expected = named.map_or("proved", |(_, verdict)| verdict.as_str());
            if report.verdict.word() != expected {
                return Err(format!("{} {}: expected {expected}", report.kind, report.name).into());
            }
        }
        // Permits not marked `wider` must be proved within scope, tasks not marked
        // `exceeds` within every bound.
        for report in own.iter().filter(|report| matches!(report.kind, "permit within scope" | "task within bound")) {
            let line = line_of(report.start);
            if !self.lines.iter().any(|(expected_line, _)| *expected_line == line) {
                self.lines.push((line, "proved".to_string()));
            }
        }
        let mut actual: Vec<(usize, String)> =
            own.iter().map(|report| (line_of(report.start), report.verdict.word().to_string())).collect();
        self.lines.sort();
        actual.sort();
        if self.lines != actual {
            return Err(format!("verdicts differ: expected {:?}, got {actual:?}", self.lines).into());
        }
        Ok(())
    }
}

/// A refutation's requests, decided again as `mandate eval` would: each must get what the
/// report says it shows.
fn replay_refutation(set: &mandate::eval::PolicySet, report: &mandate::prove::Report) -> Result {
    use mandate::eval::Outcome;
    use mandate::syntax::ast::Effect;
    let mandate::prove::Verdict::Refuted { request, contrast, .. } = &report.verdict else { return Ok(()) };
    let replayed = set.decide_doc(request, false);
    let code = replayed.reasons.first().map(|reason| reason.code.as_str()).unwrap_or_default();
    let reproduced = if let Some(contrast) = contrast {
        // Two requests: the first allowed, the other (less risk, or the delegator's own) not.
        replayed.decision == Outcome::Allow && set.decide_doc(&contrast.request, false).decision != Outcome::Allow
    } else if report.kind == "task within bound" {
        // Inside the task (its checks pass), whatever the policies decide.
        !matches!(code, "outside_intent" | "preconditions_failed" | "invalid_request")
    } else if report.kind == "delegation narrows" {
        // A request the narrowing covers: its task's checks pass, and it is outside the scope.
        code == "outside_intent"
    } else if report.kind == "permit within scope" {
        // The permit applies, yet the request is outside its task's scope.
        replayed.policies.permit.iter().any(|name| **name == *report.name) && replayed.decision != Outcome::Allow
    } else {
        // A bound or theorem rules out allows; an assertion its effect's outcome.
        let assertion = set.hir().assertions.iter().find(|assertion| assertion.name == report.name);
        match assertion.map_or(Effect::Permit, |assertion| assertion.effect) {
            Effect::Permit => replayed.decision == Outcome::Allow,
            Effect::Escalate => replayed.decision == Outcome::Escalate,
            Effect::Forbid => !replayed.policies.forbid.is_empty(),
        }
    };
    if !reproduced {
        return Err(format!("{}: the counterexample does not reproduce:\n{}", report.name, replayed.to_text()).into());
    }
    Ok(())
}

/// A diff fixture: `NAME/new.mandate` against `NAME/old.mandate`, or a variant of an
/// example (`// variant of DIR`) against the example. `//~ widens` or `//~ no wider`
/// states what `--no-wider` must say; every example replays through both versions.
fn diff_fixture(path: &Utf8Path, text: String) -> Result {
    let limits = mandate::eval::Limits::default();
    let old = match text.lines().next().and_then(|line| line.strip_prefix("// variant of ")) {
        Some(dir) => mandate::eval::PolicySet::load(std::path::Path::new(dir.trim()), limits),
        None => mandate::eval::PolicySet::load(&path.as_std_path().with_file_name("old.mandate"), limits),
    };
    let old = old.map_err(|error| format!("the old version does not check:\n{}", error.render()))?;
    let new = load_prove_fixture(path, &text).map_err(|error| format!("{path} does not check:\n{}", error.render()))?;
    let report = mandate::prove::diff::diff(&old, &new, &mandate::prove::ProveOptions::default());
    let rendered = report.render(path.as_str());
    let widens = match () {
        _ if text.contains("//~ widens") => true,
        _ if text.contains("//~ no wider") => false,
        _ => return Err("a diff fixture states `//~ widens` or `//~ no wider`".into()),
    };
    if report.may_widen() != widens {
        return Err(format!("expected widens = {widens}:\n{rendered}").into());
    }
    for change in &report.changes {
        let example = change.example.as_ref().ok_or_else(|| format!("a change without an example:\n{rendered}"))?;
        let (before, after) = (old.decide_doc(example, false).decision, new.decide_doc(example, false).decision);
        if (before, after) != (change.from, change.to) {
            return Err(format!("the example goes {before:?} → {after:?}:\n{rendered}").into());
        }
    }
    assert_snapshot(path, &rendered);
    Ok(())
}

fn eval_fixture(path: &Utf8Path, text: String) -> Result {
    let mut lines = text.lines().filter(|line| !line.trim().is_empty());
    let header: serde_json::Value = serde_json::from_str(lines.next().ok_or("empty fixture")?)?;
    let package = header["package"].as_str().ok_or("the first line names no package")?;
    let set = match mandate::eval::PolicySet::load(std::path::Path::new(package), mandate::eval::Limits::default()) {
        Ok(set) => set,
        Err(error) => return Err(format!("{package} does not check:\n{}", error.render()).into()),
    };
    let mut snapshot = String::new();
    let mut failures = Vec::new();
    for line in lines {
        let case: serde_json::Value = serde_json::from_str(line)?;
        let name = case["name"].as_str().unwrap_or("unnamed");
        let doc: mandate::eval::RequestDoc = serde_json::from_value(case["request"].clone())?;
        let explain = case["explain"].as_bool().unwrap_or(false);
        let decision = set.decide_doc(&doc, explain);
        if Some(decision.decision.word()) != case["expect"].as_str() {
            failures.push(format!("{name}: expected {}, got:\n{}", case["expect"], decision.to_text()));
        }
        snapshot.push_str(&format!("## {name}\n{}\n", decision.to_text()));
    }
    if !failures.is_empty() {
        return Err(failures.join("\n").into());
    }
    assert_snapshot(path, &snapshot);
    Ok(())
}

fn graph_fixture(path: &Utf8Path, _text: String) -> Result {
    let set = match mandate::eval::PolicySet::load(path.as_std_path(), mandate::eval::Limits::default()) {
        Ok(set) => set,
        Err(error) => return Err(format!("{path} does not check:\n{}", error.render()).into()),
    };
    let results = mandate::eval::tests::run(&set);
    if let Some(failed) = results.iter().find(|result| !result.passed) {
        return Err(failed.failure().message.into());
    }
    let coverage = mandate::eval::coverage::Coverage::measure(&set, &results);
    let dot = mandate::compile::dot::render(set.plan());
    assert_snapshot(path, &format!("{dot}--- coverage ---\n{}", coverage.text()));
    Ok(())
}

fn test_fixture(path: &Utf8Path, _text: String) -> Result {
    let dir = path.parent().ok_or("a test fixture is a folder")?;
    let set = match mandate::eval::PolicySet::load(dir.as_std_path(), mandate::eval::Limits::default()) {
        Ok(set) => set,
        Err(error) => return Err(format!("{dir} does not check:\n{}", error.render()).into()),
    };
    let mut results = mandate::eval::tests::run(&set);
    let mut files: Vec<(String, Arc<str>)> = Vec::new();
    let mut unread = Vec::new();
    let mut problems = Vec::new();
    for file in mandate::package::test_files(dir.as_std_path()) {
        let name = file.display().to_string();
        let text: Arc<str> = Arc::from(std::fs::read_to_string(&file)?);
        let bad = file.file_name().and_then(|name| name.to_str()).is_some_and(|name| name.starts_with("bad_"));
        match (mandate::eval::tests::run_file(&set, &name, &text), bad) {
            (Ok(ran), false) => results.extend(ran),
            (Err(diagnostic), true) => unread.push(*diagnostic),
            (Ok(_), true) => problems.push(format!("{name} reads, but its name says it does not")),
            (Err(diagnostic), false) => problems.push(format!("{name} does not read: {}", diagnostic.message)),
        }
        files.push((name, text));
    }
    let sources = |file: &str| {
        let mut all = set.sources().iter().chain(&files);
        all.find(|(name, _)| name == file).map(|(_, text)| text.clone())
    };
    let mut snapshot = String::from("--- results ---\n");
    for result in &results {
        let expected = !result.name.starts_with("fails_");
        if result.passed != expected {
            problems.push(format!(
                "{} {}:\n{}",
                result.name,
                if expected { "fails" } else { "passes" },
                result.decision.to_text()
            ));
        }
        let outcome = if result.passed { "ok  " } else { "FAIL" };
        let reason = result.decision.reasons.first().map(|reason| reason.code.as_str()).unwrap_or_default();
        snapshot.push_str(&format!("{outcome}  {} ({}: {reason})\n", result.name, result.decision.decision.word()));
    }
    if !problems.is_empty() {
        return Err(problems.join("\n").into());
    }
    let failures: Vec<Diagnostic> =
        results.iter().filter(|result| !result.passed).map(|result| result.failure()).collect();
    snapshot.push_str("--- failures ---\n");
    snapshot.push_str(&report::human(&failures, &sources, false));
    snapshot.push_str("--- test files that do not read ---\n");
    snapshot.push_str(&report::human(&unread, &sources, false));
    assert_snapshot(path, &snapshot);
    Ok(())
}

/// One expected or actual diagnostic: file, 1-based line, severity and code.
type Key = (String, usize, Severity, String);

fn expectations(file: &str, text: &str) -> Vec<Key> {
    let mut keys = Vec::new();
    for (index, line) in text.lines().enumerate() {
        for annotation in line.split("//~").skip(1) {
            let annotation = annotation.trim();
            let (severity, rest) = if let Some(rest) = annotation.strip_prefix("error[") {
                (Severity::Error, rest)
            } else if let Some(rest) = annotation.strip_prefix("warning[") {
                (Severity::Warning, rest)
            } else if let Some(rest) = annotation.strip_prefix("info[") {
                (Severity::Info, rest)
            } else {
                continue;
            };
            if let Some((code, _)) = rest.split_once(']') {
                keys.push((file.to_string(), index + 1, severity, code.to_string()));
            }
        }
    }
    keys
}

fn actual_key(diagnostic: &Diagnostic, sources: &dyn Fn(&str) -> Option<Arc<str>>) -> Key {
    let text = sources(&diagnostic.file).unwrap_or_default();
    let offset = diagnostic.primary_span().map_or(0, |span| span.start).min(text.len());
    let before = text.get(..offset).unwrap_or_default();
    let mut line = before.matches('\n').count() + 1;
    if offset == text.len() && text.ends_with('\n') {
        line -= 1;
    }
    (diagnostic.file.to_string(), line, diagnostic.severity, diagnostic.code.clone())
}

fn compare(
    files: &[(String, String)],
    diagnostics: &[Diagnostic],
    sources: &dyn Fn(&str) -> Option<Arc<str>>,
) -> Result {
    let mut expected: BTreeMap<Key, usize> = BTreeMap::new();
    for (file, text) in files {
        for key in expectations(file, text) {
            *expected.entry(key).or_default() += 1;
        }
    }
    let mut actual: BTreeMap<Key, usize> = BTreeMap::new();
    for diagnostic in diagnostics {
        *actual.entry(actual_key(diagnostic, sources)).or_default() += 1;
    }
    if expected == actual {
        return Ok(());
    }
    let describe = |(file, line, severity, code): &Key| format!("{file}:{line}: {severity:?}[{code}]");
    let mut problems = Vec::new();
    for (key, count) in &expected {
        let found = actual.get(key).copied().unwrap_or(0);
        if found < *count {
            problems.push(format!("missing:    {}", describe(key)));
        }
    }
    for (key, count) in &actual {
        let wanted = expected.get(key).copied().unwrap_or(0);
        if wanted < *count {
            problems.push(format!("unexpected: {}", describe(key)));
        }
    }
    let rendered = report::human(diagnostics, sources, false);
    Err(format!("diagnostics differ from the annotations:\n{}\n\n{rendered}", problems.join("\n")).into())
}

fn assert_snapshot(path: &Utf8Path, value: &str) {
    let name = path
        .as_str()
        .trim_start_matches("tests/fixtures/")
        .trim_end_matches(".mandate")
        .trim_end_matches(".jsonl")
        .replace('/', "__");
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("fixtures/snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_input_file(path.as_std_path());
    settings.bind(|| insta::assert_snapshot!(name, value));
}

datatest_stable::harness! {
    { test = parse_fixture, root = "tests/fixtures/parse", pattern = r"\.mandate$" },
    { test = check_fixture, root = "tests/fixtures/check", pattern = r"^[^/]+\.mandate$|/main\.mandate$" },
    { test = fmt_fixture, root = "tests/fixtures/fmt", pattern = r"^[^/]+\.mandate$" },
    { test = eval_fixture, root = "tests/fixtures/eval", pattern = r"^[^/]+\.jsonl$" },
    { test = prove_fixture, root = "tests/fixtures/prove", pattern = r"^[^/]+\.mandate$" },
    { test = lint_fixture, root = "tests/fixtures/lint", pattern = r"^[^/]+\.mandate$" },
    { test = diff_fixture, root = "tests/fixtures/diff", pattern = r"^[^/]+\.mandate$|/new\.mandate$" },
    { test = test_fixture, root = "tests/fixtures/test", pattern = r"^[^/]+/main\.mandate$" },
    { test = graph_fixture, root = "tests/fixtures/graph", pattern = r"^[^/]+\.mandate$" },
}
