//! What a stored clip frame shows: every head blurred (privacy), then the
//! violation burned in — the worker's skeleton, the parcel's path, the
//! measurement, local time and camera.

use crate::bbox::BBox;
use crate::overlay;
use crate::pose::Person;
use crate::rules::{Violation, ViolationKind};
use crate::source::RgbImage;

const MIN_SCORE: f32 = 0.2;
const RED: overlay::Rgb = [255, 40, 40];
const YELLOW: overlay::Rgb = [255, 220, 0];
const WHITE: overlay::Rgb = [255, 255, 255];

/// Where a person's head is, from the face keypoints (nose, eyes, ears),
/// else the top of the box above the shoulders.
pub fn head_box(p: &Person) -> Option<BBox> {
    let k = &p.keypoints;
    let h = p.bbox.height().max(1.0);
    let face: Vec<(f32, f32)> = k[..5]
        .iter()
        .filter(|kp| kp.score >= MIN_SCORE)
        .map(|kp| (kp.x, kp.y))
        .collect();
    if !face.is_empty() {
        let (cx, cy) = mean(&face);
        let spread = face
            .iter()
            .map(|(x, y)| (x - cx).abs().max((y - cy).abs()))
            .fold(0.0f32, f32::max);
        // A head is about an eighth of a standing body; pad generously for
        // hair, chin and keypoints a few pixels off (privacy errs wide).
        let r = (spread * 2.0).max(0.13 * h);
        return Some(BBox::new(cx - r, cy - 1.3 * r, cx + r, cy + r));
    }
    let shoulders: Vec<(f32, f32)> = k[5..7]
        .iter()
        .filter(|kp| kp.score >= MIN_SCORE)
        .map(|kp| (kp.x, kp.y))
        .collect();
    let b = &p.bbox;
    let (cx, bottom) = if shoulders.is_empty() {
        ((b.x0 + b.x1) / 2.0, b.y0 + 0.2 * h)
    } else {
        mean(&shoulders)
    };
    let r = 0.1 * h;
    let top = b.y0.min(bottom - 2.0 * r);
    (bottom > top).then(|| BBox::new(cx - r * 1.2, top, cx + r * 1.2, bottom))
}

fn mean(pts: &[(f32, f32)]) -> (f32, f32) {
    let n = pts.len() as f32;
    let (sx, sy) = pts.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    (sx / n, sy / n)
}

/// Blurs every person's head.
pub fn blur_heads<'a>(img: &mut RgbImage, people: impl IntoIterator<Item = &'a Person>) {
    for p in people {
        if let Some(b) = head_box(p) {
            blur(img, &b);
        }
    }
}

/// A strong blur inside `b`: coarse pixelation (blocks of a fifth of the
/// region, so a face is at most 5×5 blocks) then a box blur over the block
/// edges. Pixels outside `b` are untouched.
pub fn blur(img: &mut RgbImage, b: &BBox) {
    let x0 = b.x0.floor().max(0.0) as usize;
    let y0 = b.y0.floor().max(0.0) as usize;
    let x1 = (b.x1.ceil().max(0.0) as usize).min(img.width as usize);
    let y1 = (b.y1.ceil().max(0.0) as usize).min(img.height as usize);
    if x1 <= x0 || y1 <= y0 {
        return;
    }
    let block = ((x1 - x0).max(y1 - y0) / 5).max(4);
    pixelate(img, (x0, y0, x1, y1), block);
    for _ in 0..2 {
        box_blur(img, (x0, y0, x1, y1), block / 2);
    }
}

type Rect = (usize, usize, usize, usize);

fn pixelate(img: &mut RgbImage, (x0, y0, x1, y1): Rect, block: usize) {
    let w = img.width as usize;
    for by in (y0..y1).step_by(block) {
        for bx in (x0..x1).step_by(block) {
            let (ex, ey) = ((bx + block).min(x1), (by + block).min(y1));
            let mut sum = [0u32; 3];
            for y in by..ey {
                for x in bx..ex {
                    let i = (y * w + x) * 3;
                    for (s, v) in sum.iter_mut().zip(&img.data[i..i + 3]) {
                        *s += u32::from(*v);
                    }
                }
            }
            let n = ((ex - bx) * (ey - by)) as u32;
            let avg = sum.map(|s| (s / n) as u8);
            for y in by..ey {
                for x in bx..ex {
                    let i = (y * w + x) * 3;
                    img.data[i..i + 3].copy_from_slice(&avg);
                }
            }
        }
    }
}

