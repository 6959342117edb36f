//! The policy shapes real agent policies are full of, generated at any size, with a
//! request that matches one policy of each: the decision, loading and proving
//! benchmarks share them.
//!
//! - `patterns`: a path pattern per policy, under one of eight team equalities, so that
//!   about an eighth of the patterns share each team;
//! - `prefixes`: a unique path prefix per policy;
//! - `limits`: a refund limit per owner;
//! - `members`: a label per policy, in a set attribute;
//! - `mixed`: a quarter of each, plus a forbid with an `unless` every tenth policy and an
//!   escalation on a refund amount every tenth.

#![allow(dead_code)]

/// The schema and the task every shape uses.
pub const SHAPE_SCHEMA: &str = r#"schema {
  agent { team: String, admin: Bool }
  resource Doc { owner: String, path: String, labels: Set<String> }
  action read on Doc
  action refund(amount: Decimal) on Doc
}
task Work() { scope { [read, refund] on Doc } ttl 1h }
"#;

/// A guard for the prover to prove things about: a forbid on a path prefix and a label,
/// and the assertions it makes true.
pub const SHAPE_GUARD: &str = r#"policy vault: forbid read on Doc when resource.path starts_with "/vault/" or "secret" in resource.labels
assert vault_closed: never permit read on Doc when resource.path starts_with "/vault/"
assert secrets_closed: never permit read on Doc when "secret" in resource.labels
"#;

pub const SHAPES: [&str; 5] = ["patterns", "prefixes", "limits", "members", "mixed"];

/// Policy `i` of a shape.
pub fn shape_policy(shape: &str, i: usize) -> String {
    match shape {
        "patterns" => format!(
            "policy p{i}: permit read on Doc when agent.team == \"team{}\" and resource.path matches \"/team{i}/*\" grant ttl 5m\n",
            i % 8
        ),
        "prefixes" => format!("policy p{i}: permit read on Doc when resource.path starts_with \"/p{i}/\" grant ttl 5m\n"),
        "limits" => {
            format!("policy p{i}: permit refund on Doc when resource.owner == \"o{i}\" and args.amount <= {} grant ttl 5m\n", 10 + i)
        }
        "members" => format!("policy p{i}: permit read on Doc when \"tag{i}\" in resource.labels grant ttl 5m\n"),
        _ => {
            let mut text = shape_policy(["patterns", "prefixes", "limits", "members"][i % 4], i);
            if i % 10 == 5 {
                text.push_str(&format!(
                    "policy f{i}: forbid read on Doc when resource.owner == \"o{i}\" unless agent.admin\n"
                ));
            }
            if i % 10 == 7 {
                text.push_str(&format!("policy e{i}: escalate refund on Doc when args.amount > {}\n", 100_000 + i));
            }
            text
        }
    }
}

/// The package of `count` policies of a shape.
pub fn shape_package(shape: &str, count: usize) -> String {
    let mut text = String::from(SHAPE_SCHEMA);
    for i in 0..count {
        text.push_str(&shape_policy(shape, i));
    }
    text
}

/// A request that policy `i` of the shape permits, with `labels` labels on the resource
/// (one of them policy `i`'s, in the `members` shape).
pub fn shape_request(shape: &str, i: usize, labels: usize) -> String {
    let shape = if shape == "mixed" { ["patterns", "prefixes", "limits", "members"][i % 4] } else { shape };
    let path = match shape {
        "patterns" => format!("/team{i}/report.txt"),
        "prefixes" => format!("/p{i}/report.txt"),
        _ => "/elsewhere/report.txt".to_string(),
    };
    let mut tags: Vec<String> = (0..labels).map(|n| format!("other{n}")).collect();
    if shape == "members" {
        if let Some(first) = tags.first_mut() {
            *first = format!("tag{i}");
        }
    }
    let (action, args) = if shape == "limits" {
        ("refund", format!(r#""args": {{"amount": "{}"}},"#, 5 + i))
    } else {
        ("read", String::new())
    };
    let owner = if shape == "limits" { format!("o{i}") } else { "nobody".to_string() };
    let labels: Vec<String> = tags.iter().map(|tag| format!("\"{tag}\"")).collect();
    format!(
        r#"{{"agent": {{"id": "a", "attrs": {{"team": "team{}", "admin": false}}}}, "chain": ["alice@example.com"],
            "task": {{"kind": "Work", "id": "t", "start": "2026-01-05T09:30:00Z", "deadline": "2026-01-05T10:30:00Z"}},
            "action": "{action}", {args}
            "resource": {{"type": "Doc", "id": "d", "attrs": {{"owner": "{owner}", "path": "{path}", "labels": [{}]}}}},
            "context": {{"time": "2026-01-05T10:00:00Z"}}}}"#,
        i % 8,
        labels.join(", ")
    )
}
