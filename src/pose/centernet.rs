//! MoveNet MultiPose's CenterNet decoding, done here instead of in the graph.
//!
//! `models/movenet-multipose-heads.onnx` is the float model with its decoder
//! cut off (`models/cut_movenet.py`). That decoder is ~260 small ONNX
//! operators over an H/4 × W/4 × 6 × 17 tensor, about a fifth of the model's
//! time on one core; this is the same arithmetic in one pass that skips every
//! cell which cannot win. The output rows are the full model's
//! (`tests/pose_parity.rs` holds both to Python onnxruntime's within 1e-4):
//!
//! 1. person centres: peaks of the centre heatmap (equal to their 5×5
//!    neighbourhood's max), the 6 highest (ties: lower index first);
//! 2. each person's box: centre cell + offset ± half the size, clamped to the map;
//! 3. each keypoint: the arg-max, inside the box, of its heatmap weighted by a
//!    Gaussian around the regressed position (centre + regression), with
//!    σ² = 0.15 × the map's short side; then its sub-cell offset; its score is
//!    the best weighted heat of any person at that cell;
//! 4. the person's score: centre score × mean score of the keypoints above 0.127.

/// Keypoints per person.
const K: usize = 17;
/// People the model reports (its output rows).
pub const PEOPLE: usize = 6;
/// Values per output row: 17 × (y, x, score), box (ymin, xmin, ymax, xmax), score.
pub const ROW: usize = 56;
/// The graph's constants (float16 values, as f32): peak tolerance, Gaussian
/// scale, keypoint threshold.
const PEAK_EPS: f32 = 1.013_279e-6;
const SIGMA_SCALE: f32 = 0.300_048_83;
const MIN_KEYPOINT_SCORE: f32 = 0.126_953_13;

/// The heads for one input, each `[1, C, h, w]` row-major; `h`, `w` = input / 4.
pub struct Heads<'a> {
    pub h: usize,
    pub w: usize,
    pub keypoint_heatmap: &'a [f32],
    pub center_heatmap: &'a [f32],
    pub box_size: &'a [f32],
    pub box_offset: &'a [f32],
    pub keypoint_regression: &'a [f32],
    pub keypoint_offset: &'a [f32],
}

/// One person's box in map cells: ymin, xmin, ymax, xmax.
type CellBox = [f32; 4];

impl Heads<'_> {
    fn at(&self, t: &[f32], c: usize, y: usize, x: usize) -> f32 {
        t[(c * self.h + y) * self.w + x]
    }

    /// The 6 highest centre-heatmap peaks as (score, cell index).
    fn centres(&self) -> [(f32, usize); PEOPLE] {
        let (h, w, c) = (self.h, self.w, self.center_heatmap);
        let mut top = [(f32::NEG_INFINITY, usize::MAX); PEOPLE];
        for y in 0..h {
            for x in 0..w {
                let v = c[y * w + x];
                let mut m = f32::NEG_INFINITY;
                for yy in y.saturating_sub(2)..(y + 3).min(h) {
                    for xx in x.saturating_sub(2)..(x + 3).min(w) {
                        m = m.max(c[yy * w + xx]);
                    }
                }
                let s = if (v - m).abs() < PEAK_EPS { v } else { 0.0 };
                // Insert keeping (score desc, index asc): a later cell needs strictly more.
                if s > top[PEOPLE - 1].0 {
                    let mut i = PEOPLE - 1;
                    while i > 0 && s > top[i - 1].0 {
                        top[i] = top[i - 1];
                        i -= 1;
                    }
                    top[i] = (s, y * w + x);
                }
            }
        }
        top
    }

    fn cell_box(&self, y: usize, x: usize) -> CellBox {
        let (hf, wf) = (self.h as f32, self.w as f32);
        let bh = self.at(self.box_size, 0, y, x).max(0.0) * 0.5;
        let bw = self.at(self.box_size, 1, y, x).max(0.0) * 0.5;
        let cy = y as f32 + self.at(self.box_offset, 0, y, x);
        let cx = x as f32 + self.at(self.box_offset, 1, y, x);
        [
            (cy - bh).min(hf).max(0.0),
            (cx - bw).min(wf).max(0.0),
            (cy + bh).min(hf).max(0.0),
            (cx + bw).min(wf).max(0.0),
        ]
    }
}

