//! Decision cost does not grow with the number of policies, for every shape of
//! `benches/generated/shapes.rs` (patterns, prefixes, limits, set membership, a mix):
//! the nodes a matching decision walks, counted from its explanation (which, unlike a
//! time, does not vary between runs), are at most twice as many at 10,000 policies as at
//! 10. And a request within the request limits is never denied for running out of
//! evaluation steps.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

#[path = "../benches/generated/shapes.rs"]
mod shapes;

use mandate::eval::{Limits, Outcome, PolicySet, RequestDoc};

fn load(shape: &str, count: usize) -> PolicySet {
    let source = shapes::shape_package(shape, count);
    PolicySet::from_sources(&[("shape.mandate", &source)], Limits::default()).expect("the shape checks")
}

/// The decision for a request that matches policy `count / 2`, and the nodes it walked.
fn walked(set: &PolicySet, shape: &str, count: usize, labels: usize) -> (Outcome, usize) {
    let doc: RequestDoc = serde_json::from_str(&shapes::shape_request(shape, count / 2, labels)).expect("request");
    let decision = set.explain(&set.prepare(&doc).expect("valid request"));
    let steps = decision.explanation.iter().flatten().map(|walk| walk.steps.len()).sum();
    (decision.decision, steps)
}

#[test]
fn the_walk_at_ten_thousand_policies_is_at_most_twice_the_walk_at_ten() {
    for shape in shapes::SHAPES {
        let (small, large) = (load(shape, 10), load(shape, 10_000));
        let (small_outcome, small_walk) = walked(&small, shape, 10, 8);
        let (large_outcome, large_walk) = walked(&large, shape, 10_000, 8);
        assert_eq!((small_outcome, large_outcome), (Outcome::Allow, Outcome::Allow), "{shape}");
        assert!(large_walk <= 2 * small_walk, "{shape}: {large_walk} nodes at 10,000 policies, {small_walk} at 10");
        let stats = large.plan().stats();
        assert!(stats.walk_diagrams <= 16, "{shape}: up to {} diagrams walked", stats.walk_diagrams);
    }
}

#[test]
fn requests_within_the_limits_never_run_out_of_steps() {
    let limit = Limits::default().request.max_set_elements;
    for (shape, labels) in [("members", limit), ("mixed", 50), ("mixed", limit)] {
        let set = load(shape, 10_000);
        let (outcome, _) = walked(&set, shape, 10_000, labels);
        assert_eq!(outcome, Outcome::Allow, "{shape} with {labels} labels");
    }
}
