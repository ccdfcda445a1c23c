//! Frame sources: video files and network streams (FFmpeg), USB/V4L2 cameras
//! (nokhwa) and directories of images, all behind [`FrameSource`].

mod ffmpeg;
mod images;
mod usb;

pub use self::ffmpeg::{redact, FfmpegSource};
pub use self::images::{load_rgb, save_image, ImageDirSource};
pub use self::usb::UsbSource;

use crate::error::Result;
use std::sync::Arc;
use std::time::SystemTime;

/// A tightly packed 8-bit RGB image (row stride = 3 × width).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl RgbImage {
    pub fn new(width: u32, height: u32) -> Self {
        RgbImage {
            width,
            height,
            data: vec![0; width as usize * height as usize * 3],
        }
    }

    /// The pixel at (x, y); panics outside the image.
    #[inline]
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }
}

/// One decoded picture from a camera.
#[derive(Clone, Debug)]
pub struct Frame {
    pub camera: Arc<str>,
    /// 0-based index of the frame within this source.
    pub seq: u64,
    /// Media time in seconds from the start of the stream, from the stream's PTS.
    pub media_time_s: f64,
    /// Wall-clock time at which the frame was decoded.
    pub wall_time: SystemTime,
    pub image: RgbImage,
}

impl Frame {
    /// A frame decoded now.
    pub fn new(camera: Arc<str>, seq: u64, media_time_s: f64, image: RgbImage) -> Frame {
        Frame {
            camera,
            seq,
            media_time_s,
            wall_time: SystemTime::now(),
            image,
        }
    }
}

/// What a source knows about itself before the first frame.
#[derive(Clone, Debug, Default)]
pub struct SourceInfo {
    pub width: u32,
    pub height: u32,
    /// Nominal frame rate, if the container states one.
    pub fps: Option<f64>,
    /// Expected number of frames, if known (files only).
    pub frames: Option<u64>,
    /// Human-readable description for logs ("vtest.avi (msmpeg4v3)").
    pub description: String,
}

/// Anything that yields frames. `Ok(None)` means the stream ended cleanly.
pub trait FrameSource: Send {
    fn info(&self) -> &SourceInfo;
    fn next_frame(&mut self) -> Result<Option<Frame>>;
}

/// Opens a source from a URL or path:
/// - `v4l:///dev/video0`, `usb:0`: a USB/V4L2 camera;
/// - a directory: its images in name order (`--fps` sets their timing);
/// - anything else (file path, `rtsp://`, `http://`): FFmpeg.
pub fn open(camera: &str, url: &str, image_fps: f64) -> Result<Box<dyn FrameSource>> {
    let camera: Arc<str> = Arc::from(camera);
    if let Some(dev) = url
        .strip_prefix("v4l://")
        .or_else(|| url.strip_prefix("usb:"))
    {
        return Ok(Box::new(UsbSource::open(camera, dev)?));
    }
    let path = std::path::Path::new(url);
    if path.is_dir() {
        return Ok(Box::new(ImageDirSource::open(camera, path, image_fps)?));
    }
    Ok(Box::new(FfmpegSource::open(camera, url)?))
}
