//! MoveNet MultiPose Lightning (ONNX, variable input size): one session owner,
//! preallocated input buffer, timed pre-process / inference / post-process.
//! The model either decodes in its graph (`output_0`, the converted model,
//! int32 NHWC pixels in) or is cut at both ends (`models/cut_movenet.py`): it
//! takes the normalised float32 NCHW input written here and ends at its heads,
//! which [`centernet`] decodes to the same rows.

use super::centernet::{self, Heads};
use super::{runtime, suppress_duplicates, Keypoint, Person, PoseEstimator, PoseTimings};
use crate::bbox::BBox;
use crate::error::{Error, ErrorKind, Result};
use crate::source::RgbImage;
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Model output rows: up to 6 people, 56 values each.
pub const MAX_PEOPLE: usize = centernet::PEOPLE;
const ROW: usize = centernet::ROW;

/// The converted graph's input normalisation, which the cut model leaves to us:
/// `pixel * INPUT_SCALE - 1`, computed in this order in float32 as the graph
/// does (1/127.5 rounded to float16; `models/cut_movenet.py` checks the graph).
const INPUT_SCALE: f32 = f32::from_bits(0x3C00_8000);

/// The outputs of a model cut at its heads (`models/cut_movenet.py`).
const HEAD_OUTPUTS: [&str; 6] = [
    "keypoint_heatmap",
    "center_heatmap",
    "box_size",
    "box_offset",
    "keypoint_regression",
    "keypoint_offset",
];

/// Pose model settings (`[pose]` in the config).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MoveNetConfig {
    /// Path of the ONNX file: MoveNet MultiPose with its decoding in the graph
    /// (`models/movenet-multipose.onnx`) or cut at its input normalisation and
    /// its heads, both done here to the same output about a quarter faster on
    /// one core. Default
    /// `models/movenet-multipose-heads.onnx`.
    pub model: PathBuf,
    /// ONNX Runtime intra-op threads per session. Default 2.
    pub threads: usize,
    /// Pose sessions a node (`sortwatch run`, `demo`) runs side by side for
    /// its cameras, each with `threads` threads. Small inputs use two threads
    /// poorly: on 2 cores `workers = 2, threads = 1` carries more cameras
    /// (README, "Capacity"). Default 1.
    pub workers: usize,
    /// People scoring below this are dropped. Default 0.2.
    pub min_person_score: f32,
    /// Regions whose 6 output slots all hold people scoring at least
    /// `split_score` are split and run again, at most this many times deep,
    /// so crowds are not capped at 6. Default 2.
    pub max_split_depth: u32,
    /// See `max_split_depth`. MoveNet fills spare slots with weak guesses
    /// (0.2 is common on busy frames), so "full" needs real people. Default 0.35.
    pub split_score: f32,
    /// Longest side of the model input, in pixels: larger regions (and the
    /// full-frame pass) are scaled down to it. Inference time grows with input
    /// pixels, and the plan then prefers person crops to the full frame. 256
    /// (MoveNet's training size) is the capacity setting (README, "Capacity"):
    /// about 4× less inference on the simulated suite, but small, far people
    /// lose pixels (the real sample's walkers keep their ids less well).
    /// Default 0: regions at native scale.
    pub max_input_px: f32,
}

impl Default for MoveNetConfig {
    fn default() -> Self {
        MoveNetConfig {
            model: PathBuf::from("models/movenet-multipose-heads.onnx"),
            threads: 2,
            workers: 1,
            min_person_score: 0.2,
            max_split_depth: 2,
            split_score: 0.35,
            max_input_px: 0.0,
        }
    }
}

/// The model's raw output for one input, and how that input maps to the frame.
#[derive(Clone, Debug)]
pub struct RawOutput {
    pub values: Vec<f32>,
    pub input_w: usize,
    pub input_h: usize,
}

pub struct MoveNet {
    session: Session,
    /// Whether the model is cut (normalised planar input, heads decoded by
    /// [`centernet`]).
    heads: bool,
    cfg: MoveNetConfig,
    input: InputTensor,
    /// The cut model's input, reused between calls.
    planar: Vec<f32>,
    timings: PoseTimings,
}

