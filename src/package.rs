//! Finds packages on disk, reads their files and follows their `use` imports.
//!
//! A package is a folder's `.mandate` files, which share one namespace. Modules imported
//! with `use` (the embedded standard library, or files relative to the importing file)
//! join the package after its own files. Everything about files that can go wrong before
//! parsing (unreadable, not UTF-8, too large, a missing module, an import cycle) is
//! reported here as diagnostics; the checking itself happens in the database.
//!
//! **Security boundary.** Policy files name other files, and policy files can come from
//! people who should not be able to read the machine that checks them (a pull request
//! checked in CI). So every file is read the same careful way: its path is
//! canonicalized (symbolic links and `..` resolved), and it must lie under the package
//! root ([`package_root`]), be a regular file, end in `.mandate`, and be no larger than
//! [`MAX_SOURCE_BYTES`], checked before and while reading. An import is resolved against
//! the importing file's canonical folder, so it means the same file from any working
//! directory. A file that does not look like Mandate source at all is refused without
//! any of its text being shown.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::{Component, Path, PathBuf};
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

/// The file that marks the root of a policy tree: imports may reach any `.mandate` file
/// below the folder that holds it.
pub const ROOT_MARKER: &str = "mandate.toml";

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
    #[error("cannot read `{path}`: {reason}")]
    #[diagnostic(code(mandate::source::unreadable), help("check that the path exists and is readable"))]
    Unreadable { path: String, reason: String },
    #[error("file is {size} bytes, more than the limit of {limit}")]
    #[diagnostic(code(mandate::source::too_large), help("split the policies into several files of one package"))]
    TooLarge { size: u64, limit: u64 },
    #[error("no `.mandate` files found in `{path}`")]
    #[diagnostic(code(mandate::source::no_files), help("pass a `.mandate` file or a folder that contains some"))]
    NoFiles { path: String },
    #[error("`{path}` is one file of the package in `{folder}`, checked here on its own")]
    #[diagnostic(
        code(mandate::source::file_of_package),
        severity(Warning),
        help("names declared in the folder's other files are unknown to it alone: check the folder, `mandate check {folder}`")
    )]
    FileOfPackage { path: String, folder: String },
    #[error("`{path}` is not a regular `.mandate` file")]
    #[diagnostic(
        code(mandate::source::not_source),
        help(
            "Mandate reads regular files whose names end in `.mandate` (a symbolic link counts as what it points to)"
        )
    )]
    NotSource { path: String },
    #[error("`{path}` is outside the package root `{root}`")]
    #[diagnostic(
        code(mandate::source::outside_root),
        help("a package's files must lie under its root: the nearest folder above with a `mandate.toml`, or else the folder given on the command line")
    )]
    OutsideRoot { path: String, root: String },
    #[error("`{path}` does not look like Mandate source (line {line}, column {column} is not part of the language), so none of it is shown")]
    #[diagnostic(
        code(mandate::source::not_mandate),
        help("a Mandate file starts with a declaration (`schema`, `task`, `policy`, `use`, …) or a comment")
    )]
    NotMandate { path: String, line: usize, column: usize },
    #[error("`{path}` is not a valid package manifest: {reason}")]
    #[diagnostic(
        code(mandate::source::bad_manifest),
        help("a `mandate.toml` may be empty (it marks the package root), say `library = true` (its folder holds files other packages import, and is not checked on its own), and set lint levels under `[lints]`, such as `overlap = \"warn\"` (docs/lints.md)")
    )]
    BadManifest { path: String, reason: String },
}

/// How a standard module's file is named among a package's files.
pub const STD_PREFIX: &str = "<std>/";

/// What a `mandate.toml` says. An empty one marks the package root.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The folder is a library: files other packages import. It is never checked as a
    /// package of its own when a parent folder is checked, and it is not a package root.
    #[serde(default)]
    pub library: bool,
    /// Lint levels by lint name: `overlap = "warn"`, `permit_without_ttl = "deny"`.
    #[serde(default)]
    pub lints: std::collections::BTreeMap<String, crate::diagnostics::LintLevel>,
}

