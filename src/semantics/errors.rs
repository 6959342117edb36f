//! Every mistake the checker can report, with its stable code and the help it gives.
//!
//! Messages are lowercase, one line, without a trailing period; the `help` says what to
//! do. Codes are part of the public interface: tools filter and suppress by them.

use crate::syntax::Span;

/// A name that does not resolve, a clash of names, or a name used where it cannot be.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ResolveError {
    #[error("unknown type `{name}`")]
    #[diagnostic(code(mandate::resolve::unknown_type))]
    UnknownType {
        name: String,
        #[label("not a type")]
        span: Span,
        #[help]
        help: Option<String>,
    },
    #[error("{owner} has no attribute `{attr}`")]
    #[diagnostic(code(mandate::resolve::unknown_attribute))]
    UnknownAttribute {
        attr: String,
        owner: String,
        #[label("unknown attribute")]
        span: Span,
        #[help]
        help: Option<String>,
    },
    #[error("unknown action `{name}`")]
    #[diagnostic(code(mandate::resolve::unknown_action))]
    UnknownAction {
        name: String,
        #[label("not declared in the schema")]
        span: Span,
        #[help]
        help: Option<String>,
    },
    #[error("unknown resource type `{name}`")]
    #[diagnostic(code(mandate::resolve::unknown_resource_type))]
    UnknownResourceType {
        name: String,
        #[label("not declared in the schema")]
        span: Span,
        #[help]
        help: Option<String>,
    },
    #[error("unknown task `{name}`")]
    #[diagnostic(code(mandate::resolve::unknown_task))]
    UnknownTask {
        name: String,
        #[label("no task has this name")]
        span: Span,
        #[help]
        help: Option<String>,
    },
    #[error("unknown policy `{name}`")]
    #[diagnostic(code(mandate::resolve::unknown_policy))]
    UnknownPolicy {
        name: String,
        #[label("no policy has this name")]
        span: Span,
        #[help]
        help: Option<String>,
    },
    #[error("unknown reason code `{name}`")]
    #[diagnostic(code(mandate::resolve::unknown_reason))]
    UnknownReason {
        name: String,
        #[label("no decision has this reason")]
        span: Span,
        #[help]
        help: Option<String>,
    },
    #[error("unknown name `{name}`")]
    #[diagnostic(code(mandate::resolve::unknown_name))]
    UnknownName {
        name: String,
        #[label("not a parameter, variable or enum value")]
        span: Span,
        #[help]
        help: Option<String>,
    },
    #[error("`{variant}` is not a value of enum `{enum_name}`")]
    #[diagnostic(code(mandate::resolve::unknown_variant))]
    UnknownVariant {
        variant: String,
        enum_name: String,
        #[label("unknown value")]
        span: Span,
        #[help]
        help: Option<String>,
    },
    #[error("unknown function `{name}`")]
    #[diagnostic(code(mandate::resolve::unknown_function))]
    UnknownFunction {
        name: String,
        #[label("not declared")]
        span: Span,
        #[help]
        help: Option<String>,
    },
    #[error("unknown scope fragment `{name}`")]
    #[diagnostic(code(mandate::resolve::unknown_fragment))]
    UnknownFragment {
        name: String,
        #[label("not declared")]
        span: Span,
        #[help]
        help: Option<String>,
    },
    #[error("unknown module `{name}`")]
    #[diagnostic(code(mandate::resolve::unknown_module))]
    UnknownModule {
        name: String,
        #[label("no such module")]
        span: Span,
        #[help]
        help: Option<String>,
    },
    #[error("cannot read `{path}`: {reason}")]
    #[diagnostic(
        code(mandate::resolve::unreadable_file),
        help("check the path; it is relative to the file that contains the `use`")
    )]
    UnreadableFile {
        path: String,
        reason: String,
        #[label("imported here")]
        span: Span,
    },
    #[error("`{path}` is outside the package root `{root}`")]
    #[diagnostic(
        code(mandate::resolve::import_outside_root),
        help("imports must be `.mandate` files under the package root: the nearest folder above with a `mandate.toml`, or else the folder given on the command line; add a `mandate.toml` at the top of your policy tree to share files between its packages")
    )]
    ImportOutsideRoot {
        path: String,
        root: String,
        #[label("imported here")]
        span: Span,
    },
    #[error("`{path}` is not a `.mandate` source file")]
    #[diagnostic(
        code(mandate::resolve::import_not_source),
        help("only regular `.mandate` files can be imported (a symbolic link counts as what it points to)")
    )]
    ImportNotSource {
        path: String,
        #[label("imported here")]
        span: Span,
    },
    #[error("import cycle: {cycle}")]
    #[diagnostic(
        code(mandate::resolve::import_cycle),
        help("move the shared declarations into a module that both can use")
    )]
    ImportCycle {
        cycle: String,
        #[label("this import closes the cycle")]
        span: Span,
    },
    #[error("{noun} `{name}` is declared more than once")]
    #[diagnostic(code(mandate::resolve::duplicate_declaration), help("rename one of them, or remove the copy"))]
    Duplicate {
        noun: &'static str,
        name: String,
        #[label("declared again here")]
        span: Span,
    },
    #[error("attribute `{name}` is declared more than once")]
    #[diagnostic(code(mandate::resolve::duplicate_attribute), help("remove one of the declarations"))]
    DuplicateAttribute {
        name: String,
        #[label("declared again here")]
        span: Span,
        #[label("first declared here")]
        first: Span,
    },
    #[error("attribute `{name}` is built in")]
    #[diagnostic(
        code(mandate::resolve::builtin_attribute),
        help("every {owner} already has `{name}`; remove this declaration")
    )]
    BuiltinAttribute {
        name: String,
        owner: &'static str,
        #[label("already defined")]
        span: Span,
    },
    #[error("function `{name}` calls itself")]
    #[diagnostic(
        code(mandate::resolve::recursive_function),
        help("functions are total and non-recursive; unroll the recursion or use `any`/`all`")
    )]
    RecursiveFunction {
        name: String,
        cycle: String,
        #[label("{cycle}")]
        span: Span,
    },
    #[error("record `{name}` contains itself")]
    #[diagnostic(
        code(mandate::resolve::recursive_record),
        help("records must be finite; store an id instead of the nested record")
    )]
    RecursiveRecord {
        name: String,
        #[label("recursive record")]
        span: Span,
    },
    #[error("action `{action}` does not apply to {resources}")]
    #[diagnostic(code(mandate::resolve::action_not_applicable))]
    ActionNotApplicable {
        action: String,
        resources: String,
        #[label("this action")]
        span: Span,
        #[help]
        help: Option<String>,
    },
    #[error("`task.{param}` needs the task kind to be known")]
    #[diagnostic(code(mandate::resolve::task_kind_unknown))]
    TaskKindUnknown {
        param: String,
        #[label("which task's `{param}`?")]
        span: Span,
        #[help]
        help: Option<String>,
    },
    #[error("`{root}` cannot be used {place}")]
    #[diagnostic(code(mandate::resolve::root_not_allowed))]
    RootNotAllowed {
        root: String,
        place: &'static str,
        #[label("not available here")]
        span: Span,
        #[help]
        help: Option<String>,
    },
    #[error("action `{action}` has no resource")]
    #[diagnostic(
        code(mandate::resolve::no_resource),
        help("narrow the condition with `action == …` to actions that have a resource")
    )]
    NoResource {
        action: String,
        #[label("`resource` is not set for `{action}`")]
        span: Span,
    },
}

