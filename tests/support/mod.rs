//! What the equivalence test and the fuzz targets share: the reference interpreter and
//! the package and request generator.

pub mod generate;
pub mod reference;
