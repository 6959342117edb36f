//! Test coverage: which policies the package's tests made apply, and which branches of
//! the decision graph their requests took.
//!
//! A policy is covered when some test's decision lists it among the policies that
//! matched. A branch is one way out of a graph node (a value of a switch, an interval of
//! a number, a test's `true` or `false`); it is covered when some test's walk left the
//! node that way. Each is reported with the `file:line` of the policy (or task) that
//! reads what the node tests, so an author knows where a missing test belongs. Reports
//! come as text, JSON and LCOV, which coverage viewers read.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;

use super::engine::PolicySet;
use super::tests::TestResult;
use crate::compile::dot::edges;
use crate::compile::plan::{Node, Plan};
use crate::hir::{Base, HExpr, Origin};

/// One policy and the number of tests that made it apply.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyCoverage {
    pub name: String,
    pub file: Arc<str>,
    pub line: usize,
    pub tests: usize,
}

/// One way out of a graph node, and the number of tests that took it.
#[derive(Debug, Clone, Serialize)]
pub struct BranchCoverage {
    /// What the node tests: an attribute or a condition.
    pub test: String,
    /// The branch: `== "billing"`, `< 0.9`, `holds`, …
    pub branch: String,
    /// Where the policy or task that reads it is written; `None` for the standard
    /// library's.
    pub file: Option<Arc<str>>,
    pub line: Option<usize>,
    pub tests: usize,
}

/// What a package's tests cover.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    pub policies: Vec<PolicyCoverage>,
    pub branches: Vec<BranchCoverage>,
}

impl Coverage {
    /// Measures `results`, the test results of `set` (decided with explanations).
    pub fn measure(set: &PolicySet, results: &[TestResult]) -> Coverage {
        let lines = LineFinder::new(set);
        let policies = set
            .hir()
            .policies
            .iter()
            .filter(|policy| lines.is_own(&policy.origin))
            .map(|policy| PolicyCoverage {
                name: policy.name.clone(),
                file: policy.origin.file.clone(),
                line: lines.line(&policy.origin),
                tests: results.iter().filter(|result| result.decision.policies.matched(&policy.name)).count(),
            })
            .collect();
        let taken = taken_branches(results);
        let all = graph_branches(set.plan())
            .into_iter()
            .filter(|(_, _, _, branch, _)| branch != "none")
            .filter_map(|(node, index, test, branch, read)| {
                let origin = lines.reader(set, &read).or_else(|| {
                    // A test is kept in a canonical form; find a reader of what it reads.
                    let Read::Test(expr) = &read else { return None };
                    fields_of(expr).iter().find_map(|field| lines.reader(set, field))
                })?;
                Some(BranchCoverage {
                    test,
                    branch,
                    file: Some(origin.file.clone()),
                    line: Some(lines.line(origin)),
                    tests: taken.get(&(node, index)).copied().unwrap_or(0),
                })
            })
            .collect();
        Coverage { policies, branches: merged(all) }
    }

    /// The share of policies covered, in percent (100 for a package without policies).
    pub fn policy_percent(&self) -> f64 {
        percent(self.policies.iter().filter(|policy| policy.tests > 0).count(), self.policies.len())
    }

    /// The share of branches covered, in percent.
    pub fn branch_percent(&self) -> f64 {
        percent(self.branches.iter().filter(|branch| branch.tests > 0).count(), self.branches.len())
    }

