//! shatter-lab: everything around a run. Specs (TOML keys and flags, checked configs, run ids),
//! data and model files, devices, executing a run (or a batch of runs on one device) and writing
//! its directory; sweeps (experiment specs, scheduling, resume, shards, batches on a device), the
//! SQLite results store and its export to CSV and Parquet.

pub mod device;
pub mod export;
pub mod figures;
pub mod io;
pub mod reproduce;
pub mod run;
pub mod spec;
pub mod store;
pub mod sweep;
