//! Rasterising the moving things: shaded capsules (limbs), the head, and
//! parcel faces, drawn far to near over the background with a depth test
//! against it so the belt and carts hide what is behind them.

/// Something drawn in one go, with the camera depth used for ordering.
pub(crate) enum Prim {
    Capsule {
        a: [f64; 2],
        b: [f64; 2],
        ra: f64,
        rb: f64,
        colour: [f32; 3],
    },
    Head {
        c: [f64; 2],
        r: f64,
        skin: [f32; 3],
        /// Face direction and head-up in camera coordinates.
        face: [f64; 3],
        up: [f64; 3],
        eyes: Option<[[f64; 2]; 2]>,
    },
    Quad {
        pts: [[f64; 2]; 4],
        colour: [f32; 3],
        /// Depth for the background test (the box's nearest corner), which
        /// differs from the sort depth (its centre).
        near: f32,
    },
}

pub(crate) struct Canvas<'a> {
    pub rgb: &'a mut [u8],
    pub bg_depth: &'a [f32],
    /// Who drew each pixel last (0 = background): decides keypoint visibility.
    pub owner: &'a mut [u16],
    pub tag: u16,
    pub w: usize,
    pub h: usize,
}

/// How far (cm) in front of the background a drawn thing may be and still
/// show: feet touch the floor they stand on.
const DEPTH_SLACK: f32 = 18.0;