/// The model's int32 NHWC input, reused between calls (no per-frame allocation
/// once it has grown to the largest input seen).
#[derive(Default)]
pub struct InputTensor {
    pub data: Vec<i32>,
    pub width: usize,
    pub height: usize,
    // Bilinear resampling table per output column: x0, x1, 8-bit weight of x1.
    xs: Vec<(u32, u32, u16)>,
}

impl InputTensor {
    /// Resamples `region` of `image` at `scale` (bilinear), top-left aligned
    /// and zero-padded to multiples of 32.
    pub fn fill(&mut self, image: &RgbImage, region: &BBox, scale: f32) {
        let rw = (region.width() * scale).round().max(1.0) as usize;
        let rh = (region.height() * scale).round().max(1.0) as usize;
        let iw = rw.div_ceil(32) * 32;
        let ih = rh.div_ceil(32) * 32;
        (self.width, self.height) = (iw, ih);
        self.data.clear();
        self.data.resize(iw * ih * 3, 0);
        let (w, h) = (image.width as usize, image.height as usize);
        let (x0, y0) = (region.x0 as usize, region.y0 as usize);
        if scale == 1.0
            && region.x0.fract() == 0.0
            && region.y0.fract() == 0.0
            && x0 + rw <= w
            && y0 + rh <= h
        {
            // Native scale on whole pixels (the full-frame pass): a plain copy.
            for oy in 0..rh {
                let src = &image.data[((y0 + oy) * w + x0) * 3..][..rw * 3];
                let dst = &mut self.data[oy * iw * 3..][..rw * 3];
                dst.iter_mut()
                    .zip(src)
                    .for_each(|(d, &s)| *d = i32::from(s));
            }
            return;
        }
        self.xs.clear();
        self.xs.extend((0..rw).map(|ox| {
            let sx = (region.x0 + (ox as f32 + 0.5) / scale - 0.5).clamp(0.0, (w - 1) as f32);
            let x0 = sx.floor() as u32;
            let x1 = (x0 + 1).min(w as u32 - 1);
            (x0, x1, ((sx - x0 as f32) * 256.0) as u16)
        }));
        let stride = w * 3;
        for oy in 0..rh {
            let sy = (region.y0 + (oy as f32 + 0.5) / scale - 0.5).clamp(0.0, (h - 1) as f32);
            let y0 = sy.floor() as usize;
            let y1 = (y0 + 1).min(h - 1);
            let wy = ((sy - y0 as f32) * 256.0) as i32;
            let (r0, r1) = (
                &image.data[y0 * stride..][..stride],
                &image.data[y1 * stride..][..stride],
            );
            let out = &mut self.data[oy * iw * 3..][..rw * 3];
            for (o, &(x0, x1, wx)) in out.chunks_exact_mut(3).zip(&self.xs) {
                let (a, b) = (x0 as usize * 3, x1 as usize * 3);
                let wx = i32::from(wx);
                for c in 0..3 {
                    let top = i32::from(r0[a + c]) * (256 - wx) + i32::from(r0[b + c]) * wx;
                    let bot = i32::from(r1[a + c]) * (256 - wx) + i32::from(r1[b + c]) * wx;
                    o[c] = (top * (256 - wy) + bot * wy + (1 << 15)) >> 16;
                }
            }
        }
    }

    /// The same input as the cut model takes it: float32 NCHW, each value
    /// `pixel * INPUT_SCALE - 1` (padding too, as zero pixels).
    pub fn normalised_planar(&self, out: &mut Vec<f32>) {
        let n = self.width * self.height;
        out.clear();
        out.resize(3 * n, 0.0);
        let (r, gb) = out.split_at_mut(n);
        let (g, b) = gb.split_at_mut(n);
        let norm = |v: i32| v as f32 * INPUT_SCALE - 1.0;
        for (((px, r), g), b) in self.data[..3 * n].chunks_exact(3).zip(r).zip(g).zip(b) {
            (*r, *g, *b) = (norm(px[0]), norm(px[1]), norm(px[2]));
        }
    }

    /// Copies an image that already has the model's input size.
    pub fn set_rgb(&mut self, rgb: &[u8], width: usize, height: usize) {
        (self.width, self.height) = (width, height);
        self.data.clear();
        self.data.extend(rgb.iter().map(|&v| i32::from(v)));
    }
}

