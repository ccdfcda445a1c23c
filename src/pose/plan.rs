//! Where pose runs in a frame. Motion blobs and the predicted boxes of known
//! people seed regions; overlapping regions merge; when regions would cover
//! most of the frame, one full-frame pass is cheaper than many crops.

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
    /// When regions cover more than this share of the frame, run on the whole
    /// frame instead. Default 0.55.
    pub full_frame_frac: f32,
}

impl Default for PlanConfig {
    fn default() -> Self {
        PlanConfig {
            pad_frac: 0.5,
            min_region_px: 160.0,
            full_frame_frac: 0.55,
        }
    }
}

/// Plans pose regions for a `width × height` frame from seed boxes.
pub fn plan(
    cfg: &PlanConfig,
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
    let covered: f32 = regions.iter().map(BBox::area).sum();
    if covered > cfg.full_frame_frac * w * h {
        return vec![BBox::new(0.0, 0.0, w, h)];
    }
    regions.sort_by(|a, b| a.x0.total_cmp(&b.x0).then(a.y0.total_cmp(&b.y0)));
    regions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_motion_and_no_people_means_no_pose_run() {
        assert!(plan(&PlanConfig::default(), 768, 576, []).is_empty());
    }

    #[test]
    fn a_small_blob_gets_a_padded_region_of_minimum_size() {
        let r = plan(
            &PlanConfig::default(),
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
        let r = plan(&PlanConfig::default(), 768, 576, seeds);
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(r
            .iter()
            .all(|a| r.iter().all(|b| a == b || a.intersection(b) == 0.0)));
    }

    #[test]
    fn regions_covering_most_of_the_frame_become_one_full_frame_pass() {
        let seeds = (0..6).map(|i| {
            let x = 60.0 + 120.0 * i as f32;
            BBox::new(x, 100.0, x + 40.0, 450.0)
        });
        assert_eq!(
            plan(&PlanConfig::default(), 768, 576, seeds),
            vec![BBox::new(0.0, 0.0, 768.0, 576.0)]
        );
    }
}