/// Box blur of radius `r` inside the rectangle, rows then columns, reading
/// only pixels inside it.
fn box_blur(img: &mut RgbImage, (x0, y0, x1, y1): Rect, r: usize) {
    if r == 0 {
        return;
    }
    let w = img.width as usize;
    let mut line: Vec<[u8; 3]> = Vec::new();
    let mut pass = |len: usize, at: &dyn Fn(usize, usize) -> usize, lines: usize| {
        for l in 0..lines {
            line.clear();
            line.extend((0..len).map(|i| {
                let p = at(l, i);
                [img.data[p], img.data[p + 1], img.data[p + 2]]
            }));
            for i in 0..len {
                let (a, b) = (i.saturating_sub(r), (i + r + 1).min(len));
                let mut sum = [0u32; 3];
                for px in &line[a..b] {
                    for (s, v) in sum.iter_mut().zip(px) {
                        *s += u32::from(*v);
                    }
                }
                let n = (b - a) as u32;
                let p = at(l, i);
                for (d, s) in img.data[p..p + 3].iter_mut().zip(sum) {
                    *d = (s / n) as u8;
                }
            }
        }
    };
    pass(x1 - x0, &|l, i| ((y0 + l) * w + x0 + i) * 3, y1 - y0);
    pass(y1 - y0, &|l, i| ((y0 + i) * w + x0 + l) * 3, x1 - x0);
}

/// The measurement line, e.g. "THROW: dropped 72 cm, thrown 140 cm".
pub fn caption(v: &Violation) -> String {
    let cm = |v: Option<f64>| v.map_or("?".to_string(), |v| format!("{v:.0}"));
    match v.kind {
        ViolationKind::Throw => format!(
            "THROW: dropped {} cm, thrown {} cm",
            cm(v.drop_height_cm),
            cm(v.throw_distance_cm)
        ),
        ViolationKind::Kick => format!("KICK: parcel moved {} cm", cm(v.kick_distance_cm)),
    }
}

/// The burned-in overlay of one clip frame.
pub struct Overlay<'a> {
    /// The worker who threw or kicked, when seen near this frame.
    pub person: Option<&'a Person>,
    /// The parcel's image path up to this frame.
    pub trajectory: &'a [(f32, f32)],
    pub caption: &'a str,
    /// Local time and camera id, e.g. "2026-11-24 00:01:42.480  cam-03".
    pub stamp: &'a str,
}

