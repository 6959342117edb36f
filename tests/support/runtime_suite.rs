//! The runtime's integration suite, shared by every store: each case takes a fresh,
//! empty store and exercises the runtime through its public API only.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use mandate::eval::{CallDoc, Outcome, PolicySet};
use mandate::runtime::keys::{AgentAlgorithm, AgentKey, KeyRing};
use mandate::runtime::store::{Store, TaskState};
use mandate::runtime::tokens::{self, make_assertion};
use mandate::runtime::{AgentSpec, Narrowing, Runtime, RuntimeConfig, RuntimeError};
use serde_json::{json, Value as Json};

pub const MINUTE: i64 = 60_000_000_000;

/// 2026-12-01T10:00:00Z.
pub fn t0() -> i64 {
    mandate::hir::value::parse_timestamp("2026-12-01T10:00:00Z").expect("a valid time")
}

pub fn policies() -> Arc<PolicySet> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runtime");
    Arc::new(PolicySet::load(&path, mandate::eval::Limits::default()).expect("the runtime fixture checks"))
}

/// A runtime over `store` with three agents: `triage` and `helper` (support), `biller`
/// (billing), and `ops-bot` (ops), all sponsored by alice.
pub struct World {
    pub runtime: Arc<Runtime>,
    pub keys: Vec<(String, AgentKey)>,
}

impl World {
    pub fn new(store: Box<dyn Store>) -> World {
        World::new_with(store, |runtime| runtime)
    }

    /// [`World::new`], with the runtime passed through `wrap` (to add a journal, say).
    pub fn new_with(store: Box<dyn Store>, wrap: impl FnOnce(Runtime) -> Runtime) -> World {
        let mut world = World::attach_with(store, wrap);
        for (id, team, algorithm) in [
            ("triage", "support", AgentAlgorithm::EdDsa),
            ("helper", "support", AgentAlgorithm::Es256),
            ("biller", "billing", AgentAlgorithm::EdDsa),
            ("ops-bot", "ops", AgentAlgorithm::EdDsa),
        ] {
            world.add_agent(id, team, algorithm);
        }
        world
    }

    /// A runtime over a store whose agents are registered already (their private keys
    /// are not at hand: only calls that need no assertion work).
    pub fn attach(store: Box<dyn Store>) -> World {
        World::attach_with(store, |runtime| runtime)
    }

    pub fn attach_with(store: Box<dyn Store>, wrap: impl FnOnce(Runtime) -> Runtime) -> World {
        let ring = KeyRing::ephemeral(t0()).expect("keys");
        let runtime = Runtime::new(policies(), store, ring, RuntimeConfig::default()).expect("a runtime");
        World { runtime: Arc::new(wrap(runtime)), keys: Vec::new() }
    }

    pub fn add_agent(&mut self, id: &str, team: &str, algorithm: AgentAlgorithm) {
        let key = AgentKey::generate(&format!("{id}-key"), algorithm).expect("a key");
        let spec = AgentSpec {
            id: id.to_string(),
            sponsor: "alice@example.com".to_string(),
            attrs: json!({"team": team}).as_object().cloned().unwrap_or_default(),
            keys: vec![key.public_jwk().expect("a jwk")],
        };
        self.runtime.register_agent(spec, t0()).expect("registers");
        self.keys.push((id.to_string(), key));
    }

    pub fn key(&self, agent: &str) -> &AgentKey {
        &self.keys.iter().find(|(id, _)| id == agent).expect("a known agent").1
    }

    pub fn assertion(&self, agent: &str, now: i64) -> String {
        make_assertion(self.key(agent), agent, "mandate", now / 1_000_000_000, 60).expect("an assertion")
    }

    pub fn open(&self, agent: &str, params: Json) -> String {
        let params = params.as_object().cloned().unwrap_or_default();
        self.runtime.open_task(agent, "Support", params, None, t0()).expect("opens").task.id
    }
}

pub fn call(action: &str, customer: &str, args: Json) -> CallDoc {
    serde_json::from_value(json!({
        "action": action,
        "args": args,
        "resource": {"type": "Ticket", "id": "T-1", "attrs": {"customer": customer, "number": "T-1"}},
    }))
    .expect("a call")
}