/// A value of the wrong type, or an operation its operands do not support.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum TypeError {
    #[error("expected `{expected}`, found `{found}`")]
    #[diagnostic(code("mandate::type::mismatch"))]
    Mismatch {
        expected: String,
        found: String,
        #[label("this is `{found}`")]
        span: Span,
        #[help]
        help: Option<String>,
    },
    #[error("cannot compare `{left}` with `{right}`")]
    #[diagnostic(code("mandate::type::incomparable"))]
    Incomparable {
        left: String,
        right: String,
        #[label("`{left}` {op} `{right}`")]
        span: Span,
        op: String,
        #[help]
        help: Option<String>,
    },
    #[error("`{clause}` is given more than once")]
    #[diagnostic(code("mandate::type::duplicate_clause"), help("keep one `{clause}`; later ones would silently win"))]
    DuplicateClause {
        clause: &'static str,
        #[label("repeated")]
        span: Span,
        #[label("first given here")]
        first: Span,
    },
    #[error("`grant` on {effect} policy")]
    #[diagnostic(
        code("mandate::type::grant_without_permit"),
        help("only a permit issues a credential; remove the `grant` (to tell the reader of the decision why the policy applies, write `message \"…\"` after its conditions)")
    )]
    GrantWithoutPermit {
        /// The effect with its article: `a forbid`, `an escalate`.
        effect: &'static str,
        #[label("nothing is granted by {effect}")]
        span: Span,
    },
    #[error("only a permit can be `within scope`")]
    #[diagnostic(
        code("mandate::type::within_scope_not_permit"),
        help("`permit within scope` grants what the task's scope covers; a forbid or an escalation names its actions and resources")
    )]
    WithinScopeNotPermit {
        #[label("not a permit")]
        span: Span,
    },
    #[error("`message` on a permit")]
    #[diagnostic(
        code("mandate::type::message_on_permit"),
        help("a permit's message goes to the credential: write it inside the grant, `grant {{ message \"…\" }}`")
    )]
    MessageOnPermit {
        #[label("a permit's decision carries its grant's message")]
        span: Span,
    },
    #[error("a function's parameter `{name}` cannot be optional or have a default")]
    #[diagnostic(
        code("mandate::type::optional_function_parameter"),
        help("every call passes every argument; only action arguments and task parameters may be optional")
    )]
    OptionalFunctionParameter {
        name: String,
        #[label("always given")]
        span: Span,
    },
    #[error("a map's key is read without checking that it is present")]
    #[diagnostic(code("mandate::type::unguarded_key"))]
    UnguardedKey {
        #[label("may be absent")]
        span: Span,
        #[help]
        help: Option<String>,
    },
    #[error("map keys are strings, not `{found}`")]
    #[diagnostic(
        code("mandate::type::map_key"),
        help("write `Map<String, T>`: tools send maps as JSON objects, whose keys are strings")
    )]
    MapKey {
        found: String,
        #[label("not `String`")]
        span: Span,
    },
    #[error("a scope fragment cannot use another")]
    #[diagnostic(
        code("mandate::type::nested_fragment"),
        help("use both fragments where the scope is declared: `scope {{ use a(…), use b(…) }}`")
    )]
    NestedFragment {
        #[label("inside scope fragment")]
        span: Span,
    },
    #[error("task parameter `{name}` is both optional and has a default")]
    #[diagnostic(
        code("mandate::type::optional_with_default"),
        help("a parameter with a default is always present: drop the `?`, or drop the default and read it behind `task has {name}`")
    )]
    OptionalWithDefault {
        name: String,
        #[label("one or the other")]
        span: Span,
    },
    #[error("the default of `{name}` is not a value of its type: {reason}")]
    #[diagnostic(
        code("mandate::type::bad_default"),
        help("a default is a literal of the parameter's type, such as `100.0`, `\"eu\"`, `15m`, `internal` or `[\"a\", \"b\"]`")
    )]
    BadDefault {
        name: String,
        reason: String,
        #[label("not a value of the parameter's type")]
        span: Span,
    },
    #[error("`{part}` cannot be a part of composite task `{task}`: {reason}")]
    #[diagnostic(
        code("mandate::type::bad_composite"),
        help("a composite is made of tasks declared with their own scope, each named once, whose parameters of the same name have the same type")
    )]
    BadComposite {
        task: String,
        part: String,
        reason: String,
        #[label("{reason}")]
        span: Span,
    },
    #[error("a budget outside a task's scope")]
    #[diagnostic(
        code("mandate::type::budget_outside_task"),
        help("a budget limits what one task instance may spend in total; move it into a task's `scope`")
    )]
    BudgetOutsideTask {
        #[label("only a task's scope may have a budget")]
        span: Span,
    },
    #[error("`sum` adds up numbers, not `{found}`")]
    #[diagnostic(
        code("mandate::type::budget_not_number"),
        help("`sum` adds an `Int` or `Decimal` value of each allowed request, such as `sum(args.amount)`")
    )]
    BudgetNotNumber {
        found: String,
        #[label("this is `{found}`")]
        span: Span,
    },
    #[error("only a `behavior` signal can be a history counter")]
    #[diagnostic(
        code("mandate::type::history_outside_behavior"),
        help("declare the counter in the schema's `behavior` block: `behavior {{ calls: Int = count(call) per task within 1h }}`")
    )]
    HistoryOutsideBehavior {
        #[label("a history counter here")]
        span: Span,
    },
    #[error("history counter `{name}` cannot be optional")]
    #[diagnostic(
        code("mandate::type::optional_history"),
        help("remove the `?`: a counter always has a value, 0 when nothing was counted")
    )]
    OptionalHistory {
        name: String,
        #[label("declared optional")]
        span: Span,
    },
    #[error("this counter measures `{measured}`, but the signal is declared `{declared}`")]
    #[diagnostic(
        code("mandate::type::history_type"),
        help("declare the signal as `{measured}`: a `count` is an `Int`, a `sum` has its value's type")
    )]
    HistoryType {
        declared: String,
        measured: String,
        #[label("declared `{declared}`")]
        span: Span,
    },
    #[error("a composite task takes its {clause} from its parts")]
    #[diagnostic(
        code("mandate::type::composite_clause"),
        help("a composite's scope is the union of its parts' scopes and its delegation the strictest of theirs; it may add `intent`, `require` and a shorter `ttl`")
    )]
    CompositeClause {
        clause: &'static str,
        #[label("not allowed here")]
        span: Span,
    },
    #[error("a ttl of zero")]
    #[diagnostic(
        code("mandate::type::zero_ttl"),
        help("a credential or task that expires at once can never be used; give a positive duration")
    )]
    ZeroTtl {
        #[label("expires immediately")]
        span: Span,
    },
    #[error("this means {first} for one resource type or action and {second} for another")]
    #[diagnostic(
        code("mandate::type::ambiguous"),
        help("write it so it means one thing everywhere: qualify enum values (`Enum::value`), or narrow the policy with `on`")
    )]
    Ambiguous {
        first: String,
        second: String,
        #[label("means different things")]
        span: Span,
    },
    #[error("cannot apply `{op}` to `{left}` and `{right}`")]
    #[diagnostic(
        code("mandate::type::bad_arithmetic"),
        help("arithmetic works on numbers, on durations, and on a timestamp plus or minus a duration")
    )]
    BadArithmetic {
        op: String,
        left: String,
        right: String,
        #[label("`{left}` {op} `{right}`")]
        span: Span,
    },
    #[error("`{op}` does not apply to `{found}`")]
    #[diagnostic(code("mandate::type::bad_operand"))]
    BadOperand {
        op: String,
        found: String,
        #[label("this is `{found}`")]
        span: Span,
        #[help]
        help: Option<String>,
    },
    #[error("optional attribute `{attr}` is used without `has`")]
    #[diagnostic(code("mandate::type::unguarded_optional"))]
    UnguardedOptional {
        attr: String,
        #[label("may be missing")]
        span: Span,
        #[help]
        help: Option<String>,
    },
    #[error("`{name}` takes {expected} argument{plural}, found {found}")]
    #[diagnostic(code("mandate::type::arity"))]
    Arity {
        name: String,
        expected: usize,
        plural: &'static str,
        found: usize,
        #[label("wrong number of arguments")]
        span: Span,
    },
    #[error("invalid pattern: {reason}")]
    #[diagnostic(
        code("mandate::type::invalid_pattern"),
        help("patterns match the whole string; `*` matches any run of characters and `\\*` a literal star")
    )]
    InvalidPattern {
        reason: String,
        #[label("here")]
        span: Span,
    },
    #[error("`{op}` needs a string literal here")]
    #[diagnostic(code("mandate::type::not_literal"))]
    NotLiteral {
        op: String,
        #[label("not a literal")]
        span: Span,
        #[help]
        help: Option<String>,
    },
    #[error("`{name}` parses a request attribute, not a computed value")]
    #[diagnostic(
        code("mandate::type::moment_argument"),
        help("pass the attribute itself, such as `{name}(args.due)`: requests are checked to carry a moment there")
    )]
    MomentArgument {
        name: String,
        #[label("not an attribute")]
        span: Span,
    },
    #[error("invalid timestamp `{text}`")]
    #[diagnostic(
        code("mandate::type::invalid_timestamp"),
        help("write RFC 3339 (\"2026-11-29T09:00:00Z\"), \"2026-11-29 09:00\" or \"2026-11-29\"")
    )]
    InvalidTimestamp {
        text: String,
        #[label("{reason}")]
        span: Span,
        reason: String,
    },
    #[error("missing {what} `{name}`")]
    #[diagnostic(code("mandate::type::missing_field"))]
    MissingField {
        what: &'static str,
        name: String,
        #[label("`{name}` is required")]
        span: Span,
        #[help]
        help: Option<String>,
    },
    #[error("a test does not compare a credential's scope")]
    #[diagnostic(
        code("mandate::type::expected_scope"),
        help(
            "expect the credential's `ttl`, `tags` and `message`s; the prover checks what a credential's scope covers"
        )
    )]
    ExpectedScope {
        #[label("not compared")]
        span: Span,
    },
    #[error("this test can never pass: {reason}")]
    #[diagnostic(code("mandate::type::impossible_expectation"))]
    ImpossibleExpectation {
        reason: String,
        #[label("{label}")]
        span: Span,
        label: String,
        #[help]
        help: Option<String>,
    },
    #[error("`{part}` is given more than once")]
    #[diagnostic(code("mandate::type::duplicate_field"), help("remove the repeated part"))]
    DuplicateField {
        part: String,
        #[label("repeated")]
        span: Span,
    },
}

