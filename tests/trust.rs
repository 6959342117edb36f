//! Regressions for the over-allows, gate bypasses and file disclosures an outside review
//! found: each test runs `mandate` as a user or CI job would, on the input that broke it,
//! and states the behavior that must hold now.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

/// Runs `mandate` in `dir` with `args`, feeding `stdin`.
fn mandate_in(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mandate"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mandate");
    let mut input = child.stdin.take().expect("stdin");
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    child.wait_with_output().expect("mandate finishes")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Writes `files` (path, contents) under a new temporary folder.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (path, contents) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("folders");
        std::fs::write(full, contents).expect("write");
    }
    dir
}

fn decision(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("a JSON decision: {}", text(output)))
}

const REFUNDS: &str = r#"schema {
  resource Ticket { owner: String }
  action refund(amount: Decimal) on Ticket
  action share(expires: Duration) on Ticket
}
task Help() { scope { [refund, share] on Ticket } ttl 1h }
policy refunds: permit refund on Ticket when args.amount > 0 and args.amount <= 100 grant ttl 5m
policy shares: permit share on Ticket grant ttl 5m
policy long_shares: escalate share on Ticket when args.expires > 7d
assert no_negative_refunds: never permit refund on Ticket when args.amount <= 0
"#;

fn refund_request(args: Value, action: &str) -> String {
    json!({
        "agent": {"id": "a"}, "chain": ["alice@example.com"],
        "task": {"kind": "Help", "id": "t", "start": "2026-01-05T09:30:00Z", "deadline": "2026-01-05T10:30:00Z"},
        "action": action, "args": args,
        "resource": {"type": "Ticket", "id": "T-1", "attrs": {"owner": "bob"}},
        "context": {"time": "2026-01-05T10:00:00Z"}
    })
    .to_string()
}

/// Item 1: a negative decimal keeps its sign, as a JSON number and as a string; the
/// assertion `check` proves holds in `eval`.
#[test]
fn negative_decimals_are_never_read_as_positive() {
    let dir = tree(&[("p/policies.mandate", REFUNDS)]);
    let check = mandate_in(dir.path(), &["check", "p"], "");
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    for amount in [json!(-0.5), json!("-0.5"), json!("-0.0001"), json!(-1.5), json!("-0"), json!(0)] {
        let output = mandate_in(dir.path(), &["eval", "p"], &refund_request(json!({ "amount": amount }), "refund"));
        assert_eq!(decision(&output)["decision"], "deny", "amount {amount}");
    }
    let allowed = mandate_in(dir.path(), &["eval", "p"], &refund_request(json!({"amount": "0.5"}), "refund"));
    assert_eq!(decision(&allowed)["decision"], "allow");
    for bad in [json!("-922337203685477.5809"), json!("1.-5"), json!("1.+5"), json!("0.12345"), json!(1e-5)] {
        let output = mandate_in(dir.path(), &["eval", "p"], &refund_request(json!({ "amount": bad }), "refund"));
        let decided = decision(&output);
        assert_eq!(decided["reasons"][0]["code"], "invalid_request", "amount {bad}: {decided}");
        assert_eq!(decided["errors"][0]["path"], "args.amount");
    }
}

/// Item 4: a duration is number–unit pairs and nothing else; the escalation threshold
/// holds for every spelling a caller might try.
#[test]
fn duration_strings_must_be_number_unit_pairs() {
    let dir = tree(&[("p/policies.mandate", REFUNDS)]);
    for bad in ["", "30", "999999999999", "7d99999999", "1d30", "7 d", "1h-5m"] {
        let output = mandate_in(dir.path(), &["eval", "p"], &refund_request(json!({ "expires": bad }), "share"));
        let decided = decision(&output);
        assert_eq!(decided["reasons"][0]["code"], "invalid_request", "expires {bad:?}: {decided}");
    }
    for (expires, outcome) in [("8d", "escalate"), ("7d1ns", "escalate"), ("7d", "allow"), ("1d30m", "allow")] {
        let output = mandate_in(dir.path(), &["eval", "p"], &refund_request(json!({ "expires": expires }), "share"));
        assert_eq!(decision(&output)["decision"], outcome, "expires {expires}");
    }
}

