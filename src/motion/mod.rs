//! Motion: a running-average background over a reduced image (luma and a
//! red–blue chroma channel, so brown cardboard shows on grey concrete), thresholded
//! difference, dilation and connected components give blobs of moving things.
//! Runs on every frame; its blobs gate and place the pose model.

use crate::bbox::BBox;
use crate::pose::Person;
use crate::source::RgbImage;
use serde::{Deserialize, Serialize};

/// Motion settings (`[motion]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MotionConfig {
    /// Width of the reduced grey image the background model runs on. Default 192.
    pub work_width_px: u32,
    /// Grey-level difference (0–255) that counts as motion. Default 18.
    pub threshold: u8,
    /// Background time constant in seconds: how fast still things fade into
    /// the background. Default 4.
    pub background_time_s: f32,
    /// Smallest blob, in full-frame pixels². Default 300.
    pub min_blob_area_px: f32,
    /// Polygons in frame pixels where motion is ignored (clocks, screens, belts).
    pub masks: Vec<Vec<[f32; 2]>>,
}

impl Default for MotionConfig {
    fn default() -> Self {
        MotionConfig {
            work_width_px: 192,
            threshold: 18,
            background_time_s: 4.0,
            min_blob_area_px: 300.0,
            masks: Vec::new(),
        }
    }
}

/// A connected region of motion, in frame pixels.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Blob {
    pub bbox: BBox,
    /// Moving area in full-frame pixels².
    pub area_px: f32,
    /// Centroid of the moving pixels.
    pub cx: f32,
    pub cy: f32,
}

/// Background-subtraction motion detector; all buffers are reused between frames.
pub struct MotionDetector {
    cfg: MotionConfig,
    factor: u32,
    w: usize,
    h: usize,
    grey: Vec<u8>,
    prev: Vec<u8>,
    background: Vec<f32>,
    fg: Vec<u8>,
    /// The latest frame's foreground, kept while bodies are cut out of `fg`.
    fg_all: Vec<u8>,
    dilated: Vec<u8>,
    mask: Vec<bool>,
    stack: Vec<u32>,
    last_time_s: Option<f64>,
}

impl MotionDetector {
    pub fn new(cfg: MotionConfig) -> Self {
        MotionDetector {
            cfg,
            factor: 1,
            w: 0,
            h: 0,
            grey: Vec::new(),
            prev: Vec::new(),
            background: Vec::new(),
            fg: Vec::new(),
            fg_all: Vec::new(),
            dilated: Vec::new(),
            mask: Vec::new(),
            stack: Vec::new(),
            last_time_s: None,
        }
    }

    /// Reduced-image size and the factor from frame to reduced pixels.
    pub fn work_size(&self) -> (usize, usize, u32) {
        (self.w, self.h, self.factor)
    }

    fn reset(&mut self, image: &RgbImage) {
        self.factor = (image.width / self.cfg.work_width_px.max(16)).max(1);
        self.w = (image.width / self.factor) as usize;
        self.h = (image.height / self.factor) as usize;
        let n = self.w * self.h;
        // Two channels per cell: luma, then chroma.
        self.grey = vec![0; 2 * n];
        self.prev = vec![0; 2 * n];
        self.background = Vec::with_capacity(n);
        self.fg = vec![0; n];
        self.fg_all = vec![0; n];
        self.dilated = vec![0; n];
        let f = self.factor as f32;
        self.mask = (0..n)
            .map(|i| {
                let (x, y) = (
                    ((i % self.w) as f32 + 0.5) * f,
                    ((i / self.w) as f32 + 0.5) * f,
                );
                self.cfg
                    .masks
                    .iter()
                    .any(|poly| point_in_polygon(x, y, poly))
            })
            .collect();
        self.last_time_s = None;
    }

    /// Forgets the background: the next frame starts a new one (the stream
    /// was reopened or looped, so the old scene no longer holds).
    pub fn restart(&mut self) {
        self.background.clear();
        self.last_time_s = None;
    }

    /// Processes one frame at media time `t_s` and returns its motion blobs.
    pub fn update(&mut self, image: &RgbImage, t_s: f64) -> Vec<Blob> {
        let f = self.factor;
        if self.w == 0 || self.w as u32 != image.width / f || self.h as u32 != image.height / f {
            self.reset(image);
        }
        self.reduce(image);
        if self.background.is_empty() {
            self.background
                .extend(self.grey.iter().map(|&g| f32::from(g)));
            self.prev.copy_from_slice(&self.grey);
            self.last_time_s = Some(t_s);
            return Vec::new();
        }
        let dt = (t_s - self.last_time_s.unwrap_or(t_s)).clamp(0.0, 1.0) as f32;
        self.last_time_s = Some(t_s);
        let alpha = 1.0 - (-dt / self.cfg.background_time_s.max(0.01)).exp();
        let thr = f32::from(self.cfg.threshold);
        for i in 0..self.fg.len() {
            let c = [2 * i, 2 * i + 1];
            let d = c.map(|k| f32::from(self.grey[k]) - self.background[k]);
            let moving = (d[0].abs() > thr || d[1].abs() > thr) && !self.mask[i];
            self.fg[i] = u8::from(moving);
            // Pixels changing frame to frame (a body passing) feed the background
            // 10× slower; pixels that differ from it but hold still (a ghost of
            // someone who stood there at start, a parcel left lying) at the
            // normal rate, so they fade in about `background_time_s`.
            let changing = c
                .iter()
                .any(|&k| self.grey[k].abs_diff(self.prev[k]) > self.cfg.threshold / 2);
            let rate = if moving && changing {
                alpha * 0.1
            } else {
                alpha
            };
            for (k, d) in c.into_iter().zip(d) {
                self.background[k] += d * rate;
            }
        }
        self.prev.copy_from_slice(&self.grey);
        self.dilate();
        self.components()
    }

