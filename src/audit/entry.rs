//! What one audit log entry says, and the policy bundles entries point at.
//!
//! An entry is one JSON object in RFC 8785 canonical form, so that its bytes (and its
//! leaf hash) follow from its content alone. It is self-contained: the sequence number,
//! the time, the task, the chain from the sponsor to the acting agent and, for a
//! decision, the stamped request (or its digest, field by field, where a masking rule
//! removes a value), the content hash of the policy set, the decision with its policies
//! and reasons, the obligations and the issued credential's id. The policy set itself is
//! a **bundle**, stored once under its content hash, so any entry can be replayed.

// `Value["key"]` on JSON reads `null` for a missing key or a non-object: it cannot panic.
#![allow(clippy::indexing_slicing)]

use serde::Serialize;
use serde_json::{json, Map, Value as Json};
use sha2::{Digest, Sha256};

use super::canonical::Members;
use super::AuditError;
use crate::eval::decision::{Matched, Obligations, Outcome, Reason};
use crate::eval::request::ResourceDoc;
use crate::eval::CallDoc;
use crate::eval::{Limits, PolicySet, RequestError};
use crate::hir::Root;
use crate::runtime::journal::{Decided, Event};
use crate::runtime::store::{GrantRecord, Revocation, TaskRecord};
use crate::semantics::types::Type;
use crate::syntax::literal::timestamp_text;

/// The format name inside every bundle.
pub const BUNDLE_FORMAT: &str = "mandate-bundle/1";

/// `sha256:` and the hex SHA-256 of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    let hash: [u8; 32] = Sha256::digest(bytes).into();
    let mut text = Vec::with_capacity(71);
    text.extend_from_slice(b"sha256:");
    super::merkle::write_hex(&hash, &mut text);
    text.into_iter().map(char::from).collect()
}

/// The RFC 8785 canonical bytes of `value`.
pub fn canonical(value: &Json) -> Result<Vec<u8>, AuditError> {
    super::canonical::encode(value).map_err(AuditError::Encode)
}

/// The digest of a value's canonical form.
pub fn value_digest(value: &Json) -> Result<String, AuditError> {
    Ok(digest(&canonical(value)?))
}

/// A policy set as stored in the log: its source files, canonical, and their hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub hash: String,
    pub bytes: Vec<u8>,
}

impl Bundle {
    /// The bundle of `set`, which must have been loaded from sources.
    pub fn of(set: &PolicySet) -> Result<Bundle, AuditError> {
        if set.sources().is_empty() {
            return Err(AuditError::Bundle("the policy set has no source files to keep".to_string()));
        }
        let files: Map<String, Json> =
            set.sources().iter().map(|(path, text)| (path.clone(), Json::String(text.to_string()))).collect();
        let bytes = canonical(&json!({
            "format": BUNDLE_FORMAT,
            "mandate": env!("CARGO_PKG_VERSION"),
            "files": files,
        }))?;
        Ok(Bundle { hash: digest(&bytes), bytes })
    }

    /// Compiles a stored bundle back into its policy set, after checking that its bytes
    /// have the hash it is stored under.
    pub fn load(hash: &str, bytes: &[u8], limits: Limits) -> Result<PolicySet, AuditError> {
        let bad = |why: String| AuditError::Bundle(format!("bundle {hash}: {why}"));
        if digest(bytes) != hash {
            return Err(bad("its content does not have this hash".to_string()));
        }
        let value: Json = serde_json::from_slice(bytes).map_err(|error| bad(error.to_string()))?;
        if value["format"] != BUNDLE_FORMAT {
            return Err(bad(format!("it is not a `{BUNDLE_FORMAT}` bundle")));
        }
        let files = value["files"].as_object().ok_or_else(|| bad("it lists no files".to_string()))?;
        let sources: Vec<(&str, &str)> =
            files.iter().filter_map(|(path, text)| Some((path.as_str(), text.as_str()?))).collect();
        PolicySet::from_sources(&sources, limits).map_err(|error| bad(error.to_string()))
    }
}

/// Which request fields an entry keeps only as digests.
///
/// A rule names an attribute as policies do (`args.body`, `agent.email`,
/// `resource.owner`, `context.ip`, `task.customer`). Only a `String` that no condition
/// reads may be masked: its value is replaced by its digest, which is still a string,
/// so a masked request still validates and decides as the original did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Masking {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    written: String,
    root: Root,
    name: String,
}

