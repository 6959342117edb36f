//! The `mandate check` command: exit codes and the three output formats.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn mandate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mandate")).args(args).output().expect("run mandate")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write source");
    path.display().to_string()
}

const CLEAN: &str = "schema { resource Doc { owner: String } action read on Doc }\ntask T() { scope { read on Doc } ttl 1h }\npolicy p: permit read on Doc when resource.owner == \"a\" grant ttl 5m\n";
const WARNS: &str = "schema { resource Doc { owner: String } action read on Doc }\ntask T() { scope { read on Doc } ttl 1h }\npolicy p: permit read on Doc\n";
const BROKEN: &str = "schema { resource Doc { owner: String } action read on Doc }\npolicy p: forbid read on Doc when resource.ownr == \"a\"\n";

#[test]
fn exit_codes_follow_errors_and_deny_warnings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clean = write(dir.path(), "clean.mandate", CLEAN);
    let warns = write(dir.path(), "warns.mandate", WARNS);
    let broken = write(dir.path(), "broken.mandate", BROKEN);
    assert_eq!(mandate(&["check", &clean]).status.code(), Some(0));
    assert_eq!(mandate(&["check", &warns]).status.code(), Some(0));
    assert_eq!(mandate(&["check", "--deny-warnings", &warns]).status.code(), Some(1));
    assert_eq!(mandate(&["check", &broken]).status.code(), Some(1));
    assert_eq!(mandate(&["check", "--deny-warnings", &clean]).status.code(), Some(0));
}

#[test]
fn human_output_names_the_problem_and_the_fix() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broken = write(dir.path(), "broken.mandate", BROKEN);
    let output = String::from_utf8(mandate(&["check", &broken]).stdout).expect("utf-8");
    assert!(output.contains("mandate::resolve::unknown_attribute"), "{output}");
    assert!(output.contains("resource type `Doc` has no attribute `ownr`"), "{output}");
    assert!(output.contains("did you mean `owner`?"), "{output}");
    assert!(output.contains("broken.mandate:2:44"), "{output}");
    assert!(output.trim_end().ends_with("1 error, 0 warnings"), "{output}");
}

#[test]
fn json_output_has_codes_positions_and_help() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broken = write(dir.path(), "broken.mandate", BROKEN);
    let output = mandate(&["check", "--format", "json", &broken]);
    let json: Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    let diagnostic = &json["diagnostics"][0];
    assert_eq!(diagnostic["code"], "mandate::resolve::unknown_attribute");
    assert_eq!(diagnostic["severity"], "error");
    assert_eq!(diagnostic["help"], "did you mean `owner`?");
    assert_eq!(diagnostic["labels"][0]["line"], 2);
    assert_eq!(diagnostic["labels"][0]["column"], 44);
    assert_eq!(json["summary"]["errors"], 1);
}

#[test]
fn sarif_output_is_a_sarif_2_1_0_log() {
    let (one, other) = (tempfile::tempdir().expect("temp dir"), tempfile::tempdir().expect("temp dir"));
    let broken = write(one.path(), "broken.mandate", BROKEN);
    let warns = write(other.path(), "warns.mandate", WARNS);
    let output = mandate(&["check", "--format", "sarif", &broken, &warns]);
    assert_eq!(output.status.code(), Some(1));
    let sarif: Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "mandate");
    let results = run["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    for result in results {
        let index = result["ruleIndex"].as_u64().expect("rule index") as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
        let region = &result["locations"][0]["physicalLocation"]["region"];
        assert!(region["startLine"].as_u64().is_some_and(|line| line >= 1), "{result}");
        assert!(region["startColumn"].as_u64().is_some_and(|column| column >= 1), "{result}");
    }
    let mut levels: Vec<&str> = results.iter().filter_map(|r| r["level"].as_str()).collect();
    levels.sort();
    assert_eq!(levels, vec!["error", "warning"]);
}

#[test]
fn folders_are_searched_for_packages() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("one")).expect("mkdir");
    std::fs::create_dir(dir.path().join("two")).expect("mkdir");
    write(&dir.path().join("one"), "a.mandate", CLEAN);
    // The same declarations in another package do not clash.
    write(&dir.path().join("two"), "a.mandate", CLEAN);
    let output = mandate(&["check", &dir.path().display().to_string()]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stdout));
}

fn eval_with_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mandate"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run mandate");
    // The process may exit before reading its input (policies that do not check), so a
    // broken pipe here is not a failure; the exit status and output say what happened.
    let _ = child.stdin.take().expect("stdin").write_all(input.as_bytes());
    child.wait_with_output().expect("wait")
}

fn support_request(edit: impl FnOnce(&mut Value)) -> String {
    let text = std::fs::read_to_string("tests/fixtures/eval/request.json").expect("request fixture");
    let mut request: Value = serde_json::from_str(&text).expect("JSON");
    edit(&mut request);
    serde_json::to_string(&request).expect("JSON")
}

