//! Completion: attributes after a request root and a dot, values after `Enum::`, and the
//! package's names elsewhere.
//!
//! What was typed before the cursor decides, read from the text (which may not parse
//! while it is being typed): `agent.`, `context.`, `behavior.` and `chain.` offer that
//! root's attributes, built-in ones included; `resource.` the union over resource types,
//! `args.` the union of every action's arguments, `task.` the built-in task fields and
//! every task's parameters, each with the types and owners it has. A longer path
//! (`resource.meta.`) follows record-typed attributes. Anywhere else the actions,
//! resource types, tasks, enum values, functions and request roots are offered.

use std::collections::BTreeMap;

use lsp_types::{
    CompletionItem, CompletionItemKind, CompletionOptions, CompletionParams, CompletionResponse, ServerCapabilities,
};

use super::workspace::Workspace;
use crate::db;
use crate::semantics::env::{Env, TASK_BUILTINS, TIMESTAMP_FIELDS};
use crate::semantics::types::{Field, RecordType, Type};

/// Request roots, as offered where an expression starts.
const ROOTS: &[&str] = &["agent", "resource", "action", "args", "task", "context", "behavior", "chain"];

pub fn announce(capabilities: &mut ServerCapabilities) {
    capabilities.completion_provider = Some(CompletionOptions {
        trigger_characters: Some(vec![".".to_string(), ":".to_string()]),
        ..CompletionOptions::default()
    });
}

pub fn completion(workspace: &Workspace, params: CompletionParams) -> Option<CompletionResponse> {
    let at = params.text_document_position;
    let view = workspace.view(&at.text_document.uri)?;
    let env = db::package_env(workspace.db(), view.package);
    let before = view.text.as_str().get(..view.text.offset(at.position))?;
    // What comes before the name being typed decides what may come.
    let context = before.trim_end_matches(is_name_char);
    let items = if let Some(path) = context.strip_suffix('.') {
        attribute_items(env, &path_before(path))
    } else if let Some(path) = context.strip_suffix("::") {
        variant_items(env, path.rsplit(|c: char| !is_name_char(c)).next().unwrap_or_default())
    } else {
        name_items(env)
    };
    Some(CompletionResponse::Array(items))
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The dotted names right before a dot: `resource.meta` in `… resource.meta.`.
fn path_before(text: &str) -> Vec<&str> {
    let mut path = Vec::new();
    let mut rest = text;
    loop {
        let trimmed = rest.trim_end_matches(is_name_char);
        let Some(name) = rest.get(trimmed.len()..).filter(|name| !name.is_empty()) else { break };
        path.push(name);
        match trimmed.strip_suffix('.') {
            Some(shorter) => rest = shorter,
            None => break,
        }
    }
    path.reverse();
    path
}

/// The attributes at the end of a path from a request root, merged by name.
fn attribute_items(env: &Env, path: &[&str]) -> Vec<CompletionItem> {
    let Some((root, rest)) = path.split_first() else { return Vec::new() };
    let mut owners: Vec<(String, RecordType)> = root_records(env, root);
    let mut timestamp = false;
    for name in rest {
        let mut next = Vec::new();
        timestamp = false;
        for (owner, record) in &owners {
            match record.get(name).map(|field| &field.ty) {
                Some(Type::Record(inner)) => next.push((format!("{owner}.{name}"), (**inner).clone())),
                Some(Type::Timestamp) => timestamp = true,
                _ => {}
            }
        }
        owners = next;
    }
    if timestamp {
        return TIMESTAMP_FIELDS.iter().map(|part| item(part, CompletionItemKind::FIELD, "Int", None)).collect();
    }
    let mut merged: BTreeMap<&str, Vec<(&str, &Field)>> = BTreeMap::new();
    for (owner, record) in &owners {
        for (name, field) in &record.fields {
            merged.entry(name).or_default().push((owner, field));
        }
    }
    merged
        .into_iter()
        .map(|(name, readings)| {
            let mut types: Vec<String> = readings.iter().map(|(_, field)| type_text(field)).collect();
            types.dedup();
            let owners: Vec<&str> = readings.iter().map(|(owner, _)| *owner).collect();
            item(name, CompletionItemKind::FIELD, &types.join(" | "), Some(owners.join(", ")))
        })
        .collect()
}

fn type_text(field: &Field) -> String {
    if field.optional {
        format!("{} (optional)", field.ty)
    } else {
        field.ty.to_string()
    }
}

/// What a root's attributes are, by owner: one record for most roots, one per resource
/// type or action for `resource` and `args`, the built-ins and one per task for `task`.
fn root_records(env: &Env, root: &str) -> Vec<(String, RecordType)> {
    match root {
        "agent" => vec![("agent".to_string(), (*env.agent).clone())],
        "context" => vec![("context".to_string(), (*env.context).clone())],
        "behavior" => vec![("behavior".to_string(), (*env.behavior).clone())],
        "chain" => vec![("chain".to_string(), (*env.chain).clone())],
        "resource" => env.resources.iter().map(|(name, record)| (name.clone(), (**record).clone())).collect(),
        "args" => env.actions.iter().map(|(name, sig)| (name.clone(), (*sig.params).clone())).collect(),
        "task" => {
            let builtins = RecordType {
                fields: TASK_BUILTINS
                    .iter()
                    .map(|(name, ty)| (name.to_string(), Field { ty: ty.clone(), optional: false }))
                    .collect(),
            };
            let tasks = env.tasks.iter().map(|(name, sig)| (name.clone(), sig.record()));
            std::iter::once(("every task".to_string(), builtins)).chain(tasks).collect()
        }
        _ => Vec::new(),
    }
}

fn variant_items(env: &Env, enum_name: &str) -> Vec<CompletionItem> {
    let variants = env.enums.get(enum_name).map(Vec::as_slice).unwrap_or_default();
    variants.iter().map(|variant| item(variant, CompletionItemKind::ENUM_MEMBER, enum_name, None)).collect()
}

/// The package's names, for anywhere that is not an attribute or an enum's value.
fn name_items(env: &Env) -> Vec<CompletionItem> {
    let mut items = Vec::new();
    items.extend(env.actions.keys().map(|name| item(name, CompletionItemKind::EVENT, "action", None)));
    items.extend(env.resources.keys().map(|name| item(name, CompletionItemKind::CLASS, "resource type", None)));
    items.extend(env.tasks.keys().map(|name| item(name, CompletionItemKind::INTERFACE, "task", None)));
    for (enum_name, variants) in &env.enums {
        let detail = format!("value of enum {enum_name}");
        items.extend(variants.iter().map(|variant| item(variant, CompletionItemKind::ENUM_MEMBER, &detail, None)));
    }
    for (name, sig) in &env.functions {
        let params: Vec<String> = sig.params.iter().map(|(param, ty)| format!("{param}: {ty}")).collect();
        let detail = format!("fn({}) -> {}", params.join(", "), sig.ret);
        items.push(item(name, CompletionItemKind::FUNCTION, &detail, None));
    }
    items.extend(ROOTS.iter().map(|root| item(root, CompletionItemKind::VARIABLE, "request root", None)));
    items
}

fn item(label: &str, kind: CompletionItemKind, detail: &str, owners: Option<String>) -> CompletionItem {
    CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail: Some(detail.to_string()),
        documentation: owners.map(|owners| lsp_types::Documentation::String(format!("of {owners}"))),
        ..CompletionItem::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_read_back_from_the_dot() {
        assert_eq!(path_before("when resource.meta"), ["resource", "meta"]);
        assert_eq!(path_before("(agent"), ["agent"]);
        assert!(path_before("x + ").is_empty());
    }
}