/// The manifest in `folder`, if it has one: `Err` with the reason when it cannot be read.
pub fn read_manifest(folder: &Path) -> Option<Result<Manifest, String>> {
    let path = folder.join(ROOT_MARKER);
    if !path.is_file() {
        return None;
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) => return Some(Err(error.to_string())),
    };
    let manifest: Manifest = match toml::from_str(&text) {
        Ok(manifest) => manifest,
        Err(error) => return Some(Err(error.message().to_string())),
    };
    let known = |name: &String| crate::diagnostics::LINTS.iter().any(|(lint, _)| lint == name);
    if let Some(unknown) = manifest.lints.keys().find(|name| !known(name)) {
        let names: Vec<&str> = crate::diagnostics::LINTS.iter().map(|(lint, _)| *lint).collect();
        return Some(Err(format!("`[lints]` names no lint `{unknown}`; the lints are {}", names.join(", "))));
    }
    Some(Ok(manifest))
}

/// The lint levels of the package whose imports stay under `boundary`: its manifest's
/// `[lints]`, or none.
pub fn lint_levels(boundary: &Path) -> std::collections::BTreeMap<String, crate::diagnostics::LintLevel> {
    match read_manifest(boundary) {
        Some(Ok(manifest)) => manifest.lints,
        _ => std::collections::BTreeMap::new(),
    }
}

/// Whether `folder` is marked as a library by its manifest.
fn is_marked_library(folder: &Path) -> bool {
    matches!(read_manifest(folder), Some(Ok(Manifest { library: true, .. })))
}

/// Where a package's files come from: a folder's `.mandate` files, or one file, and the
/// folder its imports must stay under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSpec {
    pub root: PathBuf,
    pub files: Vec<PathBuf>,
    /// The package root for imports, canonical: see [`package_root`].
    pub boundary: PathBuf,
}

impl PackageSpec {
    /// The package at `path`: a folder's own `.mandate` files, or the one file; its
    /// imports stay under the nearest folder above with a `mandate.toml`, or else under
    /// the package's own folder.
    pub fn at(path: &Path) -> std::io::Result<PackageSpec> {
        let folder = if path.is_dir() { path.to_path_buf() } else { parent_folder(path) };
        let files = if path.is_dir() { package_files(path)? } else { vec![path.to_path_buf()] };
        let fallback = std::fs::canonicalize(&folder)?;
        Ok(PackageSpec { root: path.to_path_buf(), files, boundary: package_root(&fallback, &fallback) })
    }
}

/// The folder a path is in (`.` for a bare file name).
fn parent_folder(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The root a package's imports must stay under: the nearest folder at or above
/// `folder` (canonical) that holds a `mandate.toml`, or else `fallback`.
pub fn package_root(folder: &Path, fallback: &Path) -> PathBuf {
    // A library's manifest does not make a root; an unreadable one does (the nearer
    // root is the narrower one).
    folder
        .ancestors()
        .find(|ancestor| ancestor.join(ROOT_MARKER).is_file() && !is_marked_library(ancestor))
        .map_or_else(|| fallback.to_path_buf(), Path::to_path_buf)
}

/// The `.mandate` files directly in a folder, sorted: one package's own files.
pub fn package_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "mandate") && !path.is_dir())
        .collect();
    files.sort();
    Ok(files)
}

/// The test files of the package folder `dir` (`*.test.json`, `*.test.yaml`,
/// `*.test.yml`), sorted; none when `dir` is a file.
pub fn test_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.file_name().and_then(|name| name.to_str()).is_some_and(crate::eval::tests::is_test_file))
        .filter(|path| !path.is_dir())
        .collect();
    files.sort();
    files
}

/// Expands command-line paths into packages: a file is a package of its own, and every
/// folder under a given folder that holds `.mandate` files is one package. Symbolic
/// links to folders are not followed. A package's imports stay under its nearest
/// `mandate.toml` folder, or else under the common root of the paths given.
pub fn discover(paths: &[PathBuf]) -> (Vec<PackageSpec>, Vec<Diagnostic>) {
    let mut specs = Vec::new();
    let mut diagnostics = Vec::new();
    let mut found: Vec<(PathBuf, Vec<PathBuf>, PathBuf)> = Vec::new();
    for path in paths {
        let canonical = match std::fs::canonicalize(path) {
            Ok(canonical) => canonical,
            Err(error) => {
                let error = SourceError::Unreadable { path: display(path), reason: error.to_string() };
                diagnostics.push(file_diagnostic(path, &error));
                continue;
            }
        };
        if canonical.is_dir() {
            let mut folders: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
            collect_sources(path, &mut folders);
            if folders.is_empty() {
                diagnostics.push(file_diagnostic(path, &SourceError::NoFiles { path: display(path) }));
            }
            for folder in folders.keys().map(|folder| folder.as_path()).chain([path.as_path()]) {
                if let Some(Err(reason)) = read_manifest(folder) {
                    let manifest = folder.join(ROOT_MARKER);
                    let error = SourceError::BadManifest { path: display(&manifest), reason };
                    diagnostics.push(file_diagnostic(&manifest, &error));
                }
            }
            // A library found under the folder given is checked through the packages
            // that import it; given itself, it is checked as a package.
            folders.retain(|folder, _| folder == path || !is_marked_library(folder));
            found.extend(folders.into_iter().map(|(root, files)| (root.clone(), files, root)));
        } else {
            found.push((path.clone(), vec![path.clone()], parent_folder(path)));
        }
    }
    let folders: Vec<PathBuf> = found.iter().filter_map(|(_, _, folder)| std::fs::canonicalize(folder).ok()).collect();
    let common = common_ancestor(&folders);
    for (root, files, folder) in found {
        let canonical = std::fs::canonicalize(&folder).unwrap_or_else(|_| common.clone());
        specs.push(PackageSpec { root, files, boundary: package_root(&canonical, &common) });
    }
    (specs, diagnostics)
}

