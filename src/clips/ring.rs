//! A camera's recent past for clips: every frame the source delivered,
//! JPEG-compressed, plus what the analyzer saw at each analysed frame, kept
//! for a fixed span of media time so memory stays bounded.

use crate::pose::Person;
use crate::source::RgbImage;
use crate::track::{ObjectTrack, PersonTrack};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One stored frame.
#[derive(Clone, Debug)]
pub struct RingFrame {
    /// Media time on the camera's continuous timeline (reopen offsets added).
    pub t_s: f64,
    pub width: u32,
    pub height: u32,
    pub jpeg: Arc<[u8]>,
}

/// What the analyzer knew at one analysed frame: people (for head blur and
/// the skeleton) and where each moving-object track was (the trajectory).
#[derive(Clone, Debug, Default)]
pub struct Note {
    pub t_s: f64,
    /// Track id (0 while tentative) and pose of every person seen.
    pub people: Vec<(u64, Person)>,
    /// Track id and image position of every object seen.
    pub objects: Vec<(u64, f32, f32)>,
}

impl Note {
    pub fn new(t_s: f64, people: &[PersonTrack], objects: &[ObjectTrack]) -> Note {
        Note {
            t_s,
            people: people
                .iter()
                .filter(|p| p.visible)
                .map(|p| (p.id, p.person.clone()))
                .collect(),
            objects: objects
                .iter()
                .filter(|o| o.visible)
                .filter_map(|o| o.trajectory.back().map(|p| (o.id, p.x, p.y)))
                .collect(),
        }
    }
}

#[derive(Default)]
struct RingState {
    frames: VecDeque<RingFrame>,
    notes: VecDeque<Note>,
    bytes: usize,
    encode: Duration,
    encoded: u64,
}

/// Frames (pushed by the camera's reader thread) and notes (pushed by its
/// analysis thread) over the last `span_s` seconds of media time.
pub struct FrameRing {
    state: Mutex<RingState>,
    span_s: f64,
    quality: u8,
}

impl FrameRing {
    /// A ring keeping `span_s` seconds, compressing at JPEG `quality` (1–100).
    pub fn new(span_s: f64, quality: u8) -> FrameRing {
        FrameRing {
            state: Mutex::default(),
            span_s,
            quality,
        }
    }

    /// Compresses and keeps a frame shown at `t_s`. A time at or before the
    /// newest kept frame is ignored (a repeated timestamp).
    pub fn push(&self, t_s: f64, image: &RgbImage) {
        if self.newest().is_some_and(|t| t_s <= t) {
            return;
        }
        let t0 = Instant::now();
        let jpeg = match compress(image, self.quality) {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!("clip ring: frame at {t_s:.3} s not kept: {e}");
                return;
            }
        };
        let spent = t0.elapsed();
        let mut s = self.state.lock().expect("ring lock");
        s.bytes += jpeg.len();
        s.encode += spent;
        s.encoded += 1;
        s.frames.push_back(RingFrame {
            t_s,
            width: image.width,
            height: image.height,
            jpeg: jpeg.into(),
        });
        let oldest = t_s - self.span_s;
        while s.frames.front().is_some_and(|f| f.t_s < oldest) {
            let f = s.frames.pop_front().expect("front");
            s.bytes -= f.jpeg.len();
        }
        while s.notes.front().is_some_and(|n| n.t_s < oldest) {
            s.notes.pop_front();
        }
    }

    /// Keeps what the analyzer saw at `note.t_s`.
    pub fn note(&self, note: Note) {
        let mut s = self.state.lock().expect("ring lock");
        if s.notes.back().is_some_and(|n| n.t_s >= note.t_s) {
            return;
        }
        s.notes.push_back(note);
    }

    /// Frames and notes with `from_s <= t <= to_s`, oldest first. Frames
    /// share their JPEG bytes with the ring (no copy).
    pub fn window(&self, from_s: f64, to_s: f64) -> (Vec<RingFrame>, Vec<Note>) {
        let s = self.state.lock().expect("ring lock");
        let within = |t: f64| t >= from_s - 1e-6 && t <= to_s + 1e-6;
        (
            s.frames.iter().filter(|f| within(f.t_s)).cloned().collect(),
            s.notes.iter().filter(|n| within(n.t_s)).cloned().collect(),
        )
    }

    /// Media time of the newest frame.
    pub fn newest(&self) -> Option<f64> {
        self.state
            .lock()
            .expect("ring lock")
            .frames
            .back()
            .map(|f| f.t_s)
    }

    /// Compressed bytes held.
    pub fn bytes(&self) -> usize {
        self.state.lock().expect("ring lock").bytes
    }

    pub fn len(&self) -> usize {
        self.state.lock().expect("ring lock").frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Mean time to compress one frame so far.
    pub fn mean_encode(&self) -> Duration {
        let s = self.state.lock().expect("ring lock");
        s.encode / u32::try_from(s.encoded.max(1)).unwrap_or(u32::MAX)
    }
}

