//! Requests: their JSON form, and validation against the package's schema.
//!
//! A request arrives as a [`RequestDoc`] (the wire form, see `docs/requests.md`) and is
//! validated into a [`Request`] whose every value has the type the schema declares.
//! Validation collects every problem as a structured [`RequestError`]; a request with any
//! error is denied, never evaluated.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::eval::expr::Evaluator;
use crate::hir::value::Value;
use crate::hir::{Base, HExpr, MomentRead, Root};
use crate::semantics::env::{ActionSig, Env, Literal};
use crate::semantics::suggest::did_you_mean;
use crate::semantics::types::{RecordType, Type};
use crate::syntax::literal::{self, LiteralError};

/// The wire form of a request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestDoc {
    pub agent: Option<EntityDoc>,
    /// The principals above the acting agent, from the human sponsor down.
    #[serde(default)]
    pub chain: Vec<String>,
    pub task: Option<TaskDoc>,
    pub action: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "serde_json::Map::is_empty",
        deserialize_with = "super::json::strict_object"
    )]
    pub args: serde_json::Map<String, Json>,
    pub resource: Option<ResourceDoc>,
    /// For an action `on Set<T>`: the resources, each of which must be allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceDoc>,
    #[serde(
        default,
        skip_serializing_if = "serde_json::Map::is_empty",
        deserialize_with = "super::json::strict_object"
    )]
    pub context: serde_json::Map<String, Json>,
    #[serde(
        default,
        skip_serializing_if = "serde_json::Map::is_empty",
        deserialize_with = "super::json::strict_object"
    )]
    pub behavior: serde_json::Map<String, Json>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityDoc {
    pub id: String,
    #[serde(
        default,
        skip_serializing_if = "serde_json::Map::is_empty",
        deserialize_with = "super::json::strict_object"
    )]
    pub attrs: serde_json::Map<String, Json>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceDoc {
    #[serde(rename = "type")]
    pub ty: String,
    pub id: String,
    #[serde(
        default,
        skip_serializing_if = "serde_json::Map::is_empty",
        deserialize_with = "super::json::strict_object"
    )]
    pub attrs: serde_json::Map<String, Json>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskDoc {
    pub kind: String,
    pub id: String,
    /// RFC 3339.
    pub start: String,
    /// RFC 3339.
    pub deadline: String,
    #[serde(
        default,
        skip_serializing_if = "serde_json::Map::is_empty",
        deserialize_with = "super::json::strict_object"
    )]
    pub params: serde_json::Map<String, Json>,
}

/// Builds a request step by step; the result is the wire form, validated when decided.
///
/// ```
/// use mandate::eval::RequestDoc;
/// let request = RequestDoc::builder("read")
///     .agent("agent-7")
///     .agent_attr("team", "support")
///     .chain(["alice@example.com"])
///     .task("SupportEscalation", "task-1", "2026-11-30T09:55:00Z", "2026-11-30T10:10:00Z")
///     .param("ticket", "T-1042")
///     .resource("Table", "billing.subscriptions")
///     .attr("database", "billing")
///     .time("2026-11-30T10:00:00Z")
///     .behavior("risk", 0.1)
///     .build();
/// assert_eq!(request.action.as_deref(), Some("read"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct RequestBuilder {
    doc: RequestDoc,
}

impl RequestDoc {
    /// Starts a request for `action`.
    pub fn builder(action: &str) -> RequestBuilder {
        RequestBuilder { doc: RequestDoc { action: Some(action.to_string()), ..RequestDoc::default() } }
    }
}

impl RequestBuilder {
    pub fn agent(mut self, id: &str) -> Self {
        self.doc.agent.get_or_insert_with(EntityDoc::default).id = id.to_string();
        self
    }

    pub fn agent_attr(mut self, name: &str, value: impl Into<Json>) -> Self {
        self.doc.agent.get_or_insert_with(EntityDoc::default).attrs.insert(name.to_string(), value.into());
        self
    }

    /// The principals above the acting agent, sponsor first.
    pub fn chain<I: IntoIterator<Item = S>, S: Into<String>>(mut self, links: I) -> Self {
        self.doc.chain = links.into_iter().map(Into::into).collect();
        self
    }

    /// The task instance; `start` and `deadline` are RFC 3339.
    pub fn task(mut self, kind: &str, id: &str, start: &str, deadline: &str) -> Self {
        let params = self.doc.task.take().map(|task| task.params).unwrap_or_default();
        self.doc.task = Some(TaskDoc {
            kind: kind.to_string(),
            id: id.to_string(),
            start: start.to_string(),
            deadline: deadline.to_string(),
            params,
        });
        self
    }

    /// A task parameter; call after [`RequestBuilder::task`].
    pub fn param(mut self, name: &str, value: impl Into<Json>) -> Self {
        if let Some(task) = self.doc.task.as_mut() {
            task.params.insert(name.to_string(), value.into());
        }
        self
    }

