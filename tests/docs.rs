//! What the project ships must be true: every example in the language reference, every
//! example package and every standard module checks without a single diagnostic, every
//! policy test they contain gets the decision it expects, and all of it is formatted as
//! `mandate fmt` formats it.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

use std::path::{Path, PathBuf};

use mandate::diagnostics::{Diagnostic, Severity};
use mandate::eval::tests::TestResult;
use mandate::eval::{Limits, PolicySet};
use mandate::package::{check_and_prove_paths, check_sources, Loader};
use mandate::report;

fn render(loader: &Loader, diagnostics: &[Diagnostic]) -> String {
    report::human(diagnostics, &|path: &str| loader.source_of(path), false)
}

/// The ```mandate blocks of a Markdown file, in order.
fn mandate_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```mandate") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), text) => {
                block.push_str(text);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// The reference's examples form one package, checked as a user runs `mandate check` on
/// it: written to a folder, with proofs and lints. It must be clean: no error, no
/// warning, and no unknown verdict but the one the reference explains (the quarantine
/// forbid reads the chain's links, which the delegation theorem does not solve).
#[test]
fn language_reference_examples_check_cleanly() {
    let markdown = std::fs::read_to_string("docs/language.md").expect("docs/language.md exists");
    let blocks = mandate_blocks(&markdown);
    assert!(blocks.len() >= 20, "the reference should show every construct; found {} examples", blocks.len());
    let dir = tempfile::tempdir().expect("temp dir");
    let package = dir.path().join("language");
    std::fs::create_dir(&package).expect("package folder");
    for (number, block) in blocks.iter().enumerate() {
        std::fs::write(package.join(format!("example_{:02}.mandate", number + 1)), block).expect("write example");
    }
    let (loader, diagnostics) =
        check_and_prove_paths(std::slice::from_ref(&package), &mandate::prove::ProveOptions::default());
    let problems: Vec<Diagnostic> = diagnostics
        .into_iter()
        .filter(|diagnostic| diagnostic.severity != Severity::Info || diagnostic.code.contains("unknown"))
        .filter(|diagnostic| diagnostic.message != "theorem `delegation never escalates` is neither proved nor refuted")
        .collect();
    assert!(problems.is_empty(), "{}", render(&loader, &problems));
    let set = PolicySet::load(&package, Limits::default()).expect("the reference compiles");
    assert_tests_pass(&package, &set, 5);
}

/// Runs a package's policy tests and the test files in its folder; all must pass, and
/// there must be at least `minimum`.
fn assert_tests_pass(folder: &Path, set: &PolicySet, minimum: usize) -> Vec<TestResult> {
    let name = folder.display();
    let mut results = mandate::eval::tests::run(set);
    for file in mandate::package::test_files(folder) {
        let path = file.display().to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        match mandate::eval::tests::run_file(set, &path, &text) {
            Ok(ran) => results.extend(ran),
            Err(diagnostic) => panic!("{path} does not read: {}", diagnostic.message),
        }
    }
    assert!(results.len() >= minimum, "{name}: only {} tests", results.len());
    let failures: Vec<String> = results
        .iter()
        .filter(|result| !result.passed)
        .map(|result| format!("{}: {}", result.failure().message, result.decision.to_text()))
        .collect();
    assert!(failures.is_empty(), "{name}:\n{}", failures.join("\n"));
    results
}

fn packages_under(dir: &Path) -> Vec<PathBuf> {
    let mut packages: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    packages.sort();
    packages
}

#[test]
fn example_packages_check_cleanly() {
    let packages = packages_under(Path::new("examples"));
    assert!(packages.len() >= 3, "expected at least three example packages, found {packages:?}");
    for package in packages {
        // Checked as `mandate check` does, proofs and lints included: nothing above
        // information (the examples' permits overlap forbids on purpose).
        let (loader, diagnostics) =
            check_and_prove_paths(std::slice::from_ref(&package), &mandate::prove::ProveOptions::default());
        let problems: Vec<Diagnostic> =
            diagnostics.into_iter().filter(|diagnostic| diagnostic.severity != Severity::Info).collect();
        assert!(problems.is_empty(), "{}: {}", package.display(), render(&loader, &problems));
        let set = PolicySet::load(&package, Limits::default()).expect("the example compiles");
        let results = assert_tests_pass(&package, &set, 5);
        // Every policy of an example is made to apply by some test.
        let coverage = mandate::eval::coverage::Coverage::measure(&set, &results);
        assert_eq!(coverage.policy_percent(), 100.0, "{}: {}", package.display(), coverage.text());
    }
}

/// Every claim about the examples is proved: assertions, bounds, tasks within bounds,
/// permits within scope and the theorems.
#[test]
fn example_assertions_are_proved_and_nothing_is_refuted() {
    for package in packages_under(Path::new("examples")) {
        let set = PolicySet::load(&package, Limits::default()).expect("the example compiles");
        let reports = mandate::prove::check(&set, &mandate::prove::ProveOptions::default());
        assert!(!reports.is_empty(), "{} declares no assertions", package.display());
        let text = mandate::prove::render(&package.display().to_string(), &reports);
        for report in &reports {
            // A bound on one task kind says nothing about the others: not applicable.
            let vacuous = report.kind == "task within bound" && report.verdict.word() == "not applicable";
            assert!(vacuous || report.verdict.word() == "proved", "{}: {text}", report.name);
        }
    }
}

#[test]
fn standard_modules_check_cleanly() {
    for (name, _) in mandate::stdlib::MODULES {
        let source = format!("use std::{name}\n");
        let (loader, diagnostics) = check_sources(&[("main.mandate", &source)]);
        assert!(diagnostics.is_empty(), "std::{name}: {}", render(&loader, &diagnostics));
    }
}

/// Every example package has sample requests, and its README's "Sample requests" table
/// (`| \`FILE.json\` | DECISION (\`REASON\`) | … |`) says what `mandate eval` decides for
/// each of them, and lists every one.
#[test]
fn example_sample_requests_get_the_decision_their_readme_states() {
    for package in packages_under(Path::new("examples")) {
        let readme = std::fs::read_to_string(package.join("README.md")).expect("every example has a README");
        let section = readme
            .split("## Sample requests")
            .nth(1)
            .unwrap_or_else(|| panic!("{}: the README has no \"Sample requests\" section", package.display()));
        let set = PolicySet::load(&package, Limits::default()).expect("the example compiles");
        let mut listed = Vec::new();
        for row in section.lines().filter(|line| line.starts_with("| `")) {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let file = cells[1].trim_matches('`');
            let (decision, reason) = cells[2].split_once(" (`").expect("DECISION (`REASON`)");
            let reason = reason.trim_end_matches("`)");
            let text = std::fs::read_to_string(package.join("requests").join(file)).expect("the request exists");
            let decided = set.decide_json(&text, false);
            let code = decided.reasons.first().map(|reason| reason.code.as_str()).unwrap_or_default();
            assert_eq!(
                (decided.decision.word(), code),
                (decision, reason),
                "{}/requests/{file}: {}",
                package.display(),
                decided.to_text()
            );
            listed.push(file.to_string());
        }
        let mut files: Vec<String> = std::fs::read_dir(package.join("requests"))
            .expect("every example has requests/")
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        listed.sort();
        assert!(files.len() >= 3, "{}: only {} sample requests", package.display(), files.len());
        assert_eq!(files, listed, "{}: the README lists every request", package.display());
    }
}

