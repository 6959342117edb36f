//! The `mandate` command line: the entry point for policy authors and operators.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use mandate::diagnostics::Severity;
use mandate::{package, report};

#[derive(Parser)]
#[command(name = "mandate", version, about = "A policy engine for AI agents")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse, resolve and type-check policy packages.
    ///
    /// Each file given is a package of its own; each folder is searched for folders
    /// that contain `.mandate` files, and each such folder is one package.
    Check {
        /// Files or folders to check.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Exit with status 1 when there are warnings, not only errors.
        #[arg(long)]
        deny_warnings: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// Annotated source excerpts for people.
    Human,
    /// One JSON document with every diagnostic and its position.
    Json,
    /// SARIF 2.1.0, for code-scanning interfaces.
    Sarif,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { paths, format, deny_warnings } => check(&paths, format, deny_warnings),
    }
}

fn check(paths: &[PathBuf], format: Format, deny_warnings: bool) -> ExitCode {
    let (loader, diagnostics) = package::check_paths(paths);
    let sources = |path: &str| loader.source_of(path);
    let output = match format {
        Format::Human => report::human(&diagnostics, &sources, std::io::stdout().is_terminal()),
        Format::Json => pretty(&report::json(&diagnostics, &sources)),
        Format::Sarif => pretty(&report::sarif(&diagnostics, &sources)),
    };
    let mut stdout = std::io::stdout().lock();
    if stdout.write_all(output.as_bytes()).and_then(|()| stdout.flush()).is_err() {
        return ExitCode::from(2);
    }
    let fails = |severity: Severity| severity == Severity::Error || (deny_warnings && severity == Severity::Warning);
    if diagnostics.iter().any(|diagnostic| fails(diagnostic.severity)) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn pretty(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"));
    text.push('\n');
    text
}