    pub fn arg(mut self, name: &str, value: impl Into<Json>) -> Self {
        self.doc.args.insert(name.to_string(), value.into());
        self
    }

    pub fn resource(mut self, ty: &str, id: &str) -> Self {
        let attrs = self.doc.resource.take().map(|resource| resource.attrs).unwrap_or_default();
        self.doc.resource = Some(ResourceDoc { ty: ty.to_string(), id: id.to_string(), attrs });
        self
    }

    /// A resource attribute; call after [`RequestBuilder::resource`].
    pub fn attr(mut self, name: &str, value: impl Into<Json>) -> Self {
        if let Some(resource) = self.doc.resource.as_mut() {
            resource.attrs.insert(name.to_string(), value.into());
        }
        self
    }

    pub fn context(mut self, name: &str, value: impl Into<Json>) -> Self {
        self.doc.context.insert(name.to_string(), value.into());
        self
    }

    /// The decision time (RFC 3339); without it the current time is used.
    pub fn time(self, at: &str) -> Self {
        self.context("time", at)
    }

    pub fn behavior(mut self, name: &str, value: impl Into<Json>) -> Self {
        self.doc.behavior.insert(name.to_string(), value.into());
        self
    }

    pub fn build(self) -> RequestDoc {
        self.doc
    }
}

/// A problem with a request, located by its path in the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestError {
    /// Where: `resource.attrs.owner`, `task.params.ticket`, or empty for the whole request.
    pub path: String,
    /// Stable code, such as `missing_attribute`.
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl RequestError {
    pub fn new(path: &str, code: &str, message: impl Into<String>, help: Option<String>) -> Self {
        RequestError { path: path.to_string(), code: code.to_string(), message: message.into(), help }
    }
}

/// A task instance as the request carries it. Times are nanoseconds since the epoch; the
/// instance is valid from `start` (inclusive) to `deadline` (exclusive), and a policy set
/// clips the deadline to the start plus the task's `ttl` before anything reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskInstance {
    pub kind: Arc<str>,
    pub id: Arc<str>,
    pub params: Attributes,
    pub start: i64,
    pub deadline: i64,
}

impl TaskInstance {
    /// The deadline, never past the start plus `ttl`.
    fn clip_deadline(&mut self, ttl: Option<i64>) {
        if let Some(ttl) = ttl {
            self.deadline = self.deadline.min(self.start.saturating_add(ttl));
        }
    }
}

/// The validated parts of a request that a runtime takes from its registry rather than
/// from the caller: the agent's attributes, the chain and the task instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamp {
    pub(crate) agent: Attributes,
    pub(crate) chain: Arc<[Arc<str>]>,
    pub(crate) task: Option<TaskInstance>,
    /// The behavior signals a call that states none reads (their defaults), validated
    /// once; `None` when they do not validate alone, so each call reports why.
    pub(crate) quiet_behavior: Option<Attributes>,
}

impl Stamp {
    pub fn task(&self) -> Option<&TaskInstance> {
        self.task.as_ref()
    }

    /// A request with no action yet, for evaluating what reads only the stamp: a task's
    /// `require`, `open when` and `delegate … to`, and budget limits.
    pub fn as_request(&self) -> Request {
        Request {
            agent: self.agent.clone(),
            chain: self.chain.clone(),
            task: self.task.clone(),
            action: Arc::from(""),
            args: Arc::default(),
            resource: None,
            more_resources: Vec::new(),
            context: Arc::default(),
            behavior: Arc::default(),
        }
    }

    /// The deadline, never past the start plus the task kind's ttl.
    pub(crate) fn clip_deadline(&mut self, ttl_of: impl Fn(&str) -> Option<i64>) {
        if let Some(task) = self.task.as_mut() {
            task.clip_deadline(ttl_of(&task.kind));
        }
    }
}

/// The caller's part of a request in the runtime: what it asks to do. Who asks, in which
/// task and through which chain come from the registry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallDoc {
    pub action: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "serde_json::Map::is_empty",
        deserialize_with = "super::json::strict_object"
    )]
    pub args: serde_json::Map<String, Json>,
    pub resource: Option<ResourceDoc>,
    /// For an action `on Set<T>`: the resources, each of which must be allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceDoc>,
    #[serde(
        default,
        skip_serializing_if = "serde_json::Map::is_empty",
        deserialize_with = "super::json::strict_object"
    )]
    pub context: serde_json::Map<String, Json>,
    /// Risk signals, as the caller states them (restrict-only: see `docs/semantics.md`).
    #[serde(
        default,
        skip_serializing_if = "serde_json::Map::is_empty",
        deserialize_with = "super::json::strict_object"
    )]
    pub behavior: serde_json::Map<String, Json>,
}

/// Attribute values by name.
pub type Attributes = Arc<BTreeMap<String, Value>>;