/// `docs/lints.md` documents every lint, each with an example that earns it and no other
/// lint, and the default levels it states are the ones `mandate check` uses.
#[test]
fn every_lint_is_documented_with_an_example_that_earns_it() {
    let doc = std::fs::read_to_string("docs/lints.md").expect("docs/lints.md");
    let sections: Vec<&str> = doc.split("\n### `").skip(1).collect();
    let names: Vec<&str> = sections.iter().map(|section| section.split('`').next().unwrap_or_default()).collect();
    let lints: Vec<&str> = mandate::diagnostics::LINTS.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, lints, "docs/lints.md has one section per lint, in the order of diagnostics::LINTS");
    for ((name, level), section) in mandate::diagnostics::LINTS.iter().zip(&sections) {
        let default = format!("| [`{name}`](#{name}) | {} |", serde_json::to_value(level).unwrap().as_str().unwrap());
        assert!(doc.contains(&default), "the table states the default of `{name}`: {default}");
        let example = mandate_blocks(section).into_iter().next().unwrap_or_else(|| panic!("`{name}` has no example"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("policies.mandate"), &example).unwrap();
        let (loader, diagnostics) =
            check_and_prove_paths(&[dir.path().to_path_buf()], &mandate::prove::ProveOptions::default());
        let codes: Vec<&str> = diagnostics.iter().map(|diagnostic| diagnostic.code.as_str()).collect();
        assert_eq!(codes, vec![format!("mandate::lint::{name}")], "{name}: {}", render(&loader, &diagnostics));
    }
}

fn mandate_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(mandate_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "mandate") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// What the project ships is laid out as `mandate fmt` lays it out: every `.mandate` file
/// of the examples and of the standard library, and every ```mandate block of the
/// documentation and the README.
#[test]
fn shipped_sources_are_formatted() {
    let mut unformatted = Vec::new();
    for path in mandate_files(Path::new("examples")).into_iter().chain(mandate_files(Path::new("stdlib"))) {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path).expect("read source");
        match mandate::format::format_source(&name, &text) {
            Ok(formatted) if formatted == text => {}
            Ok(_) => unformatted.push(name),
            Err(diagnostics) => panic!("{name} does not format: {diagnostics:?}"),
        }
    }
    let mut markdown: Vec<PathBuf> = std::fs::read_dir("docs")
        .expect("docs/")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    markdown.push(PathBuf::from("README.md"));
    for path in markdown {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path).expect("read Markdown");
        match mandate::format::format_markdown(&name, &text) {
            Ok(formatted) if formatted == text => {}
            Ok(_) => unformatted.push(name),
            Err(diagnostics) => panic!("a mandate block of {name} does not format: {diagnostics:?}"),
        }
    }
    assert!(
        unformatted.is_empty(),
        "not formatted; run `mandate fmt examples stdlib docs/*.md README.md`: {unformatted:?}"
    );
}
