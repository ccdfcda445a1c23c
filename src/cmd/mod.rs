//! One module per subcommand.

pub mod calibrate;
pub mod demo;
pub mod eval;
pub mod intrinsics;
pub mod replay;
pub mod run;
pub mod simulate;