/// The deepest folder that contains every one of `folders` (all canonical).
fn common_ancestor(folders: &[PathBuf]) -> PathBuf {
    let Some(first) = folders.first() else { return PathBuf::from("/") };
    let mut common = first.clone();
    for folder in folders {
        while !folder.starts_with(&common) {
            if !common.pop() {
                return PathBuf::from("/");
            }
        }
    }
    common
}

fn collect_sources(dir: &Path, folders: &mut BTreeMap<PathBuf, Vec<PathBuf>>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<(PathBuf, bool)> = entries
        .filter_map(Result::ok)
        .map(|entry| (entry.path(), entry.file_type().is_ok_and(|kind| kind.is_dir())))
        .collect();
    entries.sort();
    for (path, is_dir) in entries {
        if is_dir {
            collect_sources(&path, folders);
        } else if path.extension().is_some_and(|ext| ext == "mandate") {
            folders.entry(dir.to_path_buf()).or_default().push(path);
        }
    }
}

fn file_diagnostic(path: &Path, error: &dyn miette::Diagnostic) -> Diagnostic {
    Diagnostic::from_miette(error, &Arc::from(display(path)))
}

/// A package loaded into the database, with the problems found while loading it.
pub struct LoadedPackage {
    pub root: PathBuf,
    pub package: Package,
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads files into a database and assembles packages, keeping one [`SourceFile`] per
/// file so that packages sharing a module share its parse.
#[derive(Default)]
pub struct Loader {
    pub db: Database,
    /// By display name.
    files: HashMap<String, SourceFile>,
    /// The display name given to each file read from disk, by canonical path.
    names: HashMap<PathBuf, String>,
    /// The other way round: the canonical path of each file read from disk, by name.
    paths: HashMap<String, PathBuf>,
    /// Text of files that could not be checked (not UTF-8) but look like Mandate source,
    /// kept to show where the problem is.
    unreadable: HashMap<String, Arc<str>>,
    /// Texts read instead of files on disk, by canonical path: the documents an editor
    /// holds open, which may differ from what is saved (or not be saved at all).
    overlays: HashMap<PathBuf, Arc<str>>,
}

/// An import's target once resolved: a stdlib module, a file on disk (by canonical
/// path), or one of a set of in-memory sources (by name).
#[derive(Clone)]
enum Origin {
    Std,
    Disk(PathBuf),
    Memory(PathBuf),
}

/// Why a file on disk was not read.
enum ReadError {
    Io(std::io::Error),
    Outside,
    NotSource,
    TooLarge(u64),
    InvalidUtf8 { at: usize, lossy: Option<Arc<str>> },
    NotMandate { line: usize, column: usize },
}

impl Loader {
    pub fn new(db: Database) -> Self {
        Loader { db, ..Loader::default() }
    }

    /// Every file read so far.
    pub fn files(&self) -> Vec<SourceFile> {
        self.files.values().copied().collect()
    }