/// A validated request: every value has its declared type. Only validation makes one,
/// so a `Request` in hand is known to fit its policy set's schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub(crate) agent: Attributes,
    pub(crate) chain: Arc<[Arc<str>]>,
    pub(crate) task: Option<TaskInstance>,
    pub(crate) action: Arc<str>,
    pub(crate) args: Attributes,
    /// The resource type and its attributes (including `id`).
    pub(crate) resource: Option<(Arc<str>, Attributes)>,
    /// For an action `on Set<T>`: the resources after the first, each decided like it.
    pub(crate) more_resources: Vec<(Arc<str>, Attributes)>,
    pub(crate) context: Attributes,
    pub(crate) behavior: Attributes,
}

impl Request {
    /// The agent's attributes, `id` included.
    pub fn agent(&self) -> &Attributes {
        &self.agent
    }

    /// The principals above the acting agent, sponsor first.
    pub fn chain(&self) -> &[Arc<str>] {
        &self.chain
    }

    pub fn task(&self) -> Option<&TaskInstance> {
        self.task.as_ref()
    }

    pub fn action(&self) -> &Arc<str> {
        &self.action
    }

    pub fn args(&self) -> &Attributes {
        &self.args
    }

    /// The resource's type and attributes (`id` included).
    pub fn resource(&self) -> Option<&(Arc<str>, Attributes)> {
        self.resource.as_ref()
    }

    /// One request per resource, for an action on a set of them (the request itself
    /// when it names one resource or none): what each decision reads as `resource`.
    pub fn each_resource(&self) -> Vec<Request> {
        let mut all = vec![Request { more_resources: Vec::new(), ..self.clone() }];
        for resource in &self.more_resources {
            all.push(Request { resource: Some(resource.clone()), more_resources: Vec::new(), ..self.clone() });
        }
        all
    }

    /// Whether the request names more than one resource.
    pub fn has_more_resources(&self) -> bool {
        !self.more_resources.is_empty()
    }

    pub fn context(&self) -> &Attributes {
        &self.context
    }

    pub fn behavior(&self) -> &Attributes {
        &self.behavior
    }

    /// The decision time, `context.time`, in nanoseconds since the epoch.
    pub fn time(&self) -> i64 {
        match self.context.get("time") {
            Some(Value::Timestamp(nanos)) => *nanos,
            _ => 0,
        }
    }

    /// Caps the task instance's deadline at its start plus the task kind's `ttl`, so that
    /// expiry and every condition reading `task.deadline` see the same deadline.
    pub(crate) fn clip_deadline(&mut self, ttl_of: impl Fn(&str) -> Option<i64>) {
        if let Some(task) = self.task.as_mut() {
            task.clip_deadline(ttl_of(&task.kind));
        }
    }
}

/// Limits on what a request may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Most elements in any set value.
    pub max_set_elements: usize,
    /// Most links in the delegation chain.
    pub max_chain: usize,
    /// Most resources one request may name (an action `on Set<T>`).
    pub max_resources: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits { max_set_elements: 10_000, max_chain: 64, max_resources: 256 }
    }
}

/// Validates a request against a schema. `now` fills `context.time` when it is absent.
pub fn validate(env: &Env, doc: &RequestDoc, now: i64, limits: &RequestLimits) -> Result<Request, Vec<RequestError>> {
    let mut v = Validator { env, errors: Vec::new(), limits };
    let request = v.request(doc, now);
    if v.errors.is_empty() {
        request.ok_or_else(|| vec![RequestError::new("", "invalid_request", "the request is invalid", None)])
    } else {
        Err(v.errors)
    }
}

/// Reads a request's JSON text strictly: malformed JSON, an unknown part, a key repeated
/// in any object, or a number a double cannot hold exactly is an error.
pub fn parse_doc(text: &str) -> Result<RequestDoc, RequestError> {
    let doc: RequestDoc = serde_json::from_str(text).map_err(|error| match super::json::is_repeated_key(&error) {
        // Find where, to say so.
        true => super::json::check_strict(text).err().unwrap_or_else(|| json_error(&error)),
        false => json_error(&error),
    })?;
    if super::json::has_long_numbers(text) {
        super::json::check_strict(text)?;
    }
    Ok(doc)
}

/// Validates the parts of a request a runtime stamps from its registry (the agent, the
/// chain, the task instance), once for all the requests made under them.
pub fn validate_stamp(
    env: &Env,
    agent: &EntityDoc,
    chain: &[String],
    task: Option<&TaskDoc>,
    limits: &RequestLimits,
) -> Result<Stamp, Vec<RequestError>> {
    let mut v = Validator { env, errors: Vec::new(), limits };
    let mut stamp = v.stamp(Some(agent), chain, task);
    if !v.errors.is_empty() {
        return Err(v.errors);
    }
    let behavior = v.behavior(&serde_json::Map::new());
    stamp.quiet_behavior = v.errors.is_empty().then(|| Arc::new(behavior));
    Ok(stamp)
}

