//! `mandate fmt`: rewrites policy files in the canonical style, or, with `--check`, shows
//! what it would change and fails, for CI. The formatting itself is `mandate::format`;
//! this module finds the files, reads and writes them, and reports.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mandate::diagnostics::Diagnostic;
use mandate::format::{format_markdown, format_source};
use mandate::{package, report};

/// What happened to one file.
enum Outcome {
    Unchanged,
    Changed,
    Failed,
}

/// Formats `paths` (files, folders searched for `.mandate` files, or `-` alone for
/// standard input to standard output).
pub fn fmt(paths: &[PathBuf], check: bool) -> ExitCode {
    if paths.iter().any(|path| path == Path::new("-")) {
        if paths.len() > 1 {
            eprintln!("error: `-` (standard input) cannot be given with other paths");
            return ExitCode::from(2);
        }
        return fmt_stdin(check);
    }
    let (files, mut failed) = files_under(paths);
    let (mut changed, mut unchanged) = (0usize, 0usize);
    for file in &files {
        match fmt_file(file, check) {
            Outcome::Unchanged => unchanged += 1,
            Outcome::Changed => changed += 1,
            Outcome::Failed => failed += 1,
        }
    }
    eprintln!("{}", summary(check, changed, unchanged, failed));
    match failed > 0 || (check && changed > 0) {
        true => ExitCode::from(1),
        false => ExitCode::SUCCESS,
    }
}

fn summary(check: bool, changed: usize, unchanged: usize, failed: usize) -> String {
    let files = |count: usize| if count == 1 { "1 file".to_string() } else { format!("{count} files") };
    let mut parts = vec![match check {
        true => format!("{} to format", files(changed)),
        false => format!("{} formatted", files(changed)),
    }];
    parts.push(format!("{} already formatted", files(unchanged)));
    if failed > 0 {
        parts.push(format!("{} not formatted because of errors", files(failed)));
    }
    parts.join(", ")
}

/// Reads standard input and writes it formatted to standard output; with `check`,
/// writes the diff instead, and fails when there is one.
fn fmt_stdin(check: bool) -> ExitCode {
    let mut bytes = Vec::new();
    let limit = package::MAX_SOURCE_BYTES;
    if let Err(error) = std::io::stdin().take(limit + 1).read_to_end(&mut bytes) {
        eprintln!("error: cannot read standard input: {error}");
        return ExitCode::from(1);
    }
    if bytes.len() as u64 > limit {
        eprintln!("error: standard input is larger than the limit of {limit} bytes");
        return ExitCode::from(1);
    }
    let Ok(text) = String::from_utf8(bytes) else {
        eprintln!("error: standard input is not valid UTF-8");
        return ExitCode::from(1);
    };
    let name = "<stdin>";
    let formatted = match format_source(name, &text) {
        Ok(formatted) => formatted,
        Err(diagnostics) => {
            show_diagnostics(name, &text, &diagnostics);
            return ExitCode::from(1);
        }
    };
    let output = match check {
        true => unified_diff(name, &text, &formatted),
        false => formatted.clone(),
    };
    let mut stdout = std::io::stdout().lock();
    if stdout.write_all(output.as_bytes()).and_then(|()| stdout.flush()).is_err() {
        return ExitCode::from(2);
    }
    match check && formatted != text {
        true => ExitCode::from(1),
        false => ExitCode::SUCCESS,
    }
}

/// Formats one file in place, or with `check` prints its diff.
fn fmt_file(path: &Path, check: bool) -> Outcome {
    let name = path.display().to_string();
    let markdown = path.extension().is_some_and(|ext| ext == "md");
    let text = match read(path, markdown) {
        Ok(text) => text,
        Err(diagnostics) => {
            show_diagnostics(&name, "", &diagnostics);
            return Outcome::Failed;
        }
    };
    let result = match markdown {
        true => format_markdown(&name, &text),
        false => format_source(&name, &text),
    };
    let formatted = match result {
        Ok(formatted) => formatted,
        Err(diagnostics) => {
            show_diagnostics(&name, &text, &diagnostics);
            return Outcome::Failed;
        }
    };
    if formatted == text {
        return Outcome::Unchanged;
    }
    if check {
        print!("{}", unified_diff(&name, &text, &formatted));
        return Outcome::Changed;
    }
    match std::fs::write(path, formatted) {
        Ok(()) => {
            println!("formatted {name}");
            Outcome::Changed
        }
        Err(error) => {
            eprintln!("error: cannot write `{name}`: {error}");
            Outcome::Failed
        }
    }
}

/// A `.mandate` file is read as every policy file is; a Markdown file (whose code blocks
/// are formatted) as plain text of bounded size.
fn read(path: &Path, markdown: bool) -> Result<String, Vec<Diagnostic>> {
    if !markdown {
        return package::read_one(path);
    }
    let unreadable = |reason: String| {
        let error = package::SourceError::Unreadable { path: path.display().to_string(), reason };
        vec![Diagnostic::from_miette(&error, &std::sync::Arc::from(path.display().to_string().as_str()))]
    };
    let size = std::fs::metadata(path).map_err(|error| unreadable(error.to_string()))?.len();
    if size > package::MAX_SOURCE_BYTES {
        return Err(unreadable(format!("it is {size} bytes, more than the limit of {}", package::MAX_SOURCE_BYTES)));
    }
    std::fs::read_to_string(path).map_err(|error| unreadable(error.to_string()))
}

/// The `.mandate` files named or under the folders named, in a stable order, and how
/// many paths could not be used.
fn files_under(paths: &[PathBuf]) -> (Vec<PathBuf>, usize) {
    let mut files = Vec::new();
    let mut failed = 0;
    for path in paths {
        if path.is_dir() {
            let before = files.len();
            walk(path, &mut files);
            if files.len() == before {
                eprintln!("warning: no `.mandate` files under `{}`", path.display());
            }
        } else if path.exists() {
            files.push(path.clone());
        } else {
            eprintln!("error: `{}` does not exist", path.display());
            failed += 1;
        }
    }
    (files, failed)
}

/// Collects the `.mandate` files under `dir`, sorted, without following symbolic links
/// or entering hidden folders.
fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        eprintln!("warning: cannot read the folder `{}`", dir.display());
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        match entry.file_type() {
            Ok(kind) if kind.is_dir() && !hidden => walk(&path, files),
            Ok(kind) if kind.is_file() && path.extension().is_some_and(|ext| ext == "mandate") => files.push(path),
            _ => {}
        }
    }
}

/// A unified diff from the file as it is to the file formatted, `git apply -p1` ready.
fn unified_diff(name: &str, old: &str, new: &str) -> String {
    let diff = similar::TextDiff::from_lines(old, new);
    let mut unified = diff.unified_diff();
    unified.context_radius(3).header(&format!("a/{name}"), &format!("b/{name}"));
    unified.to_string()
}

/// Shows diagnostics on standard error, with the source they point into.
fn show_diagnostics(name: &str, text: &str, diagnostics: &[Diagnostic]) {
    let source = std::sync::Arc::<str>::from(text);
    let sources = |file: &str| (file == name && !text.is_empty()).then(|| source.clone());
    let rendered = report::human(diagnostics, &sources, std::io::stderr().is_terminal());
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(rendered.as_bytes());
}
