//! shatter-lab: everything around a run (specs, data files, outputs).

pub mod io;
