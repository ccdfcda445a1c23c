//! Loading the ONNX Runtime shared library (`ort` with `load-dynamic`) with a
//! clear error, once per process.

use crate::error::{Error, ErrorKind, Result};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Library file name inside the PyPI `onnxruntime` wheel that setup extracts.
pub const ORT_LIB_NAME: &str = "libonnxruntime.so.1.31.1";

/// Where to look for the library, in order: `ORT_DYLIB_PATH` (alone, when set),
/// next to the executable, `.deps/onnxruntime/` under the working directory,
/// then the same under the checkout the binary was built from.
pub fn library_candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        out.push(PathBuf::from(p));
        return out;
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            out.push(dir.join(ORT_LIB_NAME));
        }
    }
    out.push(Path::new(".deps/onnxruntime").join(ORT_LIB_NAME));
    // A binary built in a checkout also finds the checkout's copy from any directory.
    out.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(".deps/onnxruntime")
            .join(ORT_LIB_NAME),
    );
    out
}

static ENV: OnceLock<std::result::Result<ort::environment::Environment, String>> = OnceLock::new();

/// The process-wide ONNX Runtime environment, loading the library on first use.
pub fn environment() -> Result<&'static ort::environment::Environment> {
    ENV.get_or_init(|| {
        let candidates = library_candidates();
        let Some(lib) = candidates.iter().find(|p| p.is_file()) else {
            let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            return Err(format!(
                "ONNX Runtime library not found (looked at {}); run scripts/setup.sh, or set ORT_DYLIB_PATH to {ORT_LIB_NAME}",
                tried.join(", ")
            ));
        };
        let builder = ort::init_from(lib).map_err(|e| {
            format!(
                "cannot load ONNX Runtime library {}: {e}; run scripts/setup.sh to reinstall it, or set ORT_DYLIB_PATH to a working {ORT_LIB_NAME}",
                lib.display()
            )
        })?;
        builder
            .with_name("sortwatch")
            .build()
            .map_err(|e| format!("cannot start ONNX Runtime from {}: {e}", lib.display()))
    })
    .as_ref()
    .map_err(|msg| Error::new(ErrorKind::Runtime, msg.clone()))
}
