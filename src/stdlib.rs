//! The standard library: Mandate modules embedded in the binary, imported with
//! `use std::NAME`. Their sources live in `stdlib/` and are ordinary Mandate.

/// Every standard module, by the name it is imported under.
pub const MODULES: &[(&str, &str)] =
    &[("time", include_str!("../stdlib/time.mandate")), ("guardrails", include_str!("../stdlib/guardrails.mandate"))];

/// The source of a standard module.
pub fn source(name: &str) -> Option<&'static str> {
    MODULES.iter().find(|(module, _)| *module == name).map(|(_, text)| *text)
}
