//! The generator: random policy packages as Mandate source over a fixed schema, and
//! random requests from small value pools (so conditions often match), driven by a tape
//! of bytes. [`check_case`] decides every generated request with the compiled graph and
//! with the reference interpreter and compares them; the equivalence property test and
//! the `graph` fuzz target both call it.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

use mandate::eval::{Limits, PolicySet, RequestDoc};
use mandate::hir::value::{parse_timestamp, timestamp_text, Value};
use mandate::hir::{HExpr, Hir};
use mandate::syntax::ast::Effect;
use serde_json::json;

use super::reference::{compare, reference_decide};
// ------------------------------------------------------------------------------------
// The generator: packages as source text, requests as documents
// ------------------------------------------------------------------------------------

/// The fixed schema every generated package uses.
pub const SCHEMA: &str = r#"schema {
  agent { team: String, name: String, level: Int, trusted: Bool, region?: String }
  enum Class { public, internal, confidential, secret }
  resource Doc {
    owner: String, path: String, size: Int, price: Decimal, class: Class, archived: Bool,
    labels: Set<String>,
  }
  resource Ticket { owner: String, number: String, size: Int, price: Decimal, class: Class, labels: Set<String> }
  action read, update on Doc, Ticket
  action pay(amount: Decimal, memo?: String, due?: String, tags?: Map<String, String>) on Ticket
  context { network: String }
}
"#;

const PEOPLE: &[&str] = &["alice", "bob", "carol"];
const AGENTS: &[&str] = &["a1", "a2", "a3"];
const TEAMS: &[&str] = &["support", "billing", "ops"];
const CLASSES: &[&str] = &["public", "internal", "confidential", "secret"];
const LABELS: &[&str] = &["pii", "draft", "runbook", "support"];
const INTS: &[&str] = &["5", "0", "1", "10", "100", "3", "-1"];
/// Policy thresholds: whole and fractional, both signs, and the smallest fraction each way.
const DECIMALS: &[&str] =
    &["1.0", "0.5", "2.5", "10.0", "99.9999", "0.0", "100", "5", "-0.5", "-0.0001", "0.0001", "-1.5"];
const CMPS: &[&str] = &["==", "!=", "<", "<=", ">", ">="];
const EQS: &[&str] = &["==", "!="];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Read,
    Update,
    Pay,
}

const ACTS: &[Act] = &[Act::Read, Act::Update, Act::Pay];

impl Act {
    fn name(self) -> &'static str {
        match self {
            Act::Read => "read",
            Act::Update => "update",
            Act::Pay => "pay",
        }
    }

    fn applies(self) -> &'static [Res] {
        match self {
            Act::Read | Act::Update => &[Res::Doc, Res::Ticket],
            Act::Pay => &[Res::Ticket],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Res {
    Doc,
    Ticket,
}

impl Res {
    fn name(self) -> &'static str {
        match self {
            Res::Doc => "Doc",
            Res::Ticket => "Ticket",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Triage,
    Refund,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Triage => "Triage",
            Kind::Refund => "Refund",
        }
    }
}

/// Where an expression is written; decides which roots it may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Policy,
    Scope,
    GrantScope,
    Require,
    DelegateTo,
}

/// What the checker's flow typing knows at a point (it mirrors `semantics::expr::Facts`):
/// the actions and resource types the request is known to be one of, the task kind and
/// whether `agent.region` is present. The checker skips an operand whose facts rule out
/// every environment (lowering makes it `false`; such packages once failed to load).
/// The generator computes the same facts, so it knows which operands are checked: it
/// writes the others only now and then, on purpose, and notes it (`dead_operands`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Facts {
    actions: Option<Vec<Act>>,
    resources: Option<Vec<Res>>,
    kind: Option<Kind>,
    region: bool,
}

fn narrow<T: Copy + PartialEq>(a: &Option<Vec<T>>, b: &Option<Vec<T>>) -> Option<Vec<T>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.iter().copied().filter(|x| b.contains(x)).collect()),
        (a, b) => a.clone().or_else(|| b.clone()),
    }
}

impl Facts {
    fn and(&self, other: &Facts) -> Facts {
        Facts {
            actions: narrow(&self.actions, &other.actions),
            resources: narrow(&self.resources, &other.resources),
            kind: other.kind.or(self.kind),
            region: self.region || other.region,
        }
    }
    fn actions(actions: Vec<Act>) -> Facts {
        Facts { actions: Some(actions), ..Facts::default() }
    }
    fn resource(res: Res) -> Facts {
        Facts { resources: Some(vec![res]), ..Facts::default() }
    }
    fn kind(kind: Kind) -> Facts {
        Facts { kind: Some(kind), ..Facts::default() }
    }
    fn region() -> Facts {
        Facts { region: true, ..Facts::default() }
    }
}

/// Where an expression is generated: what it may read and what is known there.
#[derive(Debug, Clone)]
struct Ctx {
    place: Place,
    /// The (action, resource type) environments it is checked in. At the top of a
    /// `grant scope` item these are all of the item's, whatever the permit's
    /// conditions proved; facts only rule environments out for later operands.
    base: Vec<(Act, Res)>,
    facts: Facts,
    /// The kind of the task whose clause this is.
    own_kind: Option<Kind>,
}

