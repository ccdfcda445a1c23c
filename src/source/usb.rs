//! USB/V4L2 cameras through nokhwa. Frames arrive as YUYV, MJPEG, grey or RGB and
//! are converted here, so nokhwa's heavy decoding feature is not needed.

use super::{Frame, FrameSource, RgbImage, SourceInfo};
use crate::error::{Error, ErrorKind, Result};
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{ApiBackend, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType};
use std::sync::Arc;
use std::time::Instant;

pub struct UsbSource {
    camera: Arc<str>,
    device: String,
    cam: nokhwa::Camera,
    info: SourceInfo,
    started: Instant,
    seq: u64,
}

impl UsbSource {
    /// `device` is an index (`0`) or a device path (`/dev/video0`).
    pub fn open(camera: Arc<str>, device: &str) -> Result<Self> {
        let index = device
            .trim_start_matches("/dev/video")
            .parse::<u32>()
            .map_err(|_| {
                Error::config(format!(
                    "camera {camera}: USB camera `{device}` is not a device index or /dev/videoN path"
                ))
            })?;
        let present = nokhwa::query(ApiBackend::Video4Linux).unwrap_or_default();
        if present.is_empty() {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!("camera {camera}: no USB/V4L2 camera is connected to this machine (plug one in, or use a file or rtsp:// source)"),
            ));
        }
        let unavailable = |e: nokhwa::NokhwaError| {
            let names: Vec<String> = present
                .iter()
                .map(|c| format!("{} ({})", c.index(), c.human_name()))
                .collect();
            Error::new(
                ErrorKind::Unavailable,
                format!(
                    "camera {camera}: cannot open USB camera {device}: {e} (cameras present: {})",
                    names.join(", ")
                ),
            )
        };
        let requested =
            RequestedFormat::new::<RgbFormat>(RequestedFormatType::AbsoluteHighestResolution);
        let mut cam =
            nokhwa::Camera::new(CameraIndex::Index(index), requested).map_err(unavailable)?;
        cam.open_stream().map_err(unavailable)?;
        let res = cam.resolution();
        let info = SourceInfo {
            width: res.width(),
            height: res.height(),
            fps: Some(f64::from(cam.frame_rate())),
            frames: None,
            description: format!("USB camera {index} ({})", cam.info().human_name()),
        };
        Ok(UsbSource {
            camera,
            device: device.to_string(),
            cam,
            info,
            started: Instant::now(),
            seq: 0,
        })
    }
}

impl FrameSource for UsbSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<Option<Frame>> {
        let buf = self.cam.frame().map_err(|e| {
            Error::new(
                ErrorKind::Unavailable,
                format!("camera {}: USB camera {} stopped delivering frames after frame {}: {e} (check the cable)", self.camera, self.device, self.seq),
            )
        })?;
        let res = buf.resolution();
        let (w, h) = (res.width(), res.height());
        let media_time_s = buf
            .capture_timestamp()
            .map(|d| d.as_secs_f64())
            .unwrap_or_else(|| self.started.elapsed().as_secs_f64());
        let image =
            convert_to_rgb(buf.source_frame_format(), w, h, buf.buffer()).map_err(|msg| {
                Error::invalid(format!("camera {}: frame {}: {msg}", self.camera, self.seq))
            })?;
        let frame = Frame::new(self.camera.clone(), self.seq, media_time_s, image);
        self.seq += 1;
        Ok(Some(frame))
    }
}

fn convert_to_rgb(
    format: FrameFormat,
    w: u32,
    h: u32,
    data: &[u8],
) -> std::result::Result<RgbImage, String> {
    let n = w as usize * h as usize;
    let short = |need: usize| {
        format!(
            "{format} buffer holds {} bytes, {need} expected for {w}x{h}",
            data.len()
        )
    };
    let mut out = RgbImage::new(w, h);
    match format {
        FrameFormat::MJPEG => {
            let img = image::load_from_memory_with_format(data, image::ImageFormat::Jpeg)
                .map_err(|e| format!("bad MJPEG frame: {e}"))?
                .into_rgb8();
            out = RgbImage {
                width: img.width(),
                height: img.height(),
                data: img.into_raw(),
            };
        }
        FrameFormat::YUYV => {
            if data.len() < n * 2 {
                return Err(short(n * 2));
            }
            for (src, dst) in data.chunks_exact(4).zip(out.data.chunks_exact_mut(6)) {
                let (y0, u, y1, v) = (src[0], src[1], src[2], src[3]);
                dst[..3].copy_from_slice(&yuv_to_rgb(y0, u, v));
                dst[3..].copy_from_slice(&yuv_to_rgb(y1, u, v));
            }
        }
        FrameFormat::NV12 => {
            if data.len() < n * 3 / 2 {
                return Err(short(n * 3 / 2));
            }
            let (luma, chroma) = data.split_at(n);
            for y in 0..h as usize {
                for x in 0..w as usize {
                    let c = (y / 2) * w as usize + (x & !1);
                    let rgb = yuv_to_rgb(luma[y * w as usize + x], chroma[c], chroma[c + 1]);
                    out.data[(y * w as usize + x) * 3..][..3].copy_from_slice(&rgb);
                }
            }
        }
        FrameFormat::GRAY => {
            if data.len() < n {
                return Err(short(n));
            }
            for (g, dst) in data.iter().zip(out.data.chunks_exact_mut(3)) {
                dst.fill(*g);
            }
        }
        FrameFormat::RAWRGB | FrameFormat::RAWBGR => {
            if data.len() < n * 3 {
                return Err(short(n * 3));
            }
            out.data.copy_from_slice(&data[..n * 3]);
            if format == FrameFormat::RAWBGR {
                out.data.chunks_exact_mut(3).for_each(|p| p.swap(0, 2));
            }
        }
    }
    Ok(out)
}

/// BT.601 limited-range YUV to RGB, integer arithmetic.
fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = (i32::from(y) - 16) * 298;
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    let clamp = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
    [
        clamp(c + 409 * e),
        clamp(c - 100 * d - 208 * e),
        clamp(c + 516 * d),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuyv_grey_and_white_convert_to_matching_rgb() {
        // Two pixels: Y=16 (black) and Y=235 (white), neutral chroma.
        let img = convert_to_rgb(FrameFormat::YUYV, 2, 1, &[16, 128, 235, 128]).unwrap();
        assert_eq!(img.data, vec![0, 0, 0, 255, 255, 255]);
    }

    #[test]
    fn short_buffer_is_reported_not_read_past() {
        let err = convert_to_rgb(FrameFormat::YUYV, 4, 4, &[0; 8]).unwrap_err();
        assert!(err.contains("expected for 4x4"), "{err}");
    }
}