#[test]
fn eval_exit_codes_follow_the_decision_when_asked() {
    let allow = support_request(|_| {});
    let deny = support_request(|r| r["resource"]["attrs"]["class"] = "secret".into());
    let escalate = support_request(|r| r["behavior"]["risk"] = 0.95.into());
    let run = |input: &str| eval_with_stdin(&["eval", "examples/support", "--exit-code"], input).status.code();
    assert_eq!(run(&allow), Some(0));
    assert_eq!(run(&deny), Some(2));
    assert_eq!(run(&escalate), Some(3));
    // Without the flag, a printed decision is a success whatever it says.
    assert_eq!(eval_with_stdin(&["eval", "examples/support"], &deny).status.code(), Some(0));
}

#[test]
fn eval_explains_in_text() {
    let output =
        eval_with_stdin(&["eval", "examples/support", "--explain", "--format", "text"], &support_request(|_| {}));
    let text = String::from_utf8(output.stdout).expect("utf-8");
    assert!(text.starts_with("decision: allow"), "{text}");
    assert!(text.contains("path through the policies:"), "{text}");
    assert!(text.contains("agent.team is \"support\" → == \"support\""), "{text}");
}

#[test]
fn batch_answers_every_line_in_order() {
    let lines = [
        support_request(|_| {}),
        "{not json".to_string(),
        String::new(),
        support_request(|r| r["resource"]["attrs"]["class"] = "secret".into()),
    ];
    let output = eval_with_stdin(&["eval", "examples/support", "--batch"], &lines.join("\n"));
    assert_eq!(output.status.code(), Some(0));
    let decisions: Vec<Value> = String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON decision per line"))
        .collect();
    // One decision per input line, the blank one included; errors carry their line.
    let outcomes: Vec<&str> = decisions.iter().filter_map(|d| d["decision"].as_str()).collect();
    assert_eq!(outcomes, vec!["allow", "deny", "deny", "deny"]);
    assert_eq!(decisions[1]["errors"][0]["code"], "malformed_request");
    assert_eq!(decisions[1]["line"], 2);
    assert_eq!(decisions[2]["line"], 3);
    assert!(decisions[0].get("line").is_none());
    assert!(decisions[3].get("errors").is_none(), "a valid request decided: {}", decisions[3]);
    // With --exit-code, a batch with a denial exits 2; one of allows only, 0.
    let denied = eval_with_stdin(&["eval", "examples/support", "--batch", "--exit-code"], &lines.join("\n"));
    assert_eq!(denied.status.code(), Some(2));
    let allowed = eval_with_stdin(&["eval", "examples/support", "--batch", "--exit-code"], &lines[0]);
    assert_eq!(allowed.status.code(), Some(0));
}

/// `--batch` as a sidecar: each decision comes out as soon as its line goes in, while
/// the input stays open.
#[test]
fn batch_answers_each_line_while_the_input_stays_open() {
    use std::io::{BufRead, BufReader, Write};
    let mut child = Command::new(env!("CARGO_BIN_EXE_mandate"))
        .args(["eval", "examples/support", "--batch"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start mandate");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    for expected in ["allow", "deny"] {
        let line = if expected == "allow" {
            support_request(|_| {})
        } else {
            support_request(|r| r["resource"]["attrs"]["class"] = "secret".into())
        };
        writeln!(stdin, "{line}").expect("write a request");
        stdin.flush().expect("flush");
        let mut answer = String::new();
        stdout.read_line(&mut answer).expect("read a decision");
        let decision: Value = serde_json::from_str(&answer).expect("a JSON decision");
        assert_eq!(decision["decision"], expected);
    }
    drop(stdin);
    assert!(child.wait().expect("mandate exits").success());
}

#[test]
fn eval_refuses_policies_that_do_not_check() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "broken.mandate", BROKEN);
    let output = eval_with_stdin(&["eval", &dir.path().display().to_string()], &support_request(|_| {}));
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("mandate::resolve::unknown_attribute"));
    assert!(output.stdout.is_empty());
}

#[test]
fn graph_draws_dot_and_reports_statistics() {
    let output = mandate(&["graph", "examples/support"]);
    assert_eq!(output.status.code(), Some(0));
    let dot = String::from_utf8(output.stdout).expect("utf-8");
    assert!(dot.starts_with("digraph mandate {") && dot.trim_end().ends_with('}'), "{dot}");
    assert!(dot.contains("support_reads_billing"), "{dot}");
    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    assert!(stderr.contains("nodes") && stderr.contains("depth"), "{stderr}");
    let stats: Value = serde_json::from_slice(&mandate(&["graph", "examples/support", "--format", "stats"]).stdout)
        .expect("stats JSON");
    assert!(stats["nodes"].as_u64().is_some_and(|nodes| nodes > 0));
    assert!(stats["depth"].as_u64().is_some_and(|depth| depth > 0));
}

