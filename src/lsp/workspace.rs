//! The server's state: the documents an editor holds open, the packages they belong to,
//! and the one incremental database `mandate check` uses too.
//!
//! A document on disk belongs to the package of its folder, found as `mandate check
//! FOLDER` finds it ([`PackageSpec::at`]): the folder's `.mandate` files and what they
//! import, under the nearest `mandate.toml`. Open documents override what is on disk
//! ([`Loader::set_overlay`]); a document that is not a file (an unsaved buffer) is a
//! package of its own. Each package keeps one [`Package`] input for as long as one of
//! its documents is open, so an edit sets one file's text and the database computes
//! again only what that text feeds (`tests/incremental.rs`).
//!
//! Diagnostics are published per file of the package: the checker's on every change,
//! the prover's (computed in the background, see [`super::prover`]) from the last open
//! or save for as long as no file of the package has changed since.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::mpsc::Sender;
use std::sync::Arc;

use lsp_types::{
    DidChangeTextDocumentParams, DidChangeWatchedFilesParams, DidCloseTextDocumentParams, DidOpenTextDocumentParams,
    DidSaveTextDocumentParams, Location, PublishDiagnosticsParams, Uri,
};

use super::diagnostics::to_lsp;
use super::prover::{ProofJob, Proved};
use super::text::{apply_change, path_of_uri, uri_of_path, Text};
use crate::db::{self, Package, SourceFile};
use crate::diagnostics::{apply_lint_levels, sort_unique, Diagnostic, LintLevel};
use crate::package::{lint_levels, Loader, PackageSpec};
use crate::syntax::Span;

/// Which package a document belongs to: its folder's, or its own (not a file).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PackageKey {
    Folder(PathBuf),
    Memory(Uri),
}

/// An open document.
struct Document {
    version: i32,
    text: String,
    /// The file's canonical path, for a document on disk.
    path: Option<PathBuf>,
    package: PackageKey,
}

/// A package with open documents.
struct PackageState {
    package: Package,
    /// Where its files come from, for a folder's package.
    spec: Option<PackageSpec>,
    /// Problems found while loading it (unreadable files, missing imports).
    loaded: Vec<Diagnostic>,
    levels: BTreeMap<String, LintLevel>,
    proofs: Option<Proofs>,
    /// The generation of the newest proof job sent for it.
    proving: u64,
    /// What was last published, by document (keyed by the URI's text).
    published: Published,
}

/// Diagnostics per document, keyed by the text of its URI.
type Published = BTreeMap<String, (Uri, Vec<lsp_types::Diagnostic>)>;

/// The prover's diagnostics, and the texts they were found in.
struct Proofs {
    texts: Vec<(String, Arc<str>)>,
    diagnostics: Vec<Diagnostic>,
}

/// A document as requests see it: its text and its place in the database.
pub struct View<'a> {
    pub uri: &'a Uri,
    pub text: Text,
    pub file: SourceFile,
    pub package: Package,
}

/// Everything the server knows.
pub struct Workspace {
    loader: Loader,
    documents: HashMap<Uri, Document>,
    packages: HashMap<PackageKey, PackageState>,
    /// Where proof jobs go; none, and nothing is proved.
    prover: Option<Sender<ProofJob<PackageKey>>>,
    generation: u64,
}

impl Workspace {
    /// A workspace whose packages are proved on open and save by the worker behind
    /// `prover`.
    pub fn new(prover: Sender<ProofJob<PackageKey>>) -> Self {
        Workspace { prover: Some(prover), ..Workspace::without_proofs() }
    }

    /// A workspace that only checks: for benchmarks and tools that prove elsewhere.
    pub fn without_proofs() -> Self {
        Workspace {
            loader: Loader::default(),
            documents: HashMap::new(),
            packages: HashMap::new(),
            prover: None,
            generation: 0,
        }
    }

    pub fn db(&self) -> &dyn salsa::Database {
        &self.loader.db
    }

