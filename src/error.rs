//! One error type for the library: a kind (which maps to exit codes in one
//! place) plus a message that names the file, key, camera or frame and the fix.

use std::fmt;
use std::path::Path;

/// What went wrong, coarsely: decides the process exit code and, later, HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad command-line arguments or configuration (a file the user wrote).
    Config,
    /// A required file is missing or unreadable.
    NotFound,
    /// Input data (video, image, model) is present but unusable.
    InvalidInput,
    /// The ONNX Runtime library could not be loaded or failed.
    Runtime,
    /// A device or stream went away.
    Unavailable,
    /// Writing output failed (disk full, permissions).
    Io,
    /// A bug: an invariant did not hold.
    Internal,
}

impl ErrorKind {
    /// Process exit code for this kind (0 is success, 1 is reserved for panics/anyhow).
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Config => 2,
            ErrorKind::NotFound => 3,
            ErrorKind::InvalidInput => 4,
            ErrorKind::Runtime => 5,
            ErrorKind::Unavailable => 6,
            ErrorKind::Io => 7,
            ErrorKind::Internal => 70,
        }
    }
}

/// The library's error: `kind` plus a one-line, actionable message.
#[derive(Debug, thiserror::Error)]
pub struct Error {
    kind: ErrorKind,
    msg: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, msg: impl Into<String>) -> Self {
        Error {
            kind,
            msg: msg.into(),
            source: None,
        }
    }

    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn config(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, msg)
    }

    pub fn internal(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, msg)
    }

    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, msg)
    }

    /// An I/O error on `path`, classified (missing file vs. other) with a hint.
    pub fn io(path: &Path, what: &str, e: std::io::Error) -> Self {
        let kind = match e.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            _ => ErrorKind::Io,
        };
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound => "check the path",
            std::io::ErrorKind::PermissionDenied => "check the file permissions",
            std::io::ErrorKind::StorageFull => "free disk space",
            _ => "check the file",
        };
        Self::new(kind, format!("{what} {}: {e} ({hint})", path.display())).with_source(e)
    }
}