#[test]
fn policy_tests_report_each_result_and_fail_the_run_on_a_mismatch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let package = format!(
        "{CLEAN}\
         test owner_a_reads {{ chain [\"s\"] task T {{}} action read resource Doc {{ owner: \"a\" }} expect allow }}\n\
         test owner_b_reads {{ chain [\"s\"] task T {{}} action read resource Doc {{ owner: \"b\" }} expect allow }}\n"
    );
    write(dir.path(), "policies.mandate", &package);
    let output = mandate(&["test", &dir.path().display().to_string()]);
    let text = String::from_utf8(output.stdout).expect("utf-8");
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("ok    owner_a_reads (allow: permitted)"), "{text}");
    assert!(text.contains("FAIL  owner_b_reads"), "{text}");
    assert!(text.contains("expected allow, got deny"), "{text}");
    assert!(text.trim_end().ends_with("1 passed, 1 failed"), "{text}");
    assert_eq!(mandate(&["test", "examples"]).status.code(), Some(0));
}

const BEFORE: &str = "schema { resource Doc { owner: String } action read, delete on Doc }\ntask T() { scope { [read, delete] on Doc } ttl 1h }\npolicy readers: permit read on Doc when resource.owner == \"a\" grant ttl 5m\n";

#[test]
fn diff_lists_changes_with_examples_and_gates_on_widening() {
    let dir = tempfile::tempdir().expect("temp dir");
    let old = write(dir.path(), "old.mandate", BEFORE);
    let wider = write(
        dir.path(),
        "wider.mandate",
        &BEFORE.replace("resource.owner == \"a\"", "resource.owner in [\"a\", \"b\"]"),
    );
    let narrower = write(dir.path(), "narrower.mandate", &BEFORE.replace("\"a\"", "\"a\" and resource.id == \"d1\""));
    let output = mandate(&["diff", &old, &wider]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("`read` on `Doc`: deny → allow"), "{text}");
    assert!(text.contains("resource.owner == \"b\""), "{text}");
    assert!(text.contains("reproduce: echo '"), "{text}");
    assert_eq!(mandate(&["diff", "--no-wider", &old, &wider]).status.code(), Some(1));
    let narrowing = mandate(&["diff", "--no-wider", &old, &narrower]);
    let text = String::from_utf8_lossy(&narrowing.stdout);
    assert_eq!(narrowing.status.code(), Some(0), "{text}");
    assert!(text.contains("allow → deny"), "{text}");
    assert!(String::from_utf8_lossy(&mandate(&["diff", &old, &old]).stdout).contains("0 change(s)"));
    // The JSON form carries the example, which replays through `mandate eval`.
    let json: Value =
        serde_json::from_slice(&mandate(&["diff", "--format", "json", &old, &wider]).stdout).expect("JSON");
    let example = json["changes"][0]["example"].to_string();
    let decision: Value =
        serde_json::from_slice(&eval_with_stdin(&["eval", &wider], &example).stdout).expect("decision");
    assert_eq!(decision["decision"], "allow");
}