/// Heat at cell (`y`, `x`) weighted by the Gaussian around a keypoint
/// regressed to (`ky`, `kx`).
#[inline]
fn gaussian(heat: f32, y: usize, x: usize, ky: f32, kx: f32, s: f32) -> f32 {
    let (dy, dx) = (y as f32 - ky, x as f32 - kx);
    heat * (-(dy * dy + dx * dx) / s).exp()
}

/// As [`gaussian`], for a person whose box is `b`: 0 outside it.
fn weighted(heat: f32, y: usize, x: usize, ky: f32, kx: f32, b: &CellBox, s: f32) -> f32 {
    let (yf, xf) = (y as f32, x as f32);
    if xf < b[1] || xf >= b[3] || yf < b[0] || yf >= b[2] {
        return 0.0;
    }
    gaussian(heat, y, x, ky, kx, s)
}

/// Decodes `heads` into the full model's 6 × 56 output rows, replacing `out`.
pub fn decode(heads: &Heads, out: &mut Vec<f32>) {
    let (h, w) = (heads.h, heads.w);
    let (hf, wf) = (h as f32, w as f32);
    let s = (h.min(w) as f32) * SIGMA_SCALE;
    let centres = heads.centres();
    let cells = centres.map(|(_, i)| (i / w, i % w));
    let boxes = cells.map(|(y, x)| heads.cell_box(y, x));
    // Regressed keypoint positions, per person and keypoint.
    let regressed: [[(f32, f32); K]; PEOPLE] = std::array::from_fn(|p| {
        let (y, x) = cells[p];
        std::array::from_fn(|k| {
            (
                y as f32 + heads.at(heads.keypoint_regression, 2 * k, y, x),
                x as f32 + heads.at(heads.keypoint_regression, 2 * k + 1, y, x),
            )
        })
    });
    let (ry, rx) = (4.0 / (4.0 * hf), 4.0 / (4.0 * wf));
    let input = [4.0 * hf, 4.0 * wf, 4.0 * hf, 4.0 * wf];
    out.clear();
    out.resize(PEOPLE * ROW, 0.0);
    for p in 0..PEOPLE {
        let b = &boxes[p];
        // Exactly the cells inside the box: for whole x, x >= xmin && x < xmax
        // is ceil(xmin) <= x < ceil(xmax) (same for y).
        let (y0, y1) = (b[0].ceil() as usize, (b[2].ceil() as usize).min(h));
        let (x0, x1) = (b[1].ceil() as usize, (b[3].ceil() as usize).min(w));
        let row = &mut out[p * ROW..][..ROW];
        let (mut sum, mut count) = (0.0f32, 0u32);
        for k in 0..K {
            let heat = &heads.keypoint_heatmap[k * h * w..][..h * w];
            let (ky, kx) = regressed[p][k];
            // Arg-max over the map: cells outside the box are 0, so if no cell
            // inside beats 0 the answer is cell 0, as ONNX ArgMax gives.
            let (mut best, mut at) = (0.0f32, 0usize);
            for y in y0..y1 {
                for x in x0..x1 {
                    let v = heat[y * w + x];
                    // The weight is at most 1: a cell no hotter than the best cannot win.
                    if v > best {
                        let v = gaussian(v, y, x, ky, kx, s);
                        if v > best {
                            (best, at) = (v, y * w + x);
                        }
                    }
                }
            }
            let (y, x) = (at / w, at % w);
            let score = (0..PEOPLE)
                .map(|q| {
                    let (qy, qx) = regressed[q][k];
                    weighted(heat[at], y, x, qy, qx, &boxes[q], s)
                })
                .fold(0.0f32, f32::max);
            row[3 * k] = (y as f32 + heads.at(heads.keypoint_offset, 2 * k, y, x)) * ry;
            row[3 * k + 1] = (x as f32 + heads.at(heads.keypoint_offset, 2 * k + 1, y, x)) * rx;
            row[3 * k + 2] = score;
            if score > MIN_KEYPOINT_SCORE {
                sum += centres[p].0 * score;
                count += 1;
            }
        }
        for (i, v) in b.iter().enumerate() {
            row[51 + i] = (v * 4.0 / input[i]).clamp(0.0, 1.0);
        }
        row[55] = sum * (1.0 / count.max(1) as f32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Heads of an `h × w` map with one person centred at (`cy`, `cx`) whose
    /// keypoints all regress to (+2, +1) cells and sit there on the heatmaps.
    struct Synthetic {
        h: usize,
        w: usize,
        kh: Vec<f32>,
        ch: Vec<f32>,
        bs: Vec<f32>,
        bo: Vec<f32>,
        kr: Vec<f32>,
        ko: Vec<f32>,
    }

    impl Synthetic {
        fn new(h: usize, w: usize, cy: usize, cx: usize) -> Self {
            let n = h * w;
            let mut s = Synthetic {
                h,
                w,
                kh: vec![0.01; K * n],
                ch: vec![0.01; n],
                bs: vec![0.0; 2 * n],
                bo: vec![0.0; 2 * n],
                kr: vec![0.0; 2 * K * n],
                ko: vec![0.25; 2 * K * n],
            };
            s.ch[cy * w + cx] = 0.9;
            s.bs[cy * w + cx] = 8.0; // height
            s.bs[n + cy * w + cx] = 6.0; // width
            for k in 0..K {
                s.kr[2 * k * n + cy * w + cx] = 2.0;
                s.kr[(2 * k + 1) * n + cy * w + cx] = 1.0;
                s.kh[k * n + (cy + 2) * w + cx + 1] = 0.8;
            }
            s
        }

        fn heads(&self) -> Heads<'_> {
            Heads {
                h: self.h,
                w: self.w,
                keypoint_heatmap: &self.kh,
                center_heatmap: &self.ch,
                box_size: &self.bs,
                box_offset: &self.bo,
                keypoint_regression: &self.kr,
                keypoint_offset: &self.ko,
            }
        }
    }

    #[test]
    fn one_person_decodes_to_its_keypoints_box_and_score() {
        let s = Synthetic::new(16, 12, 6, 5);
        let mut out = Vec::new();
        decode(&s.heads(), &mut out);
        assert_eq!(out.len(), PEOPLE * ROW);
        let row = &out[..ROW];
        let near = |a: f32, b: f32| (a - b).abs() < 1e-6;
        // Keypoint at cell (8, 6) plus the 0.25 offset, normalised by the map.
        assert!(near(row[0], (8.0 + 0.25) / 16.0), "{}", row[0]);
        assert!(near(row[1], (6.0 + 0.25) / 12.0), "{}", row[1]);
        assert!(
            (row[2] - 0.8).abs() < 1e-6,
            "on the regressed cell the weight is 1: {}",
            row[2]
        );
        // Box: centre (6, 5) ± (4, 3) cells.
        let want = [2.0 / 16.0, 2.0 / 12.0, 10.0 / 16.0, 8.0 / 12.0];
        assert!(
            row[51..55].iter().zip(want).all(|(&a, b)| near(a, b)),
            "{:?}",
            &row[51..55]
        );
        assert!((row[55] - 0.9 * 0.8).abs() < 1e-6, "score {}", row[55]);
        // The other rows are background peaks: far weaker.
        assert!(out.chunks_exact(ROW).skip(1).all(|r| r[55] < 0.05));
    }

    #[test]
    fn a_keypoint_outside_the_persons_box_is_not_taken() {
        let mut s = Synthetic::new(16, 12, 6, 5);
        // A hotter nose outside the box (row 13 > ymax 10) and one inside, nearer.
        s.kh[13 * s.w + 6] = 0.99;
        s.kh[9 * s.w + 6] = 0.95;
        s.kh[8 * s.w + 6] = 0.0;
        let mut out = Vec::new();
        decode(&s.heads(), &mut out);
        assert!(
            (out[0] - (9.0 + 0.25) / 16.0).abs() < 1e-6,
            "the in-box cell wins: {}",
            out[0]
        );
    }

    #[test]
    fn lower_peaks_are_ranked_after_higher_ones_and_non_peaks_are_dropped() {
        let mut s = Synthetic::new(16, 12, 6, 5);
        s.ch[2 * s.w + 2] = 0.5; // a second, weaker person
        s.ch[6 * s.w + 6] = 0.85; // next to the first: not a peak
        let heads = s.heads();
        let top = heads.centres();
        assert_eq!(top[0], (0.9, 6 * 12 + 5));
        assert_eq!(top[1], (0.5, 2 * 12 + 2));
        assert!(top[2].0 <= 0.01 + 1e-6, "{top:?}");
    }
}
