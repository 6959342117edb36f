//! Writes HIR expressions back in Mandate syntax, for explanations and graph drawings.

use std::fmt;

use super::{ArithOp, Base, Builtin, CmpOp, HExpr, QuantifierKind, StrOp, Value};
use crate::compile::formula::TASK_KIND;

impl fmt::Display for HExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HExpr::Const(value) => write!(f, "{value}"),
            HExpr::Field(base, path) => {
                match base {
                    Base::Root(root) => f.write_str(root.name())?,
                    Base::Local(name) => f.write_str(name.split('#').next().unwrap_or(name))?,
                }
                for step in path {
                    if &**step == TASK_KIND {
                        f.write_str(" kind")?;
                    } else if is_name(step) {
                        write!(f, ".{step}")?;
                    } else {
                        write!(f, "[{}]", Value::String(step.clone()))?;
                    }
                }
                Ok(())
            }
            HExpr::Attr(inner, name) => write!(f, "({inner}).{name}"),
            HExpr::Not(inner) => write!(f, "not ({inner})"),
            HExpr::And(a, b) => write!(f, "({a} and {b})"),
            HExpr::Or(a, b) => write!(f, "({a} or {b})"),
            HExpr::Cmp(op, a, b) => {
                let symbol = match op {
                    CmpOp::Eq => "==",
                    CmpOp::Ne => "!=",
                    CmpOp::Lt => "<",
                    CmpOp::Le => "<=",
                    CmpOp::Gt => ">",
                    CmpOp::Ge => ">=",
                };
                write!(f, "{a} {symbol} {b}")
            }
            HExpr::In(a, b) => write!(f, "{a} in {b}"),
            HExpr::SetContains(a, b) => write!(f, "{a} contains {b}"),
            HExpr::Str(op, a, b) => {
                let word = match op {
                    StrOp::StartsWith => "starts_with",
                    StrOp::EndsWith => "ends_with",
                    StrOp::Contains => "contains",
                };
                write!(f, "{a} {word} {b}")
            }
            HExpr::Matches(a, pattern) => write!(f, "{a} matches {}", Value::String(pattern.clone())),
            HExpr::Arith(op, a, b) => {
                let symbol = match op {
                    ArithOp::Add => "+",
                    ArithOp::Sub => "-",
                    ArithOp::Mul => "*",
                };
                write!(f, "({a} {symbol} {b})")
            }
            HExpr::Neg(inner) => write!(f, "-({inner})"),
            HExpr::Has(inner, name) if is_name(name) => write!(f, "{inner} has {name}"),
            HExpr::Has(inner, key) => write!(f, "{inner} has {}", Value::String(key.clone())),
            HExpr::TaskIs(kind) => write!(f, "task is {kind}"),
            HExpr::ResourceIs(ty) => write!(f, "resource is {ty}"),
            HExpr::SetOf(items) => {
                let items: Vec<String> = items.iter().map(ToString::to_string).collect();
                write!(f, "[{}]", items.join(", "))
            }
            HExpr::RecordOf(fields) => {
                let fields: Vec<String> = fields.iter().map(|(name, value)| format!("{name}: {value}")).collect();
                write!(f, "{{ {} }}", fields.join(", "))
            }
            HExpr::Quantifier(kind, var, set, body) => {
                let word = match kind {
                    QuantifierKind::Any => "any",
                    QuantifierKind::All => "all",
                };
                let var = var.split('#').next().unwrap_or(var);
                write!(f, "{word}({var} in {set}: {body})")
            }
            HExpr::MatchesParam(text, pattern) => write!(f, "{text} matches {pattern}"),
            HExpr::Call(Builtin::Lookup, args) if matches!(args.as_slice(), [_, _]) => match args.as_slice() {
                [map, key] => write!(f, "{map}[{key}]"),
                _ => Ok(()),
            },
            HExpr::Call(Builtin::HasKey, args) if matches!(args.as_slice(), [_, _]) => match args.as_slice() {
                [map, key] => write!(f, "{map} has ({key})"),
                _ => Ok(()),
            },
            HExpr::Call(builtin, args) => {
                let args: Vec<String> = args.iter().map(ToString::to_string).collect();
                write!(f, "{}({})", builtin.name(), args.join(", "))
            }
        }
    }
}

/// Whether a key reads as a name after a dot (`args.memo`); others print as `["x-id"]`.
fn is_name(step: &str) -> bool {
    let mut chars = step.chars();
    chars.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
