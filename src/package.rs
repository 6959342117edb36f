//! Finds packages on disk, reads their files and follows their `use` imports.
//!
//! A package is a folder's `.mandate` files, which share one namespace. Modules imported
//! with `use` (the embedded standard library, or files relative to the importing file)
//! join the package after its own files. Everything about files that can go wrong before
//! parsing (unreadable, not UTF-8, too large, a missing module, an import cycle) is
//! reported here as diagnostics; the checking itself happens in the database.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::db::{self, Database, Member, Package, SourceFile};
use crate::diagnostics::Diagnostic;
use crate::semantics::errors::ResolveError;
use crate::semantics::suggest::did_you_mean;
use crate::stdlib;
use crate::syntax::ast::{Item, UseTarget};
use crate::syntax::Span;

/// The largest source file read, in bytes.
pub const MAX_SOURCE_BYTES: u64 = 64 * 1024 * 1024;

/// Problems with a file as a whole, before its text can be parsed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SourceError {
    #[error("file is not valid UTF-8")]
    #[diagnostic(
        code(mandate::source::invalid_utf8),
        help("save the file as UTF-8 text; Mandate sources are text, not binary data")
    )]
    InvalidUtf8 {
        #[label("invalid byte here")]
        span: Span,
    },
    #[error("cannot read file: {reason}")]
    #[diagnostic(code(mandate::source::unreadable), help("check that the path exists and is readable"))]
    Unreadable { reason: String },
    #[error("file is {size} bytes, more than the limit of {limit}")]
    #[diagnostic(code(mandate::source::too_large), help("split the policies into several files of one package"))]
    TooLarge { size: u64, limit: u64 },
    #[error("no `.mandate` files found")]
    #[diagnostic(code(mandate::source::no_files), help("pass a `.mandate` file or a folder that contains some"))]
    NoFiles,
}

/// Where a package's files come from: a folder's `.mandate` files, or one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSpec {
    pub root: PathBuf,
    pub files: Vec<PathBuf>,
}

/// The `.mandate` files directly in a folder, sorted: one package's own files.
pub fn package_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "mandate"))
        .collect();
    files.sort();
    Ok(files)
}

/// Expands command-line paths into packages: a file is a package of its own, and every
/// folder under a given folder that holds `.mandate` files is one package.
pub fn discover(paths: &[PathBuf]) -> (Vec<PackageSpec>, Vec<Diagnostic>) {
    let mut specs = Vec::new();
    let mut diagnostics = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut folders: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
            collect_sources(path, &mut folders);
            if folders.is_empty() {
                diagnostics.push(file_diagnostic(path, &SourceError::NoFiles));
            }
            specs.extend(folders.into_iter().map(|(root, files)| PackageSpec { root, files }));
        } else {
            specs.push(PackageSpec { root: path.clone(), files: vec![path.clone()] });
        }
    }
    (specs, diagnostics)
}

fn collect_sources(dir: &Path, folders: &mut BTreeMap<PathBuf, Vec<PathBuf>>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries.filter_map(|entry| entry.ok().map(|entry| entry.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            collect_sources(&path, folders);
        } else if path.extension().is_some_and(|ext| ext == "mandate") {
            folders.entry(dir.to_path_buf()).or_default().push(path);
        }
    }
}

fn file_diagnostic(path: &Path, error: &dyn miette::Diagnostic) -> Diagnostic {
    Diagnostic::from_miette(error, &Arc::from(path.display().to_string()))
}

/// A package loaded into the database, with the problems found while loading it.
pub struct LoadedPackage {
    pub root: PathBuf,
    pub package: Package,
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads files into a database and assembles packages, keeping one [`SourceFile`] per
/// path so that packages sharing a module share its parse.
#[derive(Default)]
pub struct Loader {
    pub db: Database,
    files: HashMap<String, SourceFile>,
    /// Text of files that could not be checked (not UTF-8), kept to show where.
    unreadable: HashMap<String, Arc<str>>,
}

/// An import's target once resolved: a stdlib module or a file on disk.
enum Origin {
    Std,
    Disk(PathBuf),
}

impl Loader {
    pub fn new(db: Database) -> Self {
        Loader { db, files: HashMap::new(), unreadable: HashMap::new() }
    }