impl Ctx {
    fn new(place: Place, base: Vec<(Act, Res)>, own_kind: Option<Kind>) -> Ctx {
        Ctx { place, base, facts: Facts::default(), own_kind }
    }
    /// The point after a test that proved `facts`: the right operand of `and` or `or`,
    /// or the next policy condition. The checker checks it only in the environments
    /// the facts do not rule out (`ExprChecker::unreachable`; an empty set of known
    /// actions or types rules nothing out).
    fn assume(&self, facts: &Facts) -> Ctx {
        let facts = self.facts.and(facts);
        let ruled_out = |(act, res): &(Act, Res)| {
            facts.actions.as_ref().is_some_and(|a| !a.is_empty() && !a.contains(act))
                || facts.resources.as_ref().is_some_and(|r| !r.is_empty() && !r.contains(res))
        };
        let base = self.base.iter().copied().filter(|env| !ruled_out(env)).collect();
        Ctx { base, facts, ..self.clone() }
    }
    /// The environments the expression is checked in.
    fn envs(&self) -> Vec<(Act, Res)> {
        self.base.clone()
    }
    /// Whether the checker checks this point at all.
    fn reachable(&self) -> bool {
        !self.resource_place() || !self.envs().is_empty()
    }
    fn kind(&self) -> Option<Kind> {
        self.facts.kind.or(self.own_kind)
    }
    fn resource_place(&self) -> bool {
        matches!(self.place, Place::Policy | Place::Scope | Place::GrantScope)
    }
    fn resource(&self) -> bool {
        self.resource_place() && !self.envs().is_empty()
    }
    fn agent(&self) -> bool {
        self.place != Place::Require
    }
    fn context(&self) -> bool {
        self.resource_place()
    }
    fn all_res(&self, res: Res) -> bool {
        self.resource() && self.envs().iter().all(|env| env.1 == res)
    }
    fn all_pay(&self) -> bool {
        self.resource() && self.envs().iter().all(|env| env.0 == Act::Pay)
    }
    fn own_task(&self) -> bool {
        matches!(self.place, Place::Require | Place::Scope | Place::DelegateTo)
    }
}

/// A generated condition and the facts the checker derives from it being true
/// (`when_true`) and false (`when_false`).
struct Cond {
    text: String,
    wt: Facts,
    wf: Facts,
}

impl Cond {
    fn plain(text: impl Into<String>) -> Cond {
        Cond { text: text.into(), wt: Facts::default(), wf: Facts::default() }
    }
}

/// Draws choices from a tape of random bytes; past its end every choice is 0, the
/// simplest option, so shrinking the tape simplifies the package.
pub struct Gen<'a> {
    tape: &'a [u8],
    pos: usize,
    /// Whether the package has an operand the checker skips (a guard rules out every
    /// environment). Lowering turns those into `false`; without them, the HIR holds no
    /// constant `true`/`false` below the top of an expression.
    pub dead_operands: bool,
}

fn quote(text: &str) -> String {
    format!("\"{text}\"")
}

impl<'a> Gen<'a> {
    pub fn new(tape: &'a [u8]) -> Self {
        Gen { tape, pos: 0, dead_operands: false }
    }

    fn byte(&mut self) -> u8 {
        let byte = self.tape.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        byte
    }

    fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            0
        } else {
            usize::from(self.byte()) % n
        }
    }

    /// True with about `percent`% probability; false on a 0 byte.
    fn maybe(&mut self, percent: u32) -> bool {
        u32::from(self.byte()) * 100 / 256 >= 100 - percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// A non-empty sub-list, in pool order.
    fn subset(&mut self, items: &[&str]) -> Vec<String> {
        let first = self.below(items.len());
        let mut chosen: Vec<String> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            if index == first || self.maybe(35) {
                chosen.push(quote(item));
            }
        }
        chosen
    }

    fn bare_subset(&mut self, items: &[&str]) -> String {
        let first = self.below(items.len());
        let mut chosen: Vec<&str> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            if index == first || self.maybe(35) {
                chosen.push(item);
            }
        }
        chosen.join(", ")
    }

    // --- targets ------------------------------------------------------------------------

    /// A target (`read on Doc`, `[read, pay]`, `* on Ticket`, …) and the environments it
    /// covers. Scope items always name the resource types.
    fn target(&mut self, scope: bool) -> (String, Vec<(Act, Res)>) {
        for _ in 0..8 {
            let (action_text, acts): (String, Vec<Act>) = match self.below(4) {
                0 => {
                    let act = self.pick(ACTS);
                    (act.name().to_string(), vec![act])
                }
                1 => {
                    let first = self.below(3);
                    let second = (first + 1 + self.below(2)) % 3;
                    let (a, b) = (ACTS[first.min(second)], ACTS[first.max(second)]);
                    (format!("[{}, {}]", a.name(), b.name()), vec![a, b])
                }
                2 => ("*".to_string(), ACTS.to_vec()),
                _ => ("[read, update, pay]".to_string(), ACTS.to_vec()),
            };
            let named = action_text != "*";
            let (resource_text, filter): (String, Option<Vec<Res>>) = match self.below(if scope { 4 } else { 5 }) {
                0 if !scope => (String::new(), None),
                0 | 1 => (" on Doc".to_string(), Some(vec![Res::Doc])),
                2 => (" on Ticket".to_string(), Some(vec![Res::Ticket])),
                3 => (" on [Doc, Ticket]".to_string(), Some(vec![Res::Doc, Res::Ticket])),
                _ => (" on *".to_string(), None),
            };
            let mut envs = Vec::new();
            let mut every_action_applies = true;
            for act in &acts {
                let matching: Vec<Res> = act
                    .applies()
                    .iter()
                    .copied()
                    .filter(|res| filter.as_ref().is_none_or(|filter| filter.contains(res)))
                    .collect();
                every_action_applies &= !matching.is_empty();
                envs.extend(matching.into_iter().map(|res| (*act, res)));
            }
            if !envs.is_empty() && (every_action_applies || !named) {
                return (format!("{action_text}{resource_text}"), envs);
            }
        }
        let text = if scope { "read on Doc" } else { "read" };
        (text.to_string(), vec![(Act::Read, Res::Doc), (Act::Read, Res::Ticket)][..if scope { 1 } else { 2 }].to_vec())
    }

    // --- expressions ----------------------------------------------------------------------

    fn cond(&mut self, cx: &Ctx, depth: u32) -> Cond {
        if !cx.reachable() {
            // The checker skips this operand, and lowering makes it `false`; it is never
            // evaluated, so what it says does not matter.
            self.dead_operands = true;
            return Cond::plain(if self.maybe(50) { "agent.trusted" } else { "resource.owner == \"bob\"" });
        }
        if depth == 0 || !self.maybe(55) {
            return self.atom(cx, depth);
        }
        match self.below(3) {
            0 => {
                let a = self.cond(cx, depth - 1);
                let b = self.cond(&cx.assume(&a.wt), depth - 1);
                Cond { text: format!("({}) and ({})", a.text, b.text), wt: a.wt.and(&b.wt), wf: Facts::default() }
            }
            1 => {
                let a = self.cond(cx, depth - 1);
                let b = self.cond(&cx.assume(&a.wf), depth - 1);
                Cond { text: format!("({}) or ({})", a.text, b.text), wt: Facts::default(), wf: a.wf.and(&b.wf) }
            }
            _ => {
                let a = self.cond(cx, depth - 1);
                Cond { text: format!("not ({})", a.text), wt: a.wf, wf: a.wt }
            }
        }
    }

    fn atom(&mut self, cx: &Ctx, depth: u32) -> Cond {
        const ATOMS: usize = 25;
        let start = self.below(ATOMS);
        for offset in 0..ATOMS {
            if let Some(cond) = self.try_atom((start + offset) % ATOMS, cx, depth) {
                return cond;
            }
        }
        Cond::plain("true")
    }

    fn one_of(&mut self, options: Vec<String>) -> Option<String> {
        if options.is_empty() {
            None
        } else {
            let index = self.below(options.len());
            options.into_iter().nth(index)
        }
    }

    #[allow(clippy::too_many_lines)]
    fn try_atom(&mut self, kind: usize, cx: &Ctx, depth: u32) -> Option<Cond> {
        let person = quote(self.pick(PEOPLE));
        let agent_id = quote(self.pick(AGENTS));
        let int = self.pick(INTS);
        let dec = self.pick(DECIMALS);
        let cmp = self.pick(CMPS);
        let eq = self.pick(EQS);
        let label = quote(self.pick(LABELS));
        let class = self.pick(CLASSES);
        let text = match kind {
            1 if cx.resource() => Some(format!("resource.owner {eq} {person}")),
            2 if cx.resource() => Some(format!("resource.owner in [{}]", self.subset(PEOPLE).join(", "))),
            3 if cx.resource() => Some(format!("resource.size {cmp} {int}")),
            4 if cx.resource() => Some(format!("resource.price {cmp} {dec}")),
            5 if cx.resource() => Some(if self.maybe(50) {
                format!("resource.class in [{}]", self.bare_subset(CLASSES))
            } else {
                format!("resource.class {cmp} {class}")
            }),
            6 if cx.all_res(Res::Doc) => {
                Some(if self.maybe(50) { "not resource.archived" } else { "resource.archived" }.to_string())
            }
            7 if cx.resource() => Some(if self.maybe(50) {
                format!("resource.labels contains {label}")
            } else {
                format!("{label} in resource.labels")
            }),
            8 if cx.resource() => self.one_of(vec![
                "any(t in resource.labels: t starts_with \"p\")".to_string(),
                format!("all(t in resource.labels: t != {label})"),
                "any(t in resource.labels: t in [\"pii\", \"runbook\"])".to_string(),
                "all(t in resource.labels: not (t matches \"*ra*\"))".to_string(),
                "any(t in resource.labels: t == agent.team)".to_string(),
                "any(t in resource.labels: any(u in resource.labels: t != u and u ends_with \"t\"))".to_string(),
                "all(t in resource.labels: t != resource.owner)".to_string(),
                format!("any(t in resource.labels: t == {label})"),
                format!("any(t in resource.labels: {label} == t)"),
                format!("all(t in resource.labels: not (t == {label}))"),
                "any(t in resource.labels: not (t starts_with \"p\"))".to_string(),
                "all(t in resource.labels: t in [\"pii\", \"runbook\", \"red\"])".to_string(),
            ]),
            9 if cx.resource() => self.one_of(vec![
                "resource.owner == agent.name".to_string(),
                "resource.owner != chain.sponsor".to_string(),
                "resource.size > agent.level".to_string(),
                "resource.size <= agent.level".to_string(),
                "resource.price >= resource.size".to_string(),
                "resource.owner in [agent.name, \"bob\"]".to_string(),
                "resource.owner in chain.links".to_string(),
                "agent.team in resource.labels".to_string(),
                "lower(resource.owner) == \"alice\"".to_string(),
                "upper(resource.owner) != \"BOB\"".to_string(),
                "trim(resource.owner) == resource.owner".to_string(),
                "len(resource.labels) >= 2".to_string(),
                "len(resource.owner) < 5".to_string(),
                "resource.owner < \"bob\"".to_string(),
                "resource.owner >= agent.name".to_string(),
                "\"pii\" in split(resource.owner, \"i\")".to_string(),
                "len(split(resource.owner, \"\")) > 3".to_string(),
            ]),
            10 if cx.all_res(Res::Doc) => self.one_of(vec![
                "resource.path starts_with \"/kb/\"".to_string(),
                "resource.path ends_with \".draft\"".to_string(),
                "resource.path contains \"kb\"".to_string(),
                "resource.path matches \"/kb/*\"".to_string(),
                "resource.path matches \"*.draft\"".to_string(),
                "resource.path matches \"/kb/\\\\*\"".to_string(),
                "resource.path == \"\"".to_string(),
            ]),
            10 if cx.all_res(Res::Ticket) => self.one_of(vec![
                "resource.number matches \"T-*\"".to_string(),
                "resource.number starts_with \"T\"".to_string(),
                "resource.number == \"T-1\"".to_string(),
                "resource.number matches \"T-\\\\*\"".to_string(),
                "resource.number matches \"*\"".to_string(),
            ]),
            11 if cx.resource() => self.one_of(vec![
                format!("resource.size + {int} > 10"),
                "resource.size * 2 <= agent.level".to_string(),
                "-resource.size < 0".to_string(),
                "resource.size - agent.level >= 0".to_string(),
                "resource.size * resource.size >= 25".to_string(),
            ]),
            12 if cx.resource() => self.one_of(vec![
                format!("resource.price * 2.5 > {dec}"),
                "resource.price + 0.5 <= 1.0".to_string(),
                "resource.price * resource.price > 1.0".to_string(),
                "-resource.price < 0.0".to_string(),
                "resource.price * 3 == 7.5".to_string(),
                "resource.price - 0.0001 < 99.9999".to_string(),
            ]),
            13 if cx.resource() => {
                let res = self.pick(&[Res::Doc, Res::Ticket]);
                // Now and then a guard that rules everything out, so what follows it is
                // never checked.
                if !cx.assume(&Facts::resource(res)).reachable() && !self.maybe(30) {
                    return None;
                }
                let test = format!("resource is {}", res.name());
                if self.maybe(25) {
                    return Some(if self.maybe(50) {
                        Cond { text: format!("not ({test})"), wt: Facts::default(), wf: Facts::resource(res) }
                    } else {
                        Cond { text: format!("({test})"), wt: Facts::resource(res), wf: Facts::default() }
                    });
                }
                let inner = self.cond(&cx.assume(&Facts::resource(res)), depth.saturating_sub(1));
                return Some(Cond {
                    text: format!("{test} and ({})", inner.text),
                    wt: Facts::resource(res).and(&inner.wt),
                    wf: Facts::default(),
                });
            }
            14 if cx.resource() => {
                let act = self.pick(ACTS);
                let mut acts = vec![act];
                let list = self.maybe(30);
                if list && self.maybe(50) {
                    acts.push(if act == Act::Read { Act::Update } else { Act::Read });
                }
                if !cx.assume(&Facts::actions(acts.clone())).reachable() && !self.maybe(30) {
                    return None;
                }
                let names: Vec<&str> = acts.iter().map(|act| act.name()).collect();
                let test = if list {
                    format!("action in [{}]", names.join(", "))
                } else {
                    format!("action == {}", act.name())
                };
                if self.maybe(20) {
                    return Some(if eq == "!=" {
                        Cond::plain(format!("action != {}", act.name()))
                    } else {
                        Cond { text: test, wt: Facts::actions(acts), wf: Facts::default() }
                    });
                }
                let inner = self.cond(&cx.assume(&Facts::actions(acts.clone())), depth.saturating_sub(1));
                return Some(Cond {
                    text: format!("{test} and ({})", inner.text),
                    wt: Facts::actions(acts).and(&inner.wt),
                    wf: Facts::default(),
                });
            }
            15 if cx.all_pay() => self.one_of(vec![
                format!("args.amount {cmp} {dec}"),
                "args.amount in [10, 0.5]".to_string(),
                "args.amount <= resource.price".to_string(),
                "args.amount * 2 > resource.price".to_string(),
                "args.amount + resource.price > 10.0".to_string(),
                "resource.size * args.amount >= 25".to_string(),
                "args has memo and args.memo starts_with \"ref\"".to_string(),
                "not (args has memo)".to_string(),
                "args has due and date(args.due) <= date(context.time)".to_string(),
                "args has due and timestamp(args.due) > context.time + 1h".to_string(),
                "args has due and date(args.due).weekday >= 6".to_string(),
                "args has due and date(args.due) + 1d > timestamp(args.due)".to_string(),
                "args has tags and args.tags has \"team\" and args.tags[\"team\"] == agent.team".to_string(),
                "args has tags and \"urgent\" in values(args.tags)".to_string(),
                "args has tags and len(keys(args.tags)) >= 2".to_string(),
                "args has tags and args.tags has (resource.owner) and args.tags[resource.owner] != \"\"".to_string(),
                "not (args has tags) or not (args.tags has team)".to_string(),
            ]),
            16 if cx.agent() => Some(if self.maybe(40) {
                format!("agent.team in [{}]", self.subset(TEAMS).join(", "))
            } else {
                format!("agent.team {eq} {}", quote(self.pick(TEAMS)))
            }),
            17 if cx.agent() => self.one_of(vec![
                "agent.trusted".to_string(),
                format!("agent.level {cmp} {int}"),
                format!("agent.id == {agent_id}"),
                "agent.id in [\"a1\", \"a2\"]".to_string(),
                format!("agent.name {eq} {person}"),
            ]),
            18 if cx.agent() => {
                let mut options = vec![
                    Cond {
                        text: "agent has region and agent.region == \"eu\"".to_string(),
                        wt: Facts::region(),
                        wf: Facts::default(),
                    },
                    Cond {
                        text: "not (agent has region) or agent.region != \"us\"".to_string(),
                        wt: Facts::default(),
                        wf: Facts::region(),
                    },
                    Cond {
                        text: "agent has region and agent.region in [\"eu\", \"apac\"]".to_string(),
                        wt: Facts::region(),
                        wf: Facts::default(),
                    },
                    Cond { text: "agent has region".to_string(), wt: Facts::region(), wf: Facts::default() },
                ];
                if cx.resource() {
                    options.push(Cond {
                        text: "agent has region and (agent.region starts_with \"e\" or agent.region == resource.owner)"
                            .to_string(),
                        wt: Facts::region(),
                        wf: Facts::default(),
                    });
                }
                if cx.facts.region {
                    options.push(Cond::plain("agent.region == \"eu\""));
                }
                let index = self.below(options.len());
                return options.into_iter().nth(index);
            }
            19 if cx.place != Place::Require => {
                if self.maybe(20) {
                    return Some(Cond::plain("task is Both"));
                }
                let kind = self.pick(&[Kind::Triage, Kind::Refund]);
                let test = format!("task is {}", kind.name());
                if self.maybe(20) {
                    return Some(if self.maybe(50) {
                        Cond { text: format!("not ({test})"), wt: Facts::default(), wf: Facts::kind(kind) }
                    } else {
                        Cond { text: format!("({test})"), wt: Facts::kind(kind), wf: Facts::default() }
                    });
                }
                let is = cx.assume(&Facts::kind(kind));
                if !is.reachable() {
                    self.dead_operands = true;
                }
                let inner = if depth > 0 && self.maybe(30) {
                    self.cond(&is, depth - 1)
                } else {
                    Cond::plain(self.param_atom(&is, kind))
                };
                return Some(Cond {
                    text: format!("{test} and ({})", inner.text),
                    wt: Facts::kind(kind).and(&inner.wt),
                    wf: Facts::default(),
                });
            }
            20 => cx.kind().map(|kind| self.param_atom(cx, kind)),
            21 if cx.agent() => {
                let depth_limit = self.below(3);
                self.one_of(vec![
                    format!("chain.depth <= {depth_limit}"),
                    "chain.depth == 0".to_string(),
                    format!("chain.sponsor == {person}"),
                    format!("chain.root == {agent_id}"),
                    format!("chain.delegator == {agent_id}"),
                    format!("{agent_id} in chain.links"),
                    "chain.root == agent.id".to_string(),
                    "chain.delegator == chain.sponsor".to_string(),
                    "agent.id in chain.links".to_string(),
                    format!("chain.links contains {person}"),
                    "chain.root != chain.delegator".to_string(),
                ])
            }
            22 if cx.context() => self.one_of(vec![
                "context.network == \"corp\"".to_string(),
                "context.time.hour >= 12".to_string(),
                "context.time.weekday <= 5".to_string(),
                "context.time < task.start + 10m".to_string(),
                "context.time - task.start > 5m".to_string(),
                "context.time <= task.deadline - 5m".to_string(),
                "(context.time + 1h).hour < 12".to_string(),
            ]),
            23 if cx.place == Place::Policy => self.one_of(vec![
                "behavior.risk > 0.5".to_string(),
                "behavior.novel_action".to_string(),
                "behavior.risk * 2 >= 1.0".to_string(),
                "behavior.risk >= 0.9 or behavior.novel_action".to_string(),
            ]),
            24 if cx.place != Place::Require => self.one_of(vec![
                "task.id == \"t1\"".to_string(),
                "task.deadline - task.start >= 30m".to_string(),
                "task.start.hour >= 12".to_string(),
            ]),
            _ => None,
        };
        text.map(Cond::plain)
    }

    /// A condition on the parameters of task kind `kind`, which `cx` knows.
    fn param_atom(&mut self, cx: &Ctx, kind: Kind) -> String {
        let cmp = self.pick(CMPS);
        // Bare parameter names only name the parameters of the task being declared.
        let bare = cx.own_task() && cx.own_kind == Some(kind);
        let mut options = Vec::new();
        match kind {
            Kind::Triage => {
                options.push(format!("task.owner == {}", quote(self.pick(PEOPLE))));
                options.push(format!("task.level {cmp} {}", self.pick(&["1", "2", "0"])));
                options.push(format!("task.max_class >= {}", self.pick(CLASSES)));
                options.push("task.owner != \"\"".to_string());
                options.push(format!("task.region {} \"eu\"", self.pick(EQS)));
                if bare {
                    options.push("level <= 3".to_string());
                    options.push("owner matches \"*o*\"".to_string());
                }
                if cx.resource() {
                    options.push("task.owner == resource.owner".to_string());
                    options.push("resource.class <= task.max_class".to_string());
                    options.push("resource.size <= task.level * 10".to_string());
                    options.push("task.owner in resource.labels".to_string());
                }
                if cx.agent() {
                    options.push("task.level >= agent.level".to_string());
                    options.push("task.owner == chain.sponsor".to_string());
                    options.push("agent.name == task.owner".to_string());
                }
            }
            Kind::Refund => {
                options.push(format!("task.cap {cmp} {}", self.pick(DECIMALS)));
                options.push("task.ticket matches \"T-*\"".to_string());
                options.push("task.ticket starts_with \"T\"".to_string());
                options.push("task.ticket != \"\"".to_string());
                options.push("task has note and task.note == \"urgent\"".to_string());
                if cx.all_res(Res::Ticket) {
                    options.push("resource.number matches task.ticket".to_string());
                }
                options.push("not (task has note)".to_string());
                if bare {
                    options.push("cap <= 100.0".to_string());
                }
                if cx.all_res(Res::Ticket) {
                    options.push("task.ticket == resource.number".to_string());
                }
                if cx.all_pay() {
                    options.push("args.amount <= task.cap".to_string());
                }
                if cx.resource() {
                    options.push("resource.price <= task.cap".to_string());
                }
                if cx.agent() {
                    options.push("task.cap > agent.level".to_string());
                }
            }
        }
        self.one_of(options).unwrap_or_else(|| "true".to_string())
    }

    // --- declarations ---------------------------------------------------------------------

    /// A scope block; `facts` is what holds where it is checked (what a permit's
    /// conditions proved, for a `grant scope`).
    fn scope_block(&mut self, place: Place, kind: Option<Kind>, facts: &Facts) -> String {
        let count = 1 + self.below(3);
        let mut items = Vec::new();
        for _ in 0..count {
            let (target, envs) = self.target(true);
            let mut cx = Ctx::new(place, envs, kind);
            cx.facts = facts.clone();
            if self.maybe(65) {
                // The top of the condition is checked in all the item's environments,
                // but an operand after `and` or `or` only where the permit's facts allow.
                if !cx.assume(&Facts::default()).reachable() {
                    self.dead_operands = true;
                }
                let condition = self.cond(&cx, 2).text;
                items.push(format!("    {target} where {condition}"));
            } else {
                items.push(format!("    {target}"));
            }
        }
        format!("{{\n{},\n  }}", items.join(",\n"))
    }

    fn task(&mut self, kind: Kind) -> String {
        let params = match kind {
            Kind::Triage => "owner: String, level: Int, max_class: Class, region: String = \"eu\"",
            Kind::Refund => "ticket: String, cap: Decimal, note?: String",
        };
        let mut text = format!("task {}({params}) {{\n", kind.name());
        if self.maybe(30) {
            text += "  intent \"generated\"\n";
        }
        if self.maybe(40) {
            let cx = Ctx::new(Place::Require, Vec::new(), Some(kind));
            text += &format!("  require {}\n", self.cond(&cx, 1).text);
        }
        if self.maybe(90) {
            text += &format!("  scope {}\n", self.scope_block(Place::Scope, Some(kind), &Facts::default()));
        }
        if self.maybe(30) {
            text += &format!("  ttl {}\n", self.pick(&["15m", "1h", "10s"]));
        }
        let depth = self.below(3);
        let to_cx = Ctx::new(Place::DelegateTo, Vec::new(), Some(kind));
        match self.below(5) {
            0 => {}
            1 => text += "  delegate\n",
            2 => text += &format!("  delegate depth <= {depth}\n"),
            3 => text += &format!("  delegate to {}\n", self.cond(&to_cx, 1).text),
            _ => text += &format!("  delegate depth <= {depth} to {}\n", self.cond(&to_cx, 1).text),
        }
        text + "}\n"
    }

    fn policy(&mut self, index: usize) -> String {
        let effect = self.pick(&[Effect::Permit, Effect::Permit, Effect::Forbid, Effect::Escalate]);
        let (target, envs) = self.target(false);
        let mut text = format!("policy p{index}:\n  {} {target}\n", effect.keyword());
        // What the conditions so far proved: each holds in the ones after it.
        let mut cx = Ctx::new(Place::Policy, envs, None);
        // Unconditional forbids and escalates would decide too many requests alone.
        let clauses = if effect == Effect::Permit { self.below(3) } else { 1 + self.below(2) };
        for _ in 0..clauses {
            if !cx.reachable() {
                // The checker stops checking a policy's conditions there: this one
                // lowers to `false`.
                self.dead_operands = true;
                text += "  when agent.trusted\n";
                continue;
            }
            match self.below(8) {
                0 => {
                    let kind = self.pick(&[Kind::Triage, Kind::Refund]);
                    text += &format!("  when task is {}\n", kind.name());
                    cx = cx.assume(&Facts::kind(kind));
                }
                1 => {
                    text +=
                        if self.maybe(50) { "  when agent has region\n" } else { "  unless not (agent has region)\n" };
                    text += &format!("  when agent.region {} \"eu\"\n", self.pick(EQS));
                    cx = cx.assume(&Facts::region());
                }
                _ => {
                    let cond = self.cond(&cx, 3);
                    if self.maybe(25) {
                        text += &format!("  unless {}\n", cond.text);
                        cx = cx.assume(&cond.wf);
                    } else {
                        text += &format!("  when {}\n", cond.text);
                        cx = cx.assume(&cond.wt);
                    }
                }
            }
        }
        if effect == Effect::Permit {
            let mut grants = Vec::new();
            if self.maybe(75) {
                grants.push(format!("ttl {}", self.pick(&["5m", "1m", "10m", "1h", "2h", "45m", "20m"])));
            }
            if self.maybe(50) {
                let tags: Vec<String> =
                    (0..=self.below(3)).map(|_| quote(self.pick(&["audit", "billing", "pii", "audit"]))).collect();
                grants.push(format!("tags [{}]", tags.join(", ")));
            }
            if self.maybe(30) {
                grants.push(format!("message \"message of p{index}\""));
            }
            if self.maybe(20) {
                grants.push(format!("scope {}", self.scope_block(Place::GrantScope, None, &cx.facts)));
            }
            match grants.len() {
                0 => {}
                1 if self.maybe(50) => text += &format!("  grant {}\n", grants[0]),
                _ => text += &format!("  grant {{\n    {}\n  }}\n", grants.join("\n    ")),
            }
        }
        text
    }

    /// A whole package: the schema, both tasks and 1 to 6 policies.
    pub fn package(&mut self) -> String {
        let mut text = SCHEMA.to_string();
        text += &self.task(Kind::Triage);
        text += &self.task(Kind::Refund);
        // A composite: both scopes, the shorter ttl, the stricter delegation.
        text += "task Both = Triage + Refund\n";
        let count = 1 + self.below(6);
        for index in 0..count {
            text += &self.policy(index);
        }
        if self.maybe(20) {
            let team = quote(self.pick(TEAMS));
            text += &format!("policy scoped: permit within scope when agent.team != {team} grant ttl 5m\n");
        }
        if self.maybe(25) {
            text += &self.bulk(count);
        }
        text
    }

    /// 50 to 80 more policies, most anchored on one attribute (a label in
    /// `resource.labels`, or a pattern on `resource.path`), so that the compiler builds
    /// index nodes; some with a condition besides, some negated, some unanchored.
    fn bulk(&mut self, first: usize) -> String {
        const RESIDUALS: &[&str] = &[
            "agent.trusted",
            "resource.size > 3",
            "resource.owner == \"alice\"",
            "not resource.archived",
            "agent.level >= 2",
        ];
        let members = self.maybe(50);
        let mut text = String::new();
        for index in first..first + 50 + self.below(31) {
            let n = self.below(40);
            let anchor = match (members, self.below(4)) {
                (true, 0) => format!("resource.labels contains \"l{n}\""),
                (true, _) => format!("\"l{n}\" in resource.labels"),
                (false, 0) => format!("resource.path starts_with \"/kb/{n}\""),
                (false, 1) => format!("resource.path ends_with \".{n}\""),
                (false, 2) => format!("resource.path contains \"{n}x\""),
                (false, _) => format!("resource.path matches \"/kb/{n}*\""),
            };
            let effect = self.pick(&["permit", "permit", "permit", "forbid", "escalate"]);
            let mut policy =
                format!("policy b{index}: {effect} {} on Doc\n", self.pick(&["read", "update", "[read, update]"]));
            match self.below(10) {
                0 => policy += &format!("  unless {anchor}\n"),
                1 => policy += &format!("  when {}\n", self.pick(RESIDUALS)),
                2..=4 => policy += &format!("  when {anchor} and {}\n", self.pick(RESIDUALS)),
                _ => policy += &format!("  when {anchor}\n"),
            }
            if effect == "permit" && self.maybe(50) {
                policy += "  grant ttl 10m\n";
            }
            text += &policy;
        }
        text
    }

    // --- requests -----------------------------------------------------------------------

    fn int_value(&mut self) -> i64 {
        // Now and then the ends of the range, and the edge of what a decimal can hold.
        match self.below(20) {
            16 => i64::MAX,
            17 => i64::MIN,
            18 => 922_337_203_685_477,
            19 => 922_337_203_685_478,
            n => [5, 0, 1, 10, 100, -1, 3, 25][n % 8],
        }
    }

    fn decimal_value(&mut self) -> &'static str {
        match self.below(16) {
            14 => "922337203685477.5807",
            15 => "-922337203685477.5808",
            n => ["1.0", "0.5", "-0.5", "-0.0001", "0.0001", "0.0", "-2.25", "-1.5"][n % 8],
        }
    }

    fn labels(&mut self) -> Vec<String> {
        let mut labels: Vec<String> = LABELS.iter().filter(|_| self.maybe(45)).map(|label| label.to_string()).collect();
        // Labels the bulk policies look for.
        for _ in 0..self.below(4) {
            labels.push(format!("l{}", self.below(40)));
        }
        labels
    }

    /// A valid request document and the `now` to prepare it at.
    pub fn request(&mut self) -> (RequestDoc, i64) {
        let mut agent_attrs = json!({
            "team": self.pick(TEAMS),
            "name": self.pick(PEOPLE),
            "level": self.pick(&[1, 0, 2, 3, 10]),
            "trusted": self.maybe(50),
        });
        if self.maybe(50) {
            agent_attrs["region"] = json!(self.pick(&["eu", "us", "apac"]));
        }
        let agent_id = self.pick(AGENTS);
        let mut chain = vec![self.pick(PEOPLE).to_string()];
        let hops = if self.maybe(35) { 1 + self.below(3) } else { 0 };
        for _ in 0..hops {
            chain.push(self.pick(AGENTS).to_string());
        }

        const MINUTE: i64 = 60_000_000_000;
        let start = parse_timestamp(self.pick(&["2026-11-30T10:00:00Z", "2026-12-05T22:30:00Z"])).unwrap();
        let length = self.pick(&[30 * MINUTE, 15 * MINUTE, 120 * MINUTE]);
        // Now and then a task that ends as it starts; a deadline before the start is an
        // invalid request, which validation rejects before anything is decided.
        let deadline = if self.maybe(3) { start } else { start + length };
        let time = match self.below(30) {
            0..=11 | 24.. => start + 5 * MINUTE,
            12 | 13 => start,
            14 | 15 => deadline,
            16 | 17 => start + 20 * MINUTE,
            18 => deadline + 1,
            19 => start - 1,
            20 => deadline + 60 * MINUTE,
            21 => start - 60 * MINUTE,
            22 => deadline - 1,
            _ => start + 90 * MINUTE,
        };
        let task = if self.maybe(4) {
            None
        } else {
            let (kind, params) = if self.maybe(50) {
                ("Refund", {
                    let mut params = json!({
                        "ticket": self.pick(&["T-1", "T-2", "X-3", "", "T-*", "*"]),
                        "cap": self.pick(&["10.0", "0.0", "5.0", "100.0", "-1.0", "250.5"]),
                    });
                    if self.maybe(50) {
                        params["note"] = json!(self.pick(&["urgent", "later", ""]));
                    }
                    params
                })
            } else {
                ("Triage", {
                    let mut params = json!({
                        "owner": self.pick(&["alice", "bob", "carol", ""]),
                        "level": self.pick(&[1, 0, 2, 3, 5]),
                        "max_class": self.pick(CLASSES),
                    });
                    // Left out, the default ("eu") is filled in.
                    if self.maybe(50) {
                        params["region"] = json!(self.pick(&["eu", "us"]));
                    }
                    params
                })
            };
            // Sometimes the composite of both, with both kinds' parameters.
            let (kind, params) = match (self.maybe(20), params) {
                (true, mut params) => {
                    let other = if kind == "Refund" {
                        json!({ "owner": self.pick(PEOPLE), "level": self.pick(&[1, 2]), "max_class": self.pick(CLASSES) })
                    } else {
                        json!({ "ticket": self.pick(&["T-1", "X-3"]), "cap": self.pick(&["10.0", "250.5"]) })
                    };
                    if let (Some(own), Some(other)) = (params.as_object_mut(), other.as_object()) {
                        own.extend(other.clone());
                    }
                    ("Both", params)
                }
                (false, params) => (kind, params),
            };
            Some(json!({
                "kind": kind,
                "id": self.pick(&["t1", "t2"]),
                "start": timestamp_text(start),
                "deadline": timestamp_text(deadline),
                "params": params,
            }))
        };

        let act = self.pick(ACTS);
        let res = self.pick(act.applies());
        let mut resource_attrs = json!({
            "owner": self.pick(&["alice", "bob", "carol", "Alice", " bob ", "BOB"]),
            "size": self.int_value(),
            "price": self.decimal_value(),
            "class": self.pick(CLASSES),
            "labels": self.labels(),
        });
        match res {
            Res::Doc => {
                resource_attrs["path"] = match self.below(3) {
                    0 => json!(format!("/kb/{}x.{}", self.below(40), self.below(40))),
                    _ => json!(self.pick(&["/kb/a", "/kb/b.draft", "/tmp/x", "kb", "/kb/*", "", "/kb/17", "/kb/3x.3"])),
                };
                resource_attrs["archived"] = json!(self.maybe(40));
            }
            Res::Ticket => {
                resource_attrs["number"] = json!(self.pick(&["T-1", "T-2", "X-3", "T-*"]));
            }
        }
        let args = if act == Act::Pay {
            let mut args = json!({ "amount": self.pick(&["5.0", "0.5", "10.0", "100.0", "250.5", "2.5", "-0.5", "-0.0001", "0.0001", "-250.5"]) });
            if self.maybe(50) {
                args["memo"] = json!(self.pick(&["ref-1", "x", ""]));
            }
            if self.maybe(50) {
                // The forms tools send: a day, a time without an offset, RFC 3339.
                let due =
                    ["2026-11-30", "2026-12-05 23:00", "2026-12-06T00:30:00+01:00", "2026-11-30T10:30", "2026-12-06"];
                args["due"] = json!(self.pick(&due));
            }
            if self.maybe(50) {
                let mut tags = serde_json::Map::new();
                for (key, value) in [("team", "support"), ("alice", "urgent"), ("bob", ""), ("x-id", "7")] {
                    if self.maybe(50) {
                        tags.insert(key.to_string(), json!(if self.maybe(30) { "urgent" } else { value }));
                    }
                }
                args["tags"] = json!(tags);
            }
            args
        } else {
            json!({})
        };
        let mut context = json!({ "network": self.pick(&["corp", "home"]) });
        // Usually `context.time` is given; otherwise it defaults to `now`.
        if !self.maybe(10) {
            context["time"] = json!(timestamp_text(time));
        }
        let behavior = json!({
            "risk": self.pick(&["0.1", "0.5", "0.9", "0.0", "-0.5", "0.0001"]),
            "novel_action": self.maybe(30),
        });
        let mut doc = json!({
            "agent": { "id": agent_id, "attrs": agent_attrs },
            "chain": chain,
            "action": act.name(),
            "args": args,
            "resource": { "type": res.name(), "id": self.pick(&["r1", "r2"]), "attrs": resource_attrs },
            "context": context,
            "behavior": behavior,
        });
        if let Some(task) = task {
            doc["task"] = task;
        }
        (serde_json::from_value(doc).expect("a well-formed request document"), time)
    }
}