    /// The report for people: the totals, then what no test covers, with `file:line`.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let covered = |tests: usize| tests > 0;
        let policies = self.policies.iter().filter(|policy| covered(policy.tests)).count();
        let branches = self.branches.iter().filter(|branch| covered(branch.tests)).count();
        let _ = writeln!(
            out,
            "coverage: {policies}/{} policies ({:.1}%), {branches}/{} graph branches ({:.1}%)",
            self.policies.len(),
            self.policy_percent(),
            self.branches.len(),
            self.branch_percent()
        );
        for policy in self.policies.iter().filter(|policy| !covered(policy.tests)) {
            let _ = writeln!(out, "  policy {} ({}:{}) applies in no test", policy.name, policy.file, policy.line);
        }
        for branch in self.branches.iter().filter(|branch| !covered(branch.tests)) {
            let place = match (&branch.file, branch.line) {
                (Some(file), Some(line)) => format!(" ({file}:{line})"),
                _ => String::new(),
            };
            let _ = writeln!(out, "  branch {} → {}{place} is taken by no test", branch.test, branch.branch);
        }
        out
    }

    /// The report as LCOV: a policy is a line (hit by the tests that made it apply), a
    /// graph branch a branch of the line of the policy that reads it.
    pub fn lcov(&self) -> String {
        let mut files: BTreeMap<&str, LcovFile> = BTreeMap::new();
        for policy in &self.policies {
            let (lines, _) = files.entry(&policy.file).or_default();
            *lines.entry(policy.line).or_default() += policy.tests;
        }
        for branch in &self.branches {
            if let (Some(file), Some(line)) = (&branch.file, branch.line) {
                files.entry(file).or_default().1.push((line, branch.tests));
            }
        }
        let mut out = String::new();
        for (file, (lines, branches)) in files {
            let _ = writeln!(out, "TN:\nSF:{file}");
            for (number, (line, tests)) in branches.iter().enumerate() {
                let taken = if *tests == 0 { "-".to_string() } else { tests.to_string() };
                let _ = writeln!(out, "BRDA:{line},0,{number},{taken}");
            }
            let _ = writeln!(out, "BRF:{}\nBRH:{}", branches.len(), branches.iter().filter(|(_, t)| *t > 0).count());
            for (line, tests) in &lines {
                let _ = writeln!(out, "DA:{line},{tests}");
            }
            let _ = writeln!(out, "LF:{}\nLH:{}", lines.len(), lines.values().filter(|tests| **tests > 0).count());
            out.push_str("end_of_record\n");
        }
        out
    }
}

/// Branches as the author wrote them: the graph repeats a condition in the diagram of
/// every (action, resource type) it concerns, and those copies are one branch, taken
/// when any copy is.
fn merged(branches: Vec<BranchCoverage>) -> Vec<BranchCoverage> {
    let mut by_place: BTreeMap<BranchPlace, usize> = BTreeMap::new();
    for branch in branches {
        *by_place.entry((branch.file, branch.line, branch.test, branch.branch)).or_default() += branch.tests;
    }
    by_place
        .into_iter()
        .map(|((file, line, test, branch), tests)| BranchCoverage { test, branch, file, line, tests })
        .collect()
}

/// A file's LCOV lines (line → hits) and branches (line, hits).
type LcovFile = (BTreeMap<usize, usize>, Vec<(usize, usize)>);

/// A branch as the author sees it: file, line, what is tested, which way.
type BranchPlace = (Option<Arc<str>>, Option<usize>, String, String);

fn percent(covered: usize, total: usize) -> f64 {
    if total == 0 {
        return 100.0;
    }
    covered as f64 * 100.0 / total as f64
}

/// How many tests left each node by each branch, from the tests' walks.
fn taken_branches(results: &[TestResult]) -> BTreeMap<(u32, usize), usize> {
    let mut taken = BTreeMap::new();
    for result in results {
        let walks = result.decision.explanation.iter().flatten();
        let visited: BTreeSet<(u32, usize)> = walks.flat_map(|walk| walk.visited.iter().copied()).collect();
        for visit in visited {
            *taken.entry(visit).or_default() += 1;
        }
    }
    taken
}

/// What a node reads: an attribute path, or a test expression.
enum Read {
    Field(crate::hir::Root, Vec<Arc<str>>),
    Test(HExpr),
}