fn code(result: Result<impl std::fmt::Debug, RuntimeError>) -> String {
    result.expect_err("refused").code
}

fn outcome(world: &World, agent: &str, task: &str, call: &CallDoc, now: i64) -> (Outcome, String, String) {
    let decision = world.runtime.decide(agent, task, call, now, false).expect("decides").decision;
    let reason = decision.reasons.first().cloned().expect("a reason");
    (decision.decision, reason.code, reason.message)
}

// --- the cases -------------------------------------------------------------------------

pub fn assertions(store: Box<dyn Store>) {
    let world = World::new(store);
    let now = t0();
    let good = world.assertion("triage", now);
    assert_eq!(world.runtime.authenticate(&good, now).expect("accepted"), "triage");
    assert_eq!(code(world.runtime.authenticate(&good, now)), "replayed_assertion");
    // ES256 keys verify too.
    assert_eq!(world.runtime.authenticate(&world.assertion("helper", now), now).expect("accepted"), "helper");
    let key = world.key("triage");
    let wrong_audience = make_assertion(key, "triage", "someone-else", now / 1_000_000_000, 60).expect("made");
    assert_eq!(code(world.runtime.authenticate(&wrong_audience, now)), "wrong_audience");
    let old = world.assertion("triage", now - 10 * MINUTE);
    assert_eq!(code(world.runtime.authenticate(&old, now)), "expired");
    let long = make_assertion(key, "triage", "mandate", now / 1_000_000_000, 3600).expect("made");
    assert_eq!(code(world.runtime.authenticate(&long, now)), "too_long_lived");
    // Another agent's key, claiming to be triage.
    let forged = make_assertion(world.key("biller"), "triage", "mandate", now / 1_000_000_000, 60).expect("made");
    assert_eq!(code(world.runtime.authenticate(&forged, now)), "bad_signature");
    let stranger = make_assertion(key, "nobody", "mandate", now / 1_000_000_000, 60).expect("made");
    assert_eq!(code(world.runtime.authenticate(&stranger, now)), "unknown_agent");
    // `alg: none`, and a tampered payload.
    let header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = B64.encode(
        json!({"iss":"triage","sub":"triage","aud":"mandate","iat":now/1_000_000_000,"exp":now/1_000_000_000+60,"jti":"x"})
            .to_string(),
    );
    assert_eq!(code(world.runtime.authenticate(&format!("{header}.{payload}."), now)), "unsigned_token");
    let fresh = world.assertion("triage", now);
    let mut pieces: Vec<&str> = fresh.split('.').collect();
    pieces[1] = &payload;
    assert_eq!(code(world.runtime.authenticate(&pieces.join("."), now)), "bad_signature");
    assert_eq!(code(world.runtime.authenticate("not a token", now)), "malformed_token");
}