/// Validates a caller's part of a request and completes it with a stamp.
pub fn validate_call(
    env: &Env,
    stamp: &Stamp,
    call: &CallDoc,
    now: i64,
    limits: &RequestLimits,
) -> Result<Request, Vec<RequestError>> {
    let mut v = Validator { env, errors: Vec::new(), limits };
    let request = v.call(stamp, call, now);
    if v.errors.is_empty() {
        request.ok_or_else(|| vec![RequestError::new("", "invalid_request", "the request is invalid", None)])
    } else {
        Err(v.errors)
    }
}

/// Parses and validates a JSON request.
pub fn parse_json(env: &Env, text: &str, now: i64, limits: &RequestLimits) -> Result<Request, Vec<RequestError>> {
    let doc = parse_doc(text).map_err(|error| vec![error])?;
    validate(env, &doc, now, limits)
}

/// A malformed-JSON error with its position.
pub fn json_error(error: &serde_json::Error) -> RequestError {
    let message = format!("{error}");
    if message.starts_with("duplicate field") {
        let help = "give each key once: parsers disagree about which of two equal keys wins".to_string();
        return RequestError::new("", "duplicate_field", message, Some(help));
    }
    let help = if message.contains("unknown field") {
        Some("a request has the parts agent, chain, task, action, args, resource, context and behavior".to_string())
    } else {
        Some("see docs/requests.md for the request format".to_string())
    };
    RequestError::new("", "malformed_request", message, help)
}

struct Validator<'a> {
    env: &'a Env,
    errors: Vec<RequestError>,
    limits: &'a RequestLimits,
}

impl<'a> Validator<'a> {
    fn error(&mut self, path: &str, code: &str, message: impl Into<String>, help: Option<String>) {
        self.errors.push(RequestError::new(path, code, message, help));
    }

    fn request(&mut self, doc: &RequestDoc, now: i64) -> Option<Request> {
        let stamp = self.stamp(doc.agent.as_ref(), &doc.chain, doc.task.as_ref());
        let call = CallDoc {
            action: doc.action.clone(),
            args: doc.args.clone(),
            resource: doc.resource.clone(),
            resources: doc.resources.clone(),
            context: doc.context.clone(),
            behavior: doc.behavior.clone(),
        };
        self.call(&stamp, &call, now)
    }

    /// The parts a runtime takes from its registry: who acts, through which chain, in
    /// which task instance.
    fn stamp(&mut self, agent: Option<&EntityDoc>, chain: &[String], task: Option<&TaskDoc>) -> Stamp {
        let agent = match agent {
            Some(agent) => self.entity("agent.attrs", &agent.id, &agent.attrs, &self.env.agent.clone()),
            None => {
                self.error(
                    "agent",
                    "missing_part",
                    "the request has no agent",
                    Some("add `\"agent\": {\"id\": \"…\"}`".to_string()),
                );
                BTreeMap::new()
            }
        };
        let chain = self.chain(chain);
        let task = task.and_then(|task| self.task(task));
        Stamp { agent: Arc::new(agent), chain: chain.into(), task, quiet_behavior: None }
    }

    /// The parts the caller gives: the action, its arguments and resource, the context.
    fn call(&mut self, stamp: &Stamp, doc: &CallDoc, now: i64) -> Option<Request> {
        let action = self.action(doc.action.as_deref());
        let args = match action {
            Some(sig) => self.record("args", &doc.args, &sig.params),
            None => BTreeMap::new(),
        };
        let (resource, more_resources) = self.resources(action, doc);
        let context = self.context(&doc.context, now);
        let behavior = match (&stamp.quiet_behavior, doc.behavior.is_empty()) {
            (Some(quiet), true) => quiet.clone(),
            _ => Arc::new(self.behavior(&doc.behavior)),
        };
        Some(Request {
            agent: stamp.agent.clone(),
            chain: stamp.chain.clone(),
            task: stamp.task.clone(),
            action: action?.name.clone(),
            args: Arc::new(args),
            resource,
            more_resources,
            context: Arc::new(context),
            behavior,
        })
    }

    /// The context, its `time` filled with `now` when the caller left it out.
    fn context(&mut self, doc: &serde_json::Map<String, Json>, now: i64) -> BTreeMap<String, Value> {
        let env: &'a Env = self.env;
        let mut values = self.fields("context", doc.iter(), &env.context);
        self.required("context", &env.context, |name| name == "time" || doc.contains_key(name));
        if !doc.contains_key("time") {
            values.insert("time".to_string(), Value::Timestamp(now));
        }
        values
    }

    fn chain(&mut self, links: &[String]) -> Vec<Arc<str>> {
        if links.is_empty() {
            self.error(
                "chain",
                "missing_part",
                "the request has no delegation chain",
                Some("list the principals above the acting agent, starting with the human sponsor: `\"chain\": [\"alice@example.com\"]`".to_string()),
            );
        }
        if links.len() > self.limits.max_chain {
            self.error(
                "chain",
                "too_large",
                format!("the chain has {} links, more than {}", links.len(), self.limits.max_chain),
                None,
            );
        }
        links.iter().map(|link| Arc::from(link.as_str())).collect()
    }

