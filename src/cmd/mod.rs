//! One module per subcommand.

pub mod calibrate;
pub mod replay;
pub mod simulate;
