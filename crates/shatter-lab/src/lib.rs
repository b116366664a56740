//! shatter-lab: everything around a run. Specs (TOML keys and flags, checked configs, run ids),
//! data and model files, executing a run and writing its directory.

pub mod figures;
pub mod io;
pub mod run;
pub mod spec;
