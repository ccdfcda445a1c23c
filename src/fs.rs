//! Small filesystem helpers for output files, with errors that name the path.

use crate::error::{Error, Result};
use std::path::Path;

/// Creates the directory that will hold `path`, if it has one and it is missing.
pub fn create_parent_dir(path: &Path) -> Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, "cannot create directory", e))
        }
        None => Ok(()),
    }
}