/// Loads a package, failing with the rendered diagnostics.
pub fn load(source: &str) -> PolicySet {
    match PolicySet::from_sources(&[("equivalence.mandate", source)], Limits::default()) {
        Ok(set) => set,
        Err(error) => panic!("the package does not check:\n{source}\n{}", error.render()),
    }
}

/// Decides one request both ways and compares.
fn check_request(set: &PolicySet, source: &str, doc: &RequestDoc, now: i64) -> Result<(), String> {
    let request = match set.prepare_at(doc, now) {
        Ok(request) => request,
        Err(errors) => panic!("the generator made an invalid request {doc:?}: {errors:?}"),
    };
    let reference = reference_decide(set.hir(), &request);
    let actual = set.decide(&request);
    compare(&reference, &actual).map_err(|problems| {
        format!(
            "the graph and the reference disagree\n{problems}\n--- package ---\n{source}--- request ---\n{}\n--- graph decision ---\n{}",
            serde_json::to_string_pretty(doc).unwrap_or_default(),
            actual.to_text(),
        )
    })
}

pub const REQUESTS_PER_PACKAGE: usize = 20;

/// The random choices behind one case, shown compactly when a case fails.
#[derive(Clone)]
pub struct Tape(pub Vec<u8>);

impl std::fmt::Debug for Tape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hex: String = self.0.iter().map(|byte| format!("{byte:02x}")).collect();
        write!(f, "Tape({} bytes: {hex})", self.0.len())
    }
}