/// Every branch of every node that tests something: the node, the branch's index, what
/// it tests, the branch's label, and what it reads.
fn graph_branches(plan: &Plan) -> Vec<(u32, usize, String, String, Read)> {
    let mut branches = Vec::new();
    for (number, node) in plan.nodes.iter().enumerate() {
        let Ok(number) = u32::try_from(number) else { break };
        let (test, read) = match *node {
            Node::Switch { field, .. } | Node::Interval { field, .. } => {
                let Some(spec) = plan.fields.get(field as usize) else { continue };
                (spec.path.text(), Read::Field(spec.path.root, spec.path.path.to_vec()))
            }
            Node::Test { test, .. } => {
                let Some(expr) = plan.tests.get(test as usize) else { continue };
                (expr.to_string(), Read::Test(expr.clone()))
            }
            Node::Leaf { .. } | Node::Fork { .. } | Node::Index { .. } => continue,
        };
        let switch = matches!(node, Node::Switch { .. });
        // Branches keep their numbers; those no valid request takes are not counted.
        let labels: Vec<(usize, String)> = edges(plan, node)
            .into_iter()
            .enumerate()
            .filter_map(|(index, (_, label))| Some((index, label?)))
            .map(|(index, label)| match switch && label != "other" {
                true => (index, format!("== {label}")),
                false => (index, label),
            })
            .collect();
        for (index, label) in labels {
            let read = match &read {
                Read::Field(root, path) => Read::Field(*root, path.clone()),
                Read::Test(expr) => Read::Test(expr.clone()),
            };
            branches.push((number, index, test.clone(), label, read));
        }
    }
    branches
}

/// Line numbers of origins, and which policy or task reads what a node tests.
struct LineFinder<'a> {
    sources: &'a [(String, Arc<str>)],
    /// Each source's line starts, computed once.
    starts: Vec<Vec<usize>>,
}

impl<'a> LineFinder<'a> {
    fn new(set: &'a PolicySet) -> Self {
        let sources = set.sources();
        let starts = sources.iter().map(|(_, text)| crate::diagnostics::line_starts(text)).collect();
        LineFinder { sources, starts }
    }

    /// Whether the origin is in one of the package's own files (not the standard
    /// library's).
    fn is_own(&self, origin: &Origin) -> bool {
        self.sources.iter().any(|(file, _)| **file == *origin.file)
    }

    /// The 1-based line an origin starts on.
    fn line(&self, origin: &Origin) -> usize {
        let at = self.sources.iter().position(|(file, _)| **file == *origin.file);
        let starts = at.and_then(|at| self.starts.get(at));
        starts.map_or(1, |starts| starts.partition_point(|start| *start <= origin.start).max(1))
    }

    /// The first of the package's own policies (else tasks) whose conditions read `read`.
    fn reader<'s>(&self, set: &'s PolicySet, read: &Read) -> Option<&'s Origin> {
        let reads = |expr: &HExpr| match read {
            Read::Test(test) => contains(expr, test),
            Read::Field(root, path) => {
                let mut found = false;
                expr.visit(&mut |part| {
                    if let HExpr::Field(Base::Root(own), own_path) = part {
                        found |= own == root && own_path.starts_with(path);
                    }
                });
                found
            }
        };
        let hir = set.hir();
        let policy =
            hir.policies.iter().filter(|policy| self.is_own(&policy.origin)).find(|policy| reads(&policy.condition));
        let task = || {
            hir.tasks
                .values()
                .filter(|task| self.is_own(&task.origin))
                .find(|task| reads(&task.require) || task.scope.iter().any(|item| reads(&item.condition)))
        };
        policy.map(|policy| &policy.origin).or_else(|| task().map(|task| &task.origin))
    }
}

/// The attributes a test reads.
fn fields_of(expr: &HExpr) -> Vec<Read> {
    let mut fields = Vec::new();
    expr.visit(&mut |part| {
        if let HExpr::Field(Base::Root(root), path) = part {
            fields.push(Read::Field(*root, path.to_vec()));
        }
    });
    fields
}

/// Whether `expr` contains `part` (or its negation, which a test may stand for).
fn contains(expr: &HExpr, part: &HExpr) -> bool {
    let mut found = false;
    expr.visit(&mut |node| found |= node == part);
    found
}
