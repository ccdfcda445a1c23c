//! Where pose runs in a frame. Motion blobs and the predicted boxes of known
//! people seed regions; overlapping regions merge; when the crops would cost
//! more model time than one full-frame pass, the full frame runs instead.
//! Inference time grows with input pixels (measured: 256x256 ≈ 21 ms,
//! 576x768 ≈ 140 ms on 2 cores), so cost is counted in input pixels.

use crate::bbox::BBox;
use serde::Deserialize;

/// Regions whose long side is below this are upsampled (up to 2×) so small
/// people get enough pixels in the model input.
pub const MIN_INPUT_PX: f32 = 256.0;

/// Region planning settings (`[pose.regions]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlanConfig {
    /// Context added around each seed, as a fraction of its size. Default 0.5.
    pub pad_frac: f32,
    /// Smallest region side in frame pixels. Default 160.
    pub min_region_px: f32,
    /// Fixed cost of one inference, in equivalent input pixels: crops win over
    /// one full-frame pass only when their pixels plus this per crop are
    /// fewer. Default 4096.
    pub inference_overhead_px: f32,
    /// At least this often, in seconds, pose runs on the whole frame whatever
    /// motion says, to find people who make little or no motion (standing
    /// still, small and far away). 0 turns it off. Default 0.5.
    pub discovery_interval_s: f32,
}

impl Default for PlanConfig {
    fn default() -> Self {
        PlanConfig {
            pad_frac: 0.5,
            min_region_px: 160.0,
            inference_overhead_px: 4096.0,
            discovery_interval_s: 0.5,
        }
    }
}

/// Scale at which a region is fed to the model: native, up to 2× for small
/// regions so small people get enough pixels, and down to `max_input_px` on
/// the long side (0: no cap).
pub fn input_scale(b: &BBox, max_input_px: f32) -> f32 {
    let long = b.width().max(b.height()).max(1.0);
    let scale = (MIN_INPUT_PX / long).clamp(1.0, 2.0);
    if max_input_px > 0.0 {
        scale.min(max_input_px / long)
    } else {
        scale
    }
}

/// Model input pixels for a region at `scale` (sides padded to multiples of 32).
pub fn input_pixels(b: &BBox, scale: f32) -> f32 {
    let side = |v: f32| ((v * scale).round().max(1.0) / 32.0).ceil() * 32.0;
    side(b.width()) * side(b.height())
}