impl Masking {
    /// The rules, checked against the policies: each must name a `String` attribute
    /// that no condition reads (or replay could not reproduce the decisions).
    pub fn new(set: &PolicySet, written: &[String]) -> Result<Masking, AuditError> {
        let reads = set.hir().field_reads();
        let mut rules = Vec::new();
        for text in written {
            let refuse = |why: String| AuditError::Masking(format!("cannot mask `{text}`: {why}"));
            let (root, name) =
                text.split_once('.').ok_or_else(|| refuse("write ROOT.NAME, such as `args.body`".into()))?;
            let root = match root {
                "args" => Root::Args,
                "agent" => Root::Agent,
                "resource" => Root::Resource,
                "context" => Root::Context,
                "task" => Root::Task,
                other => {
                    return Err(refuse(format!(
                        "`{other}` holds no maskable attributes (args, agent, resource, context or task)"
                    )))
                }
            };
            let types = declared_types(set, root, name);
            if types.is_empty() {
                return Err(refuse("no such attribute is declared".to_string()));
            }
            if let Some(other) = types.iter().find(|ty| **ty != Type::String) {
                return Err(refuse(format!("it is a {other}, and only strings are replaced by their digest")));
            }
            if name == "id" || (root == Root::Context && name == "time") {
                return Err(refuse("identifiers and the time are needed to replay and to trace decisions".to_string()));
            }
            if reads.iter().any(|(read, path)| *read == root && path.first().is_some_and(|first| &**first == name)) {
                return Err(refuse("the policies read it, so a decision could not be replayed without it".to_string()));
            }
            rules.push(Rule { written: text.clone(), root, name: name.to_string() });
        }
        Ok(Masking { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Replaces each masked value in `request` (a request document) by its digest;
    /// returns the masked fields' paths in the document.
    fn apply(&self, request: &mut Json) -> Result<Vec<Json>, AuditError> {
        let mut masked = Vec::new();
        for rule in &self.rules {
            let name = rule.name.as_str();
            let mut places: Vec<(String, &mut Json)> = Vec::new();
            match rule.root {
                Root::Args => places.extend(field(request, &["args"], name, "args")),
                Root::Context => places.extend(field(request, &["context"], name, "context")),
                Root::Agent => places.extend(field(request, &["agent", "attrs"], name, "agent.attrs")),
                Root::Task => places.extend(field(request, &["task", "params"], name, "task.params")),
                Root::Resource => {
                    let (one, many) = match request.as_object_mut() {
                        Some(doc) => resource_parts(doc),
                        None => (None, None),
                    };
                    places.extend(one.and_then(|one| field(one, &["attrs"], name, "resource.attrs")));
                    for (at, each) in many.into_iter().flatten().enumerate() {
                        places.extend(field(each, &["attrs"], name, &format!("resources[{at}].attrs")));
                    }
                }
                _ => {}
            }
            for (path, value) in places {
                if value.is_string() {
                    *value = Json::String(value_digest(value)?);
                    masked.push(json!({"path": path, "rule": rule.written}));
                }
            }
        }
        Ok(masked)
    }
}

fn resource_parts(doc: &mut Map<String, Json>) -> (Option<&mut Json>, Option<std::slice::IterMut<'_, Json>>) {
    let mut one = None;
    let mut many = None;
    for (key, value) in doc.iter_mut() {
        match key.as_str() {
            "resource" => one = Some(value),
            "resources" => many = value.as_array_mut().map(|list| list.iter_mut()),
            _ => {}
        }
    }
    (one, many)
}

/// The value at `parents` then `name` in `doc`, with its dotted path.
fn field<'a>(doc: &'a mut Json, parents: &[&str], name: &str, shown: &str) -> Option<(String, &'a mut Json)> {
    let mut at = doc;
    for parent in parents {
        at = at.get_mut(*parent)?;
    }
    Some((format!("{shown}.{name}"), at.get_mut(name)?))
}

/// The types `root.name` is declared with, wherever it is declared.
fn declared_types(set: &PolicySet, root: Root, name: &str) -> Vec<Type> {
    let env = &set.hir().env;
    let record_field = |record: &crate::semantics::types::RecordType| record.get(name).map(|field| field.ty.clone());
    match root {
        Root::Args => env.actions.values().filter_map(|action| record_field(&action.params)).collect(),
        Root::Agent => record_field(&env.agent).into_iter().collect(),
        Root::Context => record_field(&env.context).into_iter().collect(),
        Root::Resource => env.resources.values().filter_map(|resource| record_field(resource)).collect(),
        Root::Task => env
            .tasks
            .values()
            .flat_map(|task| task.params.iter().filter(|(param, _)| param == name).map(|(_, ty)| ty.clone()))
            .collect(),
        _ => Vec::new(),
    }
}

/// An entry without its position (`seq`, `prev`), which the log adds.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// The task the entry belongs to.
    pub task: String,
    /// Each field's name and canonical bytes, in no particular order.
    pub members: Members,
}

/// The entry for `event`.
pub fn draft(event: &Event<'_>, at: i64, policy_set: &str, masking: &Masking) -> Result<Draft, AuditError> {
    let (task, members) = match event {
        Event::Opened { task, grant } => (*task, members(Common::of(opened(task, grant), task, at)?)?),
        Event::Delegated { task, grant } => (*task, members(Common::of(delegated(grant), task, at)?)?),
        Event::Ended { task, revocation } => (*task, members(Common::of(ended(revocation), task, at)?)?),
        Event::Decided(decided) => (decided.task, decision(decided, at, policy_set, masking)?),
    };
    Ok(Draft { task: task.id.clone(), members })
}

fn members<T: Serialize>(fields: T) -> Result<Members, AuditError> {
    super::canonical::members(&fields).map_err(AuditError::Encode)
}

fn encoded<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, AuditError> {
    super::canonical::encode(value).map_err(AuditError::Encode)
}

/// The fields every entry has, besides its own. A decision's `task` comes encoded
/// already, from its holder's parts.
#[derive(Serialize)]
struct Common<'a, F> {
    #[serde(flatten)]
    fields: F,
    time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    task: Option<TaskSummary<'a>>,
}

