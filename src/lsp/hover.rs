//! Hover: what the name under the cursor is.
//!
//! An attribute shows its type where it is read (`owner: String`, an attribute of
//! resource type `Doc`); an action, task or function its signature; a type its
//! attributes or values. Below comes the declaration's doc comment: the `//` lines
//! directly above it.

use std::fmt::Write;

use lsp_types::{Hover, HoverContents, HoverParams, MarkupContent, MarkupKind};

use super::index::{declarations, occurrence_at, occurrences, Symbol};
use super::text::Text;
use super::workspace::Workspace;
use crate::db;
use crate::semantics::env::{
    Env, AGENT_BUILTINS, BEHAVIOR_BUILTINS, CONTEXT_BUILTINS, RESOURCE_BUILTINS, TASK_BUILTINS,
};
use crate::semantics::types::{Field, RecordType};
use crate::semantics::AttrOwner;
use crate::syntax::Span;

pub fn hover(workspace: &Workspace, params: HoverParams) -> Option<Hover> {
    let at = params.text_document_position_params;
    let view = workspace.view(&at.text_document.uri)?;
    let db = workspace.db();
    let offset = view.text.offset(at.position);
    let occurrence = occurrence_at(occurrences(db, view.package, view.file), offset)?;
    let env = db::package_env(db, view.package);
    let checked = db::check_file(db, view.package, view.file);
    let readings = checked.attributes.get(&occurrence.span);
    let mut sections: Vec<String> = Vec::new();
    for symbol in &occurrence.symbols {
        let reading = match symbol {
            Symbol::Attribute { owner, .. } => readings.and_then(|all| all.iter().find(|r| r.owner == *owner)),
            _ => None,
        };
        let section =
            describe(env, symbol, reading.map(|reading| Field { ty: reading.ty.clone(), optional: reading.optional }));
        if !sections.contains(&section) {
            sections.push(section);
        }
    }
    let docs = declarations(db, view.package, &occurrence.symbols)
        .into_iter()
        .find_map(|(file, span)| doc_comment(&Text::new(file.text(db).clone()), span));
    sections.extend(docs);
    let contents = MarkupContent { kind: MarkupKind::Markdown, value: sections.join("\n\n---\n\n") };
    Some(Hover { contents: HoverContents::Markup(contents), range: Some(view.text.range(occurrence.span)) })
}

/// A symbol's signature in a code block, and what it is in words.
fn describe(env: &Env, symbol: &Symbol, reading: Option<Field>) -> String {
    let (code, words) = match symbol {
        Symbol::Attribute { owner, name } => attribute(env, owner, name, reading),
        Symbol::Type(name) => type_signature(env, name),
        Symbol::Action(name) => (action_signature(env, name), "action".to_string()),
        Symbol::Task(name) => (task_signature(env, name), "task".to_string()),
        Symbol::Function(name) => function_signature(env, name),
        Symbol::Fragment(name) => (fragment_signature(env, name), "scope fragment".to_string()),
        Symbol::Variant { enum_name, variant } => {
            (format!("{enum_name}::{variant}"), format!("value of enum `{enum_name}`"))
        }
        Symbol::Named(namespace, name) => {
            (format!("{} {name}", keyword(namespace.noun())), namespace.noun().to_string())
        }
        Symbol::Root(root) => (root.clone(), root_description(root).to_string()),
    };
    format!("```mandate\n{code}\n```\n{words}")
}

fn keyword(noun: &str) -> &str {
    match noun {
        "assertion" => "assert",
        "scope fragment" => "scope",
        other => other,
    }
}

fn attribute(env: &Env, owner: &AttrOwner, name: &str, reading: Option<Field>) -> (String, String) {
    let builtin = |list: &[(&str, crate::semantics::types::Type)]| list.iter().any(|(known, _)| *known == name);
    let (field, words) = match owner {
        AttrOwner::Agent => {
            (field_of(&env.agent, name), attribute_words("attribute of every agent", builtin(AGENT_BUILTINS)))
        }
        AttrOwner::Context => (
            field_of(&env.context, name),
            attribute_words("attribute of the request context", builtin(CONTEXT_BUILTINS)),
        ),
        AttrOwner::Behavior => {
            (field_of(&env.behavior, name), attribute_words("behavior signal", builtin(BEHAVIOR_BUILTINS)))
        }
        AttrOwner::Chain => (field_of(&env.chain, name), "built-in attribute of the delegation chain".to_string()),
        AttrOwner::Args(action) => {
            let field = env.actions.get(action).and_then(|sig| field_of(&sig.params, name));
            (field, format!("argument of action `{action}`"))
        }
        AttrOwner::Resource(resource) => {
            let field = env.resources.get(resource).and_then(|record| field_of(record, name));
            let words = match builtin(RESOURCE_BUILTINS) {
                true => format!("built-in attribute of every resource (here of resource type `{resource}`)"),
                false => format!("attribute of resource type `{resource}`"),
            };
            (field, words)
        }
        AttrOwner::Record(record) => {
            (env.records.get(record).and_then(|fields| field_of(fields, name)), format!("field of record `{record}`"))
        }
        AttrOwner::Task(task) => {
            let field = env.tasks.get(task).and_then(|sig| field_of(&sig.record(), name));
            (field, format!("parameter of task `{task}`"))
        }
        AttrOwner::TaskBuiltin => {
            let field = TASK_BUILTINS
                .iter()
                .find(|(known, _)| *known == name)
                .map(|(_, ty)| Field { ty: ty.clone(), optional: false });
            (field, "built-in attribute of every task".to_string())
        }
        AttrOwner::Other(what) => (None, format!("attribute of {what}")),
    };
    let field = field.or(reading);
    let code = match field {
        Some(field) => format!("{name}{}: {}", if field.optional { "?" } else { "" }, field.ty),
        None => name.to_string(),
    };
    (code, words)
}