/// A package whose permit breaks its bound: interns may delete.
const OVER_GRANT: &str = "schema { agent { team: String } resource Doc { owner: String } action read, delete on Doc }
task Cleanup() { scope { [read, delete] on Doc } ttl 1h }
policy cleanup: permit [read, delete] on Doc grant ttl 5m
bound interns_read_only { when agent.team == \"intern\" scope { read on Doc } }
";

#[test]
fn check_proves_by_default_and_reports_over_grants_with_a_replayable_counterexample() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(dir.path(), "over.mandate", OVER_GRANT);
    let human = mandate(&["check", &path]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert_eq!(human.status.code(), Some(1), "{text}");
    assert!(text.contains("bound `interns_read_only` is exceeded: `cleanup` allows a request outside it"), "{text}");
    assert!(text.contains("mandate eval"), "{text}");
    assert_eq!(mandate(&["check", "--no-proofs", &path]).status.code(), Some(0));
    let json: Value = serde_json::from_slice(&mandate(&["check", "--format", "json", &path]).stdout).expect("JSON");
    let over_grant = json["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .find(|diagnostic| diagnostic["code"] == "mandate::prove::over_grant")
        .expect("an over-grant");
    // It points at the permit and at the bound.
    let messages: Vec<&str> =
        over_grant["labels"].as_array().unwrap().iter().filter_map(|l| l["message"].as_str()).collect();
    assert_eq!(messages, vec!["decides the counterexample", "the bound it breaks"]);
    let request = over_grant["counterexample"]["request"].to_string();
    assert!(over_grant["counterexample"]["reproduce"].as_str().unwrap().contains("mandate eval"));
    let decision: Value =
        serde_json::from_slice(&eval_with_stdin(&["eval", &path], &request).stdout).expect("decision");
    assert_eq!(decision["decision"], "allow");
    let sarif: Value = serde_json::from_slice(&mandate(&["check", "--format", "sarif", &path]).stdout).expect("SARIF");
    let result = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|result| result["ruleId"] == "mandate::prove::over_grant")
        .expect("an over-grant result")
        .clone();
    assert_eq!(result["properties"]["counterexample"]["request"].to_string(), request);
}

#[test]
fn an_exhausted_budget_is_unknown_never_proved() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(dir.path(), "over.mandate", OVER_GRANT);
    let output = mandate(&["prove", "--budget", "3", &path]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("budget exceeded: analysing `delete` on `Doc` needs more than 3 diagram nodes"), "{text}");
    assert!(!text.lines().any(|line| line.starts_with("proved")), "{text}");
    assert!(text.lines().last().is_some_and(|line| line.starts_with("0 proved, 0 refuted, ")), "{text}");
    // `mandate diff --no-wider` fails closed when it cannot compare.
    assert_eq!(mandate(&["diff", "--no-wider", "--budget", "3", &path, &path]).status.code(), Some(1));
    // `mandate check` reports unknown verdicts as information, not as success or failure.
    let check = mandate(&["check", "--budget", "3", "--format", "json", &path]);
    let json: Value = serde_json::from_slice(&check.stdout).expect("JSON");
    assert!(json["summary"]["infos"].as_u64().unwrap() > 0, "{json}");
    assert_eq!(json["summary"]["errors"], 0);
}

#[test]
fn diff_fails_closed_on_what_the_graph_does_not_compare() {
    let dir = tempfile::tempdir().expect("temp dir");
    let old = write(dir.path(), "old.mandate", BEFORE);
    let longer = write(dir.path(), "longer.mandate", &BEFORE.replace("ttl 1h", "ttl 30d"));
    let output = mandate(&["diff", "--no-wider", &old, &longer]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("task `T` lives longer: its ttl went from 1h to 30d"), "{text}");
    // A request without `owner` is invalid before and may be allowed after.
    let optional_owner = BEFORE
        .replace("owner: String", "owner?: String")
        .replace("when resource.owner", "when resource has owner and resource.owner");
    let optional = write(dir.path(), "optional.mandate", &optional_owner);
    let output = mandate(&["diff", "--no-wider", &old, &optional]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("the schema's resources changed"), "{text}");
    // Shorter-lived tasks and unchanged schemas pass.
    let shorter = write(dir.path(), "shorter.mandate", &BEFORE.replace("ttl 1h", "ttl 30m"));
    assert_eq!(mandate(&["diff", "--no-wider", &old, &shorter]).status.code(), Some(0));
}

/// A folder whose `mandate.toml` says `library = true` holds files other packages import:
/// `mandate check` on a parent folder checks it only through them. Its files here use
/// the importing package's task, so checked alone they would not check.
#[test]
fn library_folders_are_checked_through_the_packages_that_import_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let org = dir.path().join("org");
    for folder in ["shared", "payments"] {
        std::fs::create_dir_all(org.join(folder)).expect("folders");
    }
    write(&org, "mandate.toml", "");
    write(&org, "shared/mandate.toml", "library = true\n");
    let schema = "schema {\n  resource Account { owner: String }\n  action pay(amount: Decimal) on Account\n}\n\
                  policy pay_caps:\n  forbid pay on Account\n  when task is Pay and args.amount > task.cap\n";
    write(&org, "shared/schema.mandate", schema);
    let policies =
        "use \"../shared/schema.mandate\"\ntask Pay(cap: Decimal = 500.0) { scope { pay on Account } ttl 1h }\n\
                    policy small: permit pay on Account when args.amount <= 100 grant ttl 5m\n";
    write(&org, "payments/policies.mandate", policies);
    let org_path = org.display().to_string();
    let all = |output: &Output| {
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
    };
    let output = mandate(&["check", &org_path]);
    assert_eq!(output.status.code(), Some(0), "{}", all(&output));
    // Without the marker, the folder has a rule of its own and is checked as a package.
    std::fs::remove_file(org.join("shared/mandate.toml")).expect("remove the marker");
    let output = mandate(&["check", &org_path]);
    assert_eq!(output.status.code(), Some(1));
    assert!(all(&output).contains("unknown task `Pay`"), "{}", all(&output));
    // A manifest with a misspelt key is an error that names the file and the key.
    write(&org, "shared/mandate.toml", "libary = true\n");
    let output = mandate(&["check", &org_path]);
    let text = all(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(text.contains("mandate::source::bad_manifest") && text.contains("libary"), "{text}");
}

