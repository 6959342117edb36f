//! Printing a tree and parsing the text gives back the same tree.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

use std::sync::Arc;

use mandate::syntax::ast::*;
use mandate::syntax::print::{outline, print_expr, print_file, sexpr};
use mandate::syntax::{parse, parse_expr, Span};
use proptest::prelude::*;

use mandate::syntax::lexer::KEYWORDS;

/// Attribute names may be soft keywords; bare names may not.
const SOFT_KEYWORDS: &[&str] = &["message", "scope", "tags", "to", "on", "any", "all", "task", "resource"];
const ROOTS: &[&str] = &["agent", "resource", "task", "action", "context", "behavior", "chain", "args"];

fn ident(name: String) -> Ident {
    Ident { name, span: Span::default() }
}

fn name() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,6}".prop_filter("not a keyword", |name| !KEYWORDS.contains(&name.as_str()))
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![name(), prop::sample::select(SOFT_KEYWORDS).prop_map(str::to_string)]
}

fn expr(kind: ExprKind) -> Expr {
    Expr::new(kind, Span::default())
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        any::<bool>().prop_map(|b| expr(ExprKind::Bool(b))),
        (0i64..1_000_000).prop_map(|n| expr(ExprKind::Int(n))),
        "[0-9]{1,4}\\.[0-9]{1,4}".prop_map(|d| expr(ExprKind::Decimal(d))),
        "[a-z \"\\\\\n\t*é]{0,8}".prop_map(|s| expr(ExprKind::Str(s))),
        (0i64..400_000_000).prop_map(|ms| expr(ExprKind::Duration(ms))),
        name().prop_map(|n| expr(ExprKind::Name(n))),
        prop::sample::select(ROOTS).prop_map(|root| expr(ExprKind::Name(root.to_string()))),
        (name(), field_name()).prop_map(|(a, b)| expr(ExprKind::Path(vec![ident(a), ident(b)]))),
    ]
}

fn binary_op() -> impl Strategy<Value = BinaryOp> {
    prop::sample::select(vec![
        BinaryOp::Or,
        BinaryOp::And,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Gt,
        BinaryOp::Ge,
        BinaryOp::In,
        BinaryOp::StartsWith,
        BinaryOp::EndsWith,
        BinaryOp::Contains,
        BinaryOp::Matches,
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
    ])
}

fn any_expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(6, 48, 3, |inner| {
        prop_oneof![
            (inner.clone(), field_name()).prop_map(|(e, f)| expr(ExprKind::Field(Box::new(e), ident(f)))),
            (name(), prop::collection::vec(inner.clone(), 0..3))
                .prop_map(|(f, args)| expr(ExprKind::Call(vec![ident(f)], args))),
            inner.clone().prop_map(|e| expr(ExprKind::Unary(UnaryOp::Not, Box::new(e)))),
            inner.clone().prop_map(|e| expr(ExprKind::Unary(UnaryOp::Neg, Box::new(e)))),
            (binary_op(), inner.clone(), inner.clone()).prop_map(|(op, a, b)| expr(ExprKind::Binary(
                op,
                Box::new(a),
                Box::new(b)
            ))),
            (inner.clone(), field_name()).prop_map(|(e, f)| expr(ExprKind::Has(Box::new(e), ident(f)))),
            (inner.clone(), name()).prop_map(|(e, k)| expr(ExprKind::Is(Box::new(e), ident(k)))),
            prop::collection::vec(inner.clone(), 0..3).prop_map(|items| expr(ExprKind::Set(items))),
            prop::collection::vec((field_name(), inner.clone()), 0..3).prop_map(|fields| {
                let fields = fields.into_iter().map(|(n, value)| FieldInit { name: ident(n), value }).collect();
                expr(ExprKind::Record(fields))
            }),
            (any::<bool>(), name(), inner.clone(), inner.clone()).prop_map(|(all, var, set, body)| {
                let quantifier = if all { Quantifier::All } else { Quantifier::Any };
                expr(ExprKind::Quantifier(quantifier, ident(var), Box::new(set), Box::new(body)))
            }),
        ]
    })
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        Just(Target::Any(Span::default())),
        prop::collection::vec(name(), 1..3).prop_map(|names| Target::Names(names.into_iter().map(ident).collect())),
    ]
}

