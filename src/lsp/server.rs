//! The server loop: the protocol's life cycle, and which handler answers what.
//!
//! One thread owns the [`Workspace`] (and so the database) and takes events one at a
//! time: messages from the editor, read by the transport's thread, and proofs from the
//! prover's. A request is answered before the next event is taken; notifications about
//! documents answer with diagnostics to publish.
//!
//! Every request beyond the life cycle is in [`handlers`], each with the capability that
//! announces it, so a new feature (formatting, say) is one entry there.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::mpsc::{channel, Receiver, Sender};

use lsp_server::{ErrorCode, Message, Notification, Request, RequestId, Response, ResponseError};
use lsp_types::notification::{
    DidChangeTextDocument, DidChangeWatchedFiles, DidCloseTextDocument, DidOpenTextDocument, DidSaveTextDocument,
    Notification as _, PublishDiagnostics,
};
use lsp_types::request::{
    CodeActionRequest, Completion, DocumentSymbolRequest, Formatting, GotoDefinition, HoverRequest, References,
    RegisterCapability, Request as _,
};
use lsp_types::{
    HoverProviderCapability, InitializeParams, OneOf, PublishDiagnosticsParams, Registration, RegistrationParams,
    SaveOptions, ServerCapabilities, TextDocumentSyncCapability, TextDocumentSyncKind, TextDocumentSyncOptions,
    TextDocumentSyncSaveOptions,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::prover::{self, Proved};
use super::transport::{self, Incoming, Outgoing};
use super::workspace::{PackageKey, Workspace};
use super::{actions, completion, formatting, hover, navigation, symbols};

/// What the server loop takes, one at a time.
pub enum Event {
    Client(Incoming),
    Proved(Proved<PackageKey>),
}

impl From<Incoming> for Event {
    fn from(incoming: Incoming) -> Self {
        Event::Client(incoming)
    }
}

impl From<Proved<PackageKey>> for Event {
    fn from(proved: Proved<PackageKey>) -> Self {
        Event::Proved(proved)
    }
}

/// Answers one request: its parameters as JSON in, its result as JSON out.
type Answer = Box<dyn Fn(&Workspace, Value) -> Result<Value, ResponseError>>;

/// A request the server answers, and the capability that tells the editor so.
pub struct Handler {
    pub method: &'static str,
    pub announce: fn(&mut ServerCapabilities),
    answer: Answer,
}

/// A handler for request type `R`, answered by `answer`.
pub fn handler<R>(announce: fn(&mut ServerCapabilities), answer: fn(&Workspace, R::Params) -> R::Result) -> Handler
where
    R: lsp_types::request::Request,
    R::Params: DeserializeOwned,
    R::Result: Serialize,
{
    let answer = move |workspace: &Workspace, params: Value| {
        let params: R::Params = serde_json::from_value(params).map_err(|error| {
            response_error(ErrorCode::InvalidParams, format!("invalid parameters for {}: {error}", R::METHOD))
        })?;
        serde_json::to_value(answer(workspace, params))
            .map_err(|error| response_error(ErrorCode::InternalError, error.to_string()))
    };
    Handler { method: R::METHOD, announce, answer: Box::new(answer) }
}

/// Every request the server answers besides `initialize` and `shutdown`.
pub fn handlers() -> Vec<Handler> {
    vec![
        handler::<HoverRequest>(|c| c.hover_provider = Some(HoverProviderCapability::Simple(true)), hover::hover),
        handler::<GotoDefinition>(|c| c.definition_provider = Some(OneOf::Left(true)), navigation::definition),
        handler::<References>(|c| c.references_provider = Some(OneOf::Left(true)), navigation::references),
        handler::<Completion>(completion::announce, completion::completion),
        handler::<DocumentSymbolRequest>(
            |c| c.document_symbol_provider = Some(OneOf::Left(true)),
            symbols::document_symbols,
        ),
        handler::<CodeActionRequest>(actions::announce, actions::code_actions),
        handler::<Formatting>(
            |c| c.document_formatting_provider = Some(OneOf::Left(true)),
            formatting::format_document,
        ),
    ]
}

/// What the server tells the editor it can do.
pub fn capabilities(handlers: &[Handler]) -> ServerCapabilities {
    let mut capabilities = ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
            open_close: Some(true),
            change: Some(TextDocumentSyncKind::INCREMENTAL),
            will_save: None,
            will_save_wait_until: None,
            save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions { include_text: Some(false) })),
        })),
        ..ServerCapabilities::default()
    };
    for handler in handlers {
        (handler.announce)(&mut capabilities);
    }
    capabilities
}