/// Legal but suspicious code. Warnings fail `mandate check` only with `--deny-warnings`.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Lint {
    #[error("permit `{policy}` issues a credential without a ttl")]
    #[diagnostic(
        code(mandate::lint::permit_without_ttl),
        severity(Warning),
        help("add `grant ttl 15m` so the credential expires before the task does")
    )]
    PermitWithoutTtl {
        policy: String,
        #[label("no `grant ttl`")]
        span: Span,
    },
    #[error("permit `{policy}` applies to every action")]
    #[diagnostic(
        code(mandate::lint::wildcard_permit),
        severity(Warning),
        help("name the actions the permit is for; wildcard permits grant whatever the schema grows to")
    )]
    WildcardPermit {
        policy: String,
        #[label("`*`")]
        span: Span,
    },
    #[error("function `{name}` is never used")]
    #[diagnostic(code(mandate::lint::unused_function), severity(Warning), help("remove it, or call it from a policy"))]
    UnusedFunction {
        name: String,
        #[label("unused")]
        span: Span,
    },
    #[error("file declares nothing")]
    #[diagnostic(code(mandate::lint::empty_file), severity(Warning), help("add declarations, or delete the file"))]
    EmptyFile {
        #[label("empty")]
        span: Span,
    },
}

/// A checked package that still cannot be compiled.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LowerError {
    #[error("cannot compile this: {message}")]
    #[diagnostic(
        code(mandate::compile::unsupported),
        help("simplify the expression, or split it into several policies")
    )]
    Unsupported {
        message: String,
        #[label("here")]
        span: Span,
    },
}
