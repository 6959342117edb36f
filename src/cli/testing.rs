//! `mandate test`: runs the packages' `test` blocks and reports them for people, for
//! programs (JSON) and for CI systems (JUnit XML), with policy and graph-branch coverage
//! as text, JSON or LCOV.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use mandate::eval::coverage::Coverage;
use mandate::eval::tests::TestResult;
use mandate::eval::PolicySet;
use mandate::{package, report};
use serde_json::{json, Value as Json};

use crate::{load, pretty, write_stdout};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TestFormat {
    /// For people: each result, and a failure as a diagnostic at its test.
    Text,
    /// One JSON document with every result.
    Json,
    /// JUnit XML, one test suite per package.
    Junit,
}

/// How `mandate test` measures coverage.
#[derive(Args, Clone, Default)]
pub struct CoverageArgs {
    /// Report every policy no test made apply and every decision-graph branch no test
    /// took, with its `file:line`.
    #[arg(long)]
    coverage: bool,
    /// Fail when a package's policy coverage is below PCT percent (implies --coverage).
    #[arg(long, value_name = "PCT")]
    coverage_threshold: Option<f64>,
    /// Write the coverage as an LCOV file (implies --coverage).
    #[arg(long, value_name = "FILE")]
    lcov: Option<PathBuf>,
    /// Run no test: print, for each policy, a test request where it decides and near
    /// misses where all its conditions hold but one, as a JSON test file to review and
    /// keep (`> PKG/generated.test.json`).
    #[arg(long, conflicts_with_all = ["coverage", "coverage_threshold", "lcov"])]
    pub generate: bool,
}

impl CoverageArgs {
    fn wanted(&self) -> bool {
        self.coverage || self.coverage_threshold.is_some() || self.lcov.is_some()
    }
}

/// One package's run.
struct PackageRun {
    path: String,
    set: PolicySet,
    results: Vec<TestResult>,
    coverage: Option<Coverage>,
    /// The package's test files (JSON and YAML), by path, for line numbers and reports.
    test_files: Vec<(String, Arc<str>)>,
}

/// The totals of a run.
#[derive(Default)]
struct Totals {
    passed: usize,
    failed: usize,
    filtered: usize,
    broken: usize,
    /// Test files that could not be read.
    bad_files: usize,
    below_threshold: Vec<String>,
}