/// Where the server is in the protocol's life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Uninitialized,
    Running,
    ShutDown,
}

/// Serves the protocol on `input` and `output` until the editor says `exit` or the
/// input ends. Returns the exit status: 0 after `shutdown` then `exit`, 1 otherwise.
pub fn serve<R, W>(input: R, output: W) -> std::io::Result<i32>
where
    R: BufRead + Send + 'static,
    W: Write + Send + 'static,
{
    let (events_in, events) = channel::<Event>();
    let (writer, written) = transport::spawn_writer(output)?;
    transport::spawn_reader(input, events_in.clone())?;
    let workspace = match prover::spawn(events_in) {
        Ok(jobs) => Workspace::new(jobs),
        Err(_) => Workspace::without_proofs(),
    };
    let handlers = handlers();
    let mut server = Server {
        workspace,
        capabilities: capabilities(&handlers),
        handlers: handlers.into_iter().map(|handler| (handler.method, handler)).collect(),
        stage: Stage::Uninitialized,
        watch_files: false,
        writer,
    };
    let status = server.run(&events);
    drop(server);
    // Everything sent is written before the process ends.
    let _ = written.join();
    Ok(status)
}

struct Server {
    workspace: Workspace,
    capabilities: ServerCapabilities,
    handlers: HashMap<&'static str, Handler>,
    stage: Stage,
    /// Whether to ask the editor to report changes to files on disk.
    watch_files: bool,
    writer: Sender<Outgoing>,
}

impl Server {
    fn run(&mut self, events: &Receiver<Event>) -> i32 {
        while let Ok(event) = events.recv() {
            match event {
                Event::Client(Incoming::Message(Message::Request(request))) => self.request(request),
                Event::Client(Incoming::Message(Message::Notification(notification))) => {
                    if notification.method == "exit" {
                        return if self.stage == Stage::ShutDown { 0 } else { 1 };
                    }
                    self.notification(notification);
                }
                // Answers to what the server asked (registering file watchers).
                Event::Client(Incoming::Message(Message::Response(_))) => {}
                Event::Client(Incoming::Malformed(error)) => self.send(Outgoing::Raw(error)),
                Event::Client(Incoming::Closed) => return 1,
                Event::Proved(proved) => {
                    let published = self.workspace.proved(proved);
                    self.publish(published);
                }
            }
        }
        1
    }

    fn request(&mut self, request: Request) {
        let response = match (self.stage, request.method.as_str()) {
            (Stage::Uninitialized, "initialize") => self.initialize(request.id, request.params),
            (Stage::Uninitialized, _) => {
                error(request.id, ErrorCode::ServerNotInitialized, "the server is not initialized yet")
            }
            (Stage::ShutDown, _) => error(request.id, ErrorCode::InvalidRequest, "the server is shut down"),
            (Stage::Running, "initialize") => error(request.id, ErrorCode::InvalidRequest, "already initialized"),
            (Stage::Running, "shutdown") => {
                self.stage = Stage::ShutDown;
                Response { id: request.id, response_result: Ok(Value::Null) }
            }
            (Stage::Running, method) => match self.handlers.get(method) {
                Some(handler) => match (handler.answer)(&self.workspace, request.params) {
                    Ok(result) => Response { id: request.id, response_result: Ok(result) },
                    Err(failure) => Response { id: request.id, response_result: Err(failure) },
                },
                None => error(request.id, ErrorCode::MethodNotFound, &format!("unknown method {method}")),
            },
        };
        self.send(Outgoing::Message(Message::Response(response)));
    }