fn attribute_words(words: &str, builtin: bool) -> String {
    if builtin {
        format!("built-in {words}")
    } else {
        words.to_string()
    }
}

fn field_of(record: &RecordType, name: &str) -> Option<Field> {
    record.get(name).cloned()
}

fn type_signature(env: &Env, name: &str) -> (String, String) {
    if let Some(record) = env.resources.get(name) {
        return (format!("resource {name} {}", fields_block(record)), "resource type".to_string());
    }
    if let Some(record) = env.records.get(name) {
        return (format!("record {name} {}", fields_block(record)), "record type".to_string());
    }
    if let Some(variants) = env.enums.get(name) {
        return (format!("enum {name} {{ {} }}", variants.join(", ")), "enum".to_string());
    }
    (name.to_string(), "type".to_string())
}

fn fields_block(record: &RecordType) -> String {
    let mut out = String::from("{\n");
    for (name, field) in &record.fields {
        let _ = writeln!(out, "  {name}{}: {}", if field.optional { "?" } else { "" }, field.ty);
    }
    out.push('}');
    out
}

fn action_signature(env: &Env, name: &str) -> String {
    let Some(sig) = env.actions.get(name) else { return format!("action {name}") };
    let params: Vec<String> = sig
        .param_order
        .iter()
        .filter_map(|param| {
            let field = sig.params.get(param)?;
            Some(format!("{param}{}: {}", if field.optional { "?" } else { "" }, field.ty))
        })
        .collect();
    let mut out = format!("action {name}");
    if !params.is_empty() {
        let _ = write!(out, "({})", params.join(", "));
    }
    if !sig.on.is_empty() {
        let on = sig.on.join(", ");
        let _ = if sig.many { write!(out, " on Set<{on}>") } else { write!(out, " on {on}") };
    }
    out
}

fn task_signature(env: &Env, name: &str) -> String {
    let Some(sig) = env.tasks.get(name) else { return format!("task {name}") };
    let params: Vec<String> = sig
        .params
        .iter()
        .map(|(param, ty)| format!("{param}{}: {ty}", if sig.optional.contains(param) { "?" } else { "" }))
        .collect();
    let mut out = format!("task {name}({})", params.join(", "));
    if !sig.parts.is_empty() {
        let _ = write!(out, " = {}", sig.parts.join(" + "));
    }
    out
}

fn function_signature(env: &Env, name: &str) -> (String, String) {
    let Some(sig) = env.functions.get(name) else { return (format!("fn {name}"), "function".to_string()) };
    let params: Vec<String> = sig.params.iter().map(|(param, ty)| format!("{param}: {ty}")).collect();
    let words = match &sig.module {
        Some(module) => format!("function of module `{module}`"),
        None => "function".to_string(),
    };
    (format!("fn {name}({}) -> {}", params.join(", "), sig.ret), words)
}

fn fragment_signature(env: &Env, name: &str) -> String {
    let params: Vec<String> = env
        .fragments
        .get(name)
        .map(|params| params.iter().map(|(param, ty)| format!("{param}: {ty}")).collect())
        .unwrap_or_default();
    format!("scope {name}({})", params.join(", "))
}

fn root_description(root: &str) -> &'static str {
    match root {
        "agent" => "the agent that makes the request",
        "resource" => "the resource the request acts on",
        "action" => "the action the request asks for",
        "args" => "the action's arguments",
        "task" => "the task instance the request is made in",
        "context" => "the request's context: its time and the attributes the schema declares",
        "behavior" => "behavioral signals about the agent",
        "chain" => "the delegation chain from the sponsor to the agent",
        _ => "a request root",
    }
}

/// The `//` lines directly above the declaration whose name is at `span`, when the name
/// leads its line (`policy p:`, `  owner: String`), not when it follows other
/// declarations on it (`enum E { a, b }`).
pub fn doc_comment(text: &Text, span: Span) -> Option<String> {
    let (start, line) = text.line_at(span.start);
    let before = line.get(..span.start.saturating_sub(start))?;
    if !before.chars().all(|c| c.is_alphanumeric() || c == '_' || c.is_whitespace()) {
        return None;
    }
    let mut lines = Vec::new();
    let mut number = text.line_of(span.start);
    while number > 0 {
        number -= 1;
        let Some(comment) = text.line(number).and_then(|line| line.trim_start().strip_prefix("//")) else { break };
        lines.push(comment.strip_prefix(' ').unwrap_or(comment).trim_end());
    }
    lines.reverse();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn doc_comments_are_the_comment_lines_right_above() {
        let source = "// unrelated\n\n// Who owns it.\n// Really.\n  owner: String\nenum E { a, b }\n";
        let text = Text::new(Arc::from(source));
        let owner = source.find("owner").unwrap();
        assert_eq!(doc_comment(&text, Span::new(owner, owner + 5)).as_deref(), Some("Who owns it.\nReally."));
        let variant = source.find("a,").unwrap();
        assert_eq!(doc_comment(&text, Span::new(variant, variant + 1)), None);
        assert_eq!(doc_comment(&text, Span::new(0, 2)), None);
    }
}