/// `mandate init` starts a package that checks, passes its tests, proves and decides its
/// sample request as written, and never writes over an existing package.
#[test]
fn init_starts_a_package_that_checks_tests_and_proves() {
    let dir = tempfile::tempdir().expect("temp dir");
    let package = dir.path().join("starter");
    let path = package.display().to_string();
    assert_eq!(mandate(&["init", &path]).status.code(), Some(0));
    for command in ["check", "test", "prove"] {
        let output = mandate(&[command, &path]);
        assert_eq!(output.status.code(), Some(0), "{command}: {}", String::from_utf8_lossy(&output.stdout));
    }
    let request = package.join("request.json").display().to_string();
    let decision: Value =
        serde_json::from_slice(&mandate(&["eval", &path, "--request", &request]).stdout).expect("a JSON decision");
    assert_eq!(decision["decision"], "allow");
    let before = std::fs::read_to_string(package.join("policies.mandate")).expect("written");
    std::fs::write(package.join("policies.mandate"), "// mine\n").expect("edit");
    let again = mandate(&["init", &path]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already has"));
    assert_eq!(std::fs::read_to_string(package.join("policies.mandate")).expect("kept"), "// mine\n");
    assert!(before.contains("task ReadOwnDocs"));
}

/// `mandate test --filter` runs the tests whose name contains the text, and says how many
/// it left out; `--format json` gives every result to programs.
#[test]
fn tests_can_be_filtered_by_name_and_reported_as_json() {
    let text = String::from_utf8(mandate(&["test", "examples/support", "--filter", "denied"]).stdout).expect("text");
    assert!(text.contains("other_customer_is_denied") && !text.contains("support_reads_subscription"), "{text}");
    assert!(text.contains("filtered out"), "{text}");
    let output = mandate(&["test", "examples/support", "--filter", "secret", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    let tests = report["packages"][0]["tests"].as_array().expect("the tests run");
    assert!(!tests.is_empty() && tests.iter().all(|test| test["name"].as_str().unwrap().contains("secret")));
    assert_eq!(report["passed"].as_u64(), Some(tests.len() as u64));
    assert!(report["filtered"].as_u64().unwrap() > 0);
}

/// Runs a printed shell command as a user would paste it, with `mandate` on the PATH,
/// and returns the decision it prints.
fn run_as_printed(command: &str) -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_mandate")).parent().unwrap().display().to_string();
    let path = format!("{bin}:{}", std::env::var("PATH").unwrap_or_default());
    let output = Command::new("sh").arg("-c").arg(command).env("PATH", path).output().expect("run sh");
    let decided: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("`{command}` printed no decision: {}", String::from_utf8_lossy(&output.stderr)));
    decided["decision"].as_str().expect("a decision").to_string()
}

/// The commands of a report, from `mandate` or `echo` to the end of their line.
fn printed_commands(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| line.contains("mandate eval "))
        .filter_map(|line| line.find("echo '").or_else(|| line.find("mandate eval ")).map(|at| line[at..].to_string()))
        .collect()
}

#[test]
fn counterexample_commands_run_as_printed_and_witness_files_reproduce_them() {
    let fixture = "tests/fixtures/lint/over_grant.mandate";
    // `prove` states each refutation's decision; its command, run as printed, gets it.
    let proved = String::from_utf8(mandate(&["prove", fixture]).stdout).unwrap();
    let stated: Vec<&str> = proved.lines().filter_map(|line| line.trim().strip_prefix("decision: ")).collect();
    let commands = printed_commands(&proved);
    assert!(commands.len() >= 3, "{proved}");
    let decided: Vec<String> = commands.iter().map(|command| run_as_printed(command)).collect();
    assert_eq!(decided, stated.iter().map(|word| word.to_string()).collect::<Vec<_>>());

    // `check` prints each command on one line, however long, so it survives copy and paste.
    let checked = String::from_utf8(mandate(&["check", fixture]).stdout).unwrap();
    let commands = printed_commands(&checked);
    assert!(commands.len() >= 3, "{checked}");
    let from_check: Vec<String> = commands.iter().map(|command| run_as_printed(command)).collect();
    assert!(from_check.iter().all(|decision| decision == "allow"), "over-grants reproduce as allows: {from_check:?}");

    // With `--witness-dir`, the requests are files and the commands read them.
    let dir = tempfile::tempdir().unwrap();
    let witnesses = dir.path().join("witnesses");
    let checked = mandate(&["check", fixture, "--witness-dir", witnesses.to_str().unwrap()]);
    assert_eq!(checked.status.code(), Some(1));
    let text = String::from_utf8(checked.stdout).unwrap();
    assert!(!text.contains("echo '"), "{text}");
    let commands = printed_commands(&text);
    assert_eq!(commands.len(), from_check.len(), "{text}");
    assert!(commands.iter().all(|command| command.contains(" --request ")), "{commands:?}");
    let from_files: Vec<String> = commands.iter().map(|command| run_as_printed(command)).collect();
    assert_eq!(from_files, from_check);
    assert_eq!(std::fs::read_dir(&witnesses).unwrap().count(), commands.len());

    let proved = mandate(&["prove", fixture, "--witness-dir", witnesses.to_str().unwrap()]);
    let text = String::from_utf8(proved.stdout).unwrap();
    let decided: Vec<String> = printed_commands(&text).iter().map(|command| run_as_printed(command)).collect();
    assert_eq!(decided, stated.iter().map(|word| word.to_string()).collect::<Vec<_>>());
}