impl<'a, F> Common<'a, F> {
    fn of(fields: F, task: &'a TaskRecord, at: i64) -> Result<Common<'a, F>, AuditError> {
        Ok(Common { fields, time: timestamp_text(at), task: Some(TaskSummary::of(task)?) })
    }
}

/// What an entry says of its task.
#[derive(Serialize)]
struct TaskSummary<'a> {
    id: &'a str,
    kind: &'a str,
    params_digest: String,
    deadline: String,
}

impl<'a> TaskSummary<'a> {
    fn of(task: &'a TaskRecord) -> Result<TaskSummary<'a>, AuditError> {
        Ok(TaskSummary {
            id: &task.id,
            kind: &task.kind,
            params_digest: digest(&super::canonical::encode(&task.params).map_err(AuditError::Encode)?),
            deadline: timestamp_text(task.deadline),
        })
    }
}

/// The chain from the sponsor to the agent holding `grant`.
fn chain(grant: &GrantRecord) -> Vec<&str> {
    grant.chain.iter().map(String::as_str).chain([grant.agent.as_str()]).collect()
}

fn opened(task: &TaskRecord, grant: &GrantRecord) -> Map<String, Json> {
    object(json!({
        "kind": "task_opened",
        "chain": chain(grant),
        "grant": grant.id,
        "sponsor": task.sponsor,
        "opened_by": task.opened_by,
        "start": timestamp_text(task.start),
    }))
}

fn delegated(grant: &GrantRecord) -> Map<String, Json> {
    object(json!({
        "kind": "task_delegated",
        "chain": chain(grant),
        "grant": grant.id,
        "parent": grant.parent,
        "narrowing": grant.narrowing,
    }))
}

fn ended(revocation: &Revocation) -> Map<String, Json> {
    let kind = match (&revocation.grant, revocation.kind.as_str()) {
        (Some(_), _) => "grant_revoked",
        (None, "completed") => "task_completed",
        (None, "expired") => "task_expired",
        (None, _) => "task_revoked",
    };
    object(json!({
        "kind": kind,
        "cause": revocation.kind,
        "grant": revocation.grant,
        "by": revocation.by,
        "reason": revocation.reason,
        "revocation": revocation.seq,
    }))
}

/// A decision's own fields (its `chain` comes encoded already, from its holder's parts).
#[derive(Serialize)]
struct DecisionFields<'a> {
    kind: &'static str,
    grant: &'a str,
    request_digest: String,
    policy_set: &'a str,
    decision: Outcome,
    policy_decision: Option<Outcome>,
    policies: &'a Matched,
    reasons: &'a [Reason],
    obligations: &'a Option<Obligations>,
    credential: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    masked: Vec<Json>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [RequestError],
}