impl MoveNet {
    pub fn load(cfg: MoveNetConfig) -> Result<Self> {
        let mut cfg = cfg;
        // The default relative path also resolves against the checkout the
        // binary was built from, so `sortwatch` works from any directory.
        let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).join(&cfg.model);
        if !cfg.model.is_file() && cfg.model.is_relative() && built_in.is_file() {
            cfg.model = built_in;
        }
        let path = &cfg.model;
        if !path.is_file() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "pose model {} not found; run from the project root, set [pose] model in the config, or rebuild it with models/convert_movenet.sh",
                    path.display()
                ),
            ));
        }
        let env = runtime::environment()?;
        let load_err = |e: ort::Error| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("pose model {}: ONNX Runtime cannot load it: {e} (the file is damaged; rebuild it with models/convert_movenet.sh)", path.display()),
            )
        };
        let session = Session::builder(env)
            .map_err(load_err)?
            .with_intra_threads(cfg.threads.max(1))
            .map_err(|e| load_err(e.into()))?
            .commit_from_file(path)
            .map_err(load_err)?;
        let heads = check_signature(&session, path)?;
        let mut net = MoveNet {
            session,
            heads,
            cfg,
            input: InputTensor::default(),
            planar: Vec::new(),
            timings: PoseTimings::default(),
        };
        // Warm-up: the first run allocates and plans; keep it out of timings.
        net.input.set_rgb(&[0; 256 * 256 * 3], 256, 256);
        net.infer().map_err(|e| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("pose model {}: {e}", net.cfg.model.display()),
            )
        })?;
        net.timings = PoseTimings::default();
        Ok(net)
    }

    pub fn config(&self) -> &MoveNetConfig {
        &self.cfg
    }

    /// Runs the model on an RGB input that is already `input_h × input_w`
    /// (multiples of 32). Used by parity tests against the reference runtime.
    pub fn run_raw(&mut self, rgb: &[u8], input_w: usize, input_h: usize) -> Result<RawOutput> {
        self.input.set_rgb(rgb, input_w, input_h);
        self.infer()
    }

    /// Runs the model on a prepared input tensor.
    pub fn run_input(&mut self, input: &InputTensor) -> Result<RawOutput> {
        run_session(
            &mut self.session,
            self.heads,
            input,
            &mut self.planar,
            &mut self.timings,
        )
    }

    fn infer(&mut self) -> Result<RawOutput> {
        run_session(
            &mut self.session,
            self.heads,
            &self.input,
            &mut self.planar,
            &mut self.timings,
        )
    }

    /// Runs one region at `scale` and returns people in frame pixels, plus
    /// whether all output slots were full (so the region may hold more).
    fn run_region(
        &mut self,
        image: &RgbImage,
        region: &BBox,
        scale: f32,
    ) -> Result<(Vec<Person>, bool)> {
        let t0 = Instant::now();
        self.input.fill(image, region, scale);
        self.timings.preprocess += t0.elapsed();
        let raw = self.infer()?;
        let t0 = Instant::now();
        let people = decode(&raw, region, scale, self.cfg.min_person_score);
        let full = people
            .iter()
            .filter(|p| p.score >= self.cfg.split_score)
            .count()
            == MAX_PEOPLE;
        self.timings.postprocess += t0.elapsed();
        Ok((people, full))
    }

    fn run_split(
        &mut self,
        image: &RgbImage,
        region: &BBox,
        scale: f32,
        depth: u32,
        out: &mut Vec<Person>,
    ) -> Result<()> {
        let (people, full) = self.run_region(image, region, scale)?;
        out.extend(people);
        if full && depth < self.cfg.max_split_depth {
            // Six slots full: the region may hold more people. Split it along its
            // long side with overlap, so nobody on the seam is lost.
            for half in split(region) {
                self.run_split(image, &half, scale, depth + 1, out)?;
            }
        }
        Ok(())
    }
}