    pub fn did_open(&mut self, params: DidOpenTextDocumentParams) -> Vec<PublishDiagnosticsParams> {
        let item = params.text_document;
        let (package, path) = place_of(&item.uri);
        if let Some(path) = &path {
            self.loader.set_overlay(path, &item.text);
        }
        let document = Document { version: item.version, text: item.text, path, package: package.clone() };
        self.documents.insert(item.uri.clone(), document);
        self.load(&package, true);
        let published = self.publish(&package, Some(&item.uri));
        self.prove(&package);
        published
    }

    /// Applies an edit and checks the document's package again: what the database must
    /// compute again is the edited file and what depends on its declarations.
    pub fn did_change(&mut self, params: DidChangeTextDocumentParams) -> Vec<PublishDiagnosticsParams> {
        let uri = params.text_document.uri;
        let Some(document) = self.documents.get_mut(&uri) else { return Vec::new() };
        for change in &params.content_changes {
            document.text = apply_change(&document.text, change);
        }
        document.version = params.text_document.version;
        if let Some(path) = &document.path {
            self.loader.set_overlay(path, &document.text);
        }
        let package = document.package.clone();
        self.load(&package, false);
        self.publish(&package, Some(&uri))
    }

    pub fn did_save(&mut self, params: DidSaveTextDocumentParams) -> Vec<PublishDiagnosticsParams> {
        let uri = params.text_document.uri;
        let Some(document) = self.documents.get_mut(&uri) else { return Vec::new() };
        if let Some(text) = params.text {
            document.text = text;
            if let Some(path) = &document.path {
                self.loader.set_overlay(path, &document.text);
            }
        }
        let package = document.package.clone();
        self.reread_closed_files(&package);
        self.load(&package, true);
        let published = self.publish(&package, Some(&uri));
        self.prove(&package);
        published
    }

    /// Reads the package's files that are not open from disk again, for editors that
    /// do not report changes on disk (a checkout, another program's write).
    fn reread_closed_files(&mut self, key: &PackageKey) {
        let Some(state) = self.packages.get(key) else { return };
        let db = &self.loader.db;
        let paths: Vec<PathBuf> = state
            .package
            .members(db)
            .iter()
            .filter_map(|member| self.loader.path_of(member.file.path(db)).map(Path::to_path_buf))
            .collect();
        for path in paths {
            self.loader.reread(&path);
        }
    }

    pub fn did_close(&mut self, params: DidCloseTextDocumentParams) -> Vec<PublishDiagnosticsParams> {
        let uri = params.text_document.uri;
        let Some(document) = self.documents.remove(&uri) else { return Vec::new() };
        if let Some(path) = &document.path {
            self.loader.remove_overlay(path);
        }
        let package = document.package;
        if self.documents.values().any(|open| open.package == package) {
            self.load(&package, true);
            return self.publish(&package, None);
        }
        // The last document of the package: its diagnostics go with it.
        let Some(state) = self.packages.remove(&package) else { return Vec::new() };
        state.published.into_values().map(|(uri, _)| PublishDiagnosticsParams::new(uri, Vec::new(), None)).collect()
    }

    /// Files changed on disk: those not open are read again, and every package is
    /// loaded again (a file may have joined or left a folder, or a `mandate.toml`
    /// changed), checked and proved.
    pub fn did_change_watched_files(&mut self, params: DidChangeWatchedFilesParams) -> Vec<PublishDiagnosticsParams> {
        for change in &params.changes {
            if let Some(path) = path_of_uri(&change.uri).and_then(|path| canonical_file(&path)) {
                self.loader.reread(&path);
            }
        }
        let packages: Vec<PackageKey> = self.packages.keys().cloned().collect();
        let mut published = Vec::new();
        for package in packages {
            self.load(&package, true);
            published.extend(self.publish(&package, None));
            self.prove(&package);
        }
        published
    }

    /// The prover's findings for a package, if they are the newest asked for.
    pub fn proved(&mut self, proved: Proved<PackageKey>) -> Vec<PublishDiagnosticsParams> {
        let Some(state) = self.packages.get_mut(&proved.key) else { return Vec::new() };
        if proved.generation != state.proving {
            return Vec::new();
        }
        state.proofs = Some(Proofs { texts: proved.texts, diagnostics: proved.diagnostics });
        self.publish(&proved.key, None)
    }

