//! The incremental database shared by `mandate check`, `mandate test` and editor tooling.
//!
//! Source files are salsa inputs; parsing, summarising, building the package environment
//! and checking a file are tracked queries. Each query's result is compared with its
//! previous value, so a change that leaves a file's declarations as they were (editing a
//! policy body) stops at that file: the package environment is reused unchanged and the
//! other files are not checked again. `tests/incremental.rs` holds the database to that.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use crate::diagnostics::Diagnostic;
use crate::semantics::check::check_file as check_file_items;
use crate::semantics::env::{collect_symbols, declared_names, Env, FileSymbols, Namespace, Site};
use crate::semantics::errors::{Lint, ResolveError};
use crate::semantics::{Checked, Sink};
use crate::syntax::{self, ast};

/// One source file: its display path and text.
#[salsa::input(debug)]
pub struct SourceFile {
    #[returns(ref)]
    pub path: Arc<str>,
    #[returns(ref)]
    pub text: Arc<str>,
}

/// A file's place in a package.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Member {
    pub file: SourceFile,
    /// The module name the file is imported as (`time` for `std::time`); `None` for the
    /// package's own files.
    pub module: Option<String>,
}

/// A package: its own files and the modules they use, in a fixed order.
#[salsa::input(debug)]
pub struct Package {
    #[returns(ref)]
    pub members: Vec<Member>,
}

/// A parsed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub ast: Arc<ast::File>,
    pub diagnostics: Vec<Diagnostic>,
}

#[salsa::tracked(returns(ref))]
pub fn parse(db: &dyn salsa::Database, file: SourceFile) -> Parsed {
    let (ast, diagnostics) = syntax::parse(file.text(db), file.path(db));
    Parsed { ast: Arc::new(ast), diagnostics }
}

/// The span-free summary of a file's declarations.
#[salsa::tracked(returns(ref))]
pub fn symbols(db: &dyn salsa::Database, file: SourceFile) -> FileSymbols {
    collect_symbols(&parse(db, file).ast)
}

/// For each function of the file, the functions it calls; calls from policies and other
/// declarations are listed under the empty name.
#[salsa::tracked(returns(ref))]
pub fn calls(db: &dyn salsa::Database, file: SourceFile) -> BTreeMap<String, BTreeSet<String>> {
    crate::semantics::calls::collect(&parse(db, file).ast)
}

#[salsa::tracked(returns(ref))]
pub fn package_env(db: &dyn salsa::Database, package: Package) -> Env {
    let members = package.members(db);
    let summaries: Vec<(Option<String>, &FileSymbols)> =
        members.iter().map(|member| (member.module.clone(), symbols(db, member.file))).collect();
    Env::build(&summaries)
}

/// Syntax and semantic diagnostics of one file of a package, and its name resolutions.
#[salsa::tracked(returns(ref))]
pub fn check_file(db: &dyn salsa::Database, package: Package, file: SourceFile) -> Checked {
    let parsed = parse(db, file);
    let members = package.members(db);
    let Some(index) = members.iter().position(|member| member.file == file) else {
        return Checked { diagnostics: parsed.diagnostics.clone(), ..Checked::default() };
    };
    let env = package_env(db, package);
    let locate = |site: Site| locate_declaration(db, package, site);
    let syntax_errors: Vec<syntax::Span> = parsed
        .diagnostics
        .iter()
        .filter(|diagnostic| syntax::interrupts_parsing(&diagnostic.code))
        .filter_map(Diagnostic::primary_span)
        .collect();
    let mut checked = check_file_items(env, &parsed.ast, index, file.path(db), &syntax_errors, &locate);
    let mut diagnostics = parsed.diagnostics.clone();
    diagnostics.append(&mut checked.diagnostics);
    checked.diagnostics = diagnostics;
    checked
}

