//! Video output: the H.264 MP4 writer used for overlay videos (and, later,
//! violation clips).

mod encoder;

pub use encoder::Mp4Writer;