    /// Every file read so far.
    pub fn files(&self) -> Vec<SourceFile> {
        self.files.values().copied().collect()
    }

    /// The text of a loaded file, for rendering diagnostics.
    pub fn source_of(&self, path: &str) -> Option<Arc<str>> {
        match self.files.get(path) {
            Some(file) => Some(file.text(&self.db).clone()),
            None => self.unreadable.get(path).cloned(),
        }
    }

    /// Creates or updates an in-memory file.
    pub fn set_source(&mut self, path: &str, text: &str) -> SourceFile {
        use salsa::Setter;
        match self.files.get(path) {
            Some(file) => {
                if **file.text(&self.db) != *text {
                    file.set_text(&mut self.db).to(Arc::from(text));
                }
                *file
            }
            None => {
                let file = SourceFile::new(&self.db, Arc::from(path), Arc::from(text));
                self.files.insert(path.to_string(), file);
                file
            }
        }
    }

    /// Loads a package from disk.
    pub fn load(&mut self, spec: &PackageSpec) -> LoadedPackage {
        let mut diagnostics = Vec::new();
        let mut roots = Vec::new();
        for path in &spec.files {
            match read_source(path) {
                Ok(text) => roots.push((Origin::Disk(path.clone()), self.set_source(&display(path), &text))),
                Err(failure) => {
                    if let Some(lossy) = failure.lossy_text {
                        self.unreadable.insert(display(path), lossy);
                    }
                    diagnostics.push(*failure.diagnostic);
                }
            }
        }
        let package = self.assemble(roots, &mut diagnostics);
        LoadedPackage { root: spec.root.clone(), package, diagnostics }
    }

    /// Builds a package from in-memory sources, whose relative `use`s resolve among them.
    pub fn load_sources(&mut self, sources: &[(&str, &str)]) -> LoadedPackage {
        let roots = sources
            .iter()
            .map(|(path, text)| (Origin::Disk(PathBuf::from(path)), self.set_source(path, text)))
            .collect();
        let mut diagnostics = Vec::new();
        let package = self.assemble(roots, &mut diagnostics);
        LoadedPackage { root: PathBuf::from("."), package, diagnostics }
    }

    /// Follows imports from the root files and creates the package input.
    fn assemble(&mut self, roots: Vec<(Origin, SourceFile)>, diagnostics: &mut Vec<Diagnostic>) -> Package {
        let mut members: Vec<Member> = roots.iter().map(|(_, file)| Member { file: *file, module: None }).collect();
        let mut graph = ImportGraph::default();
        let mut queue: Vec<(Origin, SourceFile)> = roots;
        while let Some((origin, file)) = queue.pop() {
            let from = file.path(&self.db).clone();
            if !graph.visit(&from) {
                continue;
            }
            for (target, span) in self.imports(file) {
                let Some((module_name, imported_origin, imported)) =
                    self.resolve_import(&origin, &target, span, file, diagnostics)
                else {
                    continue;
                };
                let imported_path = imported.path(&self.db).clone();
                graph.edge(&from, &imported_path, span, file);
                if !members.iter().any(|member| member.file == imported) {
                    members.push(Member { file: imported, module: Some(module_name) });
                }
                queue.push((imported_origin, imported));
            }
        }
        diagnostics.extend(graph.cycles(&self.db));
        Package::new(&self.db, members)
    }

    fn imports(&self, file: SourceFile) -> Vec<(UseTarget, Span)> {
        db::parse(&self.db, file)
            .ast
            .items
            .iter()
            .filter_map(|item| match item {
                Item::Use(decl) => Some((decl.target.clone(), decl.span)),
                _ => None,
            })
            .collect()
    }