    fn action(&mut self, action: Option<&str>) -> Option<&'a ActionSig> {
        let Some(action) = action else {
            self.error("action", "missing_part", "the request has no action", None);
            return None;
        };
        let env: &'a Env = self.env;
        if let Some(sig) = env.actions.get(action) {
            return Some(sig);
        }
        let help = did_you_mean(action, self.env.actions.keys().map(String::as_str));
        self.error("action", "unknown_action", format!("unknown action `{action}`"), help);
        None
    }

    /// The request's resource, and for an action `on Set<T>` the others it names.
    #[allow(clippy::type_complexity)]
    fn resources(
        &mut self,
        action: Option<&ActionSig>,
        doc: &CallDoc,
    ) -> (Option<(Arc<str>, Attributes)>, Vec<(Arc<str>, Attributes)>) {
        let name = action.map(|sig| &*sig.name);
        if doc.resources.is_empty() {
            return (self.resource(name, doc.resource.as_ref()), Vec::new());
        }
        if doc.resource.is_some() {
            let help = Some("an action on a set of resources takes `resources`; give one of the two".to_string());
            self.error("resources", "invalid_value", "the request has both `resource` and `resources`", help);
        }
        if let Some(sig) = action.filter(|sig| !sig.many) {
            let help = Some(format!("give the one resource as `resource`; `{}` is not declared `on Set<…>`", sig.name));
            self.error("resources", "invalid_value", format!("`{}` acts on one resource", sig.name), help);
        }
        if doc.resources.len() > self.limits.max_resources {
            let message =
                format!("the request names {} resources, more than {}", doc.resources.len(), self.limits.max_resources);
            self.error("resources", "too_large", message, None);
            return (None, Vec::new());
        }
        let mut read: Vec<(Arc<str>, Attributes)> = Vec::new();
        for (index, resource) in doc.resources.iter().enumerate() {
            read.extend(self.resource_at(&format!("resources[{index}]"), name, resource));
        }
        let mut read = read.into_iter();
        (read.next(), read.collect())
    }

    fn resource(&mut self, action: Option<&str>, doc: Option<&ResourceDoc>) -> Option<(Arc<str>, Attributes)> {
        let env: &'a Env = self.env;
        let applies: &[String] = action.map(|action| env.applies_to(action)).unwrap_or_default();
        let Some(doc) = doc else {
            if !applies.is_empty() {
                let help = Some(format!("`{}` applies to {}", action.unwrap_or_default(), applies.join(", ")));
                self.error("resource", "missing_part", "the request has no resource", help);
            }
            return None;
        };
        self.resource_at("resource", action, doc)
    }

    /// One resource, at `path` in the request.
    fn resource_at(&mut self, path: &str, action: Option<&str>, doc: &ResourceDoc) -> Option<(Arc<str>, Attributes)> {
        let env: &'a Env = self.env;
        let applies: &[String] = action.map(|action| env.applies_to(action)).unwrap_or_default();
        let Some((ty, record)) = env.resources.get_key_value(&doc.ty) else {
            let help = did_you_mean(&doc.ty, self.env.resources.keys().map(String::as_str));
            let message = format!("unknown resource type `{}`", doc.ty);
            self.error(&format!("{path}.type"), "unknown_resource_type", message, help);
            return None;
        };
        if let Some(action) = action {
            if !applies.contains(&doc.ty) {
                let help = if applies.is_empty() {
                    Some(format!("`{action}` has no resource; leave `resource` out"))
                } else {
                    Some(format!("`{action}` applies to {}", applies.join(", ")))
                };
                self.error(
                    &format!("{path}.type"),
                    "action_not_applicable",
                    format!("`{action}` does not apply to `{}`", doc.ty),
                    help,
                );
            }
        }
        // The common path without building its name.
        let attrs_path: std::borrow::Cow<'_, str> = match path {
            "resource" => "resource.attrs".into(),
            other => format!("{other}.attrs").into(),
        };
        let attrs = self.entity(&attrs_path, &doc.id, &doc.attrs, record);
        Some((Arc::from(ty.as_str()), Arc::new(attrs)))
    }

    fn task(&mut self, doc: &TaskDoc) -> Option<TaskInstance> {
        let Some(sig) = self.env.tasks.get(&doc.kind) else {
            let help = did_you_mean(&doc.kind, self.env.tasks.keys().map(String::as_str));
            self.error("task.kind", "unknown_task", format!("unknown task `{}`", doc.kind), help);
            return None;
        };
        let params = sig.record();
        let mut given = doc.params.clone();
        for (name, default) in &sig.defaults {
            if !given.contains_key(name) {
                given.insert(name.clone(), literal_json(default));
            }
        }
        let values = self.record("task.params", &given, &params);
        let start = self.timestamp("task.start", &doc.start);
        let deadline = self.timestamp("task.deadline", &doc.deadline);
        if let (Some(start), Some(deadline)) = (start, deadline) {
            if deadline < start {
                self.error("task.deadline", "invalid_value", "the task's deadline is before its start", None);
            }
        }
        Some(TaskInstance {
            kind: Arc::from(doc.kind.as_str()),
            id: Arc::from(doc.id.as_str()),
            params: Arc::new(values),
            start: start?,
            deadline: deadline?,
        })
    }

    fn timestamp(&mut self, path: &str, text: &str) -> Option<i64> {
        match literal::parse_moment(text) {
            Ok(nanos) => Some(nanos),
            Err(reason) => {
                let help = Some(
                    "write RFC 3339 (\"2026-11-29T09:00:00Z\"), \"2026-11-29 09:00\" (UTC) or \"2026-11-29\""
                        .to_string(),
                );
                self.error(path, "invalid_value", format!("invalid timestamp `{text}`: {reason}"), help);
                None
            }
        }
    }

    /// The behavior signals, each built-in one the caller leaves out at its default.
    fn behavior(&mut self, doc: &serde_json::Map<String, Json>) -> BTreeMap<String, Value> {
        let env: &'a Env = self.env;
        let defaults = crate::semantics::env::BEHAVIOR_BUILTINS.iter().map(|(name, ty)| match ty {
            Type::Bool => (*name, Value::Bool(false)),
            _ => (*name, Value::Decimal(0)),
        });
        let mut values = self.fields("behavior", doc.iter(), &env.behavior);
        let defaulted =
            |name: &str| crate::semantics::env::BEHAVIOR_BUILTINS.iter().any(|(builtin, _)| *builtin == name);
        self.required("behavior", &env.behavior, |name| defaulted(name) || doc.contains_key(name));
        for (name, default) in defaults {
            if !doc.contains_key(name) && env.behavior.get(name).is_some() {
                values.insert(name.to_string(), default);
            }
        }
        values
    }

    /// An entity's attributes (at `attrs_path`) with its `id` beside them.
    fn entity(
        &mut self,
        attrs_path: &str,
        id: &str,
        attrs: &serde_json::Map<String, Json>,
        record: &RecordType,
    ) -> BTreeMap<String, Value> {
        if attrs.contains_key("id") {
            self.error(
                &format!("{attrs_path}.id"),
                "unknown_attribute",
                "`id` goes next to `attrs`, not inside it",
                None,
            );
        }
        let mut values = self.fields(attrs_path, attrs.iter(), record);
        self.required(attrs_path, record, |name| name == "id" || attrs.contains_key(name));
        values.insert("id".to_string(), Value::string(id));
        values
    }

    fn record(
        &mut self,
        path: &str,
        doc: &serde_json::Map<String, Json>,
        record: &RecordType,
    ) -> BTreeMap<String, Value> {
        let values = self.fields(path, doc.iter(), record);
        self.required(path, record, |name| doc.contains_key(name));
        values
    }

    /// Reads each field of a record, reporting those it does not declare.
    fn fields<'j>(
        &mut self,
        path: &str,
        doc: impl Iterator<Item = (&'j String, &'j Json)>,
        record: &RecordType,
    ) -> BTreeMap<String, Value> {
        let mut values = BTreeMap::new();
        for (name, json) in doc {
            if let Some(value) = record.get(name).and_then(|field| self.quick(json, &field.ty)) {
                values.insert(name.clone(), value);
                continue;
            }
            let field_path = format!("{path}.{name}");
            match record.get(name) {
                Some(field) => {
                    if let Some(value) = self.value(&field_path, json, &field.ty) {
                        values.insert(name.clone(), value);
                    }
                }
                None => {
                    let help = did_you_mean(name, record.fields.keys().map(String::as_str));
                    self.error(&field_path, "unknown_attribute", format!("unknown attribute `{name}`"), help);
                }
            }
        }
        values
    }

    /// Reports each required field that `given` says is missing.
    fn required(&mut self, path: &str, record: &RecordType, given: impl Fn(&str) -> bool) {
        for (name, _) in record.required() {
            if !given(name) {
                self.error(
                    &format!("{path}.{name}"),
                    "missing_attribute",
                    format!("missing required attribute `{name}`"),
                    None,
                );
            }
        }
    }

    /// A well-formed scalar's value, without the path an error would need: the common
    /// case, kept free of allocation. `None` sends the caller to [`Validator::value`],
    /// which reads the same value or reports what is wrong with it.
    fn quick(&self, json: &Json, ty: &Type) -> Option<Value> {
        match (ty, json) {
            (Type::Bool, Json::Bool(value)) => Some(Value::Bool(*value)),
            (Type::Int, Json::Number(number)) => number.as_i64().map(Value::Int),
            (Type::Decimal, Json::String(text)) => literal::parse_decimal(text).ok().map(Value::Decimal),
            // A whole JSON number, or one read exactly from its text (as behavioral
            // signals such as `rate_z` are); out of range goes the way that says why.
            (Type::Decimal, Json::Number(number)) => match number.as_i64() {
                Some(whole) => whole.checked_mul(literal::DECIMAL_SCALE).map(Value::Decimal),
                None => number
                    .as_f64()
                    .and_then(literal::decimal_of_double)
                    .or_else(|| literal::parse_json_decimal(&number.to_string()).ok())
                    .map(Value::Decimal),
            },
            (Type::String, Json::String(text)) => Some(Value::string(text)),
            (Type::Duration, Json::String(text)) => literal::parse_duration(text).ok().map(Value::Duration),
            (Type::Timestamp, Json::String(text)) => literal::parse_moment(text).ok().map(Value::Timestamp),
            (Type::Enum(name), Json::String(text)) => {
                let ordinal = self.env.enums.get(name)?.iter().position(|variant| variant == text)?;
                Some(Value::Enum(crate::hir::value::EnumValue {
                    enum_name: Arc::from(name.as_str()),
                    variant: Arc::from(text.as_str()),
                    ordinal: u32::try_from(ordinal).unwrap_or(u32::MAX),
                }))
            }
            _ => None,
        }
    }

    fn value(&mut self, path: &str, json: &Json, ty: &Type) -> Option<Value> {
        let value = match (ty, json) {
            (Type::Bool, Json::Bool(value)) => Some(Value::Bool(*value)),
            (Type::Int, Json::Number(number)) => number.as_i64().map(Value::Int),
            (Type::Decimal, Json::Number(number)) => {
                return self.literal(path, json, literal::parse_json_decimal(&number.to_string()).map(Value::Decimal))
            }
            (Type::Decimal, Json::String(text)) => {
                return self.literal(path, json, literal::parse_decimal(text).map(Value::Decimal))
            }
            (Type::String, Json::String(text)) => Some(Value::string(text)),
            (Type::Duration, Json::String(text)) => {
                return self.literal(path, json, literal::parse_duration(text).map(Value::Duration))
            }
            (Type::Timestamp, Json::String(text)) => return self.timestamp(path, text).map(Value::Timestamp),
            (Type::Enum(name), Json::String(text)) => return self.variant(path, name, text),
            (Type::Set(element), Json::Array(items)) => return self.set(path, items, element),
            (Type::Map(value), Json::Object(entries)) => return self.map(path, entries, value),
            (Type::Record(record), Json::Object(fields)) => {
                Some(Value::Record(Arc::new(self.record(path, fields, record))))
            }
            _ => None,
        };
        if value.is_none() {
            self.error(
                path,
                "wrong_type",
                format!("expected {}, found {}", describe_type(ty), describe_json(json)),
                type_help(ty),
            );
        }
        value
    }

    /// A decimal or duration read from its text, or an error that says what is wrong
    /// with it.
    fn literal(&mut self, path: &str, json: &Json, read: Result<Value, LiteralError>) -> Option<Value> {
        let found = describe_json(json);
        let (code, message, help) = match read {
            Ok(value) => return Some(value),
            Err(LiteralError::Precision { digits }) => (
                "invalid_value",
                format!("{found} has {digits} fractional digits, more than the 4 a decimal keeps"),
                "round it to at most 4 digits after the point",
            ),
            Err(LiteralError::Range) => (
                "invalid_value",
                format!("{found} is out of range"),
                "decimals lie between -922337203685477.5808 and 922337203685477.5807; durations within about 292 years",
            ),
            Err(LiteralError::Syntax(expected)) => {
                ("wrong_type", format!("expected {expected}, found {found}"), "see docs/requests.md for value formats")
            }
        };
        self.error(path, code, message, Some(help.to_string()));
        None
    }

    fn variant(&mut self, path: &str, enum_name: &str, text: &str) -> Option<Value> {
        let variants = self.env.enums.get(enum_name).cloned().unwrap_or_default();
        match variants.iter().position(|variant| variant == text) {
            Some(ordinal) => Some(Value::Enum(crate::hir::value::EnumValue {
                enum_name: Arc::from(enum_name),
                variant: Arc::from(text),
                ordinal: u32::try_from(ordinal).unwrap_or(u32::MAX),
            })),
            None => {
                let help = did_you_mean(text, variants.iter().map(String::as_str));
                self.error(path, "invalid_value", format!("`{text}` is not a value of enum `{enum_name}`"), help);
                None
            }
        }
    }

    /// A map: any string keys (as many as a set may have elements), each value typed.
    fn map(&mut self, path: &str, entries: &serde_json::Map<String, Json>, value: &Type) -> Option<Value> {
        if entries.len() > self.limits.max_set_elements {
            self.error(
                path,
                "too_large",
                format!("the map has {} keys, more than {}", entries.len(), self.limits.max_set_elements),
                None,
            );
            return None;
        }
        let mut values = BTreeMap::new();
        let mut valid = true;
        for (key, json) in entries {
            match self.value(&format!("{path}[{}]", crate::syntax::print::quote(key)), json, value) {
                Some(read) => {
                    values.insert(key.clone(), read);
                }
                None => valid = false,
            }
        }
        valid.then(|| Value::Record(Arc::new(values)))
    }

    fn set(&mut self, path: &str, items: &[Json], element: &Type) -> Option<Value> {
        if items.len() > self.limits.max_set_elements {
            self.error(
                path,
                "too_large",
                format!("the set has {} elements, more than {}", items.len(), self.limits.max_set_elements),
                None,
            );
            return None;
        }
        let values: Option<Vec<Value>> = items
            .iter()
            .enumerate()
            .map(|(index, item)| self.value(&format!("{path}[{index}]"), item, element))
            .collect();
        values.map(Value::set)
    }
}