    /// A loaded file, by display name.
    pub fn file(&self, name: &str) -> Option<SourceFile> {
        self.files.get(name).copied()
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

    /// The canonical path of a file read from disk under display name `name`.
    pub fn path_of(&self, name: &str) -> Option<&Path> {
        self.paths.get(name).map(PathBuf::as_path)
    }

    /// The display name of a file read from disk, by canonical path.
    pub fn name_of(&self, canonical: &Path) -> Option<&str> {
        self.names.get(canonical).map(String::as_str)
    }

    /// Reads `text` instead of the file at `canonical` from now on (an editor's open
    /// document), and updates the file if it was read already. Returns the file if so.
    pub fn set_overlay(&mut self, canonical: &Path, text: &str) -> Option<SourceFile> {
        self.overlays.insert(canonical.to_path_buf(), Arc::from(text));
        if text.len() as u64 > MAX_SOURCE_BYTES {
            // Read again on the next load, which refuses it as it refuses such a file.
            self.forget(canonical);
            return None;
        }
        let name = self.names.get(canonical)?.clone();
        Some(self.set_source(&name, text))
    }

    /// Forgets a file read from disk, so that the next load reads it again.
    fn forget(&mut self, canonical: &Path) {
        if let Some(name) = self.names.remove(canonical) {
            self.paths.remove(&name);
        }
    }

    /// Reads the file at `canonical` from disk again: its overlay is dropped (the editor
    /// closed it) and its text is what is saved. A file that can no longer be read is
    /// forgotten, so the next package load reports why.
    pub fn remove_overlay(&mut self, canonical: &Path) {
        self.overlays.remove(canonical);
        self.reread(canonical);
    }

    /// Reads a file read before from disk again (it changed there), unless an overlay
    /// stands in for it.
    pub fn reread(&mut self, canonical: &Path) {
        if self.overlays.contains_key(canonical) {
            return;
        }
        let Some(name) = self.names.get(canonical).cloned() else { return };
        // Its place under the package root was checked when it was first read.
        match read_source(canonical, Path::new("")) {
            Ok(text) => {
                self.set_source(&name, &text);
            }
            Err(_) => self.forget(canonical),
        }
    }

    /// Loads a package from disk.
    pub fn load(&mut self, spec: &PackageSpec) -> LoadedPackage {
        self.load_into(spec, None)
    }

    /// Loads a package from disk again into the same package input, which keeps what the
    /// database computed for it: only what changed since is computed again.
    pub fn reload(&mut self, spec: &PackageSpec, package: Package) -> LoadedPackage {
        self.load_into(spec, Some(package))
    }

    fn load_into(&mut self, spec: &PackageSpec, reuse: Option<Package>) -> LoadedPackage {
        let mut diagnostics = Vec::new();
        let mut roots = Vec::new();
        for path in &spec.files {
            match self.read_disk(path, &display(path), &spec.boundary) {
                Ok((canonical, file)) => roots.push((Origin::Disk(canonical), file)),
                Err(error) => diagnostics.push(self.file_error(path, &display(path), error, &spec.boundary)),
            }
        }
        let package = self.assemble(roots, &spec.boundary, &mut diagnostics, reuse);
        LoadedPackage { root: spec.root.clone(), package, diagnostics }
    }

    /// Builds a package from in-memory sources, whose relative `use`s resolve among them
    /// (never on disk).
    pub fn load_sources(&mut self, sources: &[(&str, &str)]) -> LoadedPackage {
        self.load_sources_into(sources, None)
    }

    /// Like [`Loader::load_sources`], into an existing package input (see [`Loader::reload`]).
    pub fn reload_sources(&mut self, sources: &[(&str, &str)], package: Package) -> LoadedPackage {
        self.load_sources_into(sources, Some(package))
    }

    fn load_sources_into(&mut self, sources: &[(&str, &str)], reuse: Option<Package>) -> LoadedPackage {
        let roots = sources
            .iter()
            .map(|(path, text)| (Origin::Memory(normalize(Path::new(path))), self.set_source(path, text)))
            .collect();
        let mut diagnostics = Vec::new();
        let package = self.assemble(roots, Path::new(""), &mut diagnostics, reuse);
        LoadedPackage { root: PathBuf::from("."), package, diagnostics }
    }

    /// Reads a file from disk the careful way (see the module documentation), under
    /// `display` unless it was read before under another name.
    fn read_disk(&mut self, path: &Path, display: &str, boundary: &Path) -> Result<(PathBuf, SourceFile), ReadError> {
        let canonical = self.canonicalize(path).map_err(ReadError::Io)?;
        if let Some(name) = self.names.get(&canonical) {
            if let Some(file) = self.files.get(name) {
                return Ok((canonical, *file));
            }
        }
        let text = match self.overlays.get(&canonical) {
            Some(text) => {
                check_place(&canonical, boundary)?;
                if text.len() as u64 > MAX_SOURCE_BYTES {
                    return Err(ReadError::TooLarge(text.len() as u64));
                }
                text.to_string()
            }
            None => read_source(&canonical, boundary)?,
        };
        let name = display.to_string();
        self.names.insert(canonical.clone(), name.clone());
        self.paths.insert(name.clone(), canonical.clone());
        Ok((canonical, self.set_source(&name, &text)))
    }

    /// The canonical form of a path. A file not on disk yet has one when an overlay
    /// stands in for it: its folder's canonical path joined with its name.
    fn canonicalize(&self, path: &Path) -> std::io::Result<PathBuf> {
        let error = match std::fs::canonicalize(path) {
            Ok(canonical) => return Ok(canonical),
            Err(error) => error,
        };
        let unsaved = std::fs::canonicalize(parent_folder(path))
            .ok()
            .zip(path.file_name())
            .map(|(folder, name)| folder.join(name))
            .filter(|candidate| self.overlays.contains_key(candidate));
        unsaved.ok_or(error)
    }

    /// A file that could not be read, as a diagnostic on the file itself.
    fn file_error(&mut self, path: &Path, name: &str, error: ReadError, boundary: &Path) -> Diagnostic {
        let file: Arc<str> = Arc::from(name);
        let path_text = display(path);
        match error {
            ReadError::Io(error) => {
                Diagnostic::from_miette(&SourceError::Unreadable { path: path_text, reason: error.to_string() }, &file)
            }
            ReadError::Outside => {
                Diagnostic::from_miette(&SourceError::OutsideRoot { path: path_text, root: display(boundary) }, &file)
            }
            ReadError::NotSource => Diagnostic::from_miette(&SourceError::NotSource { path: path_text }, &file),
            ReadError::TooLarge(size) => {
                Diagnostic::from_miette(&SourceError::TooLarge { size, limit: MAX_SOURCE_BYTES }, &file)
            }
            ReadError::InvalidUtf8 { at, lossy } => {
                let end = lossy
                    .as_deref()
                    .and_then(|text| text.get(at..))
                    .and_then(|rest| rest.chars().next())
                    .map_or(at, |c| at + c.len_utf8());
                if let Some(lossy) = lossy {
                    self.unreadable.insert(name.to_string(), lossy);
                }
                Diagnostic::from_miette(&SourceError::InvalidUtf8 { span: Span::new(at, end) }, &file)
            }
            ReadError::NotMandate { line, column } => {
                Diagnostic::from_miette(&SourceError::NotMandate { path: path_text, line, column }, &file)
            }
        }
    }

    /// Follows imports from the root files and creates the package input, or updates
    /// `reuse` when its members changed.
    fn assemble(
        &mut self,
        roots: Vec<(Origin, SourceFile)>,
        boundary: &Path,
        diagnostics: &mut Vec<Diagnostic>,
        reuse: Option<Package>,
    ) -> Package {
        let mut members: Vec<Member> = roots.iter().map(|(_, file)| Member { file: *file, module: None }).collect();
        let mut present: HashSet<SourceFile> = members.iter().map(|member| member.file).collect();
        let mut graph = ImportGraph::default();
        let mut queue: Vec<(Origin, SourceFile)> = roots;
        while let Some((origin, file)) = queue.pop() {
            let from = file.path(&self.db).clone();
            if !graph.visit(&from) {
                continue;
            }
            for (target, span) in self.imports(file) {
                let Some((module_name, imported_origin, imported)) =
                    self.resolve_import(&origin, &target, span, file, boundary, diagnostics)
                else {
                    continue;
                };
                let imported_path = imported.path(&self.db).clone();
                graph.edge(&from, &imported_path, span, file);
                if present.insert(imported) {
                    members.push(Member { file: imported, module: Some(module_name) });
                }
                queue.push((imported_origin, imported));
            }
        }
        diagnostics.extend(graph.cycles(&self.db));
        match reuse {
            Some(package) => {
                if *package.members(&self.db) != members {
                    use salsa::Setter;
                    package.set_members(&mut self.db).to(members);
                }
                package
            }
            None => Package::new(&self.db, members),
        }
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
        boundary: &Path,
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
                let source = self.set_source(&format!("{STD_PREFIX}{name}.mandate"), text);
                Some((name, Origin::Std, source))
            }
            UseTarget::File(relative) => {
                let written = Path::new(&relative.value);
                let module = written.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
                let resolved = match from {
                    Origin::Memory(name) => self.resolve_memory(name, written),
                    Origin::Disk(canonical) => self.resolve_disk(canonical, written, boundary),
                    Origin::Std => Err(ImportError::NotFound("the standard library imports no files".to_string())),
                };
                match resolved {
                    Ok((origin, source)) => Some((module, origin, source)),
                    Err(error) => {
                        let path = relative.value.clone();
                        let span = relative.span;
                        let error = match error {
                            ImportError::NotFound(reason) => ResolveError::UnreadableFile { path, reason, span },
                            ImportError::Outside => {
                                ResolveError::ImportOutsideRoot { path, root: display(boundary), span }
                            }
                            ImportError::NotSource => ResolveError::ImportNotSource { path, span },
                            ImportError::Read(diagnostic) => {
                                diagnostics.push(*diagnostic);
                                return None;
                            }
                        };
                        diagnostics.push(Diagnostic::from_miette(&error, &importer));
                        None
                    }
                }
            }
        }
    }