    fn resolve_import(
        &mut self,
        from: &Origin,
        target: &UseTarget,
        span: Span,
        file: SourceFile,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<(String, Origin, SourceFile)> {
        let importer = file.path(&self.db).clone();
        match target {
            UseTarget::Module(path) => {
                let names: Vec<&str> = path.iter().map(|ident| ident.name.as_str()).collect();
                let module = match names.as_slice() {
                    ["std", module] => stdlib::source(module).map(|text| (module.to_string(), text)),
                    _ => None,
                };
                let Some((name, text)) = module else {
                    let full = names.join("::");
                    let candidates: Vec<String> =
                        stdlib::MODULES.iter().map(|(name, _)| format!("std::{name}")).collect();
                    let help = did_you_mean(&full, candidates.iter().map(String::as_str))
                        .or_else(|| Some("the standard modules are std::time and std::guardrails; import files with `use \"path.mandate\"`".to_string()));
                    let error = ResolveError::UnknownModule { name: full, span, help };
                    diagnostics.push(Diagnostic::from_miette(&error, &importer));
                    return None;
                };
                let source = self.set_source(&format!("<std>/{name}.mandate"), text);
                Some((name, Origin::Std, source))
            }
            UseTarget::File(relative) => {
                let base = match from {
                    Origin::Disk(path) => path.parent().map(Path::to_path_buf).unwrap_or_default(),
                    Origin::Std => PathBuf::new(),
                };
                let path = normalize(&base.join(&relative.value));
                let key = display(&path);
                let module = path.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
                if let Some(existing) = self.files.get(&key) {
                    return Some((module, Origin::Disk(path), *existing));
                }
                match read_source(&path) {
                    Ok(text) => {
                        let source = self.set_source(&key, &text);
                        Some((module, Origin::Disk(path), source))
                    }
                    Err(_) => {
                        let reason = match std::fs::metadata(&path) {
                            Err(error) => error.to_string(),
                            Ok(_) => "not a readable UTF-8 text file".to_string(),
                        };
                        let error = ResolveError::UnreadableFile { path: key, reason, span: relative.span };
                        diagnostics.push(Diagnostic::from_miette(&error, &importer));
                        None
                    }
                }
            }
        }
    }
}

/// The imports between files, for finding cycles.
#[derive(Default)]
struct ImportGraph {
    visited: Vec<Arc<str>>,
    edges: BTreeMap<Arc<str>, Vec<Import>>,
}

/// One `use`: the imported file, where the `use` is written, and the importing file.
type Import = (Arc<str>, Span, SourceFile);

impl ImportGraph {
    /// Marks a file visited; false if it already was.
    fn visit(&mut self, file: &Arc<str>) -> bool {
        if self.visited.contains(file) {
            return false;
        }
        self.visited.push(file.clone());
        true
    }

    fn edge(&mut self, from: &Arc<str>, to: &Arc<str>, span: Span, importer: SourceFile) {
        self.edges.entry(from.clone()).or_default().push((to.clone(), span, importer));
    }

    /// One diagnostic per cycle, at the import that closes it.
    fn cycles(&self, db: &Database) -> Vec<Diagnostic> {
        let mut reported: Vec<Vec<Arc<str>>> = Vec::new();
        let mut diagnostics = Vec::new();
        for start in self.edges.keys() {
            let mut stack: Vec<Arc<str>> = vec![start.clone()];
            self.walk(db, start, &mut stack, &mut reported, &mut diagnostics);
        }
        diagnostics
    }