    /// The latest frame's blobs with the given people's bodies cut out: what
    /// moves off the body. A parcel in the hands, falling past the legs or
    /// leaving them is its own blob here even while it touches the worker.
    pub fn blobs_off(&mut self, people: &[&Person]) -> Vec<Blob> {
        if self.fg.is_empty() {
            return Vec::new();
        }
        self.fg_all.copy_from_slice(&self.fg);
        let f = self.factor as f32;
        for p in people {
            let b = p.bbox.expand(0.1 * p.bbox.width(), 0.1 * p.bbox.height());
            let (x0, y0) = ((b.x0 / f).max(0.0) as usize, (b.y0 / f).max(0.0) as usize);
            let (x1, y1) = (
                ((b.x1 / f).max(0.0) as usize).min(self.w),
                ((b.y1 / f).max(0.0) as usize).min(self.h),
            );
            for y in y0..y1 {
                for x in x0..x1 {
                    let i = y * self.w + x;
                    if self.fg[i] == 1 && p.covers((x as f32 + 0.5) * f, (y as f32 + 0.5) * f) {
                        self.fg[i] = 0;
                    }
                }
            }
        }
        self.dilate();
        let blobs = self.components();
        self.fg.copy_from_slice(&self.fg_all);
        blobs
    }

    /// Box-averages the RGB frame into the reduced image: BT.601 luma and
    /// (R − B) / 2 + 128.
    fn reduce(&mut self, image: &RgbImage) {
        let f = self.factor as usize;
        let stride = image.width as usize * 3;
        let norm = (f * f) as u32;
        for y in 0..self.h {
            for x in 0..self.w {
                let (mut acc, mut rb) = (0u32, 0u32);
                for dy in 0..f {
                    let row = &image.data[(y * f + dy) * stride + x * f * 3..][..f * 3];
                    for p in row.chunks_exact(3) {
                        acc += 77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2]);
                        rb += 255 + u32::from(p[0]) - u32::from(p[2]);
                    }
                }
                let i = 2 * (y * self.w + x);
                self.grey[i] = ((acc / norm) >> 8) as u8;
                self.grey[i + 1] = (rb / norm / 2) as u8;
            }
        }
    }

    /// 3×3 dilation: closes one-pixel gaps inside a moving body.
    fn dilate(&mut self) {
        let (w, h) = (self.w, self.h);
        for y in 0..h {
            for x in 0..w {
                let mut v = 0;
                for yy in y.saturating_sub(1)..(y + 2).min(h) {
                    for xx in x.saturating_sub(1)..(x + 2).min(w) {
                        v |= self.fg[yy * w + xx];
                    }
                }
                self.dilated[y * w + x] = v;
            }
        }
    }

    /// 8-connected components of the dilated mask; area counts the undilated pixels.
    fn components(&mut self) -> Vec<Blob> {
        let (w, h) = (self.w, self.h);
        let f = self.factor as f32;
        let mut blobs = Vec::new();
        for start in 0..w * h {
            if self.dilated[start] != 1 {
                continue;
            }
            self.dilated[start] = 2;
            self.stack.clear();
            self.stack.push(start as u32);
            let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
            let (mut n, mut sx, mut sy) = (0u32, 0f32, 0f32);
            while let Some(i) = self.stack.pop() {
                let i = i as usize;
                let (x, y) = (i % w, i / w);
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
                if self.fg[i] == 1 {
                    n += 1;
                    sx += x as f32;
                    sy += y as f32;
                }
                for yy in y.saturating_sub(1)..(y + 2).min(h) {
                    for xx in x.saturating_sub(1)..(x + 2).min(w) {
                        let j = yy * w + xx;
                        if self.dilated[j] == 1 {
                            self.dilated[j] = 2;
                            self.stack.push(j as u32);
                        }
                    }
                }
            }
            let area_px = n as f32 * f * f;
            if n == 0 || area_px < self.cfg.min_blob_area_px {
                continue;
            }
            blobs.push(Blob {
                bbox: BBox::new(
                    x0 as f32 * f,
                    y0 as f32 * f,
                    (x1 + 1) as f32 * f,
                    (y1 + 1) as f32 * f,
                ),
                area_px,
                cx: (sx / n as f32 + 0.5) * f,
                cy: (sy / n as f32 + 0.5) * f,
            });
        }
        blobs
    }
}