    /// Loads a package into the database, or loads it again into the same input. With
    /// `fresh`, its folder is listed and its manifest read again first.
    fn load(&mut self, key: &PackageKey, fresh: bool) {
        match key {
            PackageKey::Folder(folder) => self.load_folder(key, folder, fresh),
            PackageKey::Memory(uri) => self.load_memory(key, uri),
        }
    }

    fn load_folder(&mut self, key: &PackageKey, folder: &Path, fresh: bool) {
        let known = self.packages.get(key).and_then(|state| state.spec.clone()).filter(|_| !fresh);
        let mut spec = match known {
            Some(spec) => spec,
            None => PackageSpec::at(folder).unwrap_or_else(|_| PackageSpec {
                root: folder.to_path_buf(),
                files: Vec::new(),
                boundary: folder.to_path_buf(),
            }),
        };
        // Open documents not saved yet belong to their folder too. (A spec kept from
        // the last load has them already.)
        if fresh || !self.packages.contains_key(key) {
            let listed: Vec<PathBuf> = spec.files.iter().filter_map(|file| canonical_file(file)).collect();
            for document in self.documents.values().filter(|document| document.package == *key) {
                if let Some(path) = document.path.as_ref().filter(|path| !listed.contains(path)) {
                    spec.files.push(path.clone());
                }
            }
            spec.files.sort();
            spec.files.dedup();
        }
        let levels = match self.packages.get(key) {
            Some(state) if !fresh => state.levels.clone(),
            _ => lint_levels(&spec.boundary),
        };
        let loaded = match self.packages.get(key) {
            Some(state) => self.loader.reload(&spec, state.package),
            None => self.loader.load(&spec),
        };
        self.keep(key, loaded.package, Some(spec), loaded.diagnostics, levels);
    }

    fn load_memory(&mut self, key: &PackageKey, uri: &Uri) {
        let Some(document) = self.documents.get(uri) else { return };
        let sources = [(uri.as_str(), document.text.as_str())];
        let loaded = match self.packages.get(key) {
            Some(state) => self.loader.reload_sources(&sources, state.package),
            None => self.loader.load_sources(&sources),
        };
        self.keep(key, loaded.package, None, loaded.diagnostics, BTreeMap::new());
    }

    fn keep(
        &mut self,
        key: &PackageKey,
        package: Package,
        spec: Option<PackageSpec>,
        loaded: Vec<Diagnostic>,
        levels: BTreeMap<String, LintLevel>,
    ) {
        let state = self.packages.entry(key.clone()).or_insert_with(|| PackageState {
            package,
            spec: None,
            loaded: Vec::new(),
            levels: BTreeMap::new(),
            proofs: None,
            proving: 0,
            published: Published::new(),
        });
        state.package = package;
        state.spec = spec;
        state.loaded = loaded;
        state.levels = levels;
    }

    /// The diagnostics of loading and checking a package, at its lint levels.
    fn checked(&self, state: &PackageState) -> Vec<Diagnostic> {
        let mut found = state.loaded.clone();
        found.extend(db::check_package(&self.loader.db, state.package));
        apply_lint_levels(found, &state.levels)
    }

    /// Every diagnostic of a package now: loading, checking, and the proofs if they
    /// are of the texts as they are.
    fn diagnostics(&self, state: &PackageState) -> Vec<Diagnostic> {
        let mut found = self.checked(state);
        if let Some(proofs) = state.proofs.as_ref().filter(|proofs| self.unchanged(&proofs.texts)) {
            found.extend(proofs.diagnostics.iter().cloned());
        }
        sort_unique(&mut found);
        found
    }

    /// Whether every file still has the text it had.
    fn unchanged(&self, texts: &[(String, Arc<str>)]) -> bool {
        texts.iter().all(|(name, text)| self.loader.source_of(name).is_some_and(|now| now == *text))
    }