    fn walk(
        &self,
        db: &Database,
        node: &Arc<str>,
        stack: &mut Vec<Arc<str>>,
        reported: &mut Vec<Vec<Arc<str>>>,
        diagnostics: &mut Vec<Diagnostic>,
    ) {
        for (next, span, importer) in self.edges.get(node).into_iter().flatten() {
            if stack.contains(next) {
                let mut members = stack.clone();
                members.sort();
                if !reported.contains(&members) && stack.first() == Some(next) {
                    reported.push(members);
                    let mut cycle: Vec<&str> = stack.iter().map(|file| &**file).collect();
                    cycle.push(next);
                    let error = ResolveError::ImportCycle { cycle: cycle.join(" → "), span: *span };
                    diagnostics.push(Diagnostic::from_miette(&error, importer.path(db)));
                }
                continue;
            }
            stack.push(next.clone());
            self.walk(db, next, stack, reported, diagnostics);
            stack.pop();
        }
    }
}

/// Why a source file could not be read, and its text as far as it can be shown.
struct ReadFailure {
    diagnostic: Box<Diagnostic>,
    lossy_text: Option<Arc<str>>,
}

/// Reads a source file, insisting on UTF-8 and a sane size.
fn read_source(path: &Path) -> Result<String, ReadFailure> {
    let fail = |error: &dyn miette::Diagnostic| ReadFailure {
        diagnostic: Box::new(file_diagnostic(path, error)),
        lossy_text: None,
    };
    let size =
        std::fs::metadata(path).map_err(|error| fail(&SourceError::Unreadable { reason: error.to_string() }))?.len();
    if size > MAX_SOURCE_BYTES {
        return Err(fail(&SourceError::TooLarge { size, limit: MAX_SOURCE_BYTES }));
    }
    let bytes = std::fs::read(path).map_err(|error| fail(&SourceError::Unreadable { reason: error.to_string() }))?;
    String::from_utf8(bytes).map_err(|error| {
        let at = error.utf8_error().valid_up_to();
        let lossy = String::from_utf8_lossy(error.as_bytes());
        let end = lossy.get(at..).and_then(|rest| rest.chars().next()).map_or(at, |c| at + c.len_utf8());
        ReadFailure {
            diagnostic: Box::new(file_diagnostic(path, &SourceError::InvalidUtf8 { span: Span::new(at, end) })),
            lossy_text: Some(Arc::from(lossy.as_ref())),
        }
    })
}

/// Removes `.` and `..` components without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// Checks every package under `paths`, returning the loader (which holds the sources,
/// for rendering) and all diagnostics in reading order.
///
/// A folder whose files are all imported by other packages is a library of those
/// packages, not a package of its own, and is checked only through them.
pub fn check_paths(paths: &[PathBuf]) -> (Loader, Vec<Diagnostic>) {
    check_paths_with(paths, None)
}

/// Like [`check_paths`], and proves every package that checks: over-grants, unknown
/// verdicts and the prover's lints become diagnostics (`mandate check`'s default).
pub fn check_and_prove_paths(paths: &[PathBuf], options: &crate::prove::ProveOptions) -> (Loader, Vec<Diagnostic>) {
    check_paths_with(paths, Some(options))
}

fn check_paths_with(paths: &[PathBuf], prove: Option<&crate::prove::ProveOptions>) -> (Loader, Vec<Diagnostic>) {
    let mut loader = Loader::default();
    let (specs, mut diagnostics) = discover(paths);
    let loaded: Vec<LoadedPackage> = specs.iter().map(|spec| loader.load(spec)).collect();
    let imported: Vec<SourceFile> = loaded
        .iter()
        .flat_map(|package| package.package.members(&loader.db).iter())
        .filter(|member| member.module.is_some())
        .map(|member| member.file)
        .collect();
    for package in loaded {
        let members = package.package.members(&loader.db);
        let own_files = members.iter().filter(|member| member.module.is_none());
        let is_library =
            own_files.clone().count() > 0 && own_files.clone().all(|member| imported.contains(&member.file));
        if is_library {
            continue;
        }
        let checked = db::check_package(&loader.db, package.package);
        let clean = !package.diagnostics.iter().chain(&checked).any(Diagnostic::is_error);
        diagnostics.extend(package.diagnostics);
        diagnostics.extend(checked);
        if let (Some(options), true) = (prove, clean) {
            diagnostics.extend(prove_package(&loader, package.package, &package.root, options));
        }
    }
    crate::diagnostics::sort_unique(&mut diagnostics);
    (loader, diagnostics)
}

/// Compiles a package that checks and runs the prover and its lints on it.
fn prove_package(
    loader: &Loader,
    package: Package,
    root: &Path,
    options: &crate::prove::ProveOptions,
) -> Vec<Diagnostic> {
    let Ok(hir) = db::package_hir(&loader.db, package) else { return Vec::new() };
    let set = crate::eval::PolicySet::new(hir.clone(), crate::eval::Limits::default());
    let (reports, findings) = crate::prove::check_and_lint(&set, options);
    let sources = |path: &str| loader.source_of(path);
    crate::prove::diagnose::diagnostics(&set, &root.display().to_string(), &reports, &findings, &sources)
}

/// Checks one package given as in-memory `(path, text)` pairs.
pub fn check_sources(sources: &[(&str, &str)]) -> (Loader, Vec<Diagnostic>) {
    let mut loader = Loader::default();
    let loaded = loader.load_sources(sources);
    let mut diagnostics = loaded.diagnostics;
    diagnostics.extend(db::check_package(&loader.db, loaded.package));
    crate::diagnostics::sort_unique(&mut diagnostics);
    (loader, diagnostics)
}