fn run_session(
    session: &mut Session,
    heads: bool,
    input: &InputTensor,
    planar: &mut Vec<f32>,
    timings: &mut PoseTimings,
) -> Result<RawOutput> {
    let (w, h) = (input.width, input.height);
    let err = |e: ort::Error| {
        Error::new(
            ErrorKind::Runtime,
            format!("pose inference on a {w}x{h} input failed: {e}"),
        )
    };
    let tensor = if heads {
        let t = Instant::now();
        input.normalised_planar(planar);
        timings.preprocess += t.elapsed();
        TensorRef::from_array_view(([1usize, 3, h, w], &planar[..]))
            .map_err(err)?
            .into_dyn()
    } else {
        let pixels = TensorRef::from_array_view(([1usize, h, w, 3], &input.data[..w * h * 3]));
        pixels.map_err(err)?.into_dyn()
    };
    let t0 = Instant::now();
    let outputs = session.run(ort::inputs!["input" => tensor]).map_err(err)?;
    let mut values = Vec::new();
    if heads {
        let t1 = Instant::now();
        timings.inference += t1 - t0;
        let head = |name: &str| {
            let (_, data) = outputs[name].try_extract_tensor::<f32>().map_err(err)?;
            Ok::<_, Error>(data)
        };
        let heads = Heads {
            h: h / 4,
            w: w / 4,
            keypoint_heatmap: head(HEAD_OUTPUTS[0])?,
            center_heatmap: head(HEAD_OUTPUTS[1])?,
            box_size: head(HEAD_OUTPUTS[2])?,
            box_offset: head(HEAD_OUTPUTS[3])?,
            keypoint_regression: head(HEAD_OUTPUTS[4])?,
            keypoint_offset: head(HEAD_OUTPUTS[5])?,
        };
        centernet::decode(&heads, &mut values);
        timings.postprocess += t1.elapsed();
    } else {
        let (_, data) = outputs["output_0"]
            .try_extract_tensor::<f32>()
            .map_err(err)?;
        values = data.to_vec();
        timings.inference += t0.elapsed();
    }
    timings.inferences += 1;
    timings.input_pixels += (w * h) as u64;
    Ok(RawOutput {
        values,
        input_w: w,
        input_h: h,
    })
}

/// Splits a box in two along its longer side, with 20% overlap.
fn split(b: &BBox) -> [BBox; 2] {
    if b.width() >= b.height() {
        let m = b.x0 + b.width() * 0.5;
        let o = b.width() * 0.1;
        [
            BBox::new(b.x0, b.y0, m + o, b.y1),
            BBox::new(m - o, b.y0, b.x1, b.y1),
        ]
    } else {
        let m = b.y0 + b.height() * 0.5;
        let o = b.height() * 0.1;
        [
            BBox::new(b.x0, b.y0, b.x1, m + o),
            BBox::new(b.x0, m - o, b.x1, b.y1),
        ]
    }
}

/// Turns raw output rows into people in frame pixels. The input held `region`
/// resampled by `scale`, top-left aligned; coordinates are normalised to the input.
pub fn decode(raw: &RawOutput, region: &BBox, scale: f32, min_score: f32) -> Vec<Person> {
    let (iw, ih) = (raw.input_w as f32, raw.input_h as f32);
    let to_frame = |nx: f32, ny: f32| (region.x0 + nx * iw / scale, region.y0 + ny * ih / scale);
    raw.values
        .chunks_exact(ROW)
        .filter(|row| row[55] >= min_score)
        .map(|row| {
            let keypoints = std::array::from_fn(|k| {
                let (x, y) = to_frame(row[3 * k + 1], row[3 * k]);
                Keypoint {
                    x,
                    y,
                    score: row[3 * k + 2],
                }
            });
            let (x0, y0) = to_frame(row[52], row[51]);
            let (x1, y1) = to_frame(row[54], row[53]);
            Person {
                bbox: BBox::new(x0, y0, x1, y1),
                score: row[55],
                keypoints,
            }
        })
        .collect()
}

/// Whether the model is cut (float32 input, heads out), else it is the
/// converted model (int32 pixels in, decoded rows out).
fn check_signature(session: &Session, path: &Path) -> Result<bool> {
    let input = session
        .inputs()
        .iter()
        .find(|i| i.name() == "input")
        .and_then(|i| i.dtype().tensor_type());
    let has_out = |name: &str| session.outputs().iter().any(|o| o.name() == name);
    if input == Some(TensorElementType::Int32) && has_out("output_0") {
        return Ok(false);
    }
    if input == Some(TensorElementType::Float32) && HEAD_OUTPUTS.iter().all(|n| has_out(n)) {
        return Ok(true);
    }
    Err(Error::invalid(format!(
        "pose model {} is not MoveNet MultiPose (expected an int32 input `input` and output `output_0`, or a float32 input `input` and the heads {HEAD_OUTPUTS:?}); rebuild it with models/convert_movenet.sh",
        path.display()
    )))
}

