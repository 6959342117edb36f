//! The embedding API: load policies, decide requests, swap in new policies.
//!
//! An [`Engine`] is a cheap, cloneable handle to the current [`PolicySet`]. Deciding takes
//! a snapshot of the set, so a reload swaps the set atomically: requests already being
//! decided finish against the set they started with, and every later request sees the
//! new one. A reload that fails to check leaves the current set in place.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, RwLock};

use super::decide::{decide, Tables};
use super::decision::Decision;
use super::request::{self, CallDoc, EntityDoc, Request, RequestDoc, RequestError, RequestLimits, Stamp, TaskDoc};
use crate::compile::{self, Plan};
use crate::db;
use crate::diagnostics::Diagnostic;
use crate::hir::{Base, HExpr, Hir, MomentRead, Root};
use crate::package::{self, Loader, PackageSpec};

/// Public limits on evaluation. A request that exceeds one is denied with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest JSON request accepted, in bytes.
    pub max_request_bytes: usize,
    /// Most expression steps one decision may take (bounds quantifiers over large sets).
    pub max_eval_steps: usize,
    pub request: RequestLimits,
    pub compile: compile::Options,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 1024 * 1024,
            max_eval_steps: 1_000_000,
            request: RequestLimits::default(),
            compile: compile::Options::default(),
        }
    }
}

/// Policies that did not check, with what is needed to show why.
#[derive(Debug, Clone)]
pub struct LoadError {
    pub diagnostics: Vec<Diagnostic>,
    /// The text of every file involved, for rendering the diagnostics.
    pub sources: Vec<(String, Arc<str>)>,
}