    /// An import among in-memory sources: the importer's folder joined with the path,
    /// normalized; nothing is read from disk.
    fn resolve_memory(&mut self, importer: &Path, written: &Path) -> Result<(Origin, SourceFile), ImportError> {
        let target = normalize(&parent_folder(importer).join(written));
        let file = self
            .files
            .iter()
            .find(|(name, _)| normalize(Path::new(name.as_str())) == target)
            .map(|(_, file)| *file)
            .ok_or_else(|| ImportError::NotFound("no such file among the package's sources".to_string()))?;
        Ok((Origin::Memory(target), file))
    }

    /// An import on disk: resolved against the importing file's canonical folder, then
    /// read the careful way.
    fn resolve_disk(
        &mut self,
        importer: &Path,
        written: &Path,
        boundary: &Path,
    ) -> Result<(Origin, SourceFile), ImportError> {
        let candidate = parent_folder(importer).join(written);
        let canonical = std::fs::canonicalize(&candidate).map_err(|error| ImportError::NotFound(error.to_string()))?;
        if !canonical.starts_with(boundary) {
            return Err(ImportError::Outside);
        }
        let name = self.names.get(&canonical).cloned().unwrap_or_else(|| relative_display(&canonical));
        match self.read_disk(&canonical, &name, boundary) {
            Ok((canonical, file)) => Ok((Origin::Disk(canonical), file)),
            Err(ReadError::Outside) => Err(ImportError::Outside),
            Err(ReadError::NotSource) => Err(ImportError::NotSource),
            Err(ReadError::Io(error)) => Err(ImportError::NotFound(error.to_string())),
            Err(other) => Err(ImportError::Read(Box::new(self.file_error(&canonical, &name, other, boundary)))),
        }
    }
}