impl PoseEstimator for MoveNet {
    fn estimate(&mut self, image: &RgbImage, regions: &[BBox]) -> Result<Vec<Person>> {
        let mut people = Vec::new();
        for r in regions {
            self.run_split(
                image,
                r,
                super::plan::input_scale(r, self.cfg.max_input_px),
                0,
                &mut people,
            )?;
        }
        let t0 = Instant::now();
        let kept = suppress_duplicates(people, 0.5);
        self.timings.postprocess += t0.elapsed();
        Ok(kept)
    }

    fn timings(&self) -> PoseTimings {
        self.timings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_maps_normalised_coordinates_back_through_crop_and_scale() {
        let mut values = vec![0.0f32; MAX_PEOPLE * ROW];
        // Person 0: nose at normalised (y=0.5, x=0.25), box (0.1,0.2)-(0.9,0.6), score 0.9.
        values[0] = 0.5;
        values[1] = 0.25;
        values[2] = 0.8;
        values[51..56].copy_from_slice(&[0.1, 0.2, 0.9, 0.6, 0.9]);
        let raw = RawOutput {
            values,
            input_w: 256,
            input_h: 128,
        };
        let region = BBox::new(100.0, 50.0, 228.0, 114.0);
        let people = decode(&raw, &region, 2.0, 0.2);
        assert_eq!(
            people.len(),
            1,
            "rows under the score threshold are dropped"
        );
        let nose = people[0].keypoints[0];
        assert_eq!(
            (nose.x, nose.y),
            (100.0 + 0.25 * 256.0 / 2.0, 50.0 + 0.5 * 128.0 / 2.0)
        );
        assert_eq!(
            people[0].bbox,
            BBox::new(
                100.0 + 0.2 * 128.0,
                50.0 + 0.1 * 64.0,
                100.0 + 0.6 * 128.0,
                50.0 + 0.9 * 64.0
            )
        );
    }

    #[test]
    fn native_scale_input_is_an_exact_copy_padded_with_zeros() {
        let mut img = RgbImage::new(70, 50);
        img.data
            .iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = (i * 7 % 251) as u8);
        let region = BBox::new(3.0, 2.0, 63.0, 32.0);
        let mut t = InputTensor::default();
        t.fill(&img, &region, 1.0);
        assert_eq!((t.width, t.height), (64, 32));
        for y in 0..32u32 {
            for x in 0..64u32 {
                let got = &t.data[((y * 64 + x) * 3) as usize..][..3];
                let want = if x < 60 && y < 30 {
                    img.pixel(3 + x, 2 + y).map(i32::from)
                } else {
                    [0; 3]
                };
                assert!(got == want, "input pixel ({x},{y}): {got:?} != {want:?}");
            }
        }
    }

    #[test]
    fn the_cut_models_input_is_planar_and_normalised_as_the_graph_did() {
        let mut t = InputTensor::default();
        // 32x32 of (r, g, b) = (0, 255, x + y), as fill leaves it.
        t.set_rgb(
            &(0..32 * 32)
                .flat_map(|i| [0, 255, (i % 32 + i / 32) as u8])
                .collect::<Vec<_>>(),
            32,
            32,
        );
        let mut planar = Vec::new();
        t.normalised_planar(&mut planar);
        assert_eq!(planar.len(), 3 * 32 * 32);
        let (r, g, b) = (&planar[..1024], &planar[1024..2048], &planar[2048..]);
        assert!(
            r.iter().all(|&v| v == -1.0),
            "a zero pixel (and padding) is -1"
        );
        // The graph's float16 1/127.5 is a little small: 255 lands just below 1.
        assert!(g
            .iter()
            .all(|&v| v == 255.0 * INPUT_SCALE - 1.0 && (v - 1.0).abs() < 1e-3));
        assert_eq!(b[33], 2.0 * INPUT_SCALE - 1.0, "row 1, column 1");
        assert!(
            (INPUT_SCALE - 1.0 / 127.5).abs() < 2e-6,
            "1/127.5 in float16"
        );
    }

    #[test]
    fn split_halves_overlap_and_cover_the_region() {
        let [a, b] = split(&BBox::new(0.0, 0.0, 100.0, 40.0));
        assert_eq!(a.x0, 0.0);
        assert_eq!(b.x1, 100.0);
        assert!(a.x1 > b.x0, "halves overlap");
    }
}