/// Calls `f` on every expression of the package, with whether it is a whole expression.
fn each_expression(hir: &Hir, f: &mut dyn FnMut(&HExpr, bool)) {
    let whole = |expr: &HExpr, f: &mut dyn FnMut(&HExpr, bool)| {
        f(expr, true);
        let mut first = true;
        expr.visit(&mut |inner| {
            if !std::mem::take(&mut first) {
                f(inner, false);
            }
        });
    };
    // A permit within scope in a package whose tasks declare no scope covers nothing.
    let vacuous = |policy: &&mandate::hir::Policy| policy.within_scope && policy.condition == HExpr::FALSE;
    for policy in hir.policies.iter().filter(|policy| !vacuous(policy)) {
        whole(&policy.condition, f);
        for item in policy.grant.scope.iter().flatten() {
            whole(&item.condition, f);
        }
    }
    for task in hir.tasks.values() {
        whole(&task.require, f);
        for item in &task.scope {
            whole(&item.condition, f);
        }
        if let Some(delegation) = &task.delegation {
            whole(&delegation.to, f);
        }
    }
}

/// The generated source has no `true` or `false`, so a constant below the top of a
/// lowered expression means lowering replaced an operand the checker did check: the
/// reference reads the same HIR as the graph and could not see that.
pub fn check_lowering(hir: &Hir, source: &str) -> Result<(), String> {
    let mut found = Vec::new();
    each_expression(hir, &mut |expr, whole| {
        if matches!(expr, HExpr::Const(Value::Bool(_))) && !(whole && *expr == HExpr::TRUE) {
            found.push(format!("{expr:?}"));
        }
    });
    if found.is_empty() {
        Ok(())
    } else {
        Err(format!("lowering made checked operands constant {found:?} in\n{source}"))
    }
}

/// Generates a package and its requests from `tape`, and checks that the graph decides
/// every request as the reference does; the error shows the package, the request and
/// both decisions.
pub fn check_case(tape: &[u8]) -> Result<(), String> {
    let mut gen = Gen::new(tape);
    let source = gen.package();
    let set = load(&source);
    if !gen.dead_operands {
        check_lowering(set.hir(), &source)?;
    }
    for _ in 0..REQUESTS_PER_PACKAGE {
        let (doc, now) = gen.request();
        check_request(&set, &source, &doc, now)?;
    }
    Ok(())
}

/// A fixed pseudo-random tape (xorshift), for tests that need no shrinking.
pub fn fixed_tape(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect()
}