/// Even-odd rule point-in-polygon test.
pub fn point_in_polygon(x: f32, y: f32, poly: &[[f32; 2]]) -> bool {
    let mut inside = false;
    let mut j = poly.len().wrapping_sub(1);
    for i in 0..poly.len() {
        let ([xi, yi], [xj, yj]) = (poly[i], poly[j]);
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(w: u32, h: u32, rects: &[(u32, u32, u32, u32)]) -> RgbImage {
        let mut img = RgbImage::new(w, h);
        img.data.fill(60);
        for &(x0, y0, x1, y1) in rects {
            for y in y0..y1 {
                for x in x0..x1 {
                    let i = ((y * w + x) * 3) as usize;
                    img.data[i..i + 3].copy_from_slice(&[220, 200, 180]);
                }
            }
        }
        img
    }

    #[test]
    fn static_scene_has_no_motion() {
        let mut m = MotionDetector::new(MotionConfig::default());
        for i in 0..10 {
            assert!(m
                .update(&frame(384, 288, &[(50, 50, 90, 120)]), f64::from(i) * 0.1)
                .is_empty());
        }
    }

    #[test]
    fn a_moving_box_is_one_blob_at_its_position() {
        let mut m = MotionDetector::new(MotionConfig::default());
        m.update(&frame(384, 288, &[]), 0.0);
        let blobs = m.update(&frame(384, 288, &[(200, 100, 240, 180)]), 0.1);
        assert_eq!(blobs.len(), 1, "{blobs:?}");
        let b = blobs[0];
        assert!(
            (b.cx - 220.0).abs() < 4.0 && (b.cy - 140.0).abs() < 4.0,
            "{b:?}"
        );
        assert!(
            b.bbox.x0 <= 200.0 && b.bbox.x1 >= 240.0 && b.bbox.y0 <= 100.0 && b.bbox.y1 >= 180.0
        );
        assert!(
            (b.area_px - 40.0 * 80.0).abs() < 40.0 * 80.0 * 0.25,
            "area {}",
            b.area_px
        );
    }

    #[test]
    fn after_a_restart_the_next_scene_is_background_not_motion() {
        let mut m = MotionDetector::new(MotionConfig::default());
        m.update(&frame(384, 288, &[]), 0.0);
        // A loop or a reconnection jumps to a different scene.
        let jumped = frame(384, 288, &[(200, 100, 240, 180)]);
        m.restart();
        assert!(m.update(&jumped, 0.1).is_empty());
        assert!(m.update(&jumped, 0.2).is_empty());
        // Motion in the new scene is still seen.
        let moved = m.update(&frame(384, 288, &[(20, 20, 60, 100)]), 0.3);
        assert!(!moved.is_empty());
    }

    #[test]
    fn two_separate_movers_are_two_blobs_and_small_noise_is_dropped() {
        let mut m = MotionDetector::new(MotionConfig::default());
        m.update(&frame(384, 288, &[]), 0.0);
        let blobs = m.update(
            &frame(
                384,
                288,
                &[(20, 20, 60, 100), (300, 150, 340, 230), (200, 10, 204, 14)],
            ),
            0.1,
        );
        assert_eq!(blobs.len(), 2, "{blobs:?}");
    }

    #[test]
    fn motion_inside_a_mask_polygon_is_ignored() {
        let cfg = MotionConfig {
            masks: vec![vec![
                [280.0, 140.0],
                [360.0, 140.0],
                [360.0, 240.0],
                [280.0, 240.0],
            ]],
            ..MotionConfig::default()
        };
        let mut m = MotionDetector::new(cfg);
        m.update(&frame(384, 288, &[]), 0.0);
        let blobs = m.update(
            &frame(384, 288, &[(20, 20, 60, 100), (300, 150, 340, 230)]),
            0.1,
        );
        assert_eq!(blobs.len(), 1, "{blobs:?}");
        assert!(blobs[0].cx < 100.0);
    }

    #[test]
    fn an_object_left_lying_fades_into_the_background() {
        let mut m = MotionDetector::new(MotionConfig {
            background_time_s: 1.0,
            ..MotionConfig::default()
        });
        m.update(&frame(384, 288, &[]), 0.0);
        let parked = frame(384, 288, &[(100, 100, 140, 140)]);
        assert_eq!(m.update(&parked, 0.1).len(), 1);
        let mut t = 0.1;
        let mut last = 1;
        for _ in 0..400 {
            t += 0.1;
            last = m.update(&parked, t).len();
        }
        assert_eq!(last, 0, "still object should be absorbed after 40 s");
    }

    #[test]
    fn the_ghost_of_someone_present_at_start_fades_within_seconds() {
        let mut m = MotionDetector::new(MotionConfig::default());
        m.update(&frame(384, 288, &[(100, 100, 140, 180)]), 0.0);
        let empty = frame(384, 288, &[]);
        assert_eq!(
            m.update(&empty, 0.1).len(),
            1,
            "the vacated spot differs from the background"
        );
        let mut t = 0.1;
        for _ in 0..150 {
            t += 0.1;
            m.update(&empty, t);
        }
        assert!(
            m.update(&empty, t + 0.1).is_empty(),
            "ghost gone after 15 s"
        );
    }
}