/// Diagnostics that need the whole package: recursion between functions and functions
/// nobody calls.
#[salsa::tracked(returns(ref))]
pub fn package_diagnostics(db: &dyn salsa::Database, package: Package) -> Vec<Diagnostic> {
    let members = package.members(db);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for member in members {
        for (caller, callees) in calls(db, member.file) {
            graph.entry(caller.clone()).or_default().extend(callees.iter().cloned());
        }
    }
    let env = package_env(db, package);
    let recursive = crate::semantics::calls::recursive_functions(&graph);
    let called: BTreeSet<&String> = graph.values().flatten().collect();
    let mut diagnostics = Vec::new();
    for (name, sites) in &env.sites {
        let (Namespace::Function, function) = name else { continue };
        let Some(site) = sites.first() else { continue };
        let Some((path, span)) = locate_declaration(db, package, *site) else { continue };
        let mut sink = Sink::new(path);
        if let Some(cycle) = recursive.get(function) {
            sink.report(ResolveError::RecursiveFunction { name: function.clone(), cycle: cycle.clone(), span });
        }
        let own_file = members.get(site.file).is_some_and(|member| member.module.is_none());
        if own_file && !called.contains(function) {
            sink.report(Lint::UnusedFunction { name: function.clone(), span });
        }
        diagnostics.extend(sink.into_diagnostics());
    }
    diagnostics
}

/// The file and span of a declaration, from its site in the package.
fn locate_declaration(db: &dyn salsa::Database, package: Package, site: Site) -> Option<(Arc<str>, syntax::Span)> {
    let member = package.members(db).get(site.file)?;
    let parsed = parse(db, member.file);
    let (_, ident) = declared_names(&parsed.ast).into_iter().nth(site.ordinal)?;
    Some((member.file.path(db).clone(), ident.span))
}

/// Every diagnostic of a package, in reading order.
pub fn check_package(db: &dyn salsa::Database, package: Package) -> Vec<Diagnostic> {
    let mut diagnostics: Vec<Diagnostic> = package
        .members(db)
        .iter()
        .flat_map(|member| check_file(db, package, member.file).diagnostics.iter().cloned())
        .collect();
    diagnostics.extend(package_diagnostics(db, package).iter().cloned());
    crate::diagnostics::sort(&mut diagnostics);
    diagnostics
}

/// The database: salsa storage plus an optional log of executed queries, which tests use
/// to see what an edit recomputed.
#[salsa::db]
#[derive(Clone, Default)]
pub struct Database {
    storage: salsa::Storage<Self>,
    log: Option<Arc<Mutex<Vec<String>>>>,
}

#[salsa::db]
impl salsa::Database for Database {}

impl Database {
    /// A database that records the name of every query it executes.
    pub fn with_log() -> Self {
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = log.clone();
        let storage = salsa::Storage::new(Some(Box::new(move |event: salsa::Event| {
            if let salsa::EventKind::WillExecute { database_key } = event.kind {
                if let Ok(mut entries) = sink.lock() {
                    entries.push(format!("{database_key:?}"));
                }
            }
        })));
        Database { storage, log: Some(log) }
    }

    /// Takes the queries executed since the last call.
    pub fn take_log(&self) -> Vec<String> {
        self.log
            .as_ref()
            .and_then(|log| log.lock().ok().map(|mut entries| std::mem::take(&mut *entries)))
            .unwrap_or_default()
    }
}

/// The HIR of a package, or its errors when it does not check.
#[salsa::tracked(returns(ref))]
pub fn package_hir(db: &dyn salsa::Database, package: Package) -> Result<Arc<crate::hir::Hir>, Vec<Diagnostic>> {
    let diagnostics = check_package(db, package);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(diagnostics.into_iter().filter(Diagnostic::is_error).collect());
    }
    let members = package.members(db);
    let parsed: Vec<&Parsed> = members.iter().map(|member| parse(db, member.file)).collect();
    let checked: Vec<&Checked> = members.iter().map(|member| check_file(db, package, member.file)).collect();
    let inputs: Vec<crate::hir::lower::FileInput<'_>> = members
        .iter()
        .zip(parsed.iter().zip(&checked))
        .map(|(member, (parsed, checked))| crate::hir::lower::FileInput {
            path: member.file.path(db),
            text: member.file.text(db),
            ast: &parsed.ast,
            names: &checked.names,
            skipped: &checked.skipped,
            checked: &checked.checked,
        })
        .collect();
    let env = Arc::new(package_env(db, package).clone());
    crate::hir::lower::lower_package(env, &inputs).map(Arc::new).map_err(|error| {
        let lowering = crate::semantics::errors::LowerError::Unsupported { message: error.message, span: error.span };
        vec![Diagnostic::from_miette(&lowering, &error.file)]
    })
}