impl Canvas<'_> {
    fn bounds(&self, x0: f64, y0: f64, x1: f64, y1: f64) -> Option<(usize, usize, usize, usize)> {
        let xa = x0.floor().max(0.0) as usize;
        let ya = y0.floor().max(0.0) as usize;
        let xb = (x1.ceil() as i64).min(self.w as i64 - 1);
        let yb = (y1.ceil() as i64).min(self.h as i64 - 1);
        (xb >= xa as i64 && yb >= ya as i64 && x1 >= 0.0 && y1 >= 0.0).then_some((
            xa,
            ya,
            xb as usize,
            yb as usize,
        ))
    }

    #[inline]
    fn put(&mut self, x: usize, y: usize, c: [f32; 3], cover: f32, depth: f32) {
        let i = y * self.w + x;
        if depth > self.bg_depth[i] + DEPTH_SLACK {
            return;
        }
        if cover >= 0.5 {
            self.owner[i] = self.tag;
        }
        let j = i * 3;
        for (dst, src) in self.rgb[j..j + 3].iter_mut().zip(c) {
            let old = f32::from(*dst);
            *dst = (old + (src - old) * cover).clamp(0.0, 255.0) as u8;
        }
    }

    pub fn draw(&mut self, prim: &Prim, depth: f32) {
        match prim {
            Prim::Capsule {
                a,
                b,
                ra,
                rb,
                colour,
            } => self.capsule(*a, *b, *ra, *rb, *colour, depth),
            Prim::Head {
                c,
                r,
                skin,
                face,
                up,
                eyes,
            } => self.head(*c, *r, *skin, *face, *up, *eyes, depth),
            Prim::Quad { pts, colour, near } => self.quad(pts, *colour, *near),
        }
    }

    fn capsule(&mut self, a: [f64; 2], b: [f64; 2], ra: f64, rb: f64, col: [f32; 3], depth: f32) {
        let r = ra.max(rb) + 1.0;
        let Some((xa, ya, xb, yb)) = self.bounds(
            a[0].min(b[0]) - r,
            a[1].min(b[1]) - r,
            a[0].max(b[0]) + r,
            a[1].max(b[1]) + r,
        ) else {
            return;
        };
        let ab = [b[0] - a[0], b[1] - a[1]];
        let l2 = (ab[0] * ab[0] + ab[1] * ab[1]).max(1e-9);
        for y in ya..=yb {
            for x in xa..=xb {
                let p = [x as f64 - a[0], y as f64 - a[1]];
                let t = ((p[0] * ab[0] + p[1] * ab[1]) / l2).clamp(0.0, 1.0);
                let (dx, dy) = (p[0] - ab[0] * t, p[1] - ab[1] * t);
                let d = (dx * dx + dy * dy).sqrt();
                let rr = ra + (rb - ra) * t;
                let cover = (rr - d + 0.5).clamp(0.0, 1.0) as f32;
                if cover <= 0.0 {
                    continue;
                }
                // Cylinder shading: bright down the middle, darker at the rims.
                let k = (d / rr.max(0.5)).min(1.0);
                let shade = (0.58 + 0.42 * (1.0 - k * k).sqrt()) as f32;
                self.put(x, y, col.map(|v| v * shade), cover, depth);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn head(
        &mut self,
        c: [f64; 2],
        r: f64,
        skin: [f32; 3],
        face: [f64; 3],
        up: [f64; 3],
        eyes: Option<[[f64; 2]; 2]>,
        depth: f32,
    ) {
        let Some((xa, ya, xb, yb)) = self.bounds(
            c[0] - r - 1.0,
            c[1] - r - 1.0,
            c[0] + r + 1.0,
            c[1] + r + 1.0,
        ) else {
            return;
        };
        let hair = [38.0f32, 30.0, 24.0];
        for y in ya..=yb {
            for x in xa..=xb {
                let (nx, ny) = ((x as f64 - c[0]) / r, (y as f64 - c[1]) / r);
                let d2 = nx * nx + ny * ny;
                let cover = ((1.0 - d2.sqrt()) * r + 0.5).clamp(0.0, 1.0) as f32;
                if cover <= 0.0 {
                    continue;
                }
                let nz = -(1.0 - d2.min(1.0)).sqrt();
                let n = [nx, ny, nz];
                let fd = n[0] * face[0] + n[1] * face[1] + n[2] * face[2];
                let ud = n[0] * up[0] + n[1] * up[1] + n[2] * up[2];
                let base = if fd < -0.3 || ud > 0.45 - 0.25 * fd.max(0.0) {
                    hair
                } else {
                    skin
                };
                let shade = (0.6 + 0.4 * (-nz)) as f32;
                self.put(x, y, base.map(|v| v * shade), cover, depth);
            }
        }
        if let Some(eyes) = eyes {
            let er = (r * 0.14).max(0.8);
            for e in eyes {
                self.capsule(e, e, er, er, [45.0, 35.0, 30.0], depth - 1.0);
            }
        }
    }

    fn quad(&mut self, pts: &[[f64; 2]; 4], col: [f32; 3], depth: f32) {
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for p in pts {
            x0 = x0.min(p[0]);
            y0 = y0.min(p[1]);
            x1 = x1.max(p[0]);
            y1 = y1.max(p[1]);
        }
        let Some((xa, ya, xb, yb)) = self.bounds(x0, y0, x1, y1) else {
            return;
        };
        // Signed area gives the winding, so the inside test works either way round.
        let area: f64 = (0..4)
            .map(|i| {
                let (p, q) = (pts[i], pts[(i + 1) % 4]);
                p[0] * q[1] - q[0] * p[1]
            })
            .sum();
        let sgn = if area >= 0.0 { 1.0 } else { -1.0 };
        for y in ya..=yb {
            for x in xa..=xb {
                let (px, py) = (x as f64, y as f64);
                let mut inside = f64::MAX;
                for i in 0..4 {
                    let (p, q) = (pts[i], pts[(i + 1) % 4]);
                    let (ex, ey) = (q[0] - p[0], q[1] - p[1]);
                    let len = (ex * ex + ey * ey).sqrt().max(1e-9);
                    let e = sgn * (ex * (py - p[1]) - ey * (px - p[0])) / len;
                    inside = inside.min(e);
                }
                let cover = (inside + 0.5).clamp(0.0, 1.0) as f32;
                if cover > 0.0 {
                    self.put(x, y, col, cover, depth);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capsule_fills_its_middle_and_is_hidden_behind_nearer_background() {
        let (w, h) = (40, 20);
        let mut rgb = vec![0u8; w * h * 3];
        let mut depth = vec![1000.0f32; w * h];
        // The right half of the image is a near surface (e.g. the belt).
        for y in 0..h {
            for x in 20..w {
                depth[y * w + x] = 100.0;
            }
        }
        let mut owner = vec![0u16; w * h];
        let mut c = Canvas {
            rgb: &mut rgb,
            bg_depth: &depth,
            owner: &mut owner,
            tag: 1,
            w,
            h,
        };
        c.draw(
            &Prim::Capsule {
                a: [5.0, 10.0],
                b: [35.0, 10.0],
                ra: 4.0,
                rb: 4.0,
                colour: [200.0, 200.0, 200.0],
            },
            500.0,
        );
        let px = |x: usize, y: usize| rgb[(y * w + x) * 3];
        assert!(px(10, 10) > 100, "drawn in front of the far floor");
        assert_eq!((owner[10 * w + 10], owner[10 * w + 30]), (1, 0));
        assert_eq!(px(30, 10), 0, "hidden behind the near surface");
        assert_eq!(px(10, 2), 0, "nothing outside the radius");
    }
}
