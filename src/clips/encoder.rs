//! H.264 MP4 writer through the FFmpeg libraries: libx264 when available
//! (Debian's build has it), else FFmpeg's built-in MPEG-4 Part 2, with
//! `+faststart` so browsers can play it while loading.

use crate::error::{Error, ErrorKind, Result};
use crate::source::RgbImage;
use ffmpeg_next as ff;
use std::path::{Path, PathBuf};

pub struct Mp4Writer {
    path: PathBuf,
    octx: ff::format::context::Output,
    encoder: ff::encoder::Video,
    scaler: ff::software::scaling::Context,
    rgb: ff::frame::Video,
    yuv: ff::frame::Video,
    packet: ff::Packet,
    enc_time_base: ff::Rational,
    stream_time_base: ff::Rational,
    /// Nominal frame duration in encoder ticks (ms).
    frame_ticks: i64,
    last_pts: i64,
    frames: u64,
}

// Owned FFmpeg contexts, used from one thread at a time.
unsafe impl Send for Mp4Writer {}

impl Mp4Writer {
    /// Creates `path` for `width × height` video; frames carry their own times.
    pub fn create(path: &Path, width: u32, height: u32, fps: f64) -> Result<Self> {
        Self::create_with_threads(path, width, height, fps, None)
    }

    /// As [`create`](Self::create), with libx264 limited to `threads`
    /// (clips: one thread keeps the encoder's memory and CPU small beside
    /// the cameras).
    pub fn create_with_threads(
        path: &Path,
        width: u32,
        height: u32,
        fps: f64,
        threads: Option<u32>,
    ) -> Result<Self> {
        let _ = ff::init();
        let err = |what: &str, e: ff::Error| {
            Error::new(ErrorKind::Io, format!("cannot write video {}: {what}: {e} (check the directory exists, is writable and has free space)", path.display()))
        };
        crate::fs::create_parent_dir(path)?;
        let mut octx = ff::format::output_as(&path, "mp4").map_err(|e| err("open", e))?;
        let codec = ff::encoder::find_by_name("libx264")
            .or_else(|| ff::encoder::find(ff::codec::Id::MPEG4))
            .ok_or_else(|| Error::new(ErrorKind::Runtime, "FFmpeg has neither libx264 nor an MPEG-4 encoder (install Debian's libavcodec)"))?;
        let is_h264 = codec.id() == ff::codec::Id::H264;
        let global_header = octx
            .format()
            .flags()
            .contains(ff::format::Flags::GLOBAL_HEADER);
        let mut ost = octx.add_stream(codec).map_err(|e| err("add stream", e))?;
        let mut enc = ff::codec::context::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(|e| err("encoder", e))?;
        // H.264 4:2:0 needs even dimensions.
        let (w, h) = (width & !1, height & !1);
        enc.set_width(w);
        enc.set_height(h);
        enc.set_format(ff::format::Pixel::YUV420P);
        let enc_time_base = ff::Rational::new(1, 1000);
        enc.set_time_base(enc_time_base);
        let fps_r = ff::Rational::new((fps * 1000.0).round().max(1.0) as i32, 1000);
        enc.set_frame_rate(Some(fps_r));
        if global_header {
            enc.set_flags(ff::codec::Flags::GLOBAL_HEADER);
        }
        let mut opts = ff::Dictionary::new();
        if is_h264 {
            opts.set("preset", "veryfast");
            opts.set("crf", "23");
            // No B-frames: packets come out in display order with no
            // reorder delay, so every frame is exact to step through in review.
            opts.set("bf", "0");
            if let Some(n) = threads {
                opts.set("threads", &n.to_string());
            }
        } else {
            enc.set_bit_rate(4_000_000);
        }
        let encoder = enc.open_with(opts).map_err(|e| err("open encoder", e))?;
        ost.set_parameters(&encoder);
        ost.set_time_base(enc_time_base);
        let mut mux_opts = ff::Dictionary::new();
        mux_opts.set("movflags", "+faststart");
        octx.write_header_with(mux_opts)
            .map_err(|e| err("header", e))?;
        let stream_time_base = octx
            .stream(0)
            .map(|s| s.time_base())
            .unwrap_or(enc_time_base);
        let scaler = ff::software::scaling::Context::get(
            ff::format::Pixel::RGB24,
            w,
            h,
            ff::format::Pixel::YUV420P,
            w,
            h,
            ff::software::scaling::Flags::BILINEAR,
        )
        .map_err(|e| err("colour converter", e))?;
        Ok(Mp4Writer {
            path: path.to_path_buf(),
            octx,
            encoder,
            scaler,
            rgb: ff::frame::Video::new(ff::format::Pixel::RGB24, w, h),
            yuv: ff::frame::Video::empty(),
            packet: ff::Packet::empty(),
            enc_time_base,
            stream_time_base,
            frame_ticks: (1000.0 / fps.max(0.1)).round() as i64,
            last_pts: -1,
            frames: 0,
        })
    }

    /// Appends a frame shown at media time `t_s` (seconds).
    pub fn write(&mut self, image: &RgbImage, t_s: f64) -> Result<()> {
        let (w, h) = (self.rgb.width() as usize, self.rgb.height() as usize);
        let stride = self.rgb.stride(0);
        let src_row = image.width as usize * 3;
        let dst = self.rgb.data_mut(0);
        for y in 0..h.min(image.height as usize) {
            let n = (w * 3).min(src_row);
            dst[y * stride..y * stride + n]
                .copy_from_slice(&image.data[y * src_row..y * src_row + n]);
        }
        self.scaler
            .run(&self.rgb, &mut self.yuv)
            .map_err(|e| self.error("colour conversion", e))?;
        // Strictly increasing timestamps, in ms.
        let pts = ((t_s * 1000.0).round() as i64).max(self.last_pts + 1);
        self.last_pts = pts;
        self.yuv.set_pts(Some(pts));
        self.encoder
            .send_frame(&self.yuv)
            .map_err(|e| self.error("encode", e))?;
        self.frames += 1;
        self.drain()
    }

    fn drain(&mut self) -> Result<()> {
        while self.encoder.receive_packet(&mut self.packet).is_ok() {
            self.packet.set_stream(0);
            // Without a duration the last frame gets none in the MP4 index.
            if self.packet.duration() <= 0 {
                self.packet.set_duration(self.frame_ticks);
            }
            self.packet
                .rescale_ts(self.enc_time_base, self.stream_time_base);
            self.packet.write_interleaved(&mut self.octx).map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!(
                        "cannot write video {}: {e} (is the disk full?)",
                        self.path.display()
                    ),
                )
            })?;
        }
        Ok(())
    }

    fn error(&self, what: &str, e: ff::Error) -> Error {
        Error::new(
            ErrorKind::Io,
            format!(
                "video {}: frame {}: {what} failed: {e}",
                self.path.display(),
                self.frames
            ),
        )
    }

    /// Flushes the encoder and writes the MP4 index. Returns frames written.
    pub fn finish(mut self) -> Result<u64> {
        self.encoder
            .send_eof()
            .map_err(|e| self.error("flush", e))?;
        self.drain()?;
        self.octx.write_trailer().map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!(
                    "cannot finish video {}: {e} (is the disk full?)",
                    self.path.display()
                ),
            )
        })?;
        Ok(self.frames)
    }
}
