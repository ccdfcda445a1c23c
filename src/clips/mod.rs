//! Video output: the H.264 MP4 writer (overlay videos and violation clips),
//! and violation clips themselves.
//!
//! ```text
//!  reader thread ──every frame (JPEG)──▶ FrameRing ◀──notes (people, parcels)── camera thread
//!                                           │                                     │ violation
//!                                           └────── window [key − pre, key + post] ◀┘ CameraClips
//!                                                              │ ClipJob
//!                                                              ▼
//!  ClipWriter thread: blur heads, overlay, MP4 + JPEG (temp name, renamed) ──▶ clip row +
//!  clip-ready message in one transaction ──▶ hook (web) ──▶ retention (age, disk cap)
//! ```

mod encoder;
pub mod recorder;
pub mod render;
pub mod retention;
pub mod ring;
pub mod writer;

pub use encoder::Mp4Writer;
pub use recorder::{CameraClips, ClipJob};
pub use ring::FrameRing;
pub use writer::{ClipHook, ClipReady, ClipWriter};

/// Where a violation's clip and snapshot live, relative to the data
/// directory: `clips/<camera>/<id>.mp4` and `.jpg`.
pub fn relative_paths(camera: &str, id: &str) -> (String, String) {
    (
        format!("clips/{camera}/{id}.mp4"),
        format!("clips/{camera}/{id}.jpg"),
    )
}

/// The web paths of a violation's clip and snapshot (`/clips/<camera>/<id>.mp4`
/// and `.jpg`): the web server serves the data directory's `clips/` there.
pub fn web_paths(camera: &str, id: &str) -> (String, String) {
    let (v, s) = relative_paths(camera, id);
    (format!("/{v}"), format!("/{s}"))
}
