//! Reading the log back: replaying decisions against the policy bundles that made them,
//! a task's trail, and receipts for single entries.

// `Value["key"]` on JSON reads `null` for a missing key or a non-object: it cannot panic.
#![allow(clippy::indexing_slicing)]

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{json, Value as Json};

use super::ceilings::Ceilings;
use super::entry::Bundle;
use super::merkle::{self, Hash};
use super::note::Checkpoint;
use super::receipt::Receipt;
use super::AuditError;
use crate::eval::{Limits, PolicySet, Request, RequestDoc};
use crate::runtime::store::{LogRow, Store};
use crate::runtime::{CEILINGS, ENDED};
use crate::syntax::literal::parse_timestamp;

/// One decision that did not come out as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mismatch {
    pub seq: u64,
    pub recorded: Json,
    pub replayed: Json,
    pub why: String,
}

/// What a replay found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Replayed {
    /// Decisions evaluated again.
    pub decisions: u64,
    /// Decisions whose entry reproduced on its own; a budget's totals, checked once the
    /// whole log is read, may still add mismatches at their positions.
    pub reproduced: u64,
    /// Decisions refused before any policy was evaluated (a task that had ended).
    pub not_evaluated: u64,
    pub mismatches: Vec<Mismatch>,
}

/// Re-evaluates every decision from position `from` on (of one task, when given) with
/// the bundle its entry names, and compares the policies' decision and the policies that
/// determined it with what was recorded; and checks that the decision returned only
/// restricts the policies' ([`restricts_only`]).
pub fn replay(
    store: &dyn Store,
    task: Option<&str>,
    from: u64,
    progress: &mut dyn FnMut(u64),
) -> Result<Replayed, AuditError> {
    let mut sets: HashMap<String, PolicySet> = HashMap::new();
    let mut report = Replayed::default();
    let mut ceilings = Ceilings::default();
    let mut check = |row: &LogRow| -> Result<(), AuditError> {
        let entry: Json = serde_json::from_slice(&row.entry)
            .map_err(|error| AuditError::Encode(format!("entry {} is not JSON: {error}", row.seq)))?;
        if entry["kind"] == "task_opened" || entry["kind"] == "task_delegated" {
            ceilings.note_grant(&entry);
        }
        if entry["kind"] != "decision" {
            return Ok(());
        }
        report.decisions += 1;
        if entry["policy_decision"].is_null() && entry.get("errors").is_none() {
            report.not_evaluated += 1;
            if let Err(mismatch) = restricts_only(&entry) {
                report.mismatches.push(mismatch.at(row.seq, &entry));
            }
            return Ok(());
        }
        let hash = entry["policy_set"].as_str().unwrap_or_default().to_string();
        if !sets.contains_key(&hash) {
            let bytes = store
                .bundle(&hash)?
                .ok_or_else(|| AuditError::Bundle(format!("entry {}: no bundle {hash} is stored", row.seq)))?;
            sets.insert(hash.clone(), Bundle::load(&hash, &bytes, Limits::default())?);
        }
        let set = sets.get(&hash).ok_or_else(|| AuditError::Bundle(hash.clone()))?;
        let replayed = decide_again(set, &entry).and_then(|request| {
            restricts_only(&entry)?;
            match request {
                Some(request) if entry["policy_decision"] == "allow" => ceilings
                    .check(row.seq, &entry, set, &request)
                    .map_err(|why| Different(json!({"returned": entry["decision"]}), why)),
                _ => Ok(()),
            }
        });
        match replayed {
            Ok(()) => report.reproduced += 1,
            Err(mismatch) => report.mismatches.push(mismatch.at(row.seq, &entry)),
        }
        Ok(())
    };
    match task {
        Some(task) => {
            for row in store.log_rows_of_task(task)?.iter().filter(|row| row.seq >= from) {
                check(row)?;
            }
        }
        None => {
            let mut at = from;
            loop {
                let rows = store.log_rows(at, 4096)?;
                let Some(last) = rows.last() else { break };
                at = last.seq + 1;
                for row in &rows {
                    check(row)?;
                }
                progress(at);
            }
        }
    }
    for (seq, why) in ceilings.finish() {
        report.mismatches.push(Mismatch { seq, recorded: Json::Null, replayed: Json::Null, why });
    }
    report.mismatches.sort_by_key(|mismatch| mismatch.seq);
    Ok(report)
}

