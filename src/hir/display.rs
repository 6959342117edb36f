//! Writes HIR expressions back in Mandate syntax, for explanations and graph drawings.

use std::fmt;

use super::{ArithOp, Base, CmpOp, HExpr, QuantifierKind, StrOp, Value};
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
                    } else {
                        write!(f, ".{step}")?;
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
            HExpr::Has(inner, name) => write!(f, "{inner} has {name}"),
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
            HExpr::Call(builtin, args) => {
                let args: Vec<String> = args.iter().map(ToString::to_string).collect();
                write!(f, "{}({})", builtin.name(), args.join(", "))
            }
        }
    }
}
