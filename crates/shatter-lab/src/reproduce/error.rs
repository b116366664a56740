//! Why a reproduction or report could not be made.

use crate::figures;
use crate::store::StoreError;
use crate::sweep::SweepSpecError;
use std::path::PathBuf;

/// Why a reproduction or report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReproduceError {
    /// Unknown experiment id.
    #[error("unknown experiment {id:?}; known: {known}")]
    Unknown {
        /// What was asked for.
        id: String,
        /// The known ids.
        known: String,
    },
    /// The built-in spec did not parse (a bug) or a user spec is wrong.
    #[error(transparent)]
    Spec(#[from] SweepSpecError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The sweep failed.
    #[error("running the sweep: {0}")]
    Sweep(String),
    /// An experiment that trains nothing could not compute its numbers (bad parameters).
    #[error("computing {what}: {message}")]
    Compute {
        /// What was being computed.
        what: String,
        /// The cause, naming the parameter.
        message: String,
    },
    /// A figure could not be drawn.
    #[error("drawing {what}: {source}")]
    Figure {
        /// Which figure.
        what: String,
        /// The cause.
        source: figures::FigureError,
    },
    /// Writing a file failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}