/// Item 6: a condition reading `task.deadline` sees the deadline clipped to the start
/// plus the task's ttl, not the later one the request claims.
#[test]
fn conditions_see_the_clipped_deadline() {
    let source = r#"schema { resource Doc { owner: String } action read on Doc }
task Short() { scope { read on Doc } ttl 30m }
policy long_tasks_only: permit read on Doc when task.deadline > context.time + 1h grant ttl 5m
"#;
    let dir = tree(&[("p/policies.mandate", source)]);
    let request = json!({
        "agent": {"id": "a"}, "chain": ["alice@example.com"],
        "task": {"kind": "Short", "id": "t", "start": "2026-01-05T10:00:00Z", "deadline": "2026-01-05T12:00:00Z"},
        "action": "read", "resource": {"type": "Doc", "id": "d", "attrs": {"owner": "bob"}},
        "context": {"time": "2026-01-05T10:05:00Z"}
    });
    let output = mandate_in(dir.path(), &["eval", "p"], &request.to_string());
    assert_eq!(decision(&output)["reasons"][0]["code"], "no_permit", "{}", text(&output));
}

/// Item 7: repeated keys anywhere in a request are refused, so a gateway that reads the
/// first of two keys and Mandate can never see different requests.
#[test]
fn repeated_keys_are_refused_everywhere() {
    let dir = tree(&[("p/policies.mandate", REFUNDS)]);
    let base = refund_request(json!({"amount": "5"}), "refund");
    let cases = [
        (
            base.replace(r#""attrs":{"owner":"bob"}"#, r#""attrs":{"owner":"eve","owner":"bob"}"#),
            "resource.attrs.owner",
        ),
        (base.replace(r#""args":{"amount":"5"}"#, r#""args":{"amount":"500","amount":"5"}"#), "args.amount"),
        (base.replace(r#""context":{"#, r#""context":{"time":"2026-01-05T11:00:00Z","#), "context.time"),
        (base.replace(r#""action":"refund""#, r#""action":"share","action":"refund""#), ""),
    ];
    for (request, path) in cases {
        assert_ne!(request, base, "the case changes the request");
        let decided = decision(&mandate_in(dir.path(), &["eval", "p"], &request));
        assert_eq!(decided["decision"], "deny", "{request}");
        assert_eq!(decided["errors"][0]["code"], "duplicate_field", "{decided}");
        assert_eq!(decided["errors"][0]["path"], path, "{decided}");
    }
}

/// Item 2: a comment ends at a line feed and nowhere else; a file whose forbid an editor
/// shows after a lone carriage return does not check, so nothing is decided by it.
#[test]
fn a_comment_cannot_hide_a_forbid_behind_a_carriage_return() {
    let source = "schema { resource Doc { class: String } action read on Doc }\n\
                  task T() { scope { read on Doc } ttl 1h }\n\
                  policy reads: permit read on Doc grant ttl 5m\n\
                  // Guard\rpolicy only_admins_read_secrets:\r  forbid read on Doc\r  when resource.class == \"secret\"\n";
    let dir = tree(&[("p/policies.mandate", source)]);
    let check = mandate_in(dir.path(), &["check", "p"], "");
    assert_eq!(check.status.code(), Some(1));
    assert!(text(&check).contains("mandate::syntax::forbidden_line_break"), "{}", text(&check));
    let eval = mandate_in(dir.path(), &["eval", "p"], "{}");
    assert_eq!(eval.status.code(), Some(1), "a package that does not check decides nothing");
}

const SHARED_LIB: &str = "fn allowed() -> Bool { false }\n";
const DECOY_LIB: &str = "fn allowed() -> Bool { true }\n";
const IMPORTER: &str = r#"use "../../shared/lib.mandate"
schema { resource Doc { owner: String } action read on Doc }
task T() { scope { read on Doc } ttl 1h }
policy p: permit read on Doc when lib::allowed() grant ttl 5m
"#;

fn read_request() -> String {
    json!({
        "agent": {"id": "a"}, "chain": ["alice@example.com"],
        "task": {"kind": "T", "id": "t", "start": "2026-01-05T09:30:00Z", "deadline": "2026-01-05T10:30:00Z"},
        "action": "read", "resource": {"type": "Doc", "id": "d", "attrs": {"owner": "bob"}},
        "context": {"time": "2026-01-05T10:00:00Z"}
    })
    .to_string()
}

/// Item 3: `use "../../…"` means the file two folders above the importing one, from any
/// working folder: here a decoy at the path where one `..` cancelling another would lead
/// must never be read.
#[test]
fn imports_resolve_the_same_from_every_working_folder() {
    let dir = tree(&[
        ("org/mandate.toml", ""),
        ("org/shared/lib.mandate", SHARED_LIB),
        ("org/team/pkg/policies.mandate", IMPORTER),
        ("org/team/pkg/shared/lib.mandate", DECOY_LIB),
    ]);
    let root = dir.path();
    let cases: [(PathBuf, &str); 4] = [
        (root.to_path_buf(), "org/team/pkg"),
        (root.join("org"), "team/pkg"),
        (root.join("org/team"), "pkg"),
        (root.join("org/team/pkg"), "."),
    ];
    for (cwd, package) in cases {
        let output = mandate_in(&cwd, &["eval", package], &read_request());
        assert_eq!(decision(&output)["decision"], "deny", "from {}: {}", cwd.display(), text(&output));
    }
}

/// Items 10 and 11: imports stay under the package root, read only regular `.mandate`
/// files, and never echo the text of a file they refuse.
#[test]
fn imports_cannot_read_files_outside_the_package() {
    let secret = tree(&[("secrets.mandate", "policy leaked_secret_line: forbid *\n"), ("env", "SECRET=hunter2\n")]);
    let secret_file = secret.path().join("secrets.mandate");
    let cases = [
        ("use \"/etc/passwd\"".to_string(), "import_outside_root"),
        ("use \"/proc/self/environ\"".to_string(), "import_outside_root"),
        (format!("use \"{}\"", secret_file.display()), "import_outside_root"),
        ("use \"link.mandate\"".to_string(), "import_outside_root"),
        ("use \"notes.txt\"".to_string(), "import_not_source"),
        ("use \"fifo.mandate\"".to_string(), "import_not_source"),
    ];
    for (import, code) in cases {
        let source = format!("{import}\nschema {{ resource Doc {{ owner: String }} action read on Doc }}\n");
        let dir = tree(&[("p/policies.mandate", &source), ("p/notes.txt", "root:x:0:0:root:/root:/bin/bash\n")]);
        std::os::unix::fs::symlink(&secret_file, dir.path().join("p/link.mandate")).expect("symlink");
        let fifo = dir.path().join("p/fifo.mandate");
        assert!(Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
        let output = mandate_in(dir.path(), &["check", "p"], "");
        let shown = text(&output);
        assert_eq!(output.status.code(), Some(1), "{import}: {shown}");
        assert!(shown.contains(&format!("mandate::resolve::{code}")), "{import}: {shown}");
        for leak in ["root:x:0", "hunter2", "leaked_secret_line", "PATH="] {
            assert!(!shown.contains(leak), "{import} shows `{leak}`: {shown}");
        }
    }
}

/// Item 10: a package file that is a link to a file outside the package, or a file
/// that is not Mandate at all, is refused without its text being shown.
#[test]
fn package_files_that_are_not_mandate_source_are_not_shown() {
    let outside = tree(&[("passwd.mandate", "root:x:0:0:root:/root:/bin/bash\n")]);
    let dir = tree(&[
        ("p/policies.mandate", "schema { resource Doc { owner: String } action read on Doc }\n"),
        ("q/garbage.mandate", "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin\n"),
    ]);
    std::os::unix::fs::symlink(outside.path().join("passwd.mandate"), dir.path().join("p/x.mandate")).expect("link");
    let output = mandate_in(dir.path(), &["check", "p", "q"], "");
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(shown.contains("mandate::source::outside_root"), "{shown}");
    assert!(shown.contains("mandate::source::not_mandate"), "{shown}");
    assert!(!shown.contains("root:x:0") && !shown.contains("daemon"), "{shown}");
}

/// Item 11: reading never blocks on a FIFO or runs out of memory on an endless stream.
#[test]
fn endless_or_special_inputs_are_bounded() {
    let dir = tree(&[("p/policies.mandate", REFUNDS), ("fifo/policies.mandate", REFUNDS)]);
    let fifo = dir.path().join("fifo/blocked.mandate");
    assert!(Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    let check = mandate_in(dir.path(), &["check", "fifo"], "");
    assert!(text(&check).contains("mandate::source::not_source"), "{}", text(&check));
    // 3 MiB of zero bytes without a line feed: one bounded line, one invalid decision.
    let zeros = "\0".repeat(3 * 1024 * 1024);
    let output = mandate_in(dir.path(), &["eval", "p", "--batch"], &zeros);
    let lines: Vec<&str> = std::str::from_utf8(&output.stdout).expect("utf-8").lines().collect();
    assert_eq!(lines.len(), 1, "{}", text(&output));
    let decided: Value = serde_json::from_str(lines[0]).expect("JSON");
    assert_eq!(decided["decision"], "deny");
    assert_eq!(decided["line"], 1);
}

/// Item 8: `mandate check DIR` checks every package with rules, including one whose
/// files a sibling imports: here `staging` imports `prod` and adds a forbid that makes
/// the assertion hold for staging, while prod itself violates it.
#[test]
fn check_dir_checks_imported_packages_that_have_rules() {
    let prod = r#"schema { resource Doc { owner: String } action read on Doc }
task T() { scope { read on Doc } ttl 1h }
policy everyone_reads: permit read on Doc grant ttl 5m
assert nobody_reads: never permit read on Doc
"#;
    let staging = "use \"../prod/main.mandate\"\npolicy frozen: forbid read on Doc\n";
    let dir = tree(&[("policies/prod/main.mandate", prod), ("policies/staging/main.mandate", staging)]);
    let alone = mandate_in(dir.path(), &["check", "policies/prod"], "");
    assert_eq!(alone.status.code(), Some(1), "{}", text(&alone));
    let whole = mandate_in(dir.path(), &["check", "policies"], "");
    assert_eq!(whole.status.code(), Some(1), "{}", text(&whole));
    assert!(text(&whole).contains("nobody_reads"), "{}", text(&whole));
    // A folder that only shares declarations is still not a package of its own.
    let library =
        "schema { resource Doc { owner: String } action read on Doc }\nfn own(o: String) -> Bool { o == \"a\" }\n";
    let user = "use \"../lib/common.mandate\"\ntask T() { scope { read on Doc } ttl 1h }\npolicy p: permit read on Doc when common::own(resource.owner) grant ttl 5m\n";
    let dir = tree(&[("policies/lib/common.mandate", library), ("policies/app/main.mandate", user)]);
    let output = mandate_in(dir.path(), &["check", "policies"], "");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
}

/// Item 9: a package that checks but cannot be compiled is an error in `check`, with
/// the code `eval` refuses it with.
#[test]
fn check_reports_packages_that_cannot_be_compiled() {
    let mut source = String::from(
        "schema { resource Doc { owner: String } action read on Doc }\ntask T() { scope { read on Doc } ttl 1h }\n",
    );
    source.push_str("fn f0(x: String) -> Bool { x == \"a\" or x == \"b\" }\n");
    for i in 1..40 {
        source.push_str(&format!("fn f{i}(x: String) -> Bool {{ f{}(x) and f{}(x) }}\n", i - 1, i - 1));
    }
    source.push_str("policy p: permit read on Doc when f39(resource.owner) grant ttl 5m\n");
    let dir = tree(&[("p/policies.mandate", &source)]);
    for args in [vec!["check", "p"], vec!["check", "--no-proofs", "p"]] {
        let output = mandate_in(dir.path(), &args, "");
        assert_eq!(output.status.code(), Some(1), "{args:?}: {}", text(&output));
        assert!(text(&output).contains("mandate::compile::unsupported"), "{}", text(&output));
    }
    let eval = mandate_in(dir.path(), &["eval", "p"], &read_request());
    assert!(text(&eval).contains("mandate::compile::unsupported"));
}

/// Item 12: a test block whose request is invalid is an error in `check`, and fails in
/// `mandate test` even when it expects a denial.
#[test]
fn tests_with_invalid_requests_never_pass() {
    let source = r#"schema { resource Ticket { owner: String } action refund(amount: Decimal) on Ticket }
task Help() { scope { refund on Ticket } ttl 1h }
policy refunds: permit refund on Ticket when args.amount <= 100 grant ttl 5m
test big_refunds_are_denied {
  chain ["alice@example.com"]
  task Help {}
  action refund
  resource Ticket { owner: "bob" }
  expect deny
}
"#;
    let dir = tree(&[("p/policies.mandate", source)]);
    let check = mandate_in(dir.path(), &["check", "p"], "");
    assert_eq!(check.status.code(), Some(1));
    assert!(text(&check).contains("missing argument `amount`"), "{}", text(&check));
}

/// Item 14: a claim about an enormous delegation depth is answered within the request
/// limits (a chain has at most 64 links), without materialising the chain: no request
/// can be that deep, so the assertions hold, and one a request can reach is refuted.
#[test]
fn huge_chain_depths_in_claims_do_not_crash_the_prover() {
    let source = r#"schema { resource Doc { owner: String } action read on Doc }
task T() { scope { read on Doc } ttl 1h delegate to agent.id != "" }
policy p: permit read on Doc grant ttl 5m
assert deep: never permit read on Doc when chain.depth > 9223372036854775806
assert past_the_limit: never permit read on Doc when chain.depth > 63
assert at_the_limit: never permit read on Doc when chain.depth > 62
"#;
    let dir = tree(&[("p/policies.mandate", source)]);
    let prove = mandate_in(dir.path(), &["prove", "p", "--format", "json"], "");
    let reports: Value = serde_json::from_slice(&prove.stdout).unwrap_or_else(|_| panic!("{}", text(&prove)));
    let verdict = |name: &str| {
        reports.as_array().expect("reports").iter().find(|r| r["name"] == name).expect("report")["verdict"].clone()
    };
    assert_eq!(verdict("deep"), "proved");
    assert_eq!(verdict("past_the_limit"), "proved");
    assert_eq!(verdict("at_the_limit"), "refuted");
    let check = mandate_in(dir.path(), &["check", "p"], "");
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
}