    fn initialize(&mut self, id: RequestId, params: Value) -> Response {
        // The client's capabilities only decide extras; unreadable ones are none.
        if let Ok(params) = serde_json::from_value::<InitializeParams>(params) {
            let watched = params.capabilities.workspace.and_then(|workspace| workspace.did_change_watched_files);
            self.watch_files = watched.and_then(|watched| watched.dynamic_registration) == Some(true);
        }
        self.stage = Stage::Running;
        let server = json!({ "name": "mandate", "version": env!("CARGO_PKG_VERSION") });
        let result = json!({ "capabilities": to_json(&self.capabilities), "serverInfo": server });
        Response { id, response_result: Ok(result) }
    }

    fn notification(&mut self, notification: Notification) {
        if self.stage != Stage::Running {
            return;
        }
        let published = match notification.method.as_str() {
            "initialized" => {
                self.watch();
                None
            }
            DidOpenTextDocument::METHOD => read(notification).map(|p| self.workspace.did_open(p)),
            DidChangeTextDocument::METHOD => read(notification).map(|p| self.workspace.did_change(p)),
            DidSaveTextDocument::METHOD => read(notification).map(|p| self.workspace.did_save(p)),
            DidCloseTextDocument::METHOD => read(notification).map(|p| self.workspace.did_close(p)),
            DidChangeWatchedFiles::METHOD => read(notification).map(|p| self.workspace.did_change_watched_files(p)),
            // `$/cancelRequest`, `$/setTrace`, configuration and the rest: nothing to do.
            _ => None,
        }
        .unwrap_or_default();
        self.publish(published);
    }

    /// Asks the editor to report changes to `.mandate` files and manifests on disk.
    fn watch(&mut self) {
        if !self.watch_files {
            return;
        }
        let watchers = json!({ "watchers": [{ "globPattern": "**/*.mandate" }, { "globPattern": "**/mandate.toml" }] });
        let registration = Registration {
            id: "mandate-watched-files".to_string(),
            method: DidChangeWatchedFiles::METHOD.to_string(),
            register_options: Some(watchers),
        };
        let params = RegistrationParams { registrations: vec![registration] };
        let id = RequestId::from("mandate-watch".to_string());
        let request = Request { id, method: RegisterCapability::METHOD.to_string(), params: to_json(&params) };
        self.send(Outgoing::Message(Message::Request(request)));
    }

    fn publish(&self, published: Vec<PublishDiagnosticsParams>) {
        for params in published {
            let notification =
                Notification { method: PublishDiagnostics::METHOD.to_string(), params: to_json(&params) };
            self.send(Outgoing::Message(Message::Notification(notification)));
        }
    }

    fn send(&self, outgoing: Outgoing) {
        // A writer that stopped has lost its reader; the loop ends when the input does.
        let _ = self.writer.send(outgoing);
    }
}

/// A notification's parameters; a notification that has none readable is dropped (it
/// cannot be answered).
fn read<P: DeserializeOwned>(notification: Notification) -> Option<P> {
    match serde_json::from_value(notification.params) {
        Ok(params) => Some(params),
        Err(reason) => {
            eprintln!("mandate lsp: ignored {}: {reason}", notification.method);
            None
        }
    }
}

/// A protocol type as JSON. The protocol's types all have a JSON form (their maps are
/// keyed by strings), so the `null` fallback is never sent.
fn to_json(value: &impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn response_error(code: ErrorCode, message: String) -> ResponseError {
    ResponseError { code: code as i32, message, data: None }
}

fn error(id: RequestId, code: ErrorCode, message: &str) -> Response {
    Response { id, response_result: Err(response_error(code, message.to_string())) }
}
