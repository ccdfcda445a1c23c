//! A cheap appearance cue for telling people apart when their boxes overlap:
//! colour histograms of the torso and of the legs (shirt and trousers),
//! placed by the pose keypoints. Compared with the Bhattacharyya coefficient.

use crate::bbox::BBox;
use crate::pose::Person;
use crate::source::RgbImage;

/// 4 levels per channel: coarse enough to survive lighting changes across a floor.
const BINS: usize = 64;
/// At most this many pixels are sampled per part, whatever the person's size.
const MAX_SAMPLES: f32 = 400.0;

#[derive(Clone, Debug, PartialEq)]
pub struct Appearance {
    torso: [f32; BINS],
    legs: [f32; BINS],
}

impl Appearance {
    /// Describes a detected person in `image`; `None` if too little is visible.
    pub fn describe(image: &RgbImage, p: &Person) -> Option<Appearance> {
        let k = &p.keypoints;
        let b = &p.bbox;
        let part = |ids: [usize; 4], fallback: (f32, f32)| {
            let pts: Vec<_> = ids
                .iter()
                .map(|&i| k[i])
                .filter(|kp| kp.score >= 0.2)
                .collect();
            if pts.len() == 4 {
                let x0 = pts.iter().map(|q| q.x).fold(f32::MAX, f32::min);
                let x1 = pts.iter().map(|q| q.x).fold(f32::MIN, f32::max);
                let y0 = pts.iter().map(|q| q.y).fold(f32::MAX, f32::min);
                let y1 = pts.iter().map(|q| q.y).fold(f32::MIN, f32::max);
                BBox::new(x0, y0, x1, y1)
            } else {
                let (a, z) = fallback;
                BBox::new(
                    b.x0 + b.width() * 0.3,
                    b.y0 + b.height() * a,
                    b.x1 - b.width() * 0.3,
                    b.y0 + b.height() * z,
                )
            }
        };
        // Shoulders to hips; hips to knees.
        let torso = histogram(image, &part([5, 6, 11, 12], (0.2, 0.5)))?;
        let legs = histogram(image, &part([11, 12, 13, 14], (0.55, 0.8)))?;
        Some(Appearance { torso, legs })
    }

    /// Similarity in [0, 1]: 1 for identical colour distributions.
    pub fn similarity(&self, o: &Appearance) -> f32 {
        let bc = |a: &[f32; BINS], b: &[f32; BINS]| {
            a.iter().zip(b).map(|(x, y)| (x * y).sqrt()).sum::<f32>()
        };
        0.5 * (bc(&self.torso, &o.torso) + bc(&self.legs, &o.legs))
    }

    /// The descriptor as numbers: torso histogram, then legs.
    pub fn features(&self) -> Vec<f32> {
        self.torso.iter().chain(&self.legs).copied().collect()
    }

    /// Moves this model towards `o` by `rate` (a running average).
    pub fn blend(&mut self, o: &Appearance, rate: f32) {
        for (a, b) in self
            .torso
            .iter_mut()
            .zip(&o.torso)
            .chain(self.legs.iter_mut().zip(&o.legs))
        {
            *a += rate * (b - *a);
        }
    }
}

/// Normalised RGB histogram of a box, sampled on a grid; `None` if the box is
/// (nearly) empty or outside the image.
fn histogram(image: &RgbImage, b: &BBox) -> Option<[f32; BINS]> {
    let b = b.clamp(image.width as f32 - 1.0, image.height as f32 - 1.0);
    if b.width() < 2.0 || b.height() < 2.0 {
        return None;
    }
    let step = ((b.area() / MAX_SAMPLES).sqrt()).max(1.0);
    let mut h = [0f32; BINS];
    let mut n = 0f32;
    let mut y = b.y0;
    while y <= b.y1 {
        let mut x = b.x0;
        while x <= b.x1 {
            let [r, g, bl] = image.pixel(x as u32, y as u32);
            h[(usize::from(r >> 6) << 4) | (usize::from(g >> 6) << 2) | usize::from(bl >> 6)] +=
                1.0;
            n += 1.0;
            x += step;
        }
        y += step;
    }
    h.iter_mut().for_each(|v| *v /= n);
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::Keypoint;

    fn dressed(shirt: [u8; 3], trousers: [u8; 3]) -> (RgbImage, Person) {
        let mut img = RgbImage::new(100, 200);
        for y in 0..200u32 {
            for x in 0..100u32 {
                let c = if y < 100 { shirt } else { trousers };
                let i = ((y * 100 + x) * 3) as usize;
                img.data[i..i + 3].copy_from_slice(&c);
            }
        }
        let p = Person {
            bbox: BBox::new(10.0, 10.0, 90.0, 190.0),
            score: 0.8,
            keypoints: [Keypoint::default(); 17],
        };
        (img, p)
    }

    #[test]
    fn same_clothes_match_and_different_clothes_do_not() {
        let (img_a, p) = dressed([200, 30, 30], [20, 20, 90]);
        let (img_b, _) = dressed([200, 30, 30], [20, 20, 90]);
        let (img_c, _) = dressed([240, 240, 240], [20, 20, 90]);
        let a = Appearance::describe(&img_a, &p).unwrap();
        let b = Appearance::describe(&img_b, &p).unwrap();
        let c = Appearance::describe(&img_c, &p).unwrap();
        assert!((a.similarity(&b) - 1.0).abs() < 1e-5);
        assert!(a.similarity(&c) < 0.6, "{}", a.similarity(&c));
    }
}