#[test]
fn check_is_quiet_on_success_and_lint_levels_come_from_the_manifest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let package = dir.path().join("pkg");
    std::fs::create_dir(&package).unwrap();
    let overlapping = "schema { resource Doc { size: Int } action update on Doc }\ntask Edit() { scope { update on Doc } ttl 1h }\npolicy editors: permit update on Doc grant ttl 5m\npolicy no_big_docs: forbid update on Doc when resource.size > 100\n";
    write(&package, "policies.mandate", overlapping);
    let path = package.to_str().unwrap();
    let quiet = String::from_utf8(mandate(&["check", path]).stdout).unwrap();
    assert_eq!(quiet, "no problems found (1 note not shown: --verbose shows them)\n");
    let verbose = String::from_utf8(mandate(&["check", "--verbose", path]).stdout).unwrap();
    assert!(verbose.contains("mandate::lint::overlap"), "{verbose}");

    write(&package, "mandate.toml", "[lints]\noverlap = \"deny\"\n");
    let denied = mandate(&["check", path]);
    assert_eq!(denied.status.code(), Some(1));
    assert!(String::from_utf8(denied.stdout).unwrap().contains("1 error, 0 warnings"));
    write(&package, "mandate.toml", "[lints]\noverlap = \"allow\"\n");
    assert_eq!(String::from_utf8(mandate(&["check", path]).stdout).unwrap(), "no problems found\n");
    write(&package, "mandate.toml", "[lints]\noverlaps = \"warn\"\n");
    let unknown = String::from_utf8(mandate(&["check", path]).stdout).unwrap();
    assert!(unknown.contains("names no lint `overlaps`; the lints are permit_without_ttl,"), "{unknown}");
}