/// Why an import did not resolve.
enum ImportError {
    NotFound(String),
    Outside,
    NotSource,
    /// The file was found but is not usable source; the diagnostic is on the file.
    Read(Box<Diagnostic>),
}

/// The imports between files, for finding cycles.
#[derive(Default)]
struct ImportGraph {
    visited: HashSet<Arc<str>>,
    edges: BTreeMap<Arc<str>, Vec<Import>>,
}

/// One `use`: the imported file, where the `use` is written, and the importing file.
type Import = (Arc<str>, Span, SourceFile);

impl ImportGraph {
    /// Marks a file visited; false if it already was.
    fn visit(&mut self, file: &Arc<str>) -> bool {
        self.visited.insert(file.clone())
    }

    fn edge(&mut self, from: &Arc<str>, to: &Arc<str>, span: Span, importer: SourceFile) {
        self.edges.entry(from.clone()).or_default().push((to.clone(), span, importer));
    }

    /// One diagnostic per set of files that import each other, at the import that
    /// closes a cycle through the first of them by name. Linear in the imports (Tarjan's
    /// strongly connected components), however long the chains.
    fn cycles(&self, db: &Database) -> Vec<Diagnostic> {
        let mut graph: petgraph::graph::DiGraph<Arc<str>, ()> = petgraph::graph::DiGraph::new();
        let mut index = HashMap::new();
        let mut node = |graph: &mut petgraph::graph::DiGraph<Arc<str>, ()>, name: &Arc<str>| {
            *index.entry(name.clone()).or_insert_with(|| graph.add_node(name.clone()))
        };
        for (from, imports) in &self.edges {
            let from_node = node(&mut graph, from);
            for (to, _, _) in imports {
                let to_node = node(&mut graph, to);
                graph.update_edge(from_node, to_node, ());
            }
        }
        let mut diagnostics = Vec::new();
        for component in petgraph::algo::tarjan_scc(&graph) {
            let members: HashSet<&Arc<str>> = component.iter().filter_map(|n| graph.node_weight(*n)).collect();
            let Some(start) = members.iter().min().copied() else { continue };
            let Some(cycle) = self.cycle_through(start, &members) else { continue };
            let Some((closing_from, closing)) =
                cycle.windows(2).last().and_then(|pair| Some((pair.first()?, pair.get(1)?)))
            else {
                continue;
            };
            let Some((_, span, importer)) =
                self.edges.get(*closing_from).into_iter().flatten().find(|(to, _, _)| to == *closing)
            else {
                continue;
            };
            let text: Vec<&str> = cycle.iter().map(|file| &***file).collect();
            let error = ResolveError::ImportCycle { cycle: text.join(" → "), span: *span };
            diagnostics.push(Diagnostic::from_miette(&error, importer.path(db)));
        }
        diagnostics
    }