fn describe_type(ty: &Type) -> String {
    match ty {
        Type::Decimal => "a decimal (a number or a string such as \"12.5\")".to_string(),
        Type::Duration => "a duration string such as \"15m\"".to_string(),
        Type::Timestamp => "an RFC 3339 timestamp string".to_string(),
        Type::Enum(name) => format!("a value of enum `{name}`"),
        Type::Set(inner) => format!("an array of {}", describe_type(inner)),
        Type::Map(inner) => format!("an object whose values are {}", describe_type(inner)),
        Type::Record(_) => "an object".to_string(),
        other => format!("`{other}`"),
    }
}

fn describe_json(json: &Json) -> String {
    match json {
        Json::Null => "null".to_string(),
        Json::Bool(value) => format!("`{value}`"),
        Json::Number(number) => format!("the number {number}"),
        Json::String(text) => format!("the string {}", crate::syntax::print::quote(text)),
        Json::Array(_) => "an array".to_string(),
        Json::Object(_) => "an object".to_string(),
    }
}

fn type_help(ty: &Type) -> Option<String> {
    match ty {
        Type::Decimal => Some("decimals have at most 4 fractional digits".to_string()),
        Type::Int => Some("integers are whole numbers within 64 bits".to_string()),
        _ => None,
    }
}

