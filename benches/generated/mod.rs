//! The generated policy package the checking and proving benchmarks share: a schema with
//! an enum, a set attribute and an action with arguments, and four realistic policy
//! shapes.

/// The schema and the `Review` task; benchmarks append what they need besides.
pub const SCHEMA: &str = r#"schema {
  agent { team: String, level: Int }
  enum Classification { public, internal, confidential, secret }
  resource Doc { owner: String, class: Classification, tags: Set<String>, size: Int }
  action read, update on Doc
  action share(recipient: String) on Doc
}
task Review(doc: String) { scope { [read, update] on Doc where resource.id == task.doc } ttl 1h delegate depth <= 1 }
"#;

/// Policy number `index`, in one of four shapes: identity-bound permits with a risk
/// threshold, forbids with a tag exception each, escalations on a recipient pattern or a
/// size, and task-bound permits by level. A `changed` package moves some thresholds.
pub fn policy(index: usize, changed: bool) -> String {
    let level = if changed && index % 40 == 3 { 2 } else { index % 10 };
    let risk = if changed && index % 100 == 0 { "0.6" } else { "0.5" };
    match index % 4 {
        0 => format!(
            "policy p{index}:\n  permit read on Doc\n  when agent.id == \"a{index}\" and resource.id == \"d{index}\" and behavior.risk < {risk}\n  grant ttl 10m\n"
        ),
        1 => format!(
            "policy p{index}:\n  forbid [read, update] on Doc\n  when resource.class >= confidential and not (\"t{index}\" in resource.tags)\n"
        ),
        2 => format!(
            "policy p{index}:\n  escalate share\n  when args.recipient ends_with \"@x{index}.com\" or resource.size > {index}\n"
        ),
        _ => format!(
            "policy p{index}:\n  permit update on Doc\n  when task is Review and task.doc == resource.id and agent.level >= {level}\n  grant ttl 5m\n"
        ),
    }
}