/// What replaying one entry found different: what came out, and why it is a mismatch.
struct Different(Json, String);

impl Different {
    fn at(self, seq: u64, entry: &Json) -> Mismatch {
        let Different(replayed, why) = self;
        let recorded = json!({
            "decision": entry["policy_decision"],
            "policies": entry["policies"],
            "returned": entry["decision"],
        });
        Mismatch { seq, recorded, replayed, why }
    }
}

/// The decision returned may only restrict the policies': it is theirs; or, after they
/// allowed, a deny by one of the runtime's ceilings (the grant's narrowing, a budget) or
/// for the task having ended meanwhile; and a request refused before any policy was
/// evaluated is a deny because its task had ended. An entry that says otherwise records
/// a runtime that granted more than its policies.
fn restricts_only(entry: &Json) -> Result<(), Different> {
    let (returned, policies) = (&entry["decision"], &entry["policy_decision"]);
    let reason = entry["reasons"][0]["code"].as_str().unwrap_or_default();
    let ended = ENDED.contains(&reason);
    let restricts = if policies.is_null() {
        // Not evaluated (the task had ended), or invalid (`Decision::invalid` denies).
        returned == "deny" && (entry.get("errors").is_some() || ended)
    } else {
        returned == policies || (policies == "allow" && returned == "deny" && (CEILINGS.contains(&reason) || ended))
    };
    match restricts {
        true => Ok(()),
        false => Err(Different(
            json!({"returned": returned, "reason": reason}),
            format!(
                "the decision returned ({returned}, reason `{reason}`) is not the policies' ({policies}) nor a ceiling's deny after their allow"
            ),
        )),
    }
}

/// Decides a recorded request again; the request as prepared (`None` when it was
/// recorded as invalid and still is), or how it differs.
fn decide_again(set: &PolicySet, entry: &Json) -> Result<Option<Request>, Different> {
    let request: RequestDoc = serde_json::from_value(entry["request"].clone())
        .map_err(|error| Different(Json::Null, format!("the recorded request does not read: {error}")))?;
    let time = entry["request"]["context"]["time"]
        .as_str()
        .and_then(|text| parse_timestamp(text).ok())
        .ok_or_else(|| Different(Json::Null, "the recorded request has no context.time".to_string()))?;
    let recorded_invalid = entry["policy_decision"].is_null();
    let prepared = match set.prepare_at(&request, time) {
        Ok(prepared) => prepared,
        Err(errors) if recorded_invalid => {
            return match errors.len() == entry["errors"].as_array().map_or(0, Vec::len) {
                true => Ok(None),
                false => {
                    Err(Different(json!({"errors": errors}), "the request fails validation differently".to_string()))
                }
            };
        }
        Err(errors) => {
            return Err(Different(json!({"errors": errors}), "the recorded request no longer validates".to_string()))
        }
    };
    let decision = set.decide(&prepared);
    let replayed = json!({"decision": decision.decision, "policies": decision.policies});
    if recorded_invalid {
        return Err(Different(replayed, "the request was recorded as invalid, but validates".to_string()));
    }
    if replayed["decision"] != entry["policy_decision"] {
        return Err(Different(replayed, "the policies decide differently".to_string()));
    }
    if replayed["policies"] != entry["policies"] {
        return Err(Different(replayed, "other policies determine the decision".to_string()));
    }
    Ok(Some(prepared))
}

/// One task's entries in order, each as recorded (with its position).
pub fn trail(store: &dyn Store, task: &str) -> Result<Vec<Json>, AuditError> {
    store
        .log_rows_of_task(task)?
        .iter()
        .map(|row| {
            serde_json::from_slice(&row.entry)
                .map_err(|error| AuditError::Encode(format!("entry {} is not JSON: {error}", row.seq)))
        })
        .collect()
}