/// Draws the overlay (after [`blur_heads`], so the skeleton stays sharp).
pub fn draw(img: &mut RgbImage, o: &Overlay<'_>) {
    for w in o.trajectory.windows(2) {
        overlay::line(img, w[0], w[1], 3, YELLOW);
    }
    if let Some(&(x, y)) = o.trajectory.last() {
        overlay::ring(img, x, y, 8, YELLOW);
    }
    if let Some(p) = o.person {
        overlay::skeleton(img, p, MIN_SCORE, RED);
        overlay::rect(img, &p.bbox, 2, RED);
    }
    overlay::text(img, 8, 8, 2, o.caption, RED);
    let y = img.height as i32 - 8 - 16;
    overlay::text(img, 8, y, 2, o.stamp, WHITE);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::Keypoint;

    /// A 1-px checkerboard: as much detail as an image can have.
    fn checkerboard(w: u32, h: u32) -> RgbImage {
        let mut img = RgbImage::new(w, h);
        for (i, p) in img.data.chunks_exact_mut(3).enumerate() {
            let (x, y) = (i as u32 % w, i as u32 / w);
            let v = if (x + y) % 2 == 0 { 250 } else { 5 };
            p.copy_from_slice(&[v, v, v]);
        }
        img
    }

    fn variance(img: &RgbImage, b: (u32, u32, u32, u32)) -> f64 {
        let vals: Vec<f64> = (b.1..b.3)
            .flat_map(|y| (b.0..b.2).map(move |x| (x, y)))
            .map(|(x, y)| f64::from(img.pixel(x, y)[0]))
            .collect();
        let m = vals.iter().sum::<f64>() / vals.len() as f64;
        vals.iter().map(|v| (v - m).powi(2)).sum::<f64>() / vals.len() as f64
    }

    fn person_with_face(nose: (f32, f32)) -> Person {
        let mut keypoints = [Keypoint::default(); 17];
        let at = |x: f32, y: f32| Keypoint { x, y, score: 0.9 };
        keypoints[0] = at(nose.0, nose.1);
        keypoints[1] = at(nose.0 - 4.0, nose.1 - 3.0);
        keypoints[2] = at(nose.0 + 4.0, nose.1 - 3.0);
        keypoints[5] = at(nose.0 - 15.0, nose.1 + 25.0);
        keypoints[6] = at(nose.0 + 15.0, nose.1 + 25.0);
        Person {
            bbox: BBox::new(nose.0 - 25.0, nose.1 - 15.0, nose.0 + 25.0, nose.1 + 185.0),
            score: 0.9,
            keypoints,
        }
    }

    #[test]
    fn a_blurred_head_loses_its_detail_and_nothing_outside_it_changes() {
        let before = checkerboard(200, 240);
        let mut img = before.clone();
        let p = person_with_face((100.0, 40.0));
        let head = head_box(&p).unwrap();
        assert!(head.x0 < 96.0 && head.x1 > 104.0 && head.y0 < 37.0 && head.y1 > 40.0);
        blur_heads(&mut img, [&p]);
        let inner = (
            head.x0.ceil() as u32 + 2,
            head.y0.ceil() as u32 + 2,
            head.x1.floor() as u32 - 2,
            head.y1.floor() as u32 - 2,
        );
        let (v0, v1) = (variance(&before, inner), variance(&img, inner));
        assert!(v1 < v0 * 0.02, "variance {v0:.0} -> {v1:.1}");
        for y in 0..240 {
            for x in 0..200 {
                let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
                let inside = fx >= head.x0.floor()
                    && fx < head.x1.ceil()
                    && fy >= head.y0.floor()
                    && fy < head.y1.ceil();
                if !inside {
                    assert_eq!(img.pixel(x, y), before.pixel(x, y), "({x}, {y})");
                }
            }
        }
    }

    #[test]
    fn without_face_keypoints_the_head_is_above_the_shoulders() {
        let mut p = person_with_face((100.0, 40.0));
        for k in &mut p.keypoints[..5] {
            k.score = 0.0;
        }
        let head = head_box(&p).unwrap();
        assert!(head.y1 <= 65.0 + 1e-3 && head.y0 <= 25.0, "{head:?}");
        assert!(head.x0 < 100.0 && head.x1 > 100.0);
    }

    #[test]
    fn captions_carry_the_measurements() {
        let v = Violation {
            kind: ViolationKind::Throw,
            t_start_s: 1.0,
            t_end_s: 1.5,
            person_id: 1,
            parcel_id: 2,
            zone: None,
            drop_height_cm: Some(72.4),
            throw_distance_cm: Some(140.2),
            kick_distance_cm: None,
            limit_drop_cm: Some(50.0),
            limit_throw_cm: Some(50.0),
            person_box: BBox::default(),
            parcel_box_start: BBox::default(),
            parcel_box_end: BBox::default(),
            confidence: 0.9,
        };
        assert_eq!(caption(&v), "THROW: dropped 72 cm, thrown 140 cm");
        let kick = Violation {
            kind: ViolationKind::Kick,
            kick_distance_cm: Some(85.0),
            ..v
        };
        assert_eq!(caption(&kick), "KICK: parcel moved 85 cm");
    }
}
