//! One module per subcommand.

pub mod calibrate;
pub mod intrinsics;
pub mod replay;
