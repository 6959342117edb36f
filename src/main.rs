//! The `mandate` command line: the entry point for policy authors and operators.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
#[cfg(feature = "runtime")]
use cli::runtime::{AgentCommand, DecideArgs, KeyCommand, Place, TaskCommand, TokenCommand};
use mandate::diagnostics::Severity;
use mandate::eval::{Decision, Outcome, PolicySet};
use mandate::prove::ProveOptions;
use mandate::{package, report};

mod cli;

#[derive(Parser)]
#[command(name = "mandate", version, about = "A policy engine for AI agents")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse, resolve and type-check policy packages, then prove them.
    ///
    /// Every package that checks is compiled and proved: an over-grant (a refuted
    /// assertion, bound or theorem) is an error with the counterexample request and the
    /// `mandate eval` command that reproduces it; unknown verdicts are information; the
    /// prover's lints are warnings.
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
        /// Only parse, resolve and type-check: skip the proofs and the prover's lints.
        #[arg(long)]
        no_proofs: bool,
        /// Also show informational findings (such as a forbid that carves an exception
        /// out of a permit); by default they are only counted.
        #[arg(long, short)]
        verbose: bool,
        /// Write each counterexample request to a file in DIR, and print the `mandate
        /// eval PKG --request FILE` command that reproduces it.
        #[arg(long, value_name = "DIR")]
        witness_dir: Option<PathBuf>,
        /// Most decision-diagram nodes the prover may build per (action, resource type);
        /// beyond it, answers are "budget exceeded".
        #[arg(long, default_value_t = 2_000_000)]
        budget: usize,
    },
    /// Decide requests against a policy package.
    ///
    /// Reads one JSON request (docs/requests.md) from `--request FILE`, or from standard
    /// input, and prints the decision as JSON. With `--batch`, reads one request per line
    /// and writes one decision per line as soon as the line is read, so it can serve as a
    /// line-by-line sidecar; output line N answers input line N.
    Eval {
        /// The package: a folder of `.mandate` files, or one file.
        path: PathBuf,
        /// The request file; `-` or nothing reads standard input.
        #[arg(long)]
        request: Option<PathBuf>,
        /// Stream JSON Lines: one request per input line, one decision per output line.
        #[arg(long)]
        batch: bool,
        /// Record the path through the decision graph.
        #[arg(long)]
        explain: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = EvalFormat::Json)]
        format: EvalFormat,
        /// Set the exit status from the decision: 0 allow, 2 deny, 3 escalate. With
        /// `--batch`: 0 if every decision allows, else 2 if any denies, else 3.
        #[arg(long)]
        exit_code: bool,
    },
    /// Start a package: a schema, a task, a permit, a guard with its message, an
    /// assertion, two tests and a request, which check, prove and pass as written.
    ///
    /// Writes `mandate.toml` (the package root), `policies.mandate` and `request.json`
    /// into DIR (made if missing); refuses to write over a folder that already has
    /// `.mandate` files or either of those files.
    Init {
        /// The folder to start the package in.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Run the `test` blocks of policy packages.
    ///
    /// Each test's request is validated and decided like any other; the test passes when
    /// the decision is the one it expects. Exits 1 when a test fails.
    Test {
        /// Files or folders, as for `mandate check`.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Run only the tests whose name contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// Output format: text, one JSON document with every result, or JUnit XML for CI
        /// systems.
        #[arg(long, value_enum, default_value_t = cli::testing::TestFormat::Text)]
        format: cli::testing::TestFormat,
        #[command(flatten)]
        coverage: cli::testing::CoverageArgs,
    },
    /// Prove or refute every theorem of a package, with its time (docs/proving.md).
    ///
    /// The compiled graph decides as the policies say; each `assert` and `bound` holds;
    /// no task is wider than a bound; nothing is allowed outside its task's scope or
    /// delegation limits; delegation never escalates; risk is restrict-only. Each is
    /// proved for all requests, refuted with a concrete counterexample (which `mandate
    /// eval` reproduces), or reported unknown with the reason. Exits 1 when one is
    /// refuted; a permit written wider than its task's scope is only reported.
    Prove {
        /// The package: a folder of `.mandate` files, or one file.
        path: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
        /// Write each counterexample request to a file in DIR, and print the `mandate
        /// eval PKG --request FILE` command that reproduces it (text format).
        #[arg(long, value_name = "DIR")]
        witness_dir: Option<PathBuf>,
        /// Most decision-diagram nodes the prover may build per (action, resource type);
        /// beyond it, answers are "budget exceeded".
        #[arg(long, default_value_t = 2_000_000)]
        budget: usize,
    },
    /// Print a shell completion script: `mandate completions bash > /etc/bash_completion.d/mandate`,
    /// `mandate completions zsh > ~/.zfunc/_mandate`, `mandate completions fish >
    /// ~/.config/fish/completions/mandate.fish`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Show every request whose decision changes between two versions of a package.
    ///
    /// The changed requests are summarized per (action, resource type) and pair of
    /// decisions as conditions, with one example request replayed through both versions.
    /// With `--no-wider`, exits 1 when the new version may allow anything the old one did
    /// not, so a CI job can gate policy changes on it.
    Diff {
        /// The old version: a folder of `.mandate` files, or one file.
        old: PathBuf,
        /// The new version.
        new: PathBuf,
        /// Exit with status 1 if anything may be newly allowed.
        #[arg(long)]
        no_wider: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
        /// Most decision-diagram nodes the prover may build per (action, resource type);
        /// beyond it, answers are "budget exceeded".
        #[arg(long, default_value_t = 2_000_000)]
        budget: usize,
    },
    /// Registered agents (docs/runtime.md): `add`, `list`, `disable`; `keygen` and
    /// `assert` play the agent's part.
    #[cfg(feature = "runtime")]
    Agent {
        #[command(flatten)]
        place: Place,
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// Task instances: `open`, `delegate`, `complete`, `revoke`, `show`, `list`.
    #[cfg(feature = "runtime")]
    Task {
        #[command(flatten)]
        place: Place,
        #[command(subcommand)]
        command: TaskCommand,
    },
    /// Verify a task token or an action credential.
    #[cfg(feature = "runtime")]
    Token {
        #[command(flatten)]
        place: Place,
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Decide a request in a task, as the agent an assertion proves: the runtime form of
    /// `eval`, where the agent, the chain and the task come from the registry.
    #[cfg(feature = "runtime")]
    Decide {
        #[command(flatten)]
        place: Place,
        #[command(flatten)]
        args: DecideArgs,
    },
    /// The audit log: `verify`, `receipt`, `verify-receipt`, `replay`, `show`, `export`, `key`.
    #[cfg(feature = "runtime")]
    Audit {
        #[command(subcommand)]
        command: cli::audit::AuditCommand,
    },
    /// The runtime's signing keys: `rotate`, `jwks`.
    #[cfg(feature = "runtime")]
    Key {
        #[command(flatten)]
        place: Place,
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Format Mandate source in the one canonical style (docs/language.md, "Formatting").
    ///
    /// Rewrites in place each `.mandate` file given and every `.mandate` file under each
    /// folder given (hidden folders and symbolic links are skipped), and names the files
    /// it changed. Every comment is kept, and blank lines between declarations and between
    /// entries (one at most in a row). A file that does not parse is left as it is, and
    /// its errors are shown; the exit status is then 1. A Markdown file given by name has
    /// its ```mandate code blocks formatted. `mandate fmt -` reads standard input and
    /// writes the formatted text to standard output, for editors.
    Fmt {
        /// Files or folders to format, or `-` for standard input.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Change nothing: print a unified diff for each file that is not formatted, and
        /// exit with status 1 when there is one (for CI).
        #[arg(long)]
        check: bool,
    },
    /// Run the language server for editors, over standard input and output.
    ///
    /// Speaks the Language Server Protocol: diagnostics as you type (and the prover's
    /// counterexamples on open and save), hover, go to definition, find references,
    /// completion, document symbols and quick fixes for "did you mean" suggestions.
    /// Editors start it themselves; editors/README.md shows how.
    #[cfg(feature = "lsp")]
    Lsp,
    /// Draw the compiled decision graph.
    ///
    /// Prints Graphviz DOT on standard output and statistics on standard error; render
    /// it with `mandate graph DIR | dot -Tsvg > graph.svg`.
    Graph {
        /// The package: a folder of `.mandate` files, or one file.
        path: PathBuf,
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReportFormat {
    /// For people: each result and, for a refutation, the request and the command that
    /// reproduces it.
    Text,
    /// The same as JSON, for programs.
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EvalFormat {
    /// The decision as JSON.
    Json,
    /// The decision for people, with the path when `--explain` is given.
    Text,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum GraphFormat {
    /// Graphviz DOT, with statistics on standard error.
    Dot,
    /// Only the statistics, as JSON.
    Stats,
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
        Command::Check { paths, format, deny_warnings, no_proofs, verbose, witness_dir, budget } => {
            let options = (!no_proofs).then(|| ProveOptions::with_budget(budget));
            let output = CheckOutput { format, verbose, witness_dir };
            check(&paths, &output, deny_warnings, options.as_ref())
        }
        Command::Eval { path, request, batch, explain, format, exit_code } => {
            let Some(set) = load(&path) else { return ExitCode::from(1) };
            if batch {
                eval_batch(&set, request.as_deref(), explain, exit_code)
            } else {
                eval_one(&set, request.as_deref(), explain, format, exit_code)
            }
        }
        Command::Graph { path, format } => graph(&path, format),
        Command::Test { paths, filter, format, coverage } => {
            cli::testing::run_tests(&paths, filter.as_deref(), format, &coverage)
        }
        Command::Init { dir } => init(&dir),
        Command::Fmt { paths, check } => cli::fmt::fmt(&paths, check),
        Command::Completions { shell } => {
            // Written to a buffer first: the generator panics when a write fails.
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "mandate", &mut script);
            match write_stdout(&String::from_utf8_lossy(&script)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::from(2),
            }
        }
        Command::Prove { path, format, witness_dir, budget } => {
            prove(&path, format, witness_dir.as_deref(), &ProveOptions::with_budget(budget))
        }
        Command::Diff { old, new, no_wider, format, budget } => {
            diff(&old, &new, no_wider, format, &ProveOptions::with_budget(budget))
        }
        #[cfg(feature = "runtime")]
        Command::Agent { place, command } => cli::runtime::agent(&place, command),
        #[cfg(feature = "runtime")]
        Command::Task { place, command } => cli::runtime::task(&place, command),
        #[cfg(feature = "runtime")]
        Command::Token { place, command } => cli::runtime::token(&place, command),
        #[cfg(feature = "runtime")]
        Command::Decide { place, args } => cli::runtime::decide(&place, args),
        #[cfg(feature = "runtime")]
        Command::Key { place, command } => cli::runtime::key(&place, command),
        #[cfg(feature = "runtime")]
        Command::Audit { command } => cli::audit::audit(command),
        #[cfg(feature = "lsp")]
        Command::Lsp => lsp(),
    }
}

/// `mandate lsp`: serves until the editor says `exit`.
#[cfg(feature = "lsp")]
fn lsp() -> ExitCode {
    match mandate::lsp::serve_stdio() {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(error) => {
            eprintln!("mandate lsp: {error}");
            ExitCode::from(1)
        }
    }
}

/// The package `mandate init` writes.
const STARTER_POLICIES: &str = r#"// A starter package: `mandate check .`, `mandate test .` and `mandate prove .` pass as
// written. Change the schema to your resources and actions, declare the tasks your
// agents perform, and permit what each task needs.
schema {
  enum Class { public, internal, secret }
  resource Doc {
    owner: String,
    class: Class,
  }
  action read on Doc
}

// An agent reads documents only inside a declared task, and only the owner's.
task ReadOwnDocs(owner: String) {
  intent "read one person's documents"
  scope { read on Doc where resource.owner == task.owner }
  ttl 30m
}

policy read_own_docs:
  permit read on Doc
  when task is ReadOwnDocs and resource.owner == task.owner
  grant ttl 5m

policy secrets_stay_secret:
  forbid * on Doc
  when resource.class == secret
  message "secret documents are never read by an agent"

assert no_secret_reads: never permit * on Doc when resource.class == secret

test reads_an_own_document {
  chain ["ann@example.com"]
  task ReadOwnDocs { owner: "ann" }
  action read
  resource Doc { owner: "ann", class: internal }
  expect allow
}

test never_reads_a_secret {
  chain ["ann@example.com"]
  task ReadOwnDocs { owner: "ann" }
  action read
  resource Doc { owner: "ann", class: secret }
  expect deny
}
"#;

/// A request `mandate init` writes, for `mandate eval . --request request.json`.
const STARTER_REQUEST: &str = r#"{
  "agent": {"id": "agent-1"},
  "chain": ["ann@example.com"],
  "task": {"kind": "ReadOwnDocs", "id": "task-1", "start": "2026-12-01T09:00:00Z", "deadline": "2026-12-01T09:30:00Z", "params": {"owner": "ann"}},
  "action": "read",
  "resource": {"type": "Doc", "id": "doc-1", "attrs": {"owner": "ann", "class": "internal"}},
  "context": {"time": "2026-12-01T09:10:00Z"}
}
"#;

/// Writes a starter package into `dir`, never over existing files.
fn init(dir: &std::path::Path) -> ExitCode {
    let files = [("mandate.toml", ""), ("policies.mandate", STARTER_POLICIES), ("request.json", STARTER_REQUEST)];
    let has_sources = package::package_files(dir).is_ok_and(|found| !found.is_empty());
    let taken: Vec<String> = files
        .iter()
        .filter(|(name, _)| dir.join(name).exists())
        .map(|(name, _)| name.to_string())
        .chain(has_sources.then(|| "`.mandate` files".to_string()))
        .collect();
    if !taken.is_empty() {
        eprintln!("error: {} already has {}; start the package in an empty folder", dir.display(), taken.join(", "));
        return ExitCode::from(1);
    }
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| files.iter().try_for_each(|(name, text)| std::fs::write(dir.join(name), text)));
    if let Err(error) = written {
        eprintln!("error: cannot write the package into {}: {error}", dir.display());
        return ExitCode::from(1);
    }
    let shown = dir.display();
    println!("started a package in {shown}; next:");
    println!("  mandate check {shown}");
    println!("  mandate test {shown}");
    println!("  mandate eval {shown} --request {}", dir.join("request.json").display());
    ExitCode::SUCCESS
}

/// Loads and compiles a package, printing its diagnostics when it does not check.
pub(crate) fn load(path: &std::path::Path) -> Option<PolicySet> {
    match PolicySet::load(path, mandate::eval::Limits::default()) {
        Ok(set) => Some(set),
        Err(error) => {
            eprint!("{}", error.render());
            None
        }
    }
}

/// Reads a request, at most one byte more than the largest request accepted, so an
/// oversized one is refused by the limit rather than read whole into memory.
fn read_input(path: Option<&std::path::Path>, limit: usize) -> std::io::Result<Vec<u8>> {
    let reader: Box<dyn Read> = match path {
        Some(path) if path != std::path::Path::new("-") => Box::new(std::fs::File::open(path)?),
        _ => Box::new(std::io::stdin()),
    };
    let mut bytes = Vec::new();
    reader.take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1)).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Decides one request given as bytes; bytes that are not UTF-8 are a malformed request.
fn decide_bytes(set: &PolicySet, bytes: &[u8], explain: bool) -> Decision {
    match std::str::from_utf8(bytes) {
        Ok(text) => set.decide_json(text, explain),
        Err(error) => Decision::invalid(vec![mandate::eval::RequestError::new(
            "",
            "malformed_request",
            format!("the request is not UTF-8 text: {error}"),
            None,
        )]),
    }
}

fn eval_one(
    set: &PolicySet,
    request: Option<&std::path::Path>,
    explain: bool,
    format: EvalFormat,
    exit_code: bool,
) -> ExitCode {
    let bytes = match read_input(request, set.limits().max_request_bytes) {
        Ok(bytes) => bytes,
        Err(error) => {
            eprintln!("error: cannot read the request: {error}");
            return ExitCode::from(1);
        }
    };
    let decision = decide_bytes(set, &bytes, explain);
    let output = match format {
        EvalFormat::Json => pretty(&serde_json::to_value(&decision).unwrap_or_default()),
        EvalFormat::Text => decision.to_text(),
    };
    if write_stdout(&output).is_err() {
        return ExitCode::from(1);
    }
    if exit_code {
        decision_exit_code(&decision)
    } else {
        ExitCode::SUCCESS
    }
}

fn decision_exit_code(decision: &Decision) -> ExitCode {
    match decision.decision {
        Outcome::Allow => ExitCode::SUCCESS,
        Outcome::Deny => ExitCode::from(2),
        Outcome::Escalate => ExitCode::from(3),
    }
}

/// Streams JSON Lines: each input line gets one decision line, in order, written and
/// flushed as soon as the line is read. A blank line, or one longer than the largest
/// request accepted, is an invalid request; a decision with errors carries its line
/// number. Lines are read with a bounded buffer, so endless input without line breaks
/// takes bounded memory.
fn eval_batch(set: &PolicySet, request: Option<&std::path::Path>, explain: bool, exit_code: bool) -> ExitCode {
    let mut input: Box<dyn BufRead> = match request {
        Some(path) if path != std::path::Path::new("-") => match std::fs::File::open(path) {
            Ok(file) => Box::new(std::io::BufReader::new(file)),
            Err(error) => {
                eprintln!("error: cannot read {}: {error}", path.display());
                return ExitCode::from(1);
            }
        },
        _ => Box::new(std::io::stdin().lock()),
    };
    let limit = set.limits().max_request_bytes;
    let mut out = std::io::stdout().lock();
    let mut outcomes = Vec::new();
    let mut text = Vec::new();
    for number in 1.. {
        let decision = match read_bounded_line(&mut input, limit) {
            Ok(Some(Line::Text(line))) if line.iter().all(u8::is_ascii_whitespace) => {
                invalid_line("the line is empty; each line holds one JSON request")
            }
            Ok(Some(Line::Text(line))) => decide_bytes(set, &line, explain),
            Ok(Some(Line::TooLong(length))) => {
                invalid_line(&format!("the request is {length} bytes or more, more than the limit of {limit}"))
            }
            Ok(None) => break,
            Err(error) => {
                eprintln!("error: cannot read the input: {error}");
                return ExitCode::from(1);
            }
        };
        outcomes.push(decision.decision);
        text.clear();
        let written = if decision.errors.is_empty() {
            serde_json::to_writer(&mut text, &decision)
        } else {
            let mut value = serde_json::to_value(&decision).unwrap_or_default();
            if let Some(object) = value.as_object_mut() {
                object.insert("line".to_string(), serde_json::json!(number));
            }
            serde_json::to_writer(&mut text, &value)
        };
        if written.is_err() {
            return ExitCode::from(1);
        }
        text.push(b'\n');
        if out.write_all(&text).and_then(|()| out.flush()).is_err() {
            return ExitCode::from(1);
        }
    }
    match (exit_code, outcomes.contains(&Outcome::Deny), outcomes.iter().all(|o| *o == Outcome::Allow)) {
        (false, _, _) | (true, _, true) => ExitCode::SUCCESS,
        (true, true, _) => ExitCode::from(2),
        (true, false, false) => ExitCode::from(3),
    }
}

/// One line of batch input: its bytes, or only its length when it is too long to keep.
enum Line {
    Text(Vec<u8>),
    TooLong(usize),
}

/// Reads up to the next line feed, keeping at most `limit` bytes (a longer line is
/// consumed but not kept); `None` at the end of the input.
fn read_bounded_line(input: &mut dyn BufRead, limit: usize) -> std::io::Result<Option<Line>> {
    let mut kept = Vec::new();
    let mut length = 0usize;
    loop {
        let buffer = input.fill_buf()?;
        if buffer.is_empty() {
            return Ok((length > 0).then(|| finish_line(kept, length, limit)));
        }
        let (chunk, done) = match buffer.iter().position(|byte| *byte == b'\n') {
            Some(at) => (buffer.get(..at).unwrap_or_default(), Some(at + 1)),
            None => (buffer, None),
        };
        length = length.saturating_add(chunk.len());
        if length <= limit.saturating_add(1) {
            kept.extend_from_slice(chunk);
        }
        let consumed = done.unwrap_or(buffer.len());
        input.consume(consumed);
        if done.is_some() {
            return Ok(Some(finish_line(kept, length, limit)));
        }
    }
}

fn finish_line(mut kept: Vec<u8>, length: usize, limit: usize) -> Line {
    if kept.last() == Some(&b'\r') {
        kept.pop();
    }
    if length > limit.saturating_add(1) {
        Line::TooLong(length)
    } else {
        Line::Text(kept)
    }
}

fn invalid_line(message: &str) -> Decision {
    Decision::invalid(vec![mandate::eval::RequestError::new("", "malformed_request", message, None)])
}

fn graph(path: &std::path::Path, format: GraphFormat) -> ExitCode {
    let Some(set) = load(path) else { return ExitCode::from(1) };
    let stats = set.plan().stats();
    let stats_json = pretty(&serde_json::to_value(&stats).unwrap_or_default());
    let written = match format {
        GraphFormat::Dot => {
            eprintln!(
                "{} partitions, {} rules, {} nodes ({} shared; {} as a tree), depth {}, {} leaves; \
                 a decision walks at most {} nodes in {} diagrams",
                stats.partitions,
                stats.rules,
                stats.nodes,
                stats.shared_nodes,
                stats.tree_nodes,
                stats.depth,
                stats.leaves,
                stats.walk_nodes,
                stats.walk_diagrams
            );
            write_stdout(&mandate::compile::dot::render(set.plan()))
        }
        GraphFormat::Stats => write_stdout(&stats_json),
    };
    if written.is_err() {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// Proves every theorem and reports its verdict, with a counterexample to replay.
fn prove(
    path: &std::path::Path,
    format: ReportFormat,
    witness_dir: Option<&std::path::Path>,
    options: &ProveOptions,
) -> ExitCode {
    let Some(set) = load(path) else { return ExitCode::from(1) };
    let reports = mandate::prove::check(&set, options);
    let mut output = match format {
        ReportFormat::Json => pretty(&serde_json::to_value(&reports).unwrap_or_default()),
        ReportFormat::Text => mandate::prove::render(&path.display().to_string(), &reports),
    };
    if let (Some(dir), ReportFormat::Text) = (witness_dir, format) {
        let written = std::fs::create_dir_all(dir)
            .and_then(|()| report::externalize_commands(&output, dir, "witness", &mut Vec::new()));
        match written {
            Ok(text) => output = text,
            Err(error) => {
                eprintln!("error: cannot write the counterexamples to `{}`: {error}", dir.display());
                return ExitCode::from(2);
            }
        }
    }
    // A permit wider than its task's scope is a warning: the graph still denies the rest.
    let refuted = reports.iter().any(|report| {
        matches!(report.verdict, mandate::prove::Verdict::Refuted { .. }) && report.kind != "permit within scope"
    });
    if write_stdout(&output).is_err() || refuted {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// Compares two versions of a package; with `no_wider`, fails when the new one may allow
/// more.
fn diff(
    old: &std::path::Path,
    new: &std::path::Path,
    no_wider: bool,
    format: ReportFormat,
    options: &ProveOptions,
) -> ExitCode {
    let (Some(old_set), Some(new_set)) = (load(old), load(new)) else { return ExitCode::from(1) };
    let report = mandate::prove::diff::diff(&old_set, &new_set, options);
    let output = match format {
        ReportFormat::Json => pretty(&serde_json::to_value(&report).unwrap_or_default()),
        ReportFormat::Text => report.render(&new.display().to_string()),
    };
    if write_stdout(&output).is_err() {
        return ExitCode::from(2);
    }
    if no_wider && report.may_widen() {
        eprintln!("error: the new version may allow requests the old one did not (--no-wider)");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// Runs every package's tests and reports each one; failures show their decision.
pub(crate) fn write_stdout(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

/// How `mandate check` shows what it found.
struct CheckOutput {
    format: Format,
    verbose: bool,
    witness_dir: Option<PathBuf>,
}

fn check(paths: &[PathBuf], output: &CheckOutput, deny_warnings: bool, proofs: Option<&ProveOptions>) -> ExitCode {
    let (loader, mut diagnostics) = match proofs {
        Some(options) => package::check_and_prove_paths(paths, options),
        None => package::check_paths(paths),
    };
    if let Some(dir) = &output.witness_dir {
        if let Err(error) = report::externalize_witnesses(&mut diagnostics, dir) {
            eprintln!("error: cannot write the counterexamples to `{}`: {error}", dir.display());
            return ExitCode::from(2);
        }
    }
    let sources = |path: &str| loader.source_of(path);
    let output = match output.format {
        Format::Human => report::human_with(&diagnostics, &sources, std::io::stdout().is_terminal(), output.verbose),
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

pub(crate) fn pretty(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"));
    text.push('\n');
    text
}