/// One line of a trail, for people.
pub fn trail_line(entry: &Json) -> String {
    let text = |key: &str| entry[key].as_str().unwrap_or("?").to_string();
    let chain = entry["chain"]
        .as_array()
        .map_or(String::new(), |links| links.iter().filter_map(Json::as_str).collect::<Vec<_>>().join(" → "));
    let head = format!("#{} {}", entry["seq"], text("time"));
    match entry["kind"].as_str().unwrap_or("?") {
        "task_opened" => format!(
            "{head} opened {} {} by {} for {}",
            entry["task"]["kind"].as_str().unwrap_or("?"),
            entry["task"]["id"].as_str().unwrap_or("?"),
            text("opened_by"),
            text("sponsor")
        ),
        "task_delegated" => format!("{head} delegated: {chain}"),
        "decision" => {
            let request = &entry["request"];
            let resource = request["resource"]["id"]
                .as_str()
                .map(|id| format!(" on {} {id}", request["resource"]["type"].as_str().unwrap_or("?")))
                .unwrap_or_default();
            let policies = entry["policies"].as_object().map_or(String::new(), |by_effect| {
                by_effect
                    .values()
                    .filter_map(Json::as_array)
                    .flatten()
                    .filter_map(Json::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            });
            let reasons = entry["reasons"].as_array().map_or(String::new(), |reasons| {
                reasons.iter().filter_map(|reason| reason["code"].as_str()).collect::<Vec<_>>().join(", ")
            });
            format!(
                "{head} {} {}{resource} by {chain}: {} [{policies}] ({reasons})",
                text("decision").to_uppercase(),
                request["action"].as_str().unwrap_or("?"),
                text("decision")
            )
        }
        kind => format!("{head} {} by {}: {}", kind.replace('_', " "), text("by"), text("reason")),
    }
}

/// A receipt for the entry at `seq`: the entry, its inclusion proof, and the first
/// signed checkpoint that covers it.
pub fn receipt(store: &dyn Store, seq: u64) -> Result<Receipt, AuditError> {
    let missing = AuditError::NotFound;
    let row = store
        .log_rows(seq, 1)?
        .into_iter()
        .find(|row| row.seq == seq)
        .ok_or_else(|| missing(format!("no entry {seq}")))?;
    let checkpoint = store
        .log_checkpoints()?
        .into_iter()
        .find(|checkpoint| checkpoint.size > seq)
        .ok_or_else(|| missing(format!("no checkpoint covers entry {seq} yet; try again after the next one")))?;
    let mut leaves: Vec<Hash> = Vec::with_capacity(usize::try_from(checkpoint.size).unwrap_or(0));
    while (leaves.len() as u64) < checkpoint.size {
        let rows = store.log_rows(leaves.len() as u64, 8192)?;
        if rows.is_empty() {
            break;
        }
        leaves.extend(rows.iter().take_while(|row| row.seq < checkpoint.size).map(|row| merkle::leaf_hash(&row.entry)));
    }
    let proof = merkle::inclusion_proof(seq, &leaves).map_err(|error| missing(error.to_string()))?;
    let receipt = Receipt { entry: row.entry, index: seq, proof, checkpoint: checkpoint.note };
    // Refuse to hand out a receipt that would not verify against its own checkpoint.
    let signed = receipt.checkpoint.split("\n\n").next().unwrap_or_default();
    let parsed = Checkpoint::parse(signed).map_err(|error| missing(error.to_string()))?;
    merkle::verify_inclusion(seq, parsed.size, &merkle::leaf_hash(&receipt.entry), &receipt.proof, &parsed.root)
        .map_err(|error| {
            missing(format!(
                "the log does not match its checkpoint at size {}: {error}; run `mandate audit verify`",
                parsed.size
            ))
        })?;
    Ok(receipt)
}