    /// Publishes what changed in a package's diagnostics, per document; `always` gets
    /// its diagnostics even when they did not change (the document just edited).
    fn publish(&mut self, key: &PackageKey, always: Option<&Uri>) -> Vec<PublishDiagnosticsParams> {
        let Some(state) = self.packages.get(key) else { return Vec::new() };
        let next = self.by_document(state);
        let Some(state) = self.packages.get_mut(key) else { return Vec::new() };
        let previous = std::mem::replace(&mut state.published, next);
        let version = |uri: &Uri| self.documents.get(uri).map(|document| document.version);
        changes(&previous, &state.published, always, version)
    }

    /// A package's diagnostics in the protocol's form, by document: each of its own
    /// files (with none if it has none), and any other file they point into.
    fn by_document(&self, state: &PackageState) -> Published {
        let found = self.diagnostics(state);
        let mut by_file: BTreeMap<Arc<str>, Vec<&Diagnostic>> = BTreeMap::new();
        for member in state.package.members(&self.loader.db).iter().filter(|member| member.module.is_none()) {
            by_file.entry(member.file.path(&self.loader.db).clone()).or_default();
        }
        for diagnostic in &found {
            by_file.entry(diagnostic.file.clone()).or_default().push(diagnostic);
        }
        let locator = Locator::new(self);
        let locate = |name: &str, span: Span| locator.locate(name, span);
        let mut published = Published::new();
        for (name, diagnostics) in by_file {
            let (uri, converted) = if diagnostics.is_empty() {
                let Some(uri) = self.uri_of(&name) else { continue };
                (uri, Vec::new())
            } else {
                let Some(file) = locator.file(&name) else { continue };
                let (uri, text) = &*file;
                (uri.clone(), diagnostics.iter().map(|diagnostic| to_lsp(diagnostic, text, &locate)).collect())
            };
            published.entry(uri.as_str().to_string()).or_insert_with(|| (uri, Vec::new())).1.extend(converted);
        }
        published
    }

    /// Sends the package to the prover if it checks without errors. A package that
    /// checks but does not lower gets the lowering's errors as its proofs.
    fn prove(&mut self, key: &PackageKey) {
        let Some(prover) = self.prover.clone() else { return };
        let Some(state) = self.packages.get(key) else { return };
        if self.checked(state).iter().any(Diagnostic::is_error) {
            return;
        }
        self.generation += 1;
        let generation = self.generation;
        let package = state.package;
        let texts: Vec<(String, Arc<str>)> = package
            .members(&self.loader.db)
            .iter()
            .map(|member| (member.file.path(&self.loader.db).to_string(), member.file.text(&self.loader.db).clone()))
            .collect();
        let root = match key {
            PackageKey::Folder(folder) => folder.display().to_string(),
            PackageKey::Memory(uri) => uri.as_str().to_string(),
        };
        let levels = state.levels.clone();
        let lowered = db::package_hir(&self.loader.db, package).clone();
        let Some(state) = self.packages.get_mut(key) else { return };
        state.proving = generation;
        match lowered {
            Ok(hir) => {
                let job = ProofJob { key: key.clone(), generation, hir, root, texts, levels };
                // A worker that stopped proves nothing more; checking goes on.
                let _ = prover.send(job);
            }
            Err(errors) => state.proofs = Some(Proofs { texts, diagnostics: errors }),
        }
    }