fn policy() -> impl Strategy<Value = Item> {
    let effect = prop::sample::select(vec![Effect::Permit, Effect::Forbid, Effect::Escalate]);
    let condition = (any::<bool>(), any_expr()).prop_map(|(when, expr)| Condition {
        kind: if when { ConditionKind::When } else { ConditionKind::Unless },
        expr,
    });
    let grant =
        prop::option::of((1i64..100_000_000, prop::collection::vec("[a-z]{1,4}", 0..3)).prop_map(|(ttl, tags)| {
            Grant {
                clauses: vec![
                    GrantClause::Ttl(DurationLit { nanos: ttl, span: Span::default() }),
                    GrantClause::Tags(
                        tags.into_iter().map(|value| StrLit { value, span: Span::default() }).collect(),
                        Span::default(),
                    ),
                ],
                span: Span::default(),
            }
        }));
    let message = prop::option::of("[a-z \"\\\\]{0,12}")
        .prop_map(|text| text.map(|value| StrLit { value, span: Span::default() }));
    (name(), effect, target(), prop::option::of(target()), prop::collection::vec(condition, 0..3), message, grant)
        .prop_map(|(name, effect, actions, resources, conditions, message, grant)| {
            Item::Policy(PolicyDecl {
                name: ident(name),
                effect,
                effect_span: Span::default(),
                actions,
                resources,
                conditions,
                message,
                grant,
                within_scope: false,
                span: Span::default(),
            })
        })
}

fn string_literal() -> impl Strategy<Value = StrLit> {
    "[a-z \"\\\\]{0,12}".prop_map(|value| StrLit { value, span: Span::default() })
}

fn expectation() -> impl Strategy<Value = Expectation> {
    let grant_clause = prop_oneof![
        (1i64..100_000_000).prop_map(|nanos| GrantClause::Ttl(DurationLit { nanos, span: Span::default() })),
        prop::collection::vec(string_literal(), 0..3).prop_map(|tags| GrantClause::Tags(tags, Span::default())),
        string_literal().prop_map(GrantClause::Message),
    ];
    prop_oneof![
        prop::collection::vec(name(), 0..3)
            .prop_map(|names| Expectation::By(names.into_iter().map(ident).collect(), Span::default())),
        name().prop_map(|code| Expectation::Reason(ident(code), Span::default())),
        string_literal().prop_map(Expectation::Message),
        prop::collection::vec(grant_clause, 1..4)
            .prop_map(|clauses| Expectation::Grant(Grant { clauses, span: Span::default() })),
    ]
}

fn test_decl() -> impl Strategy<Value = Item> {
    let decision = prop::sample::select(vec![Decision::Allow, Decision::Deny, Decision::Escalate]);
    (name(), name(), decision, prop::collection::vec(expectation(), 0..4)).prop_map(
        |(name, action, expect, expectations)| {
            Item::Test(TestDecl {
                name: ident(name),
                request: vec![RequestPart::Action(ident(action))],
                expect,
                expect_span: Span::default(),
                expectations,
                span: Span::default(),
            })
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn printed_expressions_parse_back_to_the_same_tree(tree in any_expr()) {
        let text = print_expr(&tree);
        let (parsed, diagnostics) = parse_expr(&text, &Arc::from("expr"));
        prop_assert!(diagnostics.is_empty(), "{text}: {diagnostics:?}");
        let parsed = parsed.expect("parsed without diagnostics");
        prop_assert_eq!(sexpr(&parsed), sexpr(&tree), "printed as {}", text);
    }

    #[test]
    fn printed_files_parse_back_to_the_same_outline(items in prop::collection::vec(prop_oneof![policy(), test_decl()], 0..4)) {
        let file = File { items };
        let text = print_file(&file);
        let (parsed, diagnostics) = parse(&text, &Arc::from("file"));
        prop_assert!(diagnostics.is_empty(), "{text}: {diagnostics:?}");
        prop_assert_eq!(outline(&parsed), outline(&file), "printed as {}", text);
    }
}

/// A string holding characters the lexer refuses in a literal (line separators,
/// bidirectional controls, a byte-order mark) is printed with escapes, so it reads back.
#[test]
fn strings_with_hidden_characters_print_as_escapes() {
    for hidden in ['\u{2028}', '\u{2029}', '\u{85}', '\u{202E}', '\u{200B}', '\u{FEFF}', '\r'] {
        let tree = expr(ExprKind::Str(format!("a{hidden}b")));
        let text = print_expr(&tree);
        assert!(!text.contains(hidden), "{text:?}");
        let (parsed, diagnostics) = parse_expr(&text, &Arc::from("expr"));
        assert!(diagnostics.is_empty(), "{text:?}: {diagnostics:?}");
        assert_eq!(sexpr(&parsed.expect("parsed")), sexpr(&tree));
    }
}

/// Every shipped example and fixture that parses cleanly survives print → parse.
#[test]
fn shipped_sources_round_trip() {
    let mut checked = 0;
    for dir in ["examples", "stdlib", "tests/fixtures/parse"] {
        for path in walk(std::path::Path::new(dir)) {
            let text = std::fs::read_to_string(&path).expect("read source");
            let (tree, diagnostics) = parse(&text, &Arc::from("source"));
            if !diagnostics.is_empty() {
                continue;
            }
            let (again, diagnostics) = parse(&print_file(&tree), &Arc::from("printed"));
            assert!(diagnostics.is_empty(), "{}: {diagnostics:?}", path.display());
            assert_eq!(outline(&again), outline(&tree), "{}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 5, "found only {checked} sources");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else if path.extension().is_some_and(|ext| ext == "mandate") {
            files.push(path);
        }
    }
    files
}