/// `alg: "Ed25519"` (RFC 9864) is accepted beside `EdDSA`.
pub fn ed25519_algorithm_name(store: Box<dyn Store>) {
    let mut world = World::new(store);
    let signing = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let jwk = json!({"kty":"OKP","crv":"Ed25519","x": B64.encode(signing.verifying_key().to_bytes()),"kid":"k1"});
    let spec = AgentSpec {
        id: "modern".to_string(),
        sponsor: "bob@example.com".to_string(),
        attrs: json!({"team": "support"}).as_object().cloned().unwrap_or_default(),
        keys: vec![jwk],
    };
    world.runtime.register_agent(spec, t0()).expect("registers");
    world.keys.clear();
    let now = t0() / 1_000_000_000;
    let header = B64.encode(br#"{"alg":"Ed25519","typ":"JWT","kid":"k1"}"#);
    let payload = B64
        .encode(json!({"iss":"modern","sub":"modern","aud":"mandate","iat":now,"exp":now+60,"jti":"j-1"}).to_string());
    let input = format!("{header}.{payload}");
    use ed25519_dalek::Signer;
    let signature = B64.encode(signing.sign(input.as_bytes()).to_bytes());
    let token = format!("{input}.{signature}");
    assert_eq!(world.runtime.authenticate(&token, t0()).expect("accepted"), "modern");
}

pub fn registration(store: Box<dyn Store>) {
    let world = World::new(store);
    let key = AgentKey::generate("k", AgentAlgorithm::EdDsa).expect("a key");
    let spec = |id: &str, attrs: Json, jwk: Json| AgentSpec {
        id: id.to_string(),
        sponsor: "alice@example.com".to_string(),
        attrs: attrs.as_object().cloned().unwrap_or_default(),
        keys: vec![jwk],
    };
    let public = key.public_jwk().expect("jwk");
    let bad_attrs = world.runtime.register_agent(spec("x", json!({"team": 7}), public.clone()), t0());
    let error = bad_attrs.expect_err("refused");
    assert_eq!(error.code, "invalid_agent");
    assert!(error.errors.iter().any(|e| e.path == "agent.attrs.team"), "{error:?}");
    let private = world.runtime.register_agent(spec("y", json!({"team": "a"}), key.private_jwk().expect("jwk")), t0());
    assert_eq!(code(private), "invalid_key");
    let twice = world.runtime.register_agent(spec("triage", json!({"team": "a"}), public), t0());
    assert_eq!(code(twice), "exists");
    assert_eq!(world.runtime.store().agents().expect("agents").len(), 4, "refusals changed nothing");
}

pub fn opening(store: Box<dyn Store>) {
    let world = World::new(store);
    let open = |agent: &str, params: Json, ttl: Option<i64>| {
        let params = params.as_object().cloned().unwrap_or_default();
        world.runtime.open_task(agent, "Support", params, ttl, t0())
    };
    let opened = open("triage", json!({"customer": "acme"}), Some(120 * MINUTE)).expect("opens");
    assert_eq!(opened.task.deadline, t0() + 30 * MINUTE, "never past the declared ttl");
    assert_eq!(opened.task.params.get("limit"), Some(&json!("100.0")), "the default is filled in");
    assert_eq!(opened.grant.chain, vec!["alice@example.com".to_string()]);
    let shorter = open("triage", json!({"customer": "acme"}), Some(5 * MINUTE)).expect("opens");
    assert_eq!(code(open("triage", json!({"customer": "acme"}), Some(0))), "invalid_ttl");
    assert_eq!(code(open("triage", json!({"customer": "acme"}), Some(-MINUTE))), "invalid_ttl");
    assert_eq!(shorter.task.deadline, t0() + 5 * MINUTE);
    assert_eq!(code(open("triage", json!({}), None)), "invalid_params");
    assert_eq!(code(open("triage", json!({"customer": "acme", "limit": "5000.0"}), None)), "precondition_failed");
    assert_eq!(code(open("biller", json!({"customer": "acme"}), None)), "open_refused");
    assert_eq!(code(open("nobody", json!({"customer": "acme"}), None)), "unknown_agent");
    let unknown = world.runtime.open_task("triage", "Suport", serde_json::Map::new(), None, t0());
    let error = unknown.expect_err("refused");
    assert_eq!(error.code, "unknown_task_kind");
    assert!(error.help.unwrap_or_default().contains("Support"));
    assert_eq!(world.runtime.store().tasks().expect("tasks").len(), 2, "refusals changed nothing");
    // The task token carries the chain and the scope.
    let claims = world.runtime.verify_token(&opened.token, t0()).expect("verifies");
    assert_eq!(claims.sub, "triage");
    assert_eq!(claims.exp, (t0() + 30 * MINUTE) / 1_000_000_000);
    assert_eq!(claims.act.as_ref().map(|act| act.sub.as_str()), Some("alice@example.com"));
    let detail = &claims.authorization_details[0];
    assert_eq!(detail["type"], "mandate_task");
    assert_eq!(detail["actions"], json!(["comment", "credit", "merge", "read", "refund"]));
}

pub fn decisions(store: Box<dyn Store>) {
    let world = World::new(store);
    let task = world.open("triage", json!({"customer": "acme"}));
    let now = t0() + MINUTE;
    let (decision, _, _) = outcome(&world, "triage", &task, &call("read", "acme", json!({})), now);
    assert_eq!(decision, Outcome::Allow);
    let (decision, reason, _) = outcome(&world, "triage", &task, &call("read", "globex", json!({})), now);
    assert_eq!((decision, reason.as_str()), (Outcome::Deny, "outside_intent"));
    // Another agent holds nothing in this task.
    let stranger = world.runtime.decide("helper", &task, &call("read", "acme", json!({})), now, false);
    assert_eq!(code(stranger), "not_in_task");
    // The caller cannot state who it is or which task it is in.
    let smuggled = serde_json::from_value::<CallDoc>(json!({"action": "read", "agent": {"id": "root"}}));
    assert!(smuggled.is_err());
    // Nor what time it is: a stated clock could act in an expired task.
    let mut back_dated = call("read", "acme", json!({}));
    back_dated.context.insert("time".to_string(), json!("2026-01-01T00:00:00Z"));
    let late = world.runtime.decide("triage", &task, &back_dated, now, false).expect("decides");
    assert_eq!((late.decision.decision, late.decision.errors[0].code.as_str()), (Outcome::Deny, "runtime_clock"));
    // A malformed call is denied with its errors.
    let bad = call("refund", "acme", json!({"amount": "lots"}));
    let decision = world.runtime.decide("triage", &task, &bad, now, false).expect("decides").decision;
    assert_eq!(decision.decision, Outcome::Deny);
    assert!(!decision.errors.is_empty());
    // An allow carries an action credential bound to the action, the resource and the args.
    let allowed = world.runtime.decide("triage", &task, &call("refund", "acme", json!({"amount": "10.0"})), now, true);
    let credential = allowed.expect("decides").credential.expect("a credential");
    let claims = world.runtime.verify_token(&credential, now).expect("verifies");
    let detail = &claims.authorization_details[0];
    assert_eq!(detail["type"], "mandate_action");
    assert_eq!(detail["action"], "refund");
    assert_eq!(detail["resource"], json!({"type": "Ticket", "id": "T-1"}));
    assert_eq!(claims.exp, (now + 5 * MINUTE) / 1_000_000_000, "the permit's ttl");
    assert!(detail["args_digest"].as_str().is_some_and(|digest| digest.len() == 43));
    // At the deadline the task is over: the first call after it ends the task as
    // expired, in the store and in the revocation log, and the task stays ended.
    let deadline = t0() + 30 * MINUTE;
    let (decision, reason, _) = outcome(&world, "triage", &task, &call("read", "acme", json!({})), deadline);
    assert_eq!((decision, reason.as_str()), (Outcome::Deny, "task_expired"));
    let record = world.runtime.task(&task).expect("the task");
    assert_eq!((record.state, record.ended_at), (TaskState::Expired, Some(deadline)));
    let ends = world.runtime.store().revocations_since(0).expect("the revocation log");
    assert_eq!(ends.iter().filter(|end| end.task == task && end.kind == "expired").count(), 1);
    let (decision, reason, _) = outcome(&world, "triage", &task, &call("read", "acme", json!({})), deadline + MINUTE);
    assert_eq!((decision, reason.as_str()), (Outcome::Deny, "task_expired"));
    let ends = world.runtime.store().revocations_since(0).expect("the revocation log");
    assert_eq!(ends.iter().filter(|end| end.task == task).count(), 1, "expired once");
    // Nothing is delegated in it any more, and its credentials fail.
    let delegated = world.runtime.delegate("triage", &task, "helper", Default::default(), deadline + MINUTE);
    assert_eq!(code(delegated), "task_expired");
    assert!(world.runtime.verify_token(&credential, now).is_err());
}

pub fn budgets(store: Box<dyn Store>) {
    let world = World::new(store);
    let task = world.open("triage", json!({"customer": "acme", "limit": "100.0"}));
    let now = t0() + MINUTE;
    let refund =
        |amount: &str| outcome(&world, "triage", &task, &call("refund", "acme", json!({"amount": amount})), now);
    assert_eq!(refund("60.0").0, Outcome::Allow);
    let (decision, reason, message) = refund("50.0");
    assert_eq!((decision, reason.as_str()), (Outcome::Deny, "budget_exhausted"));
    assert!(message.contains("task budget exhausted") && message.contains("40.0 remaining"), "{message}");
    // A forbid denies before the budget is touched.
    assert_eq!(refund("90.0").1, "forbidden");
    assert_eq!(refund("40.0").0, Outcome::Allow);
    assert_eq!(refund("0.0001").1, "budget_exhausted");
    let comment = || outcome(&world, "triage", &task, &call("comment", "acme", json!({"text": "hi"})), now);
    assert_eq!(comment().0, Outcome::Allow);
    assert_eq!(comment().0, Outcome::Allow);
    assert_eq!(comment().1, "budget_exhausted");
    // A negative amount would give budget back: the runtime refuses it, whatever the
    // policies allow (the prover flags the scope that lets it through).
    let credit =
        |amount: &str| outcome(&world, "triage", &task, &call("credit", "acme", json!({"amount": amount})), now);
    let (decision, reason, message) = credit("-5.0");
    assert_eq!((decision, reason.as_str()), (Outcome::Deny, "budget_invalid"), "{message}");
    assert_eq!(credit("0.0").0, Outcome::Allow, "zero is a boundary, not a refusal");
    // Reads count against nothing.
    assert_eq!(outcome(&world, "triage", &task, &call("read", "acme", json!({})), now).0, Outcome::Allow);
    let spent: Vec<(u32, i64, i64)> =
        world.runtime.store().budgets(&task).expect("budgets").iter().map(|b| (b.index, b.limit, b.spent)).collect();
    assert_eq!(spent, vec![(0, 1_000_000, 1_000_000), (1, 2, 2), (2, 1_000_000, 0)]);
    let status = world.runtime.budget_status(&task).expect("status");
    assert_eq!(status[0]["remaining"], "0.0");
    assert_eq!(status[1]["budget"], "budget count(comment) <= 2");
    assert_eq!(status[1]["spent"], "2");
}

/// Concurrent refunds never both spend the last unit.
pub fn concurrent_budget(store: Box<dyn Store>) {
    let world = Arc::new(World::new(store));
    let task = world.open("triage", json!({"customer": "acme", "limit": "55.0"}));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (world, task) = (world.clone(), task.clone());
            std::thread::spawn(move || {
                (0..3)
                    .filter(|_| {
                        let call = call("refund", "acme", json!({"amount": "10.0"}));
                        let decision = world.runtime.decide("triage", &task, &call, t0() + MINUTE, false);
                        decision.expect("decides").decision.decision == Outcome::Allow
                    })
                    .count()
            })
        })
        .collect();
    let allowed: usize = threads.into_iter().map(|thread| thread.join().expect("joins")).sum();
    assert_eq!(allowed, 5, "55 allows five refunds of 10");
    let spent = world.runtime.store().budgets(&task).expect("budgets")[0].spent;
    assert_eq!(spent, 500_000);
}