    /// An open document, for a request about it.
    pub fn view<'a>(&self, uri: &'a Uri) -> Option<View<'a>> {
        let document = self.documents.get(uri)?;
        let name = self.name_of(uri, document)?;
        let file = self.loader.file(&name)?;
        let package = self.packages.get(&document.package)?.package;
        let text = Text::new(file.text(&self.loader.db).clone());
        Some(View { uri, text, file, package })
    }

    /// The diagnostics of an open document now, as they were last published.
    pub fn diagnostics_of(&self, uri: &Uri) -> Vec<Diagnostic> {
        let Some(document) = self.documents.get(uri) else { return Vec::new() };
        let (Some(name), Some(state)) = (self.name_of(uri, document), self.packages.get(&document.package)) else {
            return Vec::new();
        };
        self.diagnostics(state).into_iter().filter(|diagnostic| *diagnostic.file == *name).collect()
    }

    /// The files of a package that an editor can open, with their URIs and texts.
    pub fn files(&self, package: Package) -> Vec<(SourceFile, Uri, Text)> {
        let db = &self.loader.db;
        package
            .members(db)
            .iter()
            .filter_map(|member| {
                let uri = self.uri_of(member.file.path(db))?;
                Some((member.file, uri, Text::new(member.file.text(db).clone())))
            })
            .collect()
    }

    /// The display name the database knows an open document by.
    fn name_of(&self, uri: &Uri, document: &Document) -> Option<String> {
        match &document.path {
            Some(path) => self.loader.name_of(path).map(str::to_string),
            None => Some(uri.as_str().to_string()),
        }
    }

    /// The URI of a file by display name: an open document's, or a file on disk's. The
    /// standard library's modules have none.
    pub fn uri_of(&self, name: &str) -> Option<Uri> {
        let open = self.documents.iter().find(|(uri, document)| match &document.path {
            Some(path) => self.loader.name_of(path) == Some(name),
            None => uri.as_str() == name,
        });
        if let Some((uri, _)) = open {
            return Some(uri.clone());
        }
        match self.loader.path_of(name) {
            Some(path) => uri_of_path(path),
            None => Path::new(name).is_absolute().then(|| uri_of_path(Path::new(name))).flatten(),
        }
    }

    fn text_of(&self, name: &str) -> Option<Text> {
        self.loader.source_of(name).map(Text::new)
    }
}

/// A file's URI and text.
pub type OpenedFile = (Uri, Text);

/// What to publish to go from `previous` to `next`: the documents whose diagnostics
/// changed or that are `always`, and an empty list for those that are gone.
fn changes(
    previous: &Published,
    next: &Published,
    always: Option<&Uri>,
    version: impl Fn(&Uri) -> Option<i32>,
) -> Vec<PublishDiagnosticsParams> {
    let mut out = Vec::new();
    for (key, (uri, diagnostics)) in next {
        let changed = previous.get(key).is_none_or(|(_, before)| before != diagnostics);
        if changed || Some(uri) == always {
            out.push(PublishDiagnosticsParams::new(uri.clone(), diagnostics.clone(), version(uri)));
        }
    }
    for (key, (uri, _)) in previous {
        if !next.contains_key(key) {
            out.push(PublishDiagnosticsParams::new(uri.clone(), Vec::new(), None));
        }
    }
    out
}

/// Finds files by display name for one round of conversions, indexing each file's
/// lines once however many diagnostics point into it.
pub struct Locator<'a> {
    workspace: &'a Workspace,
    files: RefCell<HashMap<String, Option<Rc<OpenedFile>>>>,
}

impl<'a> Locator<'a> {
    pub fn new(workspace: &'a Workspace) -> Self {
        Locator { workspace, files: RefCell::default() }
    }

    /// A file's URI and text, if an editor can open it.
    pub fn file(&self, name: &str) -> Option<Rc<OpenedFile>> {
        let mut files = self.files.borrow_mut();
        files
            .entry(name.to_string())
            .or_insert_with(|| Some(Rc::new((self.workspace.uri_of(name)?, self.workspace.text_of(name)?))))
            .clone()
    }

    /// Where a span of a file is.
    pub fn locate(&self, name: &str, span: Span) -> Option<Location> {
        let file = self.file(name)?;
        Some(Location::new(file.0.clone(), file.1.range(span)))
    }
}

/// Which package a document belongs to, and its canonical path if it is a `.mandate`
/// file in a folder that exists.
fn place_of(uri: &Uri) -> (PackageKey, Option<PathBuf>) {
    let on_disk = path_of_uri(uri)
        .filter(|path| path.extension().is_some_and(|extension| extension == "mandate"))
        .and_then(|path| canonical_file(&path));
    match on_disk {
        Some(path) => {
            let folder = path.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
            (PackageKey::Folder(folder), Some(path))
        }
        None => (PackageKey::Memory(uri.clone()), None),
    }
}

/// The canonical path of a file, or, for a file that does not exist (not saved yet, or
/// deleted), its canonical folder joined with its name.
fn canonical_file(path: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(path).ok().or_else(|| {
        let folder = std::fs::canonicalize(path.parent()?).ok()?;
        Some(folder.join(path.file_name()?))
    })
}