/// A decision's members: its fields, the common ones, and its request (masked where a
/// rule says), encoded once for both its digest and the entry.
fn decision(decided: &Decided<'_>, at: i64, policy_set: &str, masking: &Masking) -> Result<Members, AuditError> {
    let parts = match decided.memo.get::<HolderParts>() {
        Some(parts) => parts,
        None => {
            let parts = HolderParts::of(decided)?;
            decided.memo.keep(parts).ok_or_else(|| AuditError::Encode("the memo holds something else".to_string()))?
        }
    };
    let mut request = parts.request(decided.request.call)?;
    let request_digest = digest(&request);
    let mut masked = Vec::new();
    if !masking.is_empty() {
        let mut document =
            serde_json::to_value(decided.request.doc()).map_err(|error| AuditError::Encode(error.to_string()))?;
        masked = masking.apply(&mut document)?;
        if !masked.is_empty() {
            request = canonical(&document)?;
        }
    }
    let decision = decided.decision;
    let fields = DecisionFields {
        kind: "decision",
        grant: &decided.grant.id,
        request_digest,
        policy_set,
        decision: decision.decision,
        policy_decision: decided.policy_outcome,
        policies: &decision.policies,
        reasons: &decision.reasons,
        obligations: &decision.obligations,
        credential: decided.credential,
        masked,
        errors: &decision.errors,
    };
    let mut members = members(Common { fields, time: timestamp_text(at), task: None })?;
    members.push("task", &parts.task);
    members.push("chain", &parts.chain);
    members.push("request", &request);
    Ok(members)
}

/// What every decision of one holder of a task shares, encoded once: the entry's
/// `task` and `chain`, and the request's `agent`, `chain` and `task`, which the runtime
/// fills from the holder.
struct HolderParts {
    task: Vec<u8>,
    chain: Vec<u8>,
    request_agent: Vec<u8>,
    request_chain: Vec<u8>,
    request_task: Vec<u8>,
}

impl HolderParts {
    fn of(decided: &Decided<'_>) -> Result<HolderParts, AuditError> {
        Ok(HolderParts {
            task: encoded(&TaskSummary::of(decided.task)?)?,
            chain: encoded(&chain(decided.grant))?,
            request_agent: encoded(&decided.request.agent)?,
            request_chain: encoded(&decided.request.chain)?,
            request_task: encoded(&decided.request.task)?,
        })
    }

    /// The canonical bytes of the request of `call` by this holder: the same bytes as
    /// encoding the whole request document
    /// ([`crate::runtime::journal::StampedRequest::doc`]).
    fn request(&self, call: &CallDoc) -> Result<Vec<u8>, AuditError> {
        // Every field is named, so that a field added to calls cannot be left out of the
        // entries (`StampedRequest::doc` names every field of a request).
        let CallDoc { action, args, resource, resources, context, behavior } = call;
        let rest = RequestRest { action, args, resource, resources, context, behavior };
        let mut members = members(&rest)?;
        members.push("agent", &self.request_agent);
        members.push("chain", &self.request_chain);
        members.push("task", &self.request_task);
        Ok(members.into_object())
    }
}

/// A request's fields besides the holder's, serialised as [`crate::eval::RequestDoc`] serialises them.
#[derive(Serialize)]
struct RequestRest<'a> {
    action: &'a Option<String>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    args: &'a Map<String, Json>,
    resource: &'a Option<ResourceDoc>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    resources: &'a [ResourceDoc],
    #[serde(skip_serializing_if = "Map::is_empty")]
    context: &'a Map<String, Json>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    behavior: &'a Map<String, Json>,
}

fn object(value: Json) -> Map<String, Json> {
    match value {
        Json::Object(fields) => fields,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code may fail loudly

    use super::*;
    use crate::eval::RequestDoc;
    use crate::runtime::journal::StampedRequest;

    /// A request encoded from its holder's parts and the rest has the bytes of the
    /// request encoded whole: with and without an agent and a task, with empty and full
    /// maps, with one resource and with several.
    #[test]
    fn requests_encode_from_their_holders_parts_as_whole() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/eval/request.json")).unwrap();
        let full: RequestDoc = serde_json::from_str(&text).unwrap();
        let several = RequestDoc {
            resource: None,
            resources: full.resource.iter().chain(full.resource.iter()).cloned().collect(),
            ..RequestDoc::default()
        };
        let unheld = RequestDoc { agent: None, task: None, args: Map::new(), ..full.clone() };
        for request in [full, several, unheld, RequestDoc::default()] {
            let parts = HolderParts {
                task: Vec::new(),
                chain: Vec::new(),
                request_agent: encoded(&request.agent).unwrap(),
                request_chain: encoded(&request.chain).unwrap(),
                request_task: encoded(&request.task).unwrap(),
            };
            let call = CallDoc {
                action: request.action.clone(),
                args: request.args.clone(),
                resource: request.resource.clone(),
                resources: request.resources.clone(),
                context: request.context.clone(),
                behavior: request.behavior.clone(),
            };
            let stamped = StampedRequest {
                agent: request.agent.as_ref(),
                chain: &request.chain,
                task: request.task.as_ref(),
                call: &call,
            };
            assert_eq!(stamped.doc(), request, "the parts make the request");
            let whole = String::from_utf8(encoded(&request).unwrap()).unwrap();
            assert_eq!(String::from_utf8(parts.request(&call).unwrap()).unwrap(), whole);
        }
    }
}