pub fn delegation(store: Box<dyn Store>) {
    let world = World::new(store);
    let task = world.open("triage", json!({"customer": "acme"}));
    let now = t0() + MINUTE;
    let reads_only = Narrowing { actions: Some(vec!["read".to_string()]), ..Narrowing::default() };
    let issued = world.runtime.delegate("triage", &task, "biller", reads_only.clone(), now).expect("delegates");
    assert_eq!(issued.grant.chain, vec!["alice@example.com".to_string(), "triage".to_string()]);
    let claims = world.runtime.verify_token(&issued.token, now).expect("verifies");
    let act = claims.act.expect("an act claim");
    assert_eq!((act.sub.as_str(), act.act.map(|inner| inner.sub)), ("triage", Some("alice@example.com".to_string())));
    assert_eq!(outcome(&world, "biller", &task, &call("read", "acme", json!({})), now).0, Outcome::Allow);
    let (decision, reason, _) = outcome(&world, "biller", &task, &call("comment", "acme", json!({"text": "x"})), now);
    assert_eq!((decision, reason.as_str()), (Outcome::Deny, "outside_delegated_scope"));
    // The task's declared narrowing keeps refunds with the opener.
    let refund = call("refund", "acme", json!({"amount": "5.0"}));
    assert_eq!(outcome(&world, "biller", &task, &refund, now).1, "delegation_exceeded");
    let refunds = Narrowing { actions: Some(vec!["refund".to_string()]), ..Narrowing::default() };
    assert_eq!(code(world.runtime.delegate("triage", &task, "helper", refunds, now)), "narrowing_widens");
    // Depth 1 only: biller cannot pass it on.
    assert_eq!(
        code(world.runtime.delegate("biller", &task, "helper", Narrowing::default(), now)),
        "delegation_too_deep"
    );
    // `to` refuses ops.
    assert_eq!(
        code(world.runtime.delegate("triage", &task, "ops-bot", Narrowing::default(), now)),
        "delegation_refused"
    );
    // Narrowings that widen.
    let wider = Narrowing { actions: Some(vec!["delete".to_string()]), ..Narrowing::default() };
    assert_eq!(code(world.runtime.delegate("triage", &task, "helper", wider, now)), "narrowing_widens");
    let unknown_path = Narrowing {
        equals: json!({"resource.colour": "red"}).as_object().cloned().unwrap_or_default(),
        ..Narrowing::default()
    };
    assert_eq!(code(world.runtime.delegate("triage", &task, "helper", unknown_path, now)), "invalid_narrowing");
    assert_eq!(code(world.runtime.delegate("triage", &task, "biller", reads_only, now)), "already_delegated");
    // A narrowing to one ticket.
    let one_ticket = Narrowing {
        equals: json!({"resource.number": "T-2"}).as_object().cloned().unwrap_or_default(),
        ..Narrowing::default()
    };
    world.runtime.delegate("triage", &task, "helper", one_ticket, now).expect("delegates");
    assert_eq!(outcome(&world, "helper", &task, &call("read", "acme", json!({})), now).1, "outside_delegated_scope");
    // An action on several tickets: each one must be within the narrowing, so a second
    // ticket cannot ride along with the delegated one.
    let merge = |numbers: &[&str]| -> CallDoc {
        let tickets: Vec<Json> = numbers
            .iter()
            .map(|number| json!({"type": "Ticket", "id": number, "attrs": {"customer": "acme", "number": number}}))
            .collect();
        serde_json::from_value(json!({"action": "merge", "resources": tickets})).expect("a call")
    };
    assert_eq!(outcome(&world, "helper", &task, &merge(&["T-2"]), now).0, Outcome::Allow);
    let sneaked = world.runtime.decide("helper", &task, &merge(&["T-2", "T-1"]), now, true).expect("decides");
    let reason = sneaked.decision.reasons.first().cloned().expect("a reason");
    assert_eq!(sneaked.decision.decision, Outcome::Deny);
    assert_eq!((reason.code.as_str(), reason.resource.as_deref()), ("outside_delegated_scope", Some("T-1")));
    assert!(sneaked.credential.is_none());
    // The opener merges both; the credential names each ticket.
    let merged = world.runtime.decide("triage", &task, &merge(&["T-2", "T-1"]), now, true).expect("decides");
    assert_eq!(merged.decision.decision, Outcome::Allow);
    let claims = world.runtime.verify_token(&merged.credential.expect("a credential"), now).expect("verifies");
    let details = serde_json::to_value(&claims).expect("claims");
    let named: Vec<&str> = details["authorization_details"][0]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|resource| resource["id"].as_str())
        .collect();
    assert_eq!(named, ["T-2", "T-1"]);
    assert_eq!(world.runtime.store().grants(&task).expect("grants").len(), 3);
    // Delegated agents spend the task's budget: it is not multiplied.
    let open = |agent: &str| {
        world.runtime.decide(agent, &task, &call("refund", "acme", json!({"amount": "70.0"})), now, false)
    };
    assert_eq!(open("triage").expect("decides").decision.decision, Outcome::Allow);
}

