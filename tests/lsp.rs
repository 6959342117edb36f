//! `mandate lsp` end to end: the real binary, driven over standard input and output with
//! framed JSON-RPC, as an editor drives it.
//!
//! The package is `tests/fixtures/lsp/package` (a schema file and a policy file), copied
//! to a temporary folder. Answers are compared with insta snapshots in
//! `tests/fixtures/lsp/snapshots`, with the folder's path written `$PACKAGE`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const FIXTURE: &str = "tests/fixtures/lsp/package";
const WAIT: Duration = Duration::from_secs(10);

/// A running `mandate lsp` and what it sent that nobody has looked at yet.
struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    received: Receiver<Value>,
    pending: Vec<Value>,
    next_id: i64,
    dir: PathBuf,
    _temp: tempfile::TempDir,
}

impl Client {
    fn start() -> Client {
        let temp = tempfile::tempdir().unwrap();
        let dir = std::fs::canonicalize(temp.path()).unwrap();
        for entry in std::fs::read_dir(FIXTURE).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_mandate"))
            .arg("lsp")
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mandate lsp");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (sender, received) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            while let Some(message) = read_message(&mut reader) {
                if sender.send(message).is_err() {
                    return;
                }
            }
        });
        Client { child, stdin, received, pending: Vec::new(), next_id: 0, dir, _temp: temp }
    }

    /// Starts the server and goes through `initialize`; returns its result.
    fn initialized() -> (Client, Value) {
        let mut client = Client::start();
        let result = client.request("initialize", json!({ "processId": null, "rootUri": null, "capabilities": {} }));
        client.notify("initialized", json!({}));
        (client, result)
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    fn send(&mut self, message: Value) {
        let body = serde_json::to_string(&message).unwrap();
        self.send_raw(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request and waits for its response: the result, or the error object.
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        let response = self.wait_for(|message| message["id"] == json!(id) && message.get("method").is_none());
        response.get("result").cloned().unwrap_or_else(|| json!({ "error": response["error"] }))
    }

    /// The first message, received or pending, that `wanted` accepts.
    fn wait_for(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(at) = self.pending.iter().position(&wanted) {
            return self.pending.remove(at);
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = self
                .received
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no such message within {WAIT:?}; received meanwhile: {:#?}", self.pending));
            if wanted(&message) {
                return message;
            }
            self.pending.push(message);
        }
    }

    /// Waits until the server has handled everything sent so far (it answers in order),
    /// and forgets what it sent meanwhile.
    fn settle(&mut self) {
        let nowhere =
            json!({ "textDocument": { "uri": "file:///nowhere.mandate" }, "position": { "line": 0, "character": 0 } });
        assert_eq!(self.request("textDocument/hover", nowhere), Value::Null);
        self.pending.clear();
    }

    /// The next diagnostics published for `file` that `wanted` accepts.
    fn diagnostics(&mut self, file: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let uri = self.uri(file);
        let message = self.wait_for(|message| {
            message["method"] == "textDocument/publishDiagnostics"
                && message["params"]["uri"] == json!(uri)
                && wanted(&message["params"])
        });
        message["params"].clone()
    }

    fn uri(&self, file: &str) -> String {
        format!("file://{}", self.dir.join(file).display())
    }

    fn text(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file)).unwrap()
    }

    fn open(&mut self, file: &str) {
        let params = json!({ "textDocument": {
            "uri": self.uri(file), "languageId": "mandate", "version": 1, "text": self.text(file)
        }});
        self.notify("textDocument/didOpen", params);
    }

    fn change(&mut self, file: &str, version: i32, range: Value, text: &str) {
        let params = json!({
            "textDocument": { "uri": self.uri(file), "version": version },
            "contentChanges": [{ "range": range, "text": text }],
        });
        self.notify("textDocument/didChange", params);
    }

    /// `{textDocument, position}` for the `nth` (from 0) occurrence of `needle` in
    /// `text`, `into` bytes into it.
    fn at(&self, file: &str, text: &str, needle: &str, nth: usize, into: usize) -> Value {
        json!({ "textDocument": { "uri": self.uri(file) }, "position": position(text, needle, nth, into) })
    }

    /// A value as pretty JSON with the temporary folder written `$PACKAGE`, file URIs
    /// in it as file names and ranges as `LINE:COLUMN-LINE:COLUMN`.
    fn normalize(&self, value: &Value) -> String {
        let text = serde_json::to_string_pretty(&compact(value)).unwrap();
        let uri = format!("file://{}/", self.dir.display());
        text.replace(&uri, "").replace(&self.dir.display().to_string(), "$PACKAGE")
    }

    fn shutdown(mut self) -> Option<i32> {
        assert_eq!(self.request("shutdown", Value::Null), Value::Null);
        self.notify("exit", Value::Null);
        self.exit_status()
    }

    fn exit_status(&mut self) -> Option<i32> {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        panic!("the server did not exit");
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `value` with every range written `LINE:COLUMN-LINE:COLUMN`.
fn compact(value: &Value) -> Value {
    let point = |at: &Value| Some(format!("{}:{}", at.get("line")?, at.get("character")?));
    match value {
        Value::Object(object) if object.len() == 2 => {
            if let (Some(start), Some(end)) = (object.get("start").and_then(point), object.get("end").and_then(point)) {
                return json!(format!("{start}-{end}"));
            }
            Value::Object(object.iter().map(|(key, value)| (key.clone(), compact(value))).collect())
        }
        Value::Object(object) => {
            Value::Object(object.iter().map(|(key, value)| (key.clone(), compact(value))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(compact).collect()),
        other => other.clone(),
    }
}

fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("Content-Length: ") {
            length = value.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

/// The protocol position (UTF-16 columns) `into` bytes into the `nth` `needle` of `text`.
fn position(text: &str, needle: &str, nth: usize, into: usize) -> Value {
    let offset = text.match_indices(needle).nth(nth).unwrap_or_else(|| panic!("no {needle:?} #{nth}")).0 + into;
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let column: usize = before.rsplit('\n').next().unwrap().chars().map(char::len_utf16).sum();
    json!({ "line": line, "character": column })
}

fn range_of(text: &str, needle: &str, nth: usize) -> Value {
    json!({ "start": position(text, needle, nth, 0), "end": position(text, needle, nth, needle.len()) })
}

fn assert_snapshot(name: &str, value: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("fixtures/lsp/snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(name, value));
}

fn codes(diagnostics: &Value) -> Vec<String> {
    diagnostics["diagnostics"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap().to_string()).collect()
}

#[test]
fn diagnostics_as_you_type_then_proofs_and_a_quick_fix() {
    let (mut client, mut initialized) = Client::initialized();
    assert_eq!(initialized["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
    initialized["serverInfo"]["version"] = json!("$VERSION");
    assert_snapshot("initialize", &client.normalize(&initialized));
    client.open("policies.mandate");
    let checked = client.diagnostics("policies.mandate", |params| params["version"] == 1);
    assert_eq!(codes(&checked), Vec::<String>::new(), "the package checks");
    // Opening proves the package in the background: the task is wider than the bound.
    let proved = client.diagnostics("schema.mandate", |params| !params["diagnostics"].as_array().unwrap().is_empty());
    assert_snapshot("over_grant", &client.normalize(&proved));
    let lints = client.diagnostics("policies.mandate", |params| !params["diagnostics"].as_array().unwrap().is_empty());
    assert_eq!(codes(&lints), ["mandate::lint::overlap", "mandate::lint::shadowed"]);

    // A typo: `resource.owner` becomes `resource.ownr`.
    let text = client.text("policies.mandate");
    let owner = range_of(&text, "owner", 0);
    client.change("policies.mandate", 2, owner.clone(), "ownr");
    let typo = client.diagnostics("policies.mandate", |params| params["version"] == 2);
    assert_snapshot("typo", &client.normalize(&typo));
    let typo_range = typo["diagnostics"][0]["range"].clone();
    let uri = client.uri("policies.mandate");
    let params = json!({
        "textDocument": { "uri": uri },
        "range": { "start": typo_range["start"], "end": typo_range["start"] },
        "context": { "diagnostics": typo["diagnostics"] },
    });
    let actions = client.request("textDocument/codeAction", params);
    assert_snapshot("quick_fix", &client.normalize(&actions));

    // Applying the fix clears the error; the proofs of this very text come back.
    let edit = actions[0]["edit"]["changes"][&uri][0].clone();
    client.change("policies.mandate", 3, edit["range"].clone(), edit["newText"].as_str().unwrap());
    let fixed = client.diagnostics("policies.mandate", |params| params["version"] == 3);
    assert_eq!(codes(&fixed), ["mandate::lint::overlap", "mandate::lint::shadowed"]);
    assert_eq!(client.shutdown(), Some(0));
}

#[test]
fn hover_definition_references_and_symbols() {
    let (mut client, _) = Client::initialized();
    client.open("policies.mandate");
    client.open("schema.mandate");
    let policies = client.text("policies.mandate");
    let schema = client.text("schema.mandate");
    let mut answers = Vec::new();
    let mut ask = |client: &mut Client, what: &str, method: &str, params: Value| {
        let answer = client.request(method, params);
        answers.push(format!("## {what}\n{}", client.normalize(&answer)));
        answer
    };
    // `owner` after a string with an emoji on the same line: columns count UTF-16 units.
    let owner = client.at("policies.mandate", &policies, "resource.owner", 0, "resource.o".len());
    ask(&mut client, "hover resource.owner", "textDocument/hover", owner.clone());
    let share = client.at("policies.mandate", &policies, "escalate share", 0, "escalate s".len());
    ask(&mut client, "hover action share", "textDocument/hover", share);
    let support = client.at("policies.mandate", &policies, "is Support", 0, "is S".len());
    ask(&mut client, "hover task Support", "textDocument/hover", support.clone());
    let function = client.at("policies.mandate", &policies, "internal_address", 0, 3);
    ask(&mut client, "hover function", "textDocument/hover", function.clone());
    let class = client.at("policies.mandate", &policies, "== secret", 0, "== se".len());
    ask(&mut client, "hover enum value", "textDocument/hover", class);
    let customer = client.at("schema.mandate", &schema, "== customer", 0, 4);
    ask(&mut client, "hover bare task parameter", "textDocument/hover", customer);
    let definition = ask(&mut client, "definition resource.owner", "textDocument/definition", owner.clone());
    assert!(definition[0]["uri"].as_str().unwrap().ends_with("schema.mandate"));
    ask(&mut client, "definition task Support", "textDocument/definition", support.clone());
    ask(&mut client, "definition function", "textDocument/definition", function);
    let mut references = owner.clone();
    references["context"] = json!({ "includeDeclaration": true });
    let found = ask(&mut client, "references Doc.owner", "textDocument/references", references);
    assert_eq!(found.as_array().unwrap().len(), 4, "declared, read in the task and the policy, set in the test");
    let mut references = support;
    references["context"] = json!({ "includeDeclaration": false });
    ask(&mut client, "references task Support", "textDocument/references", references);
    for file in ["schema.mandate", "policies.mandate"] {
        let params = json!({ "textDocument": { "uri": client.uri(file) } });
        ask(&mut client, &format!("symbols {file}"), "textDocument/documentSymbol", params);
    }
    assert_snapshot("navigation", &answers.join("\n"));
    assert_eq!(client.shutdown(), Some(0));
}

#[test]
fn completion_after_a_root_and_elsewhere() {
    let (mut client, _) = Client::initialized();
    client.open("policies.mandate");
    let text = client.text("policies.mandate");
    let end = position(&text, "", 0, text.len());
    let range = json!({ "start": end, "end": end });
    let typed = "\npolicy typing:\n  forbid read on Doc\n  when resource.";
    client.change("policies.mandate", 2, range, typed);
    let text = format!("{text}{typed}");
    let mut answers = Vec::new();
    let mut complete = |client: &mut Client, what: &str, at: Value| {
        let items = client.request("textDocument/completion", at);
        let labels: Vec<String> = items
            .as_array()
            .unwrap()
            .iter()
            .map(|item| format!("{} — {} {}", item["label"], item["detail"], item["documentation"]))
            .collect();
        answers.push(format!("## {what}\n{}", labels.join("\n")));
    };
    let typed_at = text.len() - "resource.".len();
    let at = json!({ "textDocument": { "uri": client.uri("policies.mandate") }, "position": position(&text, "", 0, text.len()) });
    complete(&mut client, "resource.", at);
    let root = json!({ "start": position(&text, "", 0, typed_at), "end": position(&text, "", 0, text.len()) });
    client.change("policies.mandate", 3, root, "agent.te");
    let text = format!("{}agent.te", &text[..typed_at]);
    let at = json!({ "textDocument": { "uri": client.uri("policies.mandate") }, "position": position(&text, "", 0, text.len()) });
    complete(&mut client, "agent. (with a partial name)", at);
    let at = client.at("policies.mandate", &text, "forbid read", 0, "forbid ".len());
    complete(&mut client, "elsewhere", at);
    assert_snapshot("completion", &answers.join("\n"));
    assert_eq!(client.shutdown(), Some(0));
}

#[test]
fn garbage_is_answered_and_never_ends_the_server() {
    let mut client = Client::start();
    // Before `initialize`, requests are refused and notifications dropped.
    let early = client.request("textDocument/hover", json!({}));
    assert_eq!(early["error"]["code"], -32002);
    client.notify("textDocument/didOpen", json!({ "nonsense": true }));
    client.request("initialize", json!({ "capabilities": "not an object" }));
    let mut answers = Vec::new();
    client.send_raw(b"Content-Length: 8\r\n\r\n{\"jsonrp");
    answers.push(client.wait_for(|message| message["error"]["code"] == -32700));
    client.send_raw(b"Content-Length: 2\r\n\r\n[]");
    answers.push(client.wait_for(|message| message["error"]["code"] == -32600));
    client.send_raw(b"Content-Length: 4\r\n\r\n\xff\xfe\xfd\xfc");
    answers.push(client.wait_for(|message| message["error"]["code"] == -32700));
    client.send_raw(b"X-Nothing: here\r\n\r\n");
    answers.push(client.wait_for(|message| message["error"]["code"] == -32700));
    answers.push(client.request("no/such/method", json!({})));
    answers.push(client.request("textDocument/hover", json!({ "textDocument": 7 })));
    let messages: Vec<String> = answers.iter().map(|answer| answer["error"]["code"].to_string()).collect();
    assert_eq!(messages, ["-32700", "-32600", "-32700", "-32700", "-32601", "-32602"]);

    // Unknown documents, positions past the end and inside a surrogate pair.
    let unknown =
        json!({ "textDocument": { "uri": "file:///nowhere/x.mandate" }, "position": { "line": 0, "character": 0 } });
    assert_eq!(client.request("textDocument/hover", unknown), Value::Null);
    client.open("policies.mandate");
    let uri = client.uri("policies.mandate");
    for (line, character) in [(999, 0), (3, 999), (0, u32::MAX), (u32::MAX, u32::MAX)] {
        let at = json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": character } });
        client.request("textDocument/hover", at.clone());
        client.request("textDocument/completion", at.clone());
        client.request("textDocument/definition", at);
    }
    let text = client.text("policies.mandate");
    let emoji = position(&text, "🛟", 0, 0);
    let inside = json!({ "line": emoji["line"], "character": emoji["character"].as_u64().unwrap() + 1 });
    client.change("policies.mandate", 2, json!({ "start": inside, "end": { "line": 9999, "character": 0 } }), "x");
    client.change("policies.mandate", 3, json!({ "start": { "line": 5000, "character": 3 }, "end": inside }), "");
    let edited = client.diagnostics("policies.mandate", |params| params["version"] == 3);
    assert!(!edited["diagnostics"].as_array().unwrap().is_empty(), "the cut-off file has syntax errors");
    let symbols = client.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": uri } }));
    assert!(symbols.is_array());
    assert_eq!(client.shutdown(), Some(0));
}

#[test]
fn exit_without_shutdown_fails_and_requests_after_shutdown_are_refused() {
    let (mut client, _) = Client::initialized();
    client.notify("exit", Value::Null);
    assert_eq!(client.exit_status(), Some(1));

    let (mut client, _) = Client::initialized();
    assert_eq!(client.request("shutdown", Value::Null), Value::Null);
    let refused = client.request("textDocument/hover", json!({}));
    assert_eq!(refused["error"]["code"], -32600);
    client.notify("exit", Value::Null);
    assert_eq!(client.exit_status(), Some(0));

    // The editor going away ends the server too.
    let (mut client, _) = Client::initialized();
    client.stdin = None;
    assert_eq!(client.exit_status(), Some(1));
}

#[test]
fn saving_proves_again_and_an_unsaved_file_joins_its_folder() {
    let (mut client, _) = Client::initialized();
    client.open("policies.mandate");
    client.diagnostics("schema.mandate", |params| codes(params) == ["mandate::prove::over_grant"]);
    // Widen the bound to what the task declares: the proofs of the old text go at once.
    let text = client.text("policies.mandate");
    client.change("policies.mandate", 2, range_of(&text, "read on Doc }", 0), "[read, update] on Doc }");
    let changed = client.diagnostics("policies.mandate", |params| params["version"] == 2);
    assert_eq!(codes(&changed), Vec::<String>::new());
    client.settle();
    // Saving proves the new text: the prover's lints are back, the over-grant is not.
    client.notify("textDocument/didSave", json!({ "textDocument": { "uri": client.uri("policies.mandate") } }));
    let proved = client.diagnostics("policies.mandate", |params| !codes(params).is_empty());
    assert_eq!(codes(&proved), ["mandate::lint::overlap", "mandate::lint::shadowed"]);
    let schema = client.uri("schema.mandate");
    assert!(!client.pending.iter().any(|message| message["params"]["uri"] == json!(schema)), "{:#?}", client.pending);

    // A new file, not on disk yet, reads the schema of its folder's package.
    let text = "policy drafted: forbid share on Doc when resource.owner == \"x\"\n";
    let params = json!({ "textDocument": {
        "uri": client.uri("draft.mandate"), "languageId": "mandate", "version": 1, "text": text
    }});
    client.notify("textDocument/didOpen", params);
    let drafted = client.diagnostics("draft.mandate", |params| params["version"] == 1);
    assert_eq!(codes(&drafted), Vec::<String>::new());
    let hover = client.request("textDocument/hover", client.at("draft.mandate", text, "owner", 0, 1));
    assert!(hover["contents"]["value"].as_str().unwrap().contains("owner: String"), "{hover}");
    assert!(!client.dir.join("draft.mandate").exists(), "nothing is written to disk");
    assert_eq!(client.shutdown(), Some(0));
}

#[test]
fn a_document_not_saved_in_a_folder_is_a_package_of_its_own() {
    let (mut client, _) = Client::initialized();
    let params = json!({ "textDocument": {
        "uri": "untitled:Untitled-1", "languageId": "mandate", "version": 1,
        "text": "schema { resource Doc { owner: String } action read on Doc }\npolicy p: permit read on Doc when resource.ownr == \"x\" grant ttl 1m\n"
    }});
    client.notify("textDocument/didOpen", params);
    let message = client.wait_for(|message| message["params"]["uri"] == "untitled:Untitled-1");
    assert_eq!(codes(&message["params"]), ["mandate::resolve::unknown_attribute"]);
    let at = json!({ "textDocument": { "uri": "untitled:Untitled-1" }, "position": { "line": 0, "character": 26 } });
    let hover = client.request("textDocument/hover", at);
    assert!(hover["contents"]["value"].as_str().unwrap().contains("owner: String"), "{hover}");
    assert_eq!(client.shutdown(), Some(0));
}

#[test]
fn formatting_gives_what_mandate_fmt_writes_and_leaves_a_broken_document_alone() {
    let (mut client, initialized) = Client::initialized();
    assert_eq!(initialized["capabilities"]["documentFormattingProvider"], true);
    client.open("policies.mandate");
    let text = client.text("policies.mandate");
    // Indent the first line's end badly, as a hurried edit would.
    let end_of_first = text.find('\n').unwrap();
    let first_line = &text[..end_of_first];
    let messy = format!("{first_line}   {}", &text[end_of_first..]);
    client.change("policies.mandate", 2, range_of(&text, first_line, 0), &format!("{first_line}   "));
    let params = json!({ "textDocument": { "uri": client.uri("policies.mandate") }, "options": { "tabSize": 2, "insertSpaces": true } });
    let edits = client.request("textDocument/formatting", params.clone());
    let edits = edits.as_array().unwrap_or_else(|| panic!("{edits}"));
    assert_eq!(edits.len(), 1, "{edits:?}");
    let expected = mandate::format::format_source("policies.mandate", &messy).unwrap();
    assert_eq!(edits[0]["newText"], expected);
    assert_eq!(edits[0]["range"]["start"], json!({"line": 0, "character": 0}));

    // A document that does not parse gets no edit.
    let broken = client.text("policies.mandate") + "\npolicy : permit\n";
    let end = position(&broken, "policy : permit", 0, 0);
    client.change("policies.mandate", 3, json!({"start": end, "end": end}), "policy : permit\n");
    let edits = client.request("textDocument/formatting", params);
    assert!(edits.is_null(), "{edits}");
    assert_eq!(client.shutdown(), Some(0));
}
