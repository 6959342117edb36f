//! What a decision says: the outcome, the policies behind it, the reasons, the
//! obligations of the credential, errors, and optionally the path through the graph.

use std::fmt::Write;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::hir::value::{parse_timestamp, timestamp_text};

use super::request::RequestError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Allow,
    Deny,
    Escalate,
}

/// A test's expected decision, as written, is an outcome.
impl From<crate::syntax::ast::Decision> for Outcome {
    fn from(decision: crate::syntax::ast::Decision) -> Outcome {
        use crate::syntax::ast::Decision;
        match decision {
            Decision::Allow => Outcome::Allow,
            Decision::Deny => Outcome::Deny,
            Decision::Escalate => Outcome::Escalate,
        }
    }
}

impl From<Outcome> for crate::syntax::ast::Decision {
    fn from(outcome: Outcome) -> crate::syntax::ast::Decision {
        use crate::syntax::ast::Decision;
        match outcome {
            Outcome::Allow => Decision::Allow,
            Outcome::Deny => Decision::Deny,
            Outcome::Escalate => Decision::Escalate,
        }
    }
}

impl Outcome {
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::Escalate => "escalate",
        }
    }
}

/// The policies whose conditions held, by effect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matched {
    pub forbid: Vec<Arc<str>>,
    pub escalate: Vec<Arc<str>>,
    pub permit: Vec<Arc<str>>,
}

impl Matched {
    /// Whether a policy of any effect by this name matched.
    pub fn matched(&self, name: &str) -> bool {
        self.forbid.iter().chain(&self.escalate).chain(&self.permit).any(|own| &**own == name)
    }
}

/// Why the decision came out as it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// Stable code: `forbidden`, `outside_intent`, `no_task`, ….
    pub code: String,
    pub message: String,
    /// The `message`s of the forbids or escalations that decided, as their authors wrote
    /// them, for the person who reads the decision (an approver, the agent's user).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<String>,
    /// For a request on several resources: the id of the one this reason is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

impl Reason {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Reason { code: code.to_string(), message: message.into(), messages: Vec::new(), resource: None }
    }
}

/// What the credential issued with an allow carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Obligations {
    /// How long the credential lives: the shortest ttl of the permits that applied,
    /// never past the task's deadline. In whole milliseconds, rounded down; `expires_at`
    /// is exact.
    pub ttl_ms: i64,
    /// When the credential expires (RFC 3339 in JSON).
    pub expires_at: Instant,
    pub tags: Vec<String>,
    pub messages: Vec<String>,
    /// For each permit that applied, the scope its credential covers.
    pub scopes: Vec<CredentialScope>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialScope {
    pub policy: Arc<str>,
    /// The `grant scope` items, or the task's scope when the permit narrows nothing.
    pub scope: Arc<[String]>,
    /// The permit has no `grant scope`, so the credential carries its task's whole scope.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub whole_task: bool,
}

/// A point in time, in nanoseconds since the epoch; RFC 3339 in JSON. Formatting waits
/// until a decision is written out, off the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant(pub i64);

impl std::fmt::Display for Instant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&timestamp_text(self.0))
    }
}

impl Serialize for Instant {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&timestamp_text(self.0))
    }
}

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_timestamp(&text).map(Instant).map_err(serde::de::Error::custom)
    }
}

/// One node on the path through the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// What the node tests: an attribute or a condition.
    pub test: String,
    /// The value it saw.
    pub saw: String,
    /// The branch taken.
    pub branch: String,
}

/// The path through one of a partition's diagrams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Walk {
    /// `task checks` or `policies`.
    pub diagram: String,
    pub steps: Vec<Step>,
    /// The rules matched at the leaf.
    pub matched: Vec<Arc<str>>,
    /// Each node left, with the number of the branch taken (in the order
    /// [`crate::compile::dot::edges`] lists them), for test coverage.
    #[serde(skip)]
    pub visited: Vec<(u32, usize)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub decision: Outcome,
    pub policies: Matched,
    pub reasons: Vec<Reason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub obligations: Option<Obligations>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<RequestError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Vec<Walk>>,
}

impl Decision {
    /// A deny for a request that could not be evaluated.
    pub fn invalid(errors: Vec<RequestError>) -> Decision {
        let count = errors.len();
        Decision {
            decision: Outcome::Deny,
            policies: Matched::default(),
            reasons: vec![Reason::new(
                "invalid_request",
                format!("the request is invalid ({count} error{})", if count == 1 { "" } else { "s" }),
            )],
            obligations: None,
            errors,
            explanation: None,
        }
    }

    pub fn deny(reason: Reason) -> Decision {
        Decision {
            decision: Outcome::Deny,
            policies: Matched::default(),
            reasons: vec![reason],
            obligations: None,
            errors: Vec::new(),
            explanation: None,
        }
    }