pub fn revocation(store: Box<dyn Store>) {
    let world = World::new(store);
    let task = world.open("triage", json!({"customer": "acme"}));
    let other = world.open("triage", json!({"customer": "globex"}));
    let now = t0() + MINUTE;
    let token = world.runtime.delegate("triage", &task, "biller", Narrowing::default(), now).expect("delegates").token;
    let credential = world
        .runtime
        .decide("biller", &task, &call("read", "acme", json!({})), now, true)
        .expect("decides")
        .credential
        .expect("a credential");
    let before = world.runtime.store().revocations_since(0).expect("log").len();
    let entry = world.runtime.revoke(&task, "alice@example.com", "customer closed the ticket", now).expect("revokes");
    assert_eq!(entry.seq as usize, before + 1);
    for agent in ["triage", "biller"] {
        let (decision, reason, message) = outcome(&world, agent, &task, &call("read", "acme", json!({})), now);
        assert_eq!((decision, reason.as_str()), (Outcome::Deny, "task_revoked"));
        assert!(message.contains("alice@example.com"), "{message}");
    }
    assert_eq!(code(world.runtime.verify_token(&token, now)), "task_revoked");
    assert_eq!(code(world.runtime.verify_token(&credential, now)), "task_revoked");
    // The other task is untouched.
    assert_eq!(outcome(&world, "triage", &other, &call("read", "globex", json!({})), now).0, Outcome::Allow);
    assert_eq!(code(world.runtime.revoke(&task, "alice@example.com", "again", now)), "task_revoked");
    assert_eq!(code(world.runtime.complete("task_nope", "alice@example.com", now)), "unknown_task");
    world.runtime.complete(&other, "triage", now).expect("completes");
    assert_eq!(outcome(&world, "triage", &other, &call("read", "globex", json!({})), now).1, "task_completed");
    let log = world.runtime.store().revocations_since(0).expect("log");
    assert_eq!(log.len(), before + 2);
    assert!(log.windows(2).all(|pair| pair[0].seq < pair[1].seq));
    assert_eq!(world.runtime.store().revocations_since(entry.seq).expect("log").len(), 1);
}