pub fn run_tests(paths: &[PathBuf], filter: Option<&str>, format: TestFormat, coverage: &CoverageArgs) -> ExitCode {
    if coverage.generate {
        return generate(paths);
    }
    let (specs, problems) = package::discover(paths);
    for problem in &problems {
        eprint!("{}", report::human(std::slice::from_ref(problem), &|_: &str| None, false));
    }
    let mut totals = Totals { broken: problems.len(), ..Totals::default() };
    let mut runs = Vec::new();
    for spec in &specs {
        let Some(set) = load(&spec.root) else {
            totals.broken += 1;
            continue;
        };
        let mut all = mandate::eval::tests::run(&set);
        let mut test_files = Vec::new();
        for path in package::test_files(&spec.root) {
            let file = path.display().to_string();
            let text: Arc<str> = match std::fs::read_to_string(&path) {
                Ok(text) => Arc::from(text),
                Err(error) => {
                    eprintln!("error[mandate::test::bad_file]: cannot read test file `{file}`: {error}");
                    totals.bad_files += 1;
                    continue;
                }
            };
            match mandate::eval::tests::run_file(&set, &file, &text) {
                Ok(results) => all.extend(results),
                Err(diagnostic) => {
                    let source = |name: &str| (name == file).then(|| text.clone());
                    let color = std::io::stderr().is_terminal();
                    eprint!("{}", without_summary(&report::human(std::slice::from_ref(&*diagnostic), &source, color)));
                    totals.bad_files += 1;
                }
            }
            test_files.push((file, text));
        }
        let (results, skipped): (Vec<_>, Vec<_>) =
            all.into_iter().partition(|result| filter.is_none_or(|text| result.name.contains(text)));
        totals.filtered += skipped.len();
        totals.passed += results.iter().filter(|result| result.passed).count();
        totals.failed += results.iter().filter(|result| !result.passed).count();
        let measured = coverage.wanted().then(|| Coverage::measure(&set, &results));
        let path = spec.root.display().to_string();
        if let (Some(threshold), Some(measured)) = (coverage.coverage_threshold, &measured) {
            if measured.policy_percent() < threshold {
                totals.below_threshold.push(format!("{path}: {:.1}% < {threshold}%", measured.policy_percent()));
            }
        }
        if !results.is_empty() {
            runs.push(PackageRun { path, set, results, coverage: measured, test_files });
        }
    }
    if let Some(file) = &coverage.lcov {
        let lcov: String = runs.iter().filter_map(|run| run.coverage.as_ref()).map(Coverage::lcov).collect();
        if let Err(error) = std::fs::write(file, lcov) {
            eprintln!("error: cannot write `{}`: {error}", file.display());
            return ExitCode::from(2);
        }
    }
    let out = match format {
        TestFormat::Text => text_report(&runs, &totals),
        TestFormat::Json => pretty(&json_report(&runs, &totals)),
        TestFormat::Junit => junit_report(&runs, &totals),
    };
    let failing = totals.failed > 0 || totals.broken > 0 || totals.bad_files > 0 || !totals.below_threshold.is_empty();
    if write_stdout(&out).is_err() || failing {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn text_report(runs: &[PackageRun], totals: &Totals) -> String {
    let mut out = String::new();
    for run in runs {
        out.push_str(&format!("{}\n", run.path));
        for result in &run.results {
            let decided = result.decision.decision.word();
            if result.passed {
                let reason = result.decision.reasons.first().map(|r| r.code.as_str()).unwrap_or_default();
                out.push_str(&format!("  ok    {} ({decided}: {reason})\n", result.name));
            } else {
                out.push_str(&format!("  FAIL  {}: {}\n", result.name, result.summary()));
            }
        }
        let failures: Vec<_> = run.results.iter().filter(|result| !result.passed).map(TestResult::failure).collect();
        if !failures.is_empty() {
            out.push_str(&without_summary(&report::human(&failures, &sources(run), std::io::stdout().is_terminal())));
        }
        if let Some(coverage) = &run.coverage {
            out.push_str(&coverage.text());
        }
    }
    for below in &totals.below_threshold {
        out.push_str(&format!("policy coverage below the threshold: {below}\n"));
    }
    out.push_str(&format!("{} passed, {} failed", totals.passed, totals.failed));
    if totals.filtered > 0 {
        out.push_str(&format!(", {} filtered out", totals.filtered));
    }
    if totals.broken > 0 {
        let packages = if totals.broken == 1 { "package does" } else { "packages do" };
        out.push_str(&format!(
            "; {} {packages} not check (see the errors above), so none of its tests ran",
            totals.broken
        ));
    }
    if totals.bad_files > 0 {
        let files = if totals.bad_files == 1 { "test file" } else { "test files" };
        out.push_str(&format!("; {} {files} could not be read (see the errors above)", totals.bad_files));
    }

    out.push('\n');
    out
}

/// A diagnostics report without its own summary line (the test summary follows).
fn without_summary(report: &str) -> String {
    let body = report.trim_end_matches('\n');
    match body.rsplit_once('\n') {
        Some((body, _)) => format!("{body}\n"),
        None => String::new(),
    }
}

/// Looks up the text of one of a package's own files, its test files included.
fn sources(run: &PackageRun) -> impl Fn(&str) -> Option<Arc<str>> + '_ {
    |path: &str| {
        let mut files = run.set.sources().iter().chain(&run.test_files);
        files.find(|(file, _)| file == path).map(|(_, text)| text.clone())
    }
}

fn json_report(runs: &[PackageRun], totals: &Totals) -> Json {
    let packages: Vec<Json> = runs
        .iter()
        .map(|run| {
            let tests: Vec<Json> = run
                .results
                .iter()
                .map(|result| {
                    json!({
                        "name": result.name,
                        "file": result.origin.file.to_string(),
                        "line": line_of(run, result),
                        "expected": result.expected.keyword(),
                        "decision": result.decision.decision.word(),
                        "reason": result.decision.reasons.first().map(|reason| reason.code.clone()),
                        "passed": result.passed,
                        "mismatches": result.mismatches.iter().map(|mismatch| mismatch.text.as_str()).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let mut package = json!({"path": run.path, "tests": tests});
            if let (Some(coverage), Some(object)) = (&run.coverage, package.as_object_mut()) {
                object.insert("coverage".to_string(), coverage_json(coverage));
            }
            package
        })
        .collect();
    json!({
        "packages": packages,
        "passed": totals.passed,
        "failed": totals.failed,
        "filtered": totals.filtered,
        "packages_that_do_not_check": totals.broken,
        "test_files_not_read": totals.bad_files,
        "below_coverage_threshold": totals.below_threshold,
    })
}

fn coverage_json(coverage: &Coverage) -> Json {
    json!({
        "policy_percent": coverage.policy_percent(),
        "branch_percent": coverage.branch_percent(),
        "policies": coverage.policies,
        "branches": coverage.branches,
    })
}

/// The 1-based line of a test's name.
fn line_of(run: &PackageRun, result: &TestResult) -> usize {
    let text = sources(run)(&result.origin.file);
    text.map_or(1, |text| mandate::diagnostics::line_number(&text, result.origin.start))
}

/// JUnit XML: one `testsuite` per package, a `failure` with the decision for each
/// failing test, and an `error` suite for the packages that do not check.
fn junit_report(runs: &[PackageRun], totals: &Totals) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let tests = totals.passed + totals.failed;
    out.push_str(&format!(
        "<testsuites name=\"mandate\" tests=\"{tests}\" failures=\"{}\" errors=\"{}\">\n",
        totals.failed,
        totals.broken + totals.bad_files
    ));
    for run in runs {
        let failures = run.results.iter().filter(|result| !result.passed).count();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\">\n",
            xml(&run.path),
            run.results.len()
        ));
        for result in &run.results {
            out.push_str(&format!(
                "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" line=\"{}\"",
                xml(&result.name),
                xml(&run.path),
                xml(&result.origin.file),
                line_of(run, result)
            ));
            if result.passed {
                out.push_str("/>\n");
                continue;
            }
            let message = result.summary();
            out.push_str(&format!(
                ">\n      <failure message=\"{}\" type=\"mandate::test::failed\">{}</failure>\n    </testcase>\n",
                xml(&message),
                xml(&result.decision.to_text())
            ));
        }
        out.push_str("  </testsuite>\n");
    }
    if totals.broken > 0 {
        out.push_str(&format!(
            "  <testsuite name=\"packages that do not check\" tests=\"{0}\" failures=\"0\" errors=\"{0}\">\n",
            totals.broken
        ));
        out.push_str("    <testcase name=\"check\"><error message=\"the package does not check; run mandate check\"/></testcase>\n");
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Text escaped for XML attributes and content.
fn xml(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => escaped.push('\u{fffd}'),
            c => escaped.push(c),
        }
    }
    escaped
}

/// `mandate test --generate`: the prover's example requests of each policy as a JSON test
/// file, one per package, expecting the decisions they get today.
fn generate(paths: &[PathBuf]) -> ExitCode {
    let (specs, problems) = package::discover(paths);
    for problem in &problems {
        eprint!("{}", report::human(std::slice::from_ref(problem), &|_: &str| None, false));
    }
    let mut failed = !problems.is_empty();
    let mut out = String::new();
    for spec in &specs {
        let Some(set) = load(&spec.root) else {
            failed = true;
            continue;
        };
        let examples = mandate::prove::examples::policy_examples(&set, &mandate::prove::ProveOptions::default());
        let mut tests = Vec::new();
        for policy in examples {
            if let Some(example) = policy.decides {
                tests.push(generated(
                    format!("{}_decides", policy.policy),
                    format!("`{}` applies and decides", policy.policy),
                    example,
                ));
            } else {
                eprintln!("note: no request where `{}` decides was found; it may never take effect", policy.policy);
            }
            for (number, (condition, example)) in policy.near_misses.into_iter().enumerate() {
                let about = format!("every condition of `{}` holds but `{condition}`", policy.policy);
                tests.push(generated(format!("{}_near_miss_{}", policy.policy, number + 1), about, example));
            }
        }
        out.push_str(&pretty(&json!({ "tests": tests })));
    }
    if write_stdout(&out).is_err() || failed {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn generated(name: String, about: String, example: mandate::prove::examples::Example) -> Json {
    let test = mandate::eval::tests::JsonTest {
        name,
        about: Some(about),
        request: example.request,
        expect: mandate::eval::tests::Expectation::of(&example.decision),
    };
    serde_json::to_value(test).unwrap_or_default()
}