/// JPEG bytes of `image` (4:2:0). `jpeg-encoder` with SIMD, not the `image`
/// crate's encoder: at 768x576 it took 23 ms a frame, over half a core for a
/// 25 fps camera (examples/clip_memory.rs prints the figure).
pub fn compress(image: &RgbImage, quality: u8) -> std::result::Result<Vec<u8>, String> {
    let too_big = || format!("{}x{} is too large for JPEG", image.width, image.height);
    let w = u16::try_from(image.width).map_err(|_| too_big())?;
    let h = u16::try_from(image.height).map_err(|_| too_big())?;
    let mut out = Vec::with_capacity(image.data.len() / 12);
    jpeg_encoder::Encoder::new(&mut out, quality)
        .encode(&image.data, w, h, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// Decodes a frame kept by [`compress`].
pub fn decompress(jpeg: &[u8]) -> image::ImageResult<RgbImage> {
    let img = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)?.to_rgb8();
    Ok(RgbImage {
        width: img.width(),
        height: img.height(),
        data: img.into_raw(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> RgbImage {
        let mut img = RgbImage::new(w, h);
        for (i, p) in img.data.chunks_exact_mut(3).enumerate() {
            let (x, y) = (i as u32 % w, i as u32 / w);
            p.copy_from_slice(&[(x * 4) as u8, (y * 4) as u8, 128]);
        }
        img
    }

    #[test]
    fn the_ring_keeps_only_its_span_of_media_time_and_counts_its_bytes() {
        let ring = FrameRing::new(1.0, 75);
        let img = gradient(64, 48);
        for i in 0..50 {
            ring.push(i as f64 * 0.1, &img);
            ring.note(Note {
                t_s: i as f64 * 0.1,
                ..Note::default()
            });
        }
        ring.push(4.9, &img); // repeated time: ignored
        let (frames, notes) = ring.window(0.0, 100.0);
        let times: Vec<f64> = frames.iter().map(|f| f.t_s).collect();
        assert!(
            (times[0] - 3.9).abs() < 1e-9 && times.len() == 11,
            "{times:?}"
        );
        assert_eq!(notes.len(), 11);
        let sum: usize = frames.iter().map(|f| f.jpeg.len()).sum();
        assert_eq!(ring.bytes(), sum);
        assert!(sum < 11 * 64 * 48 * 3 / 4, "compressed: {sum} bytes");
    }

    #[test]
    fn a_kept_frame_decodes_to_the_same_size_and_nearly_the_same_pixels() {
        let img = gradient(64, 48);
        let back = decompress(&compress(&img, 75).unwrap()).unwrap();
        assert_eq!((back.width, back.height), (64, 48));
        let err: f64 = img
            .data
            .iter()
            .zip(&back.data)
            .map(|(a, b)| (*a as f64 - *b as f64).abs())
            .sum::<f64>()
            / img.data.len() as f64;
        assert!(err < 4.0, "mean error {err}");
    }
}