pub fn disabling(store: Box<dyn Store>) {
    let world = World::new(store);
    let opened_by_triage = world.open("triage", json!({"customer": "acme"}));
    let opened_by_helper = world.open("helper", json!({"customer": "acme"}));
    let now = t0() + MINUTE;
    world.runtime.delegate("helper", &opened_by_helper, "triage", Narrowing::default(), now).expect("delegates");
    world.runtime.disable_agent("triage", "security@example.com", "key leaked", now).expect("disables");
    let task = world.runtime.task(&opened_by_triage).expect("a task");
    assert_eq!(task.state, TaskState::Revoked);
    assert_eq!(task.ended_by.as_deref(), Some("security@example.com"));
    assert_eq!(world.runtime.task(&opened_by_helper).expect("a task").state, TaskState::Open);
    let (decision, reason, _) = outcome(&world, "helper", &opened_by_helper, &call("read", "acme", json!({})), now);
    assert_eq!((decision, reason.as_str()), (Outcome::Allow, "permitted"), "the helper's own task goes on");
    let held = world.runtime.decide("triage", &opened_by_helper, &call("read", "acme", json!({})), now, false);
    assert!(held.is_err() || held.is_ok_and(|d| d.decision.decision == Outcome::Deny));
    assert_eq!(code(world.runtime.authenticate(&world.assertion("triage", now), now)), "agent_disabled");
}

