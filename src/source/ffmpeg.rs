//! Video files and RTSP/HTTP streams through the FFmpeg libraries.

use super::{Frame, FrameSource, RgbImage, SourceInfo};
use crate::error::{Error, ErrorKind, Result};
use ffmpeg_next as ff;
use std::path::Path;
use std::sync::{Arc, Once};

/// Decodes the best video stream of a file or URL to RGB at native size.
pub struct FfmpegSource {
    camera: Arc<str>,
    url: String,
    input: ff::format::context::Input,
    stream_index: usize,
    decoder: ff::decoder::Video,
    scaler: Option<ff::software::scaling::Context>,
    decoded: ff::frame::Video,
    rgb: ff::frame::Video,
    packet: ff::Packet,
    info: SourceInfo,
    time_base: f64,
    start_pts: Option<i64>,
    last_time_s: Option<f64>,
    seq: u64,
    eof_sent: bool,
    done: bool,
    /// Packets the decoder refused (corrupt data); the stream goes on.
    pub corrupt_packets: u64,
}

// The FFmpeg contexts are owned exclusively by this struct and only used from
// one thread at a time, which is what FFmpeg requires.
unsafe impl Send for FfmpegSource {}

fn init_ffmpeg() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = ff::init();
        ff::util::log::set_level(ff::util::log::Level::Fatal);
    });
}

impl FfmpegSource {
    pub fn open(camera: Arc<str>, url: &str) -> Result<Self> {
        init_ffmpeg();
        let is_network = url.contains("://") && !url.starts_with("file://");
        if !is_network && !Path::new(url).exists() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("camera {camera}: video file {url} does not exist (check the path)"),
            ));
        }
        let mut opts = ff::Dictionary::new();
        if url.starts_with("rtsp://") {
            opts.set("rtsp_transport", "tcp");
            // Socket timeout in microseconds, so a dead camera errors instead of hanging.
            opts.set("timeout", "5000000");
        } else if is_network {
            opts.set("rw_timeout", "5000000");
        }
        let input = ff::format::input_with_dictionary(&url, opts).map_err(|e| {
            let what = if is_network {
                format!("camera {camera}: cannot open stream {}: {e} (check the URL, credentials and that the camera is reachable)", redact(url))
            } else {
                format!("camera {camera}: {url} is not a video FFmpeg can read: {e} (check that the file is a complete, supported video)")
            };
            Error::invalid(what).with_source(e)
        })?;
        let stream = input
            .streams()
            .best(ff::media::Type::Video)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "camera {camera}: {} has no video stream (give a video file or camera URL)",
                    redact(url)
                ))
            })?;
        let stream_index = stream.index();
        let tb = stream.time_base();
        let time_base = f64::from(tb.numerator()) / f64::from(tb.denominator()).max(1.0);
        let rate = stream.avg_frame_rate();
        let fps = (rate.denominator() != 0 && rate.numerator() > 0)
            .then(|| f64::from(rate.numerator()) / f64::from(rate.denominator()));
        let frames = (stream.frames() > 0)
            .then(|| stream.frames() as u64)
            .or_else(|| {
                let d = input.duration();
                (d > 0).then(|| ((d as f64 / 1e6) * fps.unwrap_or(0.0)).round() as u64)
            });
        let mut ctx =
            ff::codec::context::Context::from_parameters(stream.parameters()).map_err(|e| {
                Error::invalid(format!(
                    "camera {camera}: {}: bad codec parameters: {e}",
                    redact(url)
                ))
            })?;
        ctx.set_threading(ff::codec::threading::Config {
            kind: ff::codec::threading::Type::Frame,
            count: 2,
            ..Default::default()
        });
        let decoder = ctx.decoder().video().map_err(|e| {
            Error::invalid(format!(
                "camera {camera}: {}: no decoder for its video codec: {e} (re-encode it as H.264)",
                redact(url)
            ))
        })?;
        let codec_name = decoder
            .codec()
            .map(|c| c.name().to_string())
            .unwrap_or_else(|| "unknown codec".into());
        let info = SourceInfo {
            width: decoder.width(),
            height: decoder.height(),
            fps,
            frames,
            description: format!("{} ({codec_name})", redact(url)),
        };
        if info.width == 0 || info.height == 0 {
            return Err(Error::invalid(format!(
                "camera {camera}: {} reports a 0x0 picture (the file is damaged)",
                redact(url)
            )));
        }
        Ok(FfmpegSource {
            camera,
            url: url.to_string(),
            input,
            stream_index,
            decoder,
            scaler: None,
            decoded: ff::frame::Video::empty(),
            rgb: ff::frame::Video::empty(),
            packet: ff::Packet::empty(),
            info,
            time_base,
            start_pts: None,
            last_time_s: None,
            seq: 0,
            eof_sent: false,
            done: false,
            corrupt_packets: 0,
        })
    }

    fn convert(&mut self) -> Result<Frame> {
        let (w, h, fmt) = (
            self.decoded.width(),
            self.decoded.height(),
            self.decoded.format(),
        );
        let rebuild = match &self.scaler {
            Some(s) => s.input().width != w || s.input().height != h || s.input().format != fmt,
            None => true,
        };
        if rebuild {
            self.scaler = Some(
                ff::software::scaling::Context::get(
                    fmt,
                    w,
                    h,
                    ff::format::Pixel::RGB24,
                    w,
                    h,
                    ff::software::scaling::Flags::BILINEAR,
                )
                .map_err(|e| {
                    self.frame_error(format!("cannot convert pixel format {fmt:?}: {e}"))
                })?,
            );
        }
        let scaler = self.scaler.as_mut().expect("scaler built above");
        scaler.run(&self.decoded, &mut self.rgb).map_err(|e| {
            Error::invalid(format!(
                "camera {}: frame {}: colour conversion failed: {e}",
                self.camera, self.seq
            ))
        })?;
        let mut image = RgbImage::new(w, h);
        let stride = self.rgb.stride(0);
        let row = w as usize * 3;
        let src = self.rgb.data(0);
        for (y, dst) in image.data.chunks_exact_mut(row).enumerate() {
            dst.copy_from_slice(&src[y * stride..y * stride + row]);
        }
        let media_time_s = self.media_time();
        let frame = Frame::new(self.camera.clone(), self.seq, media_time_s, image);
        self.seq += 1;
        Ok(frame)
    }

    /// Media time from the frame's PTS, relative to the first frame; falls back to
    /// the nominal rate only when the stream carries no timestamps.
    fn media_time(&mut self) -> f64 {
        let t = match self.decoded.timestamp().or(self.decoded.pts()) {
            Some(pts) => {
                let start = *self.start_pts.get_or_insert(pts);
                (pts - start) as f64 * self.time_base
            }
            None => match self.last_time_s {
                Some(prev) => prev + 1.0 / self.info.fps.unwrap_or(25.0),
                None => 0.0,
            },
        };
        self.last_time_s = Some(t);
        t
    }

    fn frame_error(&self, msg: String) -> Error {
        Error::invalid(format!("camera {}: frame {}: {msg}", self.camera, self.seq))
    }
}