#[test]
fn newcomer_paths_get_answers_that_point_at_the_fix() {
    // One file of a multi-file package: the errors come with the hint to check the folder.
    let single = mandate(&["check", "examples/payments/policies.mandate"]);
    let text = String::from_utf8(single.stdout).unwrap();
    assert!(text.contains("mandate::source::file_of_package") && text.contains("`mandate check examples/payments`"));
    // A failing test points at the test, says what it expected and shows the path.
    let dir = tempfile::tempdir().expect("temp dir");
    let failing = CLEAN.to_string()
        + "test owner_a_reads {\n  agent { id: \"a\" }\n  chain [\"alice\"]\n  task T {}\n  action read\n  resource Doc { owner: \"b\" }\n  expect allow\n}\n";
    let path = write(dir.path(), "failing.mandate", &failing);
    let ran = mandate(&["test", &path]);
    assert_eq!(ran.status.code(), Some(1));
    let text = String::from_utf8(ran.stdout).unwrap();
    assert!(text.contains("test `owner_a_reads` expects allow, but the decision is deny"), "{text}");
    assert!(text.contains("failing.mandate:10:10") && text.contains("the decision is deny"), "{text}");
    assert!(text.contains("path through the policies"), "{text}");
    assert!(text.ends_with("0 passed, 1 failed\n"), "{text}");
    // A package that does not check runs no test, and says so after its errors.
    let broken = write(dir.path(), "broken.mandate", BROKEN);
    let ran = mandate(&["test", &broken]);
    assert_eq!(ran.status.code(), Some(1));
    assert!(String::from_utf8(ran.stderr).unwrap().contains("mandate::resolve::unknown_attribute"));
    assert!(String::from_utf8(ran.stdout).unwrap().contains("1 package does not check"));
    // Shell completions come from the command line's own definition.
    let bash = String::from_utf8(mandate(&["completions", "bash"]).stdout).unwrap();
    assert!(bash.contains("_mandate") && bash.contains("witness-dir") && bash.contains("completions"));
    assert_eq!(mandate(&["completions", "nosh"]).status.code(), Some(2));
    let version = String::from_utf8(mandate(&["--version"]).stdout).unwrap();
    assert_eq!(version, format!("mandate {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn test_coverage_names_what_no_test_reaches_and_gates_on_a_threshold() {
    let dir = tempfile::tempdir().expect("temp dir");
    let package = CLEAN.to_string()
        + "policy big_docs_too: permit read on Doc when resource.owner == \"b\" grant ttl 5m\n"
        + "test owner_a_reads {\n  agent { id: \"a\" }\n  chain [\"alice\"]\n  task T {}\n  action read\n  resource Doc { owner: \"a\" }\n  expect allow\n}\n";
    let path = write(dir.path(), "p.mandate", &package);
    let ran = mandate(&["test", &path, "--coverage"]);
    assert_eq!(ran.status.code(), Some(0));
    let text = String::from_utf8(ran.stdout).unwrap();
    assert!(text.contains("coverage: 1/2 policies (50.0%)"), "{text}");
    assert!(text.contains("policy big_docs_too (") && text.contains("p.mandate:4) applies in no test"), "{text}");
    assert!(text.contains("branch resource.owner → == \"b\"") && text.contains("is taken by no test"), "{text}");

    let lcov = dir.path().join("coverage.lcov");
    let gated = mandate(&["test", &path, "--coverage-threshold", "80", "--lcov", lcov.to_str().unwrap()]);
    assert_eq!(gated.status.code(), Some(1));
    assert!(String::from_utf8(gated.stdout).unwrap().contains("policy coverage below the threshold"));
    let lcov = std::fs::read_to_string(lcov).unwrap();
    assert!(lcov.starts_with("TN:\nSF:") && lcov.contains("DA:3,1\n") && lcov.contains("DA:4,0\n"), "{lcov}");
    assert!(lcov.contains("LF:2\nLH:1\n") && lcov.trim_end().ends_with("end_of_record"), "{lcov}");
    assert_eq!(mandate(&["test", &path, "--coverage-threshold", "50"]).status.code(), Some(0));

    let json: Value =
        serde_json::from_slice(&mandate(&["test", &path, "--coverage", "--format", "json"]).stdout).unwrap();
    let coverage = &json["packages"][0]["coverage"];
    assert_eq!(coverage["policy_percent"], 50.0);
    assert_eq!(coverage["policies"][1]["name"], "big_docs_too");
    assert_eq!(coverage["policies"][1]["tests"], 0);
}

#[test]
fn junit_reports_each_test_and_each_failure_with_its_decision() {
    let dir = tempfile::tempdir().expect("temp dir");
    let package = CLEAN.to_string()
        + "test reads {\n  agent { id: \"a\" }\n  chain [\"alice\"]\n  task T {}\n  action read\n  resource Doc { owner: \"a\" }\n  expect allow\n}\n"
        + "test wrong <\"&\"> {\n  agent { id: \"a\" }\n  chain [\"alice\"]\n  task T {}\n  action read\n  resource Doc { owner: \"b\" }\n  expect allow\n}\n";
    let path = write(dir.path(), "p.mandate", &package.replace("wrong <\"&\">", "wrong_owner"));
    let ran = mandate(&["test", &path, "--format", "junit"]);
    assert_eq!(ran.status.code(), Some(1));
    let xml = String::from_utf8(ran.stdout).unwrap();
    assert!(
        xml.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"mandate\" tests=\"2\" failures=\"1\""
        ),
        "{xml}"
    );
    assert!(xml.contains("<testcase name=\"reads\"") && xml.contains("line=\"4\"/>"), "{xml}");
    assert!(
        xml.contains("<failure message=\"expected allow, got deny\" type=\"mandate::test::failed\">decision: deny"),
        "{xml}"
    );
    assert_eq!(xml.matches("<testcase ").count(), 2);
    assert_eq!(xml.matches("</testsuite>").count(), 1);
    // A package that does not check is an error in the report, not a silent pass.
    let broken = write(dir.path(), "broken.mandate", BROKEN);
    let xml = String::from_utf8(mandate(&["test", &broken, "--format", "junit"]).stdout).unwrap();
    assert!(xml.contains("errors=\"1\"") && xml.contains("<error message="), "{xml}");
}

/// Copies an example package's `.mandate` files to a fresh folder.
fn copy_package(example: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(example).unwrap().flatten() {
        if entry.path().extension().is_some_and(|extension| extension == "mandate") {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
    }
    dir
}

#[test]
fn json_test_files_expect_reasons_policies_and_obligations() {
    let dir = copy_package("examples/support");
    let request = std::fs::read_to_string("examples/support/requests/read-subscription.json").unwrap();
    let tests = format!(
        r#"{{"tests": [
  {{"name": "reads_billing", "request": {request}, "expect": {{"decision": "allow", "reason": "permitted",
    "policies": ["support_reads_billing"], "obligations": {{"tags": ["support", "billing"]}}}}}},
  {{"name": "wrong_policy", "request": {request}, "expect": {{"decision": "allow", "policies": ["other"]}}}},
  {{"name": "wrong_ttl", "request": {request}, "expect": {{"decision": "allow", "obligations": {{"ttl_ms": 1}}}}}}
]}}"#
    );
    write(dir.path(), "billing.test.json", &tests);
    let ran = mandate(&["test", dir.path().to_str().unwrap(), "--filter", "_"]);
    assert_eq!(ran.status.code(), Some(1));
    let text = String::from_utf8(ran.stdout).unwrap();
    assert!(text.contains("ok    reads_billing (allow: permitted)"), "{text}");
    assert!(
        text.contains("FAIL  wrong_policy: expects the policies [other], but they are [support_reads_billing]"),
        "{text}"
    );
    assert!(text.contains("FAIL  wrong_ttl: expects a credential ttl of 1ms, but it is 10m"), "{text}");
    assert!(
        text.contains("billing.test.json:") && text.contains("╰── this test"),
        "failures point into the file: {text}"
    );

    write(dir.path(), "billing.test.json", r#"{"tests": [{"name": "x", "expect": {"decision": "allow"}}]}"#);
    let ran = mandate(&["test", dir.path().to_str().unwrap()]);
    assert_eq!(ran.status.code(), Some(1));
    let errors = String::from_utf8(ran.stderr).unwrap();
    assert!(errors.contains("billing.test.json") && errors.contains("missing field `request`"), "{errors}");
    // A test file that cannot be read fails the run; it never passes by vanishing.
    std::fs::write(dir.path().join("billing.test.json"), b"\xff\xfe{").unwrap();
    let ran = mandate(&["test", dir.path().to_str().unwrap()]);
    assert_eq!(ran.status.code(), Some(1));
    assert!(String::from_utf8(ran.stdout).unwrap().contains("1 test file could not be read"));
    std::fs::remove_file(dir.path().join("billing.test.json")).unwrap();

    // The same tests in YAML run alike; a YAML file that does not parse names its line
    // and column.
    let request = request.replace('\n', " ");
    let yaml =
        format!("tests:\n  - name: reads_billing_yaml\n    request: {request}\n    expect: {{decision: allow}}\n");
    write(dir.path(), "billing.test.yaml", &yaml);
    let ran = mandate(&["test", dir.path().to_str().unwrap(), "--filter", "yaml"]);
    let text = String::from_utf8(ran.stdout).unwrap();
    assert_eq!(ran.status.code(), Some(0), "{text}");
    assert!(text.contains("ok    reads_billing_yaml (allow: permitted)"), "{text}");
    write(
        dir.path(),
        "billing.test.yml",
        "tests:\n  - name: x\n    request: {action: read\n    expect: {decision: allow}\n",
    );
    let ran = mandate(&["test", dir.path().to_str().unwrap()]);
    assert_eq!(ran.status.code(), Some(1));
    let errors = String::from_utf8(ran.stderr).unwrap();
    assert!(errors.contains("mandate::test::bad_file") && errors.contains("billing.test.yml:4:11"), "{errors}");
}