    /// The decision on a request on several resources, from the decision on each (with
    /// its resource's id): every resource must be allowed. The first denied resource's
    /// decision (else the first escalated one's) decides, its reasons naming the
    /// resource; an allow carries the strictest obligations of all of them.
    pub fn all_of(each: Vec<(String, Decision)>) -> Decision {
        let refused = [Outcome::Deny, Outcome::Escalate]
            .into_iter()
            .find_map(|outcome| each.iter().position(|(_, decision)| decision.decision == outcome));
        let mut decisions = each.into_iter();
        let first = match refused {
            Some(at) => decisions.nth(at),
            None => decisions.next(),
        };
        let Some((id, mut combined)) = first else {
            return Decision::deny(Reason::new("no_resource", "the request names no resource"));
        };
        if refused.is_some() {
            for reason in &mut combined.reasons {
                reason.resource = Some(id.clone());
            }
            return combined;
        }
        for (_, decision) in decisions {
            combined.absorb_allow(decision);
        }
        combined
    }

    /// Adds another resource's allow: the policies of both, the shorter credential, the
    /// tags, messages and scopes of both.
    fn absorb_allow(&mut self, other: Decision) {
        for (own, more) in [
            (&mut self.policies.forbid, other.policies.forbid),
            (&mut self.policies.escalate, other.policies.escalate),
            (&mut self.policies.permit, other.policies.permit),
        ] {
            for name in more {
                if !own.contains(&name) {
                    own.push(name);
                }
            }
        }
        if let (Some(own), Some(more)) = (self.obligations.as_mut(), other.obligations) {
            own.ttl_ms = own.ttl_ms.min(more.ttl_ms);
            own.expires_at = own.expires_at.min(more.expires_at);
            for tag in more.tags {
                if !own.tags.contains(&tag) {
                    own.tags.push(tag);
                }
            }
            own.tags.sort();
            for message in more.messages {
                if !own.messages.contains(&message) {
                    own.messages.push(message);
                }
            }
            for scope in more.scopes {
                if !own.scopes.contains(&scope) {
                    own.scopes.push(scope);
                }
            }
        }
        if let (Some(own), Some(more)) = (self.explanation.as_mut(), other.explanation) {
            own.extend(more);
        }
    }

    /// The decision as a person reads it, with the path when it was recorded.
    pub fn to_text(&self) -> String {
        let mut out = format!("decision: {}\n", self.decision.word());
        for (effect, names) in [
            ("forbid", &self.policies.forbid),
            ("escalate", &self.policies.escalate),
            ("permit", &self.policies.permit),
        ] {
            if !names.is_empty() {
                let names: Vec<&str> = names.iter().map(|name| &**name).collect();
                let _ = writeln!(out, "  {effect}: {}", names.join(", "));
            }
        }
        for reason in &self.reasons {
            let about = reason.resource.as_ref().map(|id| format!("resource `{id}`: ")).unwrap_or_default();
            let _ = writeln!(out, "  because: {about}{} [{}]", reason.message, reason.code);
            for message in &reason.messages {
                let _ = writeln!(out, "    {message}");
            }
        }
        if let Some(obligations) = &self.obligations {
            let _ = writeln!(out, "  credential: expires {} ({} ms)", obligations.expires_at, obligations.ttl_ms);
            if !obligations.tags.is_empty() {
                let _ = writeln!(out, "  tags: {}", obligations.tags.join(", "));
            }
            for message in &obligations.messages {
                let _ = writeln!(out, "  message: {message}");
            }
            for scope in &obligations.scopes {
                let whole = if scope.whole_task { " (no `grant scope`: the task's whole scope)" } else { "" };
                let _ = writeln!(out, "  scope of {}{whole}: {}", scope.policy, scope.scope.join("; "));
            }
        }
        for error in &self.errors {
            let place = if error.path.is_empty() { String::new() } else { format!(" at {}", error.path) };
            let _ = writeln!(out, "  error{place}: {} [{}]", error.message, error.code);
            if let Some(help) = &error.help {
                let _ = writeln!(out, "    help: {help}");
            }
        }
        for walk in self.explanation.iter().flatten() {
            let _ = writeln!(out, "path through the {}:", walk.diagram);
            for (number, step) in walk.steps.iter().enumerate() {
                let _ = writeln!(out, "  {}. {} is {} → {}", number + 1, step.test, step.saw, step.branch);
            }
            let names: Vec<&str> = walk.matched.iter().map(|name| &**name).collect();
            let matched = if names.is_empty() { "nothing".to_string() } else { names.join(", ") };
            let _ = writeln!(out, "  matched: {matched}");
        }
        out
    }
}
