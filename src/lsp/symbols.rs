//! The outline of a document: its schema items (with their attributes, arguments and
//! values), tasks, policies, functions, scope fragments, tests, assertions and bounds.

use lsp_types::{DocumentSymbol, DocumentSymbolParams, DocumentSymbolResponse, SymbolKind};

use super::text::Text;
use super::workspace::Workspace;
use crate::db;
use crate::syntax::ast::*;
use crate::syntax::print::print_expr;

pub fn document_symbols(workspace: &Workspace, params: DocumentSymbolParams) -> Option<DocumentSymbolResponse> {
    let view = workspace.view(&params.text_document.uri)?;
    let parsed = db::parse(workspace.db(), view.file);
    let outline = Outline { text: &view.text };
    let symbols = parsed.ast.items.iter().filter_map(|item| outline.item(item)).collect();
    Some(DocumentSymbolResponse::Nested(symbols))
}

struct Outline<'a> {
    text: &'a Text,
}

impl Outline<'_> {
    fn item(&self, item: &Item) -> Option<DocumentSymbol> {
        Some(match item {
            Item::Schema(block) => {
                let children = block.items.iter().flat_map(|schema_item| self.schema_item(schema_item)).collect();
                self.symbol("schema", None, SymbolKind::NAMESPACE, block.span, None, children)
            }
            Item::Task(task) => {
                let children = task.params.iter().map(|param| self.param(param, SymbolKind::PROPERTY)).collect();
                let parts: Vec<&str> = task.parts.iter().map(|part| part.name.as_str()).collect();
                let detail = (!parts.is_empty()).then(|| format!("= {}", parts.join(" + ")));
                self.symbol(&task.name.name, detail, SymbolKind::INTERFACE, task.span, Some(&task.name), children)
            }
            Item::Policy(policy) => {
                let mut detail = format!("{} {}", policy.effect.keyword(), target(&policy.actions));
                if let Some(resources) = &policy.resources {
                    detail.push_str(&format!(" on {}", target(resources)));
                }
                let name = &policy.name;
                self.symbol(&name.name, Some(detail), SymbolKind::EVENT, policy.span, Some(name), Vec::new())
            }
            Item::Function(function) => {
                let params: Vec<String> = function
                    .params
                    .iter()
                    .map(|param| format!("{}: {}", param.name.name, type_text(&param.ty)))
                    .collect();
                let detail = format!("({}) -> {}", params.join(", "), type_text(&function.ret));
                let name = &function.name;
                self.symbol(&name.name, Some(detail), SymbolKind::FUNCTION, function.span, Some(name), Vec::new())
            }
            Item::Fragment(fragment) => {
                let name = &fragment.name;
                self.symbol(
                    &name.name,
                    Some("scope".to_string()),
                    SymbolKind::MODULE,
                    fragment.span,
                    Some(name),
                    Vec::new(),
                )
            }
            Item::Test(test) => {
                let detail = format!("expect {}", test.expect.keyword());
                self.symbol(&test.name.name, Some(detail), SymbolKind::METHOD, test.span, Some(&test.name), Vec::new())
            }
            Item::Assert(assert) => {
                let mut detail = format!("never {} {}", assert.effect.keyword(), target(&assert.actions));
                if let Some(resources) = &assert.resources {
                    detail.push_str(&format!(" on {}", target(resources)));
                }
                let name = assert.name.as_ref().map_or("assert", |name| name.name.as_str());
                self.symbol(name, Some(detail), SymbolKind::BOOLEAN, assert.span, assert.name.as_ref(), Vec::new())
            }
            Item::Bound(bound) => {
                let detail = bound.applies.as_ref().map(|applies| format!("when {}", print_expr(applies)));
                let name = &bound.name;
                self.symbol(&name.name, detail, SymbolKind::OBJECT, bound.span, Some(name), Vec::new())
            }
            Item::Use(_) | Item::Error(_) => return None,
        })
    }

    fn schema_item(&self, item: &SchemaItem) -> Vec<DocumentSymbol> {
        let block = |name: &str, attrs: &[AttrDecl], span: Span| {
            let children = attrs.iter().map(|attr| self.attr(attr)).collect();
            vec![self.symbol(name, None, SymbolKind::STRUCT, span, None, children)]
        };
        match item {
            SchemaItem::Agent { attrs, span } => block("agent", attrs, *span),
            SchemaItem::Context { attrs, span } => block("context", attrs, *span),
            SchemaItem::Behavior { attrs, span } => block("behavior", attrs, *span),
            SchemaItem::Resource { name, attrs, span } => {
                let children = attrs.iter().map(|attr| self.attr(attr)).collect();
                let detail = Some("resource".to_string());
                vec![self.symbol(&name.name, detail, SymbolKind::CLASS, *span, Some(name), children)]
            }
            SchemaItem::Record { name, fields, span } => {
                let children = fields.iter().map(|attr| self.attr(attr)).collect();
                let detail = Some("record".to_string());
                vec![self.symbol(&name.name, detail, SymbolKind::STRUCT, *span, Some(name), children)]
            }
            SchemaItem::Enum { name, variants, span } => {
                let children = variants
                    .iter()
                    .map(|variant| {
                        self.symbol(
                            &variant.name,
                            None,
                            SymbolKind::ENUM_MEMBER,
                            variant.span,
                            Some(variant),
                            Vec::new(),
                        )
                    })
                    .collect();
                vec![self.symbol(&name.name, None, SymbolKind::ENUM, *span, Some(name), children)]
            }
            SchemaItem::Action(action) => {
                let on: Vec<&str> = action.on.iter().map(|resource| resource.name.as_str()).collect();
                let detail = (!on.is_empty()).then(|| format!("on {}", on.join(", ")));
                action
                    .names
                    .iter()
                    .map(|name| {
                        let children = action.params.iter().map(|param| self.param(param, SymbolKind::FIELD)).collect();
                        self.symbol(&name.name, detail.clone(), SymbolKind::METHOD, action.span, Some(name), children)
                    })
                    .collect()
            }
            SchemaItem::Error(_) => Vec::new(),
        }
    }

    fn attr(&self, attr: &AttrDecl) -> DocumentSymbol {
        let detail = format!("{}{}", if attr.optional { "?: " } else { ": " }, type_text(&attr.ty));
        self.symbol(&attr.name.name, Some(detail), SymbolKind::FIELD, attr.span, Some(&attr.name), Vec::new())
    }

    fn param(&self, param: &Param, kind: SymbolKind) -> DocumentSymbol {
        let span = param.name.span.to(param.ty.span());
        let detail = format!("{}{}", if param.optional { "?: " } else { ": " }, type_text(&param.ty));
        self.symbol(&param.name.name, Some(detail), kind, span, Some(&param.name), Vec::new())
    }

    /// A symbol whose whole declaration is `span` and whose name is `name` (the whole
    /// declaration again when it has none, or the name lies outside it).
    #[allow(deprecated)] // the protocol's `deprecated` field has to be given, as `None`
    fn symbol(
        &self,
        label: &str,
        detail: Option<String>,
        kind: SymbolKind,
        span: Span,
        name: Option<&Ident>,
        children: Vec<DocumentSymbol>,
    ) -> DocumentSymbol {
        let whole = name.map_or(span, |name| span.to(name.span));
        let selection = name.map_or(whole, |name| name.span);
        DocumentSymbol {
            name: if label.is_empty() { "?".to_string() } else { label.to_string() },
            detail,
            kind,
            tags: None,
            deprecated: None,
            range: self.text.range(whole),
            selection_range: self.text.range(selection),
            children: (!children.is_empty()).then_some(children),
        }
    }
}

fn target(target: &Target) -> String {
    match target {
        Target::Any(_) => "*".to_string(),
        Target::Names(names) => {
            let names: Vec<&str> = names.iter().map(|name| name.name.as_str()).collect();
            match names.as_slice() {
                [one] => one.to_string(),
                _ => format!("[{}]", names.join(", ")),
            }
        }
    }
}

fn type_text(ty: &TypeExpr) -> String {
    match ty {
        TypeExpr::Named(name) => name.name.clone(),
        TypeExpr::Set(inner, _) => format!("Set<{}>", type_text(inner)),
        TypeExpr::Map(key, value, _) => format!("Map<{}, {}>", type_text(key), type_text(value)),
        TypeExpr::Record(attrs, _) => {
            let fields: Vec<String> = attrs
                .iter()
                .map(|attr| {
                    format!("{}{}{}", attr.name.name, if attr.optional { "?: " } else { ": " }, type_text(&attr.ty))
                })
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
        TypeExpr::Error(_) => "?".to_string(),
    }
}