#[test]
fn generated_tests_decide_as_they_expect_for_every_example() {
    for example in ["examples/support", "examples/payments", "examples/coding", "examples/orchestrator"] {
        let dir = copy_package(example);
        let generated = mandate(&["test", "--generate", dir.path().to_str().unwrap()]);
        assert_eq!(generated.status.code(), Some(0));
        let file: Value = serde_json::from_slice(&generated.stdout).unwrap();
        let tests = file["tests"].as_array().unwrap();
        let decides = tests.iter().filter(|test| test["name"].as_str().unwrap().ends_with("_decides")).count();
        let misses = tests.iter().filter(|test| test["name"].as_str().unwrap().contains("_near_miss_")).count();
        assert!(decides >= 5 && misses >= 3, "{example}: {decides} decides, {misses} near misses");
        for test in tests.iter().filter(|test| test["name"].as_str().unwrap().ends_with("_decides")) {
            let policy = test["name"].as_str().unwrap().trim_end_matches("_decides");
            assert!(test["expect"]["policies"].as_array().unwrap().iter().any(|name| name == policy), "{test}");
        }
        // Kept as a test file, every generated test passes: they are real decisions.
        std::fs::write(dir.path().join("generated.test.json"), &generated.stdout).unwrap();
        let ran = mandate(&["test", dir.path().to_str().unwrap(), "--filter", "_"]);
        let text = String::from_utf8(ran.stdout).unwrap();
        assert_eq!(ran.status.code(), Some(0), "{text}");
        for test in tests {
            assert!(text.contains(&format!("  ok    {} (", test["name"].as_str().unwrap())), "{test}: {text}");
        }
    }
}
