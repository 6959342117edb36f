//! The incremental database re-checks only what an edit can affect.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

use mandate::db::{self, Database};
use mandate::package::Loader;

const SCHEMA: &str = "schema { agent { team: String } resource Doc { owner: String } action read on Doc }";
const A: &str = "policy a: forbid read on Doc when resource.owner == \"a\"";
const B: &str = "policy b: forbid read on Doc when agent.team == \"b\"";

fn executed(log: &[String], query: &str) -> usize {
    log.iter().filter(|entry| entry.starts_with(&format!("{query}("))).count()
}

#[test]
fn editing_a_policy_body_rechecks_only_that_file() {
    let mut loader = Loader::new(Database::with_log());
    let loaded = loader.load_sources(&[("schema.mandate", SCHEMA), ("a.mandate", A), ("b.mandate", B)]);
    assert!(db::check_package(&loader.db, loaded.package).is_empty());
    let first = loader.db.take_log();
    assert_eq!(executed(&first, "check_file"), 3, "{first:#?}");

    loader.set_source("a.mandate", "policy a: forbid read on Doc when resource.owner == \"changed\"");
    assert!(db::check_package(&loader.db, loaded.package).is_empty());
    let second = loader.db.take_log();
    assert_eq!(executed(&second, "parse"), 1, "only the edited file is parsed again: {second:#?}");
    assert_eq!(executed(&second, "symbols"), 1, "{second:#?}");
    assert_eq!(executed(&second, "package_env"), 0, "declarations did not change: {second:#?}");
    assert_eq!(executed(&second, "check_file"), 1, "only the edited file is checked again: {second:#?}");
}

#[test]
fn editing_a_declaration_rechecks_the_files_that_use_it() {
    let mut loader = Loader::new(Database::with_log());
    let loaded = loader.load_sources(&[("schema.mandate", SCHEMA), ("a.mandate", A), ("b.mandate", B)]);
    assert!(db::check_package(&loader.db, loaded.package).is_empty());
    loader.db.take_log();

    // Renaming the attribute breaks `a.mandate`, which did not change itself.
    loader.set_source("schema.mandate", &SCHEMA.replace("owner", "holder"));
    let diagnostics = db::check_package(&loader.db, loaded.package);
    let log = loader.db.take_log();
    assert_eq!(executed(&log, "package_env"), 1, "{log:#?}");
    assert_eq!(executed(&log, "check_file"), 3, "{log:#?}");
    let codes: Vec<(&str, &str)> = diagnostics.iter().map(|d| (&*d.file, d.code.as_str())).collect();
    assert_eq!(codes, vec![("a.mandate", "mandate::resolve::unknown_attribute")]);
}

#[test]
fn an_edit_that_fixes_an_error_clears_it() {
    let mut loader = Loader::new(Database::default());
    let loaded = loader.load_sources(&[
        ("schema.mandate", SCHEMA),
        ("a.mandate", "policy a: forbid read on Doc when resource.ownr == \"a\""),
    ]);
    assert_eq!(db::check_package(&loader.db, loaded.package).len(), 1);
    loader.set_source("a.mandate", A);
    assert!(db::check_package(&loader.db, loaded.package).is_empty());
}

#[test]
fn an_editor_overlay_reloaded_into_the_same_package_rechecks_only_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    for (name, text) in [("schema.mandate", SCHEMA), ("a.mandate", A), ("b.mandate", B)] {
        std::fs::write(root.join(name), text).unwrap();
    }
    let spec = mandate::package::PackageSpec::at(&root).unwrap();
    let mut loader = Loader::new(Database::with_log());
    let loaded = loader.load(&spec);
    assert!(db::check_package(&loader.db, loaded.package).is_empty());
    loader.db.take_log();

    // The editor changes `a.mandate` without saving it; the package is loaded again.
    loader.set_overlay(&root.join("a.mandate"), &A.replace("\"a\"", "\"edited\""));
    let reloaded = loader.reload(&spec, loaded.package);
    assert_eq!(reloaded.package, loaded.package, "the same salsa input");
    assert!(db::check_package(&loader.db, reloaded.package).is_empty());
    let log = loader.db.take_log();
    assert_eq!(executed(&log, "parse"), 1, "{log:#?}");
    assert_eq!(executed(&log, "package_env"), 0, "{log:#?}");
    assert_eq!(executed(&log, "check_file"), 1, "{log:#?}");
    assert_eq!(std::fs::read_to_string(root.join("a.mandate")).unwrap(), A, "nothing is written to disk");

    // Closing it reads the saved text again.
    loader.remove_overlay(&root.join("a.mandate"));
    let name = loader.name_of(&root.join("a.mandate")).unwrap().to_string();
    assert_eq!(&*loader.source_of(&name).unwrap(), A);
}