impl FrameSource for FfmpegSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<Option<Frame>> {
        loop {
            if self.done {
                return Ok(None);
            }
            match self.decoder.receive_frame(&mut self.decoded) {
                Ok(()) => return self.convert().map(Some),
                Err(ff::Error::Eof) => {
                    self.done = true;
                    if self.seq == 0 {
                        return Err(Error::invalid(format!(
                            "camera {}: {} contains no decodable video frames (the file is damaged or truncated)",
                            self.camera,
                            redact(&self.url)
                        )));
                    }
                    return Ok(None);
                }
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {}
                Err(e) => {
                    self.corrupt_packets += 1;
                    tracing::warn!(camera = %self.camera, frame = self.seq, "decode error: {e}");
                    continue;
                }
            }
            if self.eof_sent {
                // Decoder drained after EOF without reporting Eof: treat as end.
                self.done = true;
                continue;
            }
            // The decoder wants more input.
            loop {
                match self.packet.read(&mut self.input) {
                    Ok(()) => {
                        if self.packet.stream() != self.stream_index {
                            continue;
                        }
                        if let Err(e) = self.decoder.send_packet(&self.packet) {
                            self.corrupt_packets += 1;
                            tracing::warn!(camera = %self.camera, frame = self.seq, "corrupt packet skipped: {e}");
                            continue;
                        }
                        break;
                    }
                    Err(ff::Error::Eof) => {
                        let _ = self.decoder.send_eof();
                        self.eof_sent = true;
                        break;
                    }
                    Err(e) => {
                        return Err(Error::new(
                            ErrorKind::Unavailable,
                            format!(
                                "camera {}: reading {} failed after frame {}: {e} (the stream dropped or the file is truncated)",
                                self.camera,
                                redact(&self.url),
                                self.seq
                            ),
                        ));
                    }
                }
            }
        }
    }
}

/// Hides `user:password@` in URLs so credentials never reach logs or errors.
pub fn redact(url: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let host_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..host_end].rfind('@') {
            return format!("{}://***@{}", &url[..scheme_end], &rest[at + 1..]);
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn credentials_are_removed_from_stream_urls() {
        assert_eq!(
            redact("rtsp://admin:s3cret@10.0.0.5:554/stream1"),
            "rtsp://***@10.0.0.5:554/stream1"
        );
        assert_eq!(redact("rtsp://10.0.0.5/s"), "rtsp://10.0.0.5/s");
        assert_eq!(redact("samples/a@b.mp4"), "samples/a@b.mp4");
    }
}
