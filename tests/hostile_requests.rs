//! Malformed and adversarial requests never panic and are never allowed.
//!
//! Two generators: arbitrary JSON values (almost never a request at all), and mutations
//! of a valid request of `examples/support` (a part removed, a value replaced by one of
//! another kind, an unknown attribute added). Every mutation of the second kind makes the
//! request invalid, so each must be denied with errors, never allowed.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

use std::sync::OnceLock;

use mandate::eval::{Limits, Outcome, PolicySet};
use proptest::prelude::*;
use serde_json::{json, Value};

fn support() -> &'static PolicySet {
    static SET: OnceLock<PolicySet> = OnceLock::new();
    SET.get_or_init(|| {
        PolicySet::load(std::path::Path::new("examples/support"), Limits::default()).expect("example checks")
    })
}

fn valid_request() -> Value {
    serde_json::from_str(&std::fs::read_to_string("tests/fixtures/eval/request.json").expect("fixture")).expect("JSON")
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "agent", "chain", "task", "action", "args", "resource", "context", "behavior", "id", "attrs",
                    "kind", "x"
                ])
                .prop_map(str::to_string),
                inner,
                0..6
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Paths of values in the valid request that a request must give.
const REQUIRED: &[&[&str]] = &[
    &["agent", "id"],
    &["agent", "attrs", "team"],
    &["chain"],
    &["task", "kind"],
    &["task", "start"],
    &["task", "params", "ticket"],
    &["action"],
    &["resource", "type"],
    &["resource", "attrs", "class"],
    &["resource", "attrs", "customer"],
];

/// Paths a request may leave out: they have defaults (`docs/requests.md`).
const OPTIONAL: &[&[&str]] = &[&["context", "time"], &["behavior", "risk"]];

/// Every path a mutation may replace.
fn all_paths() -> Vec<&'static [&'static str]> {
    REQUIRED.iter().chain(OPTIONAL).copied().collect()
}

/// Values of the wrong kind for every path above (each path holds a string, except
/// `chain`, an array, and `behavior.risk`, a number).
fn wrong_value(path: &[&str]) -> impl Strategy<Value = Value> {
    let is_number = path == ["behavior", "risk"];
    let is_array = path == ["chain"];
    prop_oneof![
        Just(Value::Null),
        Just(json!({"nested": true})),
        any::<bool>().prop_map(Value::Bool),
        if is_array { Just(json!("not a list")).boxed() } else { Just(json!([1, 2])).boxed() },
        if is_number { Just(json!("high")).boxed() } else { any::<i32>().prop_map(|n| json!(n)).boxed() },
    ]
}

fn set_path(value: &mut Value, path: &[&str], replacement: Option<Value>) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut at = value;
    for step in parents {
        at = at.get_mut(*step).expect("path exists");
    }
    let object = at.as_object_mut().expect("object");
    match replacement {
        Some(new) => {
            object.insert(last.to_string(), new);
        }
        None => {
            object.remove(*last);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_json_is_never_allowed(value in any_json()) {
        let decision = support().decide_json(&value.to_string(), false);
        prop_assert_eq!(decision.decision, Outcome::Deny);
    }

    #[test]
    fn a_value_of_the_wrong_kind_is_an_error_not_an_allow(
        (path, replacement) in prop::sample::select(all_paths()).prop_flat_map(|path| (Just(path), wrong_value(path)))
    ) {
        let mut request = valid_request();
        set_path(&mut request, path, Some(replacement));
        let decision = support().decide_json(&request.to_string(), false);
        prop_assert_eq!(decision.decision, Outcome::Deny);
        prop_assert!(!decision.errors.is_empty(), "{path:?}: {decision:?}");
    }

    #[test]
    fn a_missing_required_part_is_an_error_not_an_allow(path in prop::sample::select(REQUIRED)) {
        let mut request = valid_request();
        set_path(&mut request, path, None);
        let decision = support().decide_json(&request.to_string(), false);
        prop_assert_eq!(decision.decision, Outcome::Deny, "{:?}", path);
        prop_assert!(!decision.errors.is_empty(), "{path:?}: {decision:?}");
    }

    #[test]
    fn an_unknown_attribute_is_an_error_not_an_allow(name in "[a-z]{1,8}", value in any_json()) {
        let mut request = valid_request();
        let attrs = request["resource"]["attrs"].as_object_mut().expect("attrs");
        prop_assume!(!attrs.contains_key(&name));
        attrs.insert(name, value);
        let decision = support().decide_json(&request.to_string(), false);
        prop_assert_eq!(decision.decision, Outcome::Deny);
        prop_assert_eq!(decision.errors[0].code.as_str(), "unknown_attribute");
    }
}

#[test]
fn the_unmutated_request_is_allowed() {
    let decision = support().decide_json(&valid_request().to_string(), false);
    assert_eq!(decision.decision, Outcome::Allow, "{}", decision.to_text());
}