/// A task parameter's default as it would be written in a request, so that it is
/// validated like a value the request gave.
fn literal_json(literal: &Literal) -> Json {
    match literal {
        Literal::Bool(value) => Json::Bool(*value),
        Literal::Int(value) => Json::from(*value),
        Literal::Decimal(text) => Json::String(text.clone()),
        Literal::Str(text) | Literal::Name(text) => Json::String(text.clone()),
        Literal::Duration(nanos) => Json::String(crate::syntax::literal::duration_text(*nanos)),
        Literal::Neg(inner) => match literal_json(inner) {
            Json::Number(number) => number.as_i64().and_then(i64::checked_neg).map_or(Json::Null, Json::from),
            Json::String(text) => Json::String(format!("-{text}")),
            other => other,
        },
        Literal::Set(items) => Json::Array(items.iter().map(literal_json).collect()),
    }
}

/// Checks that every attribute the policies parse as a moment (`timestamp(args.due)`,
/// `date(task.day)`) holds one, for the reads `applies` selects: a request that gives
/// `"tomorrow"` there is invalid, so no decision meets a value it cannot read. Absent
/// optional attributes, and attributes of other actions or task kinds, are not read.
pub fn check_moments(
    request: &Request,
    reads: &[MomentRead],
    steps: usize,
    applies: impl Fn(&MomentRead) -> bool,
) -> Result<(), Vec<RequestError>> {
    let mut errors = Vec::new();
    for read in reads.iter().filter(|read| applies(read)) {
        let Ok(Value::String(text)) = Evaluator::new(request, steps).eval(&read.field) else { continue };
        if let Err(reason) = literal::parse_moment(&text) {
            let path = moment_path(&read.field);
            if errors.iter().all(|error: &RequestError| error.path != path) {
                let help = Some("the policies read this attribute with `timestamp(…)` or `date(…)`".to_string());
                errors.push(RequestError::new(
                    &path,
                    "invalid_value",
                    format!("`{text}` is not a moment: {reason}"),
                    help,
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Whether a moment read applies to a request for `action`.
pub fn read_by_action(read: &MomentRead, action: &str) -> bool {
    read.actions.as_ref().is_none_or(|actions| actions.iter().any(|name| name == action))
}

/// Where in the request document an attribute is.
fn moment_path(field: &HExpr) -> String {
    let HExpr::Field(Base::Root(root), path) = field else { return String::new() };
    let section = match root {
        Root::Agent => "agent.attrs",
        Root::Resource => "resource.attrs",
        Root::Task => "task.params",
        other => other.name(),
    };
    std::iter::once(section).chain(path.iter().map(|step| &**step)).collect::<Vec<_>>().join(".")
}