/// Plans pose regions for a `width × height` frame from seed boxes; the
/// model input's long side is capped at `max_input_px` (`[pose]`, 0: none).
pub fn plan(
    cfg: &PlanConfig,
    max_input_px: f32,
    width: u32,
    height: u32,
    seeds: impl IntoIterator<Item = BBox>,
) -> Vec<BBox> {
    let (w, h) = (width as f32, height as f32);
    let mut regions: Vec<BBox> = seeds
        .into_iter()
        .filter(|b| b.area() > 0.0)
        .map(|b| {
            let dx = (b.width() * cfg.pad_frac).max((cfg.min_region_px - b.width()) * 0.5);
            let dy = (b.height() * cfg.pad_frac).max((cfg.min_region_px - b.height()) * 0.5);
            b.expand(dx, dy).clamp(w, h)
        })
        .collect();
    // Merge until no two regions overlap: a person on a seam is then whole in one.
    let mut merged = true;
    while merged {
        merged = false;
        'outer: for i in 0..regions.len() {
            for j in i + 1..regions.len() {
                if regions[i].intersection(&regions[j]) > 0.0 {
                    regions[i] = regions[i].union(&regions[j]);
                    regions.swap_remove(j);
                    merged = true;
                    break 'outer;
                }
            }
        }
    }
    let full = BBox::new(0.0, 0.0, w, h);
    // Crops are costed at the scale the model gets them, the full frame at
    // native scale: a cap on the input makes crops cheaper, and a capped full
    // frame is no substitute for them (its people get too few pixels).
    let cost =
        |b: &BBox, cap: f32| cfg.inference_overhead_px + input_pixels(b, input_scale(b, cap));
    let crops: f32 = regions.iter().map(|b| cost(b, max_input_px)).sum();
    if !regions.is_empty() && crops >= cost(&full, 0.0) {
        return vec![full];
    }
    regions.sort_by(|a, b| a.x0.total_cmp(&b.x0).then(a.y0.total_cmp(&b.y0)));
    regions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_motion_and_no_people_means_no_pose_run() {
        assert!(plan(&PlanConfig::default(), 0.0, 768, 576, []).is_empty());
    }

    #[test]
    fn a_small_blob_gets_a_padded_region_of_minimum_size() {
        let r = plan(
            &PlanConfig::default(),
            0.0,
            768,
            576,
            [BBox::new(400.0, 300.0, 420.0, 340.0)],
        );
        assert_eq!(r.len(), 1);
        assert!(
            r[0].width() >= 160.0 && r[0].height() >= 160.0,
            "{:?}",
            r[0]
        );
        assert!(r[0].x0 <= 400.0 && r[0].x1 >= 420.0);
    }

    #[test]
    fn overlapping_regions_merge_and_distant_ones_stay_apart() {
        let seeds = [
            BBox::new(100.0, 100.0, 130.0, 180.0),
            BBox::new(140.0, 110.0, 170.0, 190.0),
            BBox::new(650.0, 400.0, 680.0, 480.0),
        ];
        let r = plan(&PlanConfig::default(), 0.0, 768, 576, seeds);
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(r
            .iter()
            .all(|a| r.iter().all(|b| a == b || a.intersection(b) == 0.0)));
    }

    #[test]
    fn crops_costing_more_than_the_whole_frame_become_one_full_frame_pass() {
        let seeds = (0..6).map(|i| {
            let x = 60.0 + 120.0 * i as f32;
            BBox::new(x, 100.0, x + 40.0, 450.0)
        });
        assert_eq!(
            plan(&PlanConfig::default(), 0.0, 768, 576, seeds),
            vec![BBox::new(0.0, 0.0, 768.0, 576.0)]
        );
    }

    #[test]
    fn one_small_person_in_a_large_frame_is_a_cheap_crop() {
        let r = plan(
            &PlanConfig::default(),
            0.0,
            1920,
            1080,
            [BBox::new(900.0, 500.0, 940.0, 600.0)],
        );
        assert_eq!(r.len(), 1);
        assert!(r[0].width() < 400.0, "{:?}", r[0]);
        assert!(input_pixels(&r[0], input_scale(&r[0], 0.0)) < 1920.0 * 1080.0 / 8.0);
    }

    #[test]
    fn the_input_cap_scales_large_regions_down_and_leaves_small_ones_upscaled() {
        let full = BBox::new(0.0, 0.0, 768.0, 576.0);
        assert_eq!(input_scale(&full, 0.0), 1.0);
        assert_eq!(input_scale(&full, 256.0), 256.0 / 768.0);
        assert_eq!(
            input_pixels(&full, input_scale(&full, 256.0)),
            256.0 * 192.0
        );
        let small = BBox::new(0.0, 0.0, 64.0, 160.0);
        assert_eq!(input_scale(&small, 256.0), 1.6);
    }

    #[test]
    fn with_the_cap_three_workers_get_person_crops_where_native_scale_runs_the_full_frame() {
        // Padded, the three tall workers span the frame's width without touching.
        let seeds = [
            BBox::new(10.0, 100.0, 150.0, 480.0),
            BBox::new(300.0, 100.0, 440.0, 480.0),
            BBox::new(600.0, 100.0, 740.0, 480.0),
        ];
        let full = BBox::new(0.0, 0.0, 768.0, 576.0);
        assert_eq!(
            plan(&PlanConfig::default(), 0.0, 768, 576, seeds),
            vec![full]
        );
        let capped = plan(&PlanConfig::default(), 256.0, 768, 576, seeds);
        assert_eq!(capped.len(), 3, "{capped:?}");
        assert!(capped.iter().all(|r| r.width() < 300.0), "{capped:?}");
    }
}