    /// A shortest cycle from `start` back to itself within `members`, found breadth
    /// first, as the files along it (`start` at both ends); none if there is no cycle
    /// (a single file that does not import itself).
    fn cycle_through<'a>(&'a self, start: &'a Arc<str>, members: &HashSet<&Arc<str>>) -> Option<Vec<&'a Arc<str>>> {
        let mut parent: HashMap<&Arc<str>, &Arc<str>> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(at) = queue.pop_front() {
            for (next, _, _) in self.edges.get(at).into_iter().flatten() {
                if next == start {
                    let mut path = vec![start, at];
                    let mut walk = at;
                    while let Some(previous) = parent.get(walk) {
                        path.insert(1, previous);
                        walk = previous;
                    }
                    path.dedup();
                    path.push(start);
                    return Some(path);
                }
                if members.contains(next) && !parent.contains_key(next) && next != start {
                    parent.insert(next, at);
                    queue.push_back(next);
                }
            }
        }
        None
    }
}

/// Reads one `.mandate` file named on the command line, the same careful way as a
/// package's files but without a package root (the person named the file), for tools
/// that take files one by one: `mandate fmt`. The error is one diagnostic on the file.
pub fn read_one(path: &Path) -> Result<String, Vec<Diagnostic>> {
    let name = display(path);
    let read =
        std::fs::canonicalize(path).map_err(ReadError::Io).and_then(|canonical| read_source(&canonical, Path::new("")));
    read.map_err(|error| vec![Loader::default().file_error(path, &name, error, Path::new(""))])
}