pub fn tokens_verify(store: Box<dyn Store>) {
    let world = World::new(store);
    let issued = world
        .runtime
        .open_task(
            "triage",
            "Support",
            json!({"customer": "acme"}).as_object().cloned().unwrap_or_default(),
            None,
            t0(),
        )
        .expect("opens");
    let now = t0() + MINUTE;
    world.runtime.verify_token(&issued.token, now).expect("verifies");
    assert_eq!(code(world.runtime.verify_token(&issued.token, t0() + 30 * MINUTE)), "expired");
    let mut pieces: Vec<String> = issued.token.split('.').map(str::to_string).collect();
    let mut signature = B64.decode(&pieces[2]).expect("base64");
    signature[0] ^= 1;
    pieces[2] = B64.encode(signature);
    assert_eq!(code(world.runtime.verify_token(&pieces.join("."), now)), "bad_signature");
    // A token from another runtime's keys.
    let other = World::new(Box::new(mandate::runtime::sqlite::SqliteStore::in_memory().expect("a store")));
    let foreign = other.open("triage", json!({"customer": "acme"}));
    let foreign_token =
        other.runtime.delegate("triage", &foreign, "biller", Narrowing::default(), now).expect("delegates").token;
    assert_eq!(code(world.runtime.verify_token(&foreign_token, now)), "bad_signature");
    // The JWKS lists the key by its kid, and the header names it.
    let jwks = world.runtime.jwks().expect("jwks");
    let header: Json =
        serde_json::from_slice(&B64.decode(issued.token.split('.').next().expect("a header")).expect("b64"))
            .expect("json");
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(jwks["keys"][0]["kid"], header["kid"]);
    assert!(tokens::claimed_agent(&issued.token).is_ok());
}
