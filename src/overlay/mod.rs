//! Drawing what the program saw onto frames: skeletons, person boxes with track
//! ids, motion blobs, object trajectories and a status line.

use crate::bbox::BBox;
use crate::motion::Blob;
use crate::pose::{Person, SKELETON};
use crate::source::RgbImage;
use crate::track::{ObjectTrack, PersonTrack};
use font8x8::UnicodeFonts;

pub type Rgb = [u8; 3];

/// A distinct, stable colour per track id.
pub fn id_colour(id: u64) -> Rgb {
    const PALETTE: [Rgb; 10] = [
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
        [210, 245, 60],
        [250, 190, 190],
    ];
    PALETTE[(id % PALETTE.len() as u64) as usize]
}

#[inline]
fn put(img: &mut RgbImage, x: i32, y: i32, c: Rgb) {
    if x >= 0 && y >= 0 && (x as u32) < img.width && (y as u32) < img.height {
        let i = (y as usize * img.width as usize + x as usize) * 3;
        img.data[i..i + 3].copy_from_slice(&c);
    }
}

/// A line `thickness` pixels wide (Bresenham with a square brush).
pub fn line(
    img: &mut RgbImage,
    (x0, y0): (f32, f32),
    (x1, y1): (f32, f32),
    thickness: i32,
    c: Rgb,
) {
    let (mut x, mut y) = (x0.round() as i32, y0.round() as i32);
    let (xe, ye) = (x1.round() as i32, y1.round() as i32);
    let (dx, dy) = ((xe - x).abs(), -(ye - y).abs());
    let (sx, sy) = (if x < xe { 1 } else { -1 }, if y < ye { 1 } else { -1 });
    let mut err = dx + dy;
    let r = thickness / 2;
    // Bounded: a line never has more steps than its Manhattan length.
    for _ in 0..=(dx - dy) {
        for oy in -r..=r {
            for ox in -r..=r {
                put(img, x + ox, y + oy, c);
            }
        }
        if x == xe && y == ye {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x += sx;
        }
        if e2 <= dx {
            err += dx;
            y += sy;
        }
    }
}

pub fn rect(img: &mut RgbImage, b: &BBox, thickness: i32, c: Rgb) {
    line(img, (b.x0, b.y0), (b.x1, b.y0), thickness, c);
    line(img, (b.x1, b.y0), (b.x1, b.y1), thickness, c);
    line(img, (b.x1, b.y1), (b.x0, b.y1), thickness, c);
    line(img, (b.x0, b.y1), (b.x0, b.y0), thickness, c);
}

pub fn dot(img: &mut RgbImage, x: f32, y: f32, r: i32, c: Rgb) {
    let (cx, cy) = (x.round() as i32, y.round() as i32);
    for oy in -r..=r {
        for ox in -r..=r {
            if ox * ox + oy * oy <= r * r {
                put(img, cx + ox, cy + oy, c);
            }
        }
    }
}

/// A circle outline of radius `r`.
pub fn ring(img: &mut RgbImage, x: f32, y: f32, r: i32, c: Rgb) {
    let steps = (r * 8).max(16);
    for i in 0..steps {
        let a = i as f32 / steps as f32 * std::f32::consts::TAU;
        put(
            img,
            (x + r as f32 * a.cos()).round() as i32,
            (y + r as f32 * a.sin()).round() as i32,
            c,
        );
    }
}

/// Text in the 8×8 bitmap font, on a dark box so it reads on any background.
pub fn text(img: &mut RgbImage, x: i32, y: i32, scale: i32, s: &str, c: Rgb) {
    let w = 8 * scale * s.chars().count() as i32;
    for yy in y - 1..y + 8 * scale + 1 {
        for xx in x - 1..x + w + 1 {
            put(img, xx, yy, [0, 0, 0]);
        }
    }
    for (n, ch) in s.chars().enumerate() {
        let glyph = font8x8::BASIC_FONTS.get(ch).unwrap_or([0; 8]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) != 0 {
                    for sy in 0..scale {
                        for sx in 0..scale {
                            put(
                                img,
                                x + (n as i32 * 8 + col) * scale + sx,
                                y + row as i32 * scale + sy,
                                c,
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Skeleton of one person: bones between confident keypoints, then joints.
pub fn skeleton(img: &mut RgbImage, p: &Person, min_score: f32, c: Rgb) {
    let k = &p.keypoints;
    for &(a, b) in &SKELETON {
        if k[a].score >= min_score && k[b].score >= min_score {
            line(img, (k[a].x, k[a].y), (k[b].x, k[b].y), 2, c);
        }
    }
    for kp in k.iter().filter(|kp| kp.score >= min_score) {
        dot(img, kp.x, kp.y, 2, [255, 255, 255]);
    }
}

/// Everything the analyzer knows about one frame, drawn onto it.
pub fn draw_frame(
    img: &mut RgbImage,
    blobs: &[Blob],
    people: &[PersonTrack],
    objects: &[ObjectTrack],
    regions: &[BBox],
    status: &str,
) {
    for r in regions {
        rect(img, r, 1, [90, 90, 90]);
    }
    for b in blobs {
        rect(img, &b.bbox, 1, [255, 160, 0]);
    }
    for o in objects {
        let pts: Vec<(f32, f32)> = o.trajectory.iter().map(|p| (p.x, p.y)).collect();
        for w in pts.windows(2) {
            line(img, w[0], w[1], 1, [0, 255, 255]);
        }
    }
    for t in people.iter().filter(|t| t.id != 0 && t.visible) {
        let c = id_colour(t.id);
        skeleton(img, &t.person, 0.2, c);
        rect(img, &t.person.bbox, 2, c);
        text(
            img,
            t.person.bbox.x0 as i32,
            t.person.bbox.y0 as i32 - 10,
            1,
            &format!("#{}", t.id),
            c,
        );
    }
    text(img, 6, 6, 2, status, [255, 255, 255]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_text_stay_inside_the_image() {
        let mut img = RgbImage::new(32, 16);
        line(&mut img, (-10.0, -10.0), (50.0, 30.0), 3, [255, 0, 0]);
        text(&mut img, 28, 12, 2, "#12", [0, 255, 0]);
        assert!(img.data.chunks_exact(3).any(|p| p == [255, 0, 0]));
    }

    #[test]
    fn a_diagonal_line_touches_both_ends() {
        let mut img = RgbImage::new(20, 20);
        line(&mut img, (2.0, 3.0), (15.0, 17.0), 1, [9, 9, 9]);
        assert_eq!(img.pixel(2, 3), [9, 9, 9]);
        assert_eq!(img.pixel(15, 17), [9, 9, 9]);
    }
}