/// Reads a source file whose path is canonical: under `boundary` (unless that is
/// empty), regular, named `.mandate`, of bounded size, UTF-8, and looking like Mandate.
fn read_source(canonical: &Path, boundary: &Path) -> Result<String, ReadError> {
    check_place(canonical, boundary)?;
    let metadata = std::fs::metadata(canonical).map_err(ReadError::Io)?;
    if !metadata.is_file() {
        return Err(ReadError::NotSource);
    }
    if metadata.len() > MAX_SOURCE_BYTES {
        return Err(ReadError::TooLarge(metadata.len()));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(canonical)
        .and_then(|file| file.take(MAX_SOURCE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return Err(ReadError::TooLarge(bytes.len() as u64));
    }
    let text = String::from_utf8(bytes).map_err(|error| {
        let at = error.utf8_error().valid_up_to();
        let lossy = String::from_utf8_lossy(error.as_bytes()).into_owned();
        let shown = crate::syntax::lexer::first_foreign_position(&lossy).is_none();
        ReadError::InvalidUtf8 { at, lossy: shown.then(|| Arc::from(lossy)) }
    })?;
    if let Some((line, column)) = crate::syntax::lexer::first_foreign_position(&text) {
        return Err(ReadError::NotMandate { line, column });
    }
    Ok(text)
}

/// Checks where a source file is, before anything is read: under `boundary` (unless that
/// is empty) and named `.mandate`. An editor's open document passes this check too.
fn check_place(canonical: &Path, boundary: &Path) -> Result<(), ReadError> {
    if !boundary.as_os_str().is_empty() && !canonical.starts_with(boundary) {
        return Err(ReadError::Outside);
    }
    if canonical.extension().is_none_or(|ext| ext != "mandate") {
        return Err(ReadError::NotSource);
    }
    Ok(())
}

/// Removes `.` and `..` components without touching the file system; a `..` that
/// cannot go up is kept, and never cancels another `..`.
fn normalize(path: &Path) -> PathBuf {
    let mut parts: Vec<Component<'_>> = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match parts.last() {
                Some(Component::Normal(_)) => {
                    parts.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => parts.push(component),
            },
            other => parts.push(other),
        }
    }
    parts.iter().collect()
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// A canonical path as shown in diagnostics: relative to the working folder when it is
/// under it.
fn relative_display(canonical: &Path) -> String {
    let here = std::env::current_dir().and_then(std::fs::canonicalize).ok();
    match here.as_deref().and_then(|here| canonical.strip_prefix(here).ok()) {
        Some(relative) => display(relative),
        None => display(canonical),
    }
}

/// Checks every package under `paths`, returning the loader (which holds the sources,
/// for rendering) and all diagnostics in reading order.
///
/// A folder whose files are all imported by other packages, and that declares no
/// policy, assertion, bound or test of its own, is a library of those packages, not a
/// package of its own, and is checked only through them. Every package with rules is
/// checked, and one that checks is also compiled, so a package `mandate eval` would
/// refuse never passes.
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
    let imported: HashSet<SourceFile> = loaded
        .iter()
        .flat_map(|package| package.package.members(&loader.db).iter())
        .filter(|member| member.module.is_some())
        .map(|member| member.file)
        .collect();
    for (package, spec) in loaded.into_iter().zip(&specs) {
        if is_library(&loader.db, package.package, &imported) {
            continue;
        }
        let checked = db::check_package(&loader.db, package.package);
        let clean = !package.diagnostics.iter().chain(&checked).any(Diagnostic::is_error);
        let mut found = package.diagnostics;
        found.extend(checked);
        if clean {
            found.extend(compile_and_prove(&loader, package.package, &package.root, prove));
        }
        // Names it cannot resolve may be declared in the folder's other files.
        if found.iter().any(|diagnostic| diagnostic.code.starts_with("mandate::resolve::unknown")) {
            found.extend(part_of_folder(spec));
        }
        diagnostics.extend(crate::diagnostics::apply_lint_levels(found, &lint_levels(&spec.boundary)));
    }
    crate::diagnostics::sort_unique(&mut diagnostics);
    (loader, diagnostics)
}

/// When a package given as one file has errors and its folder holds other `.mandate`
/// files: the hint that the folder is the package.
fn part_of_folder(spec: &PackageSpec) -> Option<Diagnostic> {
    let [file] = spec.files.as_slice() else { return None };
    if !spec.root.is_file() {
        return None;
    }
    let folder = file.parent().filter(|folder| !folder.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let others = std::fs::read_dir(folder).ok()?.flatten().any(|entry| {
        let path = entry.path();
        path.extension().is_some_and(|extension| extension == "mandate") && path.file_name() != file.file_name()
    });
    others.then(|| file_diagnostic(file, &SourceError::FileOfPackage { path: display(file), folder: display(folder) }))
}

/// Whether a package is only a library of others: all its own files are imported
/// elsewhere and none declares a rule (a policy, assertion, bound or test).
fn is_library(db: &Database, package: Package, imported: &HashSet<SourceFile>) -> bool {
    let members = package.members(db);
    let mut own = members.iter().filter(|member| member.module.is_none()).peekable();
    if own.peek().is_none() {
        return false;
    }
    own.all(|member| {
        let declares_rules = db::parse(db, member.file)
            .ast
            .items
            .iter()
            .any(|item| matches!(item, Item::Policy(_) | Item::Assert(_) | Item::Bound(_) | Item::Test(_)));
        imported.contains(&member.file) && !declares_rules
    })
}

/// Compiles a package that checks, reporting what keeps it from compiling; then, if
/// asked, runs the prover and its lints on it.
fn compile_and_prove(
    loader: &Loader,
    package: Package,
    root: &Path,
    prove: Option<&crate::prove::ProveOptions>,
) -> Vec<Diagnostic> {
    let hir = match db::package_hir(&loader.db, package) {
        Ok(hir) => hir,
        Err(errors) => return errors.clone(),
    };
    let Some(options) = prove else { return Vec::new() };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizing_never_lets_one_parent_step_cancel_another() {
        assert_eq!(normalize(Path::new("../../a/./b/../c")), PathBuf::from("../../a/c"));
        assert_eq!(normalize(Path::new("a/../../b")), PathBuf::from("../b"));
        assert_eq!(normalize(Path::new("/../a")), PathBuf::from("/a"));
    }
}