impl LoadError {
    /// The diagnostics rendered for people.
    pub fn render(&self) -> String {
        let source_of = |path: &str| self.sources.iter().find(|(name, _)| name == path).map(|(_, text)| text.clone());
        crate::report::human(&self.diagnostics, &source_of, false)
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors = self.diagnostics.iter().filter(|d| d.is_error()).count();
        write!(f, "the policies have {errors} error(s)")?;
        if let Some(first) = self.diagnostics.iter().find(|d| d.is_error()) {
            write!(f, "; the first: {}: {} ({})", first.file, first.message, first.code)?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// A checked, compiled policy package: immutable, `Send + Sync`.
#[derive(Debug)]
pub struct PolicySet {
    hir: Arc<Hir>,
    plan: Plan,
    texts: Tables,
    limits: Limits,
    /// The attributes requests must give as moments, because the policies parse them.
    moments: Vec<MomentRead>,
    /// The package's own source files, `(path, text)` sorted by path (the standard
    /// library's modules are part of the build, not of the package).
    sources: Vec<(String, Arc<str>)>,
}

impl PolicySet {
    /// Compiles a lowered package.
    pub fn new(hir: Arc<Hir>, limits: Limits) -> Self {
        let plan = compile::compile(&hir, &limits.compile);
        let texts = Tables::new(&plan, &hir);
        let moments = hir.moment_reads();
        PolicySet { hir, plan, texts, limits, moments, sources: Vec::new() }
    }

    /// Checks and compiles a package from a folder (its `.mandate` files) or one file.
    pub fn load(path: &Path, limits: Limits) -> Result<PolicySet, LoadError> {
        let spec = PackageSpec::at(path).map_err(|error| io_error(path, &error))?;
        if spec.files.is_empty() {
            let error = package::SourceError::NoFiles { path: path.display().to_string() };
            return Err(LoadError {
                diagnostics: vec![Diagnostic::from_miette(&error, &Arc::from(path.display().to_string()))],
                sources: Vec::new(),
            });
        }
        let mut loader = Loader::default();
        let loaded = loader.load(&spec);
        finish(&loader, loaded, limits)
    }

    /// Checks and compiles a package given as `(path, text)` pairs.
    pub fn from_sources(sources: &[(&str, &str)], limits: Limits) -> Result<PolicySet, LoadError> {
        let mut loader = Loader::default();
        let loaded = loader.load_sources(sources);
        finish(&loader, loaded, limits)
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The same policies decided by another plan, such as one deserialized from a bundle.
    /// Nothing checks here that the plan matches the policies; the prover's theorem "the
    /// compiled graph decides as the policies say" does.
    pub fn with_plan(mut self, mut plan: Plan) -> Self {
        plan.reindex();
        self.texts = Tables::new(&plan, &self.hir);
        self.plan = plan;
        self
    }

    pub fn hir(&self) -> &Hir {
        &self.hir
    }

    /// The package's source files, `(path, text)` sorted by path; empty for a set made
    /// from a lowered package. [`PolicySet::from_sources`] on them rebuilds the set.
    pub fn sources(&self) -> &[(String, Arc<str>)] {
        &self.sources
    }

    /// The attributes requests must give as moments, because the policies parse them.
    pub fn moment_reads(&self) -> &[MomentRead] {
        &self.moments
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Validates a request, taking the current time when it has no `context.time`.
    pub fn prepare(&self, doc: &RequestDoc) -> Result<Request, Vec<RequestError>> {
        self.prepare_at(doc, now_nanos())
    }

    /// Validates a request; `now` (nanoseconds since the epoch) fills a missing time. The
    /// task instance's deadline is clipped to its start plus the task's `ttl`.
    pub fn prepare_at(&self, doc: &RequestDoc, now: i64) -> Result<Request, Vec<RequestError>> {
        let mut request = request::validate(&self.hir.env, doc, now, &self.limits.request)?;
        request.clip_deadline(|kind| self.hir.tasks.get(kind).and_then(|task| task.ttl));
        self.check_moments(&request, |read| request::read_by_action(read, request.action()))?;
        Ok(request)
    }

    /// Validates the registry's part of requests (agent, chain, task instance) once; the
    /// deadline is clipped like [`PolicySet::prepare_at`] clips it.
    pub fn stamp(
        &self,
        agent: &EntityDoc,
        chain: &[String],
        task: Option<&TaskDoc>,
    ) -> Result<Stamp, Vec<RequestError>> {
        let mut stamp = request::validate_stamp(&self.hir.env, agent, chain, task, &self.limits.request)?;
        stamp.clip_deadline(|kind| self.hir.tasks.get(kind).and_then(|task| task.ttl));
        let registry_part =
            |read: &MomentRead| matches!(read.field, HExpr::Field(Base::Root(Root::Agent | Root::Task), _));
        self.check_moments(&stamp.as_request(), registry_part)?;
        Ok(stamp)
    }

    /// Validates a caller's part of a request and completes it with `stamp`.
    pub fn prepare_call(&self, stamp: &Stamp, call: &CallDoc, now: i64) -> Result<Request, Vec<RequestError>> {
        let request = request::validate_call(&self.hir.env, stamp, call, now, &self.limits.request)?;
        self.check_moments(&request, |read| request::read_by_action(read, request.action()))?;
        Ok(request)
    }

    /// The moment reads `applies` selects hold moments in `request`.
    fn check_moments(&self, request: &Request, applies: impl Fn(&MomentRead) -> bool) -> Result<(), Vec<RequestError>> {
        if self.moments.is_empty() {
            return Ok(());
        }
        if !request.has_more_resources() {
            return request::check_moments(request, &self.moments, self.limits.max_eval_steps, applies);
        }
        for one in request.each_resource() {
            request::check_moments(&one, &self.moments, self.limits.max_eval_steps, &applies)?;
        }
        Ok(())
    }

    /// Decides a validated request.
    pub fn decide(&self, request: &Request) -> Decision {
        self.decide_each(request, false)
    }

    /// Decides a validated request and records the path through the graph.
    pub fn explain(&self, request: &Request) -> Decision {
        self.decide_each(request, true)
    }

    /// A request on several resources is decided once per resource, and allowed only
    /// when each is ([`Decision::all_of`]).
    fn decide_each(&self, request: &Request, explain: bool) -> Decision {
        if !request.has_more_resources() {
            return decide(&self.plan, &self.texts, request, self.limits.max_eval_steps, explain);
        }
        let each = request
            .each_resource()
            .iter()
            .map(|one| {
                let id = one.resource().and_then(|(_, attrs)| attrs.get("id")).and_then(|id| id.as_str());
                let decision = decide(&self.plan, &self.texts, one, self.limits.max_eval_steps, explain);
                (id.unwrap_or_default().to_string(), decision)
            })
            .collect();
        Decision::all_of(each)
    }

    /// Validates and decides.
    pub fn decide_doc(&self, doc: &RequestDoc, explain: bool) -> Decision {
        match self.prepare(doc) {
            Ok(request) => self.decide_each(&request, explain),
            Err(errors) => Decision::invalid(errors),
        }
    }

    /// Parses, validates and decides a JSON request.
    pub fn decide_json(&self, text: &str, explain: bool) -> Decision {
        if text.len() > self.limits.max_request_bytes {
            let error = RequestError::new(
                "",
                "too_large",
                format!(
                    "the request is {} bytes, more than the limit of {}",
                    text.len(),
                    self.limits.max_request_bytes
                ),
                None,
            );
            return Decision::invalid(vec![error]);
        }
        match request::parse_doc(text) {
            Ok(doc) => self.decide_doc(&doc, explain),
            Err(error) => Decision::invalid(vec![error]),
        }
    }
}

fn finish(loader: &Loader, loaded: package::LoadedPackage, limits: Limits) -> Result<PolicySet, LoadError> {
    let failure = |diagnostics: Vec<Diagnostic>| LoadError {
        sources: loader
            .files()
            .into_iter()
            .map(|file| (file.path(&loader.db).to_string(), file.text(&loader.db).clone()))
            .collect(),
        diagnostics,
    };
    if loaded.diagnostics.iter().any(Diagnostic::is_error) {
        return Err(failure(loaded.diagnostics));
    }
    match db::package_hir(&loader.db, loaded.package) {
        Ok(hir) => {
            let mut sources: Vec<(String, Arc<str>)> = loader
                .files()
                .into_iter()
                .map(|file| (file.path(&loader.db).to_string(), file.text(&loader.db).clone()))
                .filter(|(path, _)| !path.starts_with(package::STD_PREFIX))
                .collect();
            sources.sort();
            Ok(PolicySet { sources, ..PolicySet::new(hir.clone(), limits) })
        }
        Err(diagnostics) => Err(failure(diagnostics.clone())),
    }
}

fn io_error(path: &Path, error: &std::io::Error) -> LoadError {
    let source = package::SourceError::Unreadable { path: path.display().to_string(), reason: error.to_string() };
    LoadError {
        diagnostics: vec![Diagnostic::from_miette(&source, &Arc::from(path.display().to_string()))],
        sources: Vec::new(),
    }
}

/// Nanoseconds since the epoch, now.
pub fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX))
}

/// A thread-safe handle to the current policy set; clones share it.
#[derive(Clone)]
pub struct Engine {
    current: Arc<RwLock<Arc<PolicySet>>>,
}

impl Engine {
    pub fn new(set: PolicySet) -> Self {
        Engine { current: Arc::new(RwLock::new(Arc::new(set))) }
    }

    /// Loads a package from a folder or file, with default limits.
    pub fn load(path: impl AsRef<Path>) -> Result<Engine, LoadError> {
        PolicySet::load(path.as_ref(), Limits::default()).map(Engine::new)
    }

    /// Loads a package from in-memory sources, with default limits.
    pub fn from_sources(sources: &[(&str, &str)]) -> Result<Engine, LoadError> {
        PolicySet::from_sources(sources, Limits::default()).map(Engine::new)
    }

    /// The policy set in force now.
    pub fn current(&self) -> Arc<PolicySet> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Swaps in a new policy set; later decisions use it.
    pub fn replace(&self, set: PolicySet) {
        let set = Arc::new(set);
        match self.current.write() {
            Ok(mut guard) => *guard = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
    }

    /// Reloads from disk with the current limits; on error the current set stays.
    pub fn reload(&self, path: impl AsRef<Path>) -> Result<(), LoadError> {
        let limits = *self.current().limits();
        let set = PolicySet::load(path.as_ref(), limits)?;
        self.replace(set);
        Ok(())
    }

    /// Validates and decides a request against the current set.
    pub fn decide(&self, doc: &RequestDoc) -> Decision {
        self.current().decide_doc(doc, false)
    }

    /// Like [`Engine::decide`], recording the path through the graph.
    pub fn explain(&self, doc: &RequestDoc) -> Decision {
        self.current().decide_doc(doc, true)
    }

    /// Parses, validates and decides a JSON request.
    pub fn decide_json(&self, text: &str) -> Decision {
        self.current().decide_json(text, false)
    }
}
