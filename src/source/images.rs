//! A directory of still images (PNG/JPEG) played as a stream at a fixed rate.

use super::{Frame, FrameSource, RgbImage, SourceInfo};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct ImageDirSource {
    camera: Arc<str>,
    files: Vec<PathBuf>,
    next: usize,
    fps: f64,
    info: SourceInfo,
}

impl ImageDirSource {
    /// Lists `*.png`, `*.jpg`, `*.jpeg` in `dir` in name order; `fps` sets media time.
    pub fn open(camera: Arc<str>, dir: &Path, fps: f64) -> Result<Self> {
        if !(fps.is_finite() && fps > 0.0) {
            return Err(Error::config(format!(
                "camera {camera}: image directory {} needs a positive frame rate, got {fps}",
                dir.display()
            )));
        }
        let rd =
            std::fs::read_dir(dir).map_err(|e| Error::io(dir, "cannot list image directory", e))?;
        let mut files: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg")
                })
            })
            .collect();
        files.sort();
        let first = files.first().ok_or_else(|| {
            Error::invalid(format!(
                "camera {camera}: image directory {} holds no .png/.jpg files",
                dir.display()
            ))
        })?;
        let (width, height) = image::image_dimensions(first).map_err(|e| {
            Error::invalid(format!(
                "camera {camera}: cannot read image {}: {e}",
                first.display()
            ))
        })?;
        let info = SourceInfo {
            width,
            height,
            fps: Some(fps),
            frames: Some(files.len() as u64),
            description: format!("{} ({} images)", dir.display(), files.len()),
        };
        Ok(ImageDirSource {
            camera,
            files,
            next: 0,
            fps,
            info,
        })
    }
}

/// Loads one image file as tightly packed RGB.
pub fn load_rgb(path: &Path) -> Result<RgbImage> {
    let img = image::open(path)
        .map_err(|e| {
            Error::invalid(format!(
                "cannot read image {}: {e} (give a PNG or JPEG file)",
                path.display()
            ))
        })?
        .into_rgb8();
    Ok(RgbImage {
        width: img.width(),
        height: img.height(),
        data: img.into_raw(),
    })
}

/// Writes an RGB image; the format follows the extension (.png, .jpg).
pub fn save_image(img: &RgbImage, path: &Path) -> Result<()> {
    crate::fs::create_parent_dir(path)?;
    image::save_buffer(
        path,
        &img.data,
        img.width,
        img.height,
        image::ExtendedColorType::Rgb8,
    )
    .map_err(|e| {
        Error::new(
            crate::error::ErrorKind::Io,
            format!(
                "cannot write image {}: {e} (use a .png or .jpg name in a writable directory)",
                path.display()
            ),
        )
    })
}

impl FrameSource for ImageDirSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<Option<Frame>> {
        let Some(path) = self.files.get(self.next) else {
            return Ok(None);
        };
        let image = load_rgb(path).map_err(|e| {
            Error::invalid(format!("camera {}: frame {}: {e}", self.camera, self.next))
        })?;
        if (image.width, image.height) != (self.info.width, self.info.height) {
            return Err(Error::invalid(format!(
                "camera {}: image {} is {}x{} but the first image is {}x{} (all images must share one size)",
                self.camera,
                path.display(),
                image.width,
                image.height,
                self.info.width,
                self.info.height
            )));
        }
        let seq = self.next as u64;
        self.next += 1;
        Ok(Some(Frame::new(
            self.camera.clone(),
            seq,
            seq as f64 / self.fps,
            image,
        )))
    }
}
