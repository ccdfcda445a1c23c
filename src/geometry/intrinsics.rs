//! Camera intrinsics from several views of a flat checkerboard: Zhang's
//! closed form from the per-view homographies, then Levenberg–Marquardt on
//! the reprojection error over fx, fy, cx, cy, k1, k2, p1, p2, k3 and every
//! view's pose — OpenCV's default `calibrateCamera` model (no skew).

// Dense linear algebra on small matrices reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

use super::pnp::{decompose, homography, smallest_eigenvector};
use super::{project_point, rodrigues, rodrigues_inverse, Extrinsics, Intrinsics, Vec3};

/// One photo of the board: its corners in board coordinates (z = 0, any
/// unit) and where they are in the image (px), in the same order.
#[derive(Clone, Debug)]
pub struct BoardView {
    pub board: Vec<(f64, f64)>,
    pub pixels: Vec<(f64, f64)>,
}

/// The fitted intrinsics and how well they explain every view.
#[derive(Clone, Debug)]
pub struct IntrinsicsFit {
    pub intrinsics: Intrinsics,
    /// Board → camera pose of each view (translation in board units).
    pub poses: Vec<Extrinsics>,
    /// RMS reprojection error over all corners of all views, px (what
    /// OpenCV's `calibrateCamera` returns).
    pub rms_px: f64,
    /// RMS reprojection error of each view, px.
    pub view_rms_px: Vec<f64>,
}

/// Board corner coordinates, row-major like the corners from
/// [`super::checkerboard::find_corners`]: x along a row, y down the columns.
pub fn board_points(cols: usize, rows: usize, square: f64) -> Vec<(f64, f64)> {
    (0..rows)
        .flat_map(|r| (0..cols).map(move |c| (c as f64 * square, r as f64 * square)))
        .collect()
}

/// Estimates the intrinsics from at least 3 views; `image_size` (px) seeds
/// the principal point when the closed form is ill-conditioned.
pub fn calibrate(views: &[BoardView], image_size: (u32, u32)) -> Result<IntrinsicsFit, String> {
    if views.len() < 3 {
        return Err(format!(
            "{} views of the board; at least 3 are needed (10 to 20 at different angles is better)",
            views.len()
        ));
    }
    for (i, v) in views.iter().enumerate() {
        if v.board.len() != v.pixels.len() || v.board.len() < 4 {
            return Err(format!(
                "view {} has {} board points and {} pixels",
                i + 1,
                v.board.len(),
                v.pixels.len()
            ));
        }
    }
    let hs = views
        .iter()
        .enumerate()
        .map(|(i, v)| {
            homography(&v.board, &v.pixels)
                .ok_or_else(|| format!("view {}: the corners do not fit a homography", i + 1))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (w, h) = (f64::from(image_size.0), f64::from(image_size.1));
    let k = zhang(&hs, (w / 2.0, h / 2.0), false)
        .or_else(|| zhang(&hs, (w / 2.0, h / 2.0), true))
        .ok_or(
            "the views do not determine a focal length: tilt the board differently between photos",
        )?;
    let intr0 = Intrinsics {
        fx: k[0],
        fy: k[1],
        cx: k[2],
        cy: k[3],
        distortion: [0.0; 5],
    };
    let mut p = vec![k[0], k[1], k[2], k[3], 0.0, 0.0, 0.0, 0.0, 0.0];
    for hm in &hs {
        // K⁻¹ H is the board → normalised-image homography that `decompose` takes.
        let m: [[f64; 3]; 3] = std::array::from_fn(|r| {
            std::array::from_fn(|c| match r {
                0 => (hm[0][c] - intr0.cx * hm[2][c]) / intr0.fx,
                1 => (hm[1][c] - intr0.cy * hm[2][c]) / intr0.fy,
                _ => hm[2][c],
            })
        });
        let (r, t) = decompose(&m);
        p.extend(rodrigues_inverse(&r));
        p.extend(t);
    }
    let p = refine(views, p);
    let intrinsics = intrinsics_of(&p);
    let mut sum = 0.0;
    let mut count = 0usize;
    let mut view_rms_px = Vec::with_capacity(views.len());
    let mut poses = Vec::with_capacity(views.len());
    for (i, v) in views.iter().enumerate() {
        let pose = &p[9 + 6 * i..15 + 6 * i];
        let r = residuals(&intrinsics, v, pose);
        let s: f64 = r.iter().map(|e| e * e).sum();
        view_rms_px.push((s / v.board.len() as f64).sqrt());
        sum += s;
        count += v.board.len();
        poses.push(Extrinsics {
            rotation: [pose[0], pose[1], pose[2]],
            translation: [pose[3], pose[4], pose[5]],
        });
    }
    let rms_px = (sum / count as f64).sqrt();
    if !rms_px.is_finite() {
        return Err("the fit diverged; check that every image shows the same board".into());
    }
    Ok(IntrinsicsFit {
        intrinsics,
        poses,
        rms_px,
        view_rms_px,
    })
}

/// Zhang's closed form with zero skew: each homography gives two linear
/// constraints on B = K⁻ᵀK⁻¹. Pixels are first normalised around `centre`
/// for conditioning. With `fixed_centre` the principal point is held at
/// `centre` (OpenCV's own initialisation), which needs fewer, less varied views.
fn zhang(hs: &[[[f64; 3]; 3]], centre: (f64, f64), fixed_centre: bool) -> Option<[f64; 4]> {
    let s = 1.0 / (centre.0 + centre.1);
    let n = if fixed_centre { 3 } else { 5 };
    let mut ata = vec![vec![0.0; n]; n];
    for hm in hs {
        // N·H with N = [[s, 0, -s·cx], [0, s, -s·cy], [0, 0, 1]].
        let col = |j: usize| {
            [
                s * (hm[0][j] - centre.0 * hm[2][j]),
                s * (hm[1][j] - centre.1 * hm[2][j]),
                hm[2][j],
            ]
        };
        let (h1, h2) = (col(0), col(1));
        // v_ij over (B11, B22, B13, B23, B33); B12 = 0 (no skew).
        let v = |a: [f64; 3], b: [f64; 3]| {
            [
                a[0] * b[0],
                a[1] * b[1],
                a[2] * b[0] + a[0] * b[2],
                a[2] * b[1] + a[1] * b[2],
                a[2] * b[2],
            ]
        };
        let (v12, v11, v22) = (v(h1, h2), v(h1, h1), v(h2, h2));
        let diff: [f64; 5] = std::array::from_fn(|k| v11[k] - v22[k]);
        for row in [v12, diff] {
            // Fixed centre: B13 = B23 = 0, unknowns (B11, B22, B33).
            let row: Vec<f64> = if fixed_centre {
                vec![row[0], row[1], row[4]]
            } else {
                row.to_vec()
            };
            for i in 0..n {
                for j in 0..n {
                    ata[i][j] += row[i] * row[j];
                }
            }
        }
    }
    let b = smallest_eigenvector(ata)?;
    let (b11, b22, b13, b23, b33) = if fixed_centre {
        (b[0], b[1], 0.0, 0.0, b[2])
    } else {
        (b[0], b[1], b[2], b[3], b[4])
    };
    let v0 = -b23 / b22;
    let lambda = b33 - (b13 * b13 - v0 * b11 * b23) / b11;
    let (a2, b2) = (lambda / b11, lambda / b22);
    if !(a2 > 0.0 && b2 > 0.0) {
        return None;
    }
    let (alpha, beta) = (a2.sqrt(), b2.sqrt());
    let u0 = -b13 * a2 / lambda;
    // Undo the normalisation: K = N⁻¹ K'.
    let k = [alpha / s, beta / s, u0 / s + centre.0, v0 / s + centre.1];
    k.iter().all(|x| x.is_finite()).then_some(k)
}

fn intrinsics_of(p: &[f64]) -> Intrinsics {
    Intrinsics {
        fx: p[0],
        fy: p[1],
        cx: p[2],
        cy: p[3],
        distortion: [p[4], p[5], p[6], p[7], p[8]],
    }
}

/// Pixel residuals (projected − observed) of one view, two per corner.
fn residuals(intr: &Intrinsics, v: &BoardView, pose: &[f64]) -> Vec<f64> {
    let r = rodrigues([pose[0], pose[1], pose[2]]);
    let t: Vec3 = [pose[3], pose[4], pose[5]];
    v.board
        .iter()
        .zip(&v.pixels)
        .flat_map(
            |(b, px)| match project_point(intr, &r, t, [b.0, b.1, 0.0]) {
                Some((u, w)) => [u - px.0, w - px.1],
                // Behind the camera: a large, smooth-ish penalty steers LM away.
                None => [1e4, 1e4],
            },
        )
        .collect()
}

/// Levenberg–Marquardt (Marquardt's diagonal scaling) over the 9 intrinsic
/// parameters and 6 per view, with central-difference Jacobians; each view's
/// residuals depend only on the intrinsics and its own pose, so the Jacobian
/// is built a view at a time.
fn refine(views: &[BoardView], mut p: Vec<f64>) -> Vec<f64> {
    let n = p.len();
    let cost = |p: &[f64]| -> f64 {
        let intr = intrinsics_of(p);
        views
            .iter()
            .enumerate()
            .map(|(i, v)| {
                residuals(&intr, v, &p[9 + 6 * i..15 + 6 * i])
                    .iter()
                    .map(|e| e * e)
                    .sum::<f64>()
            })
            .sum()
    };
    let mut current = cost(&p);
    let mut lambda = 1e-3;
    for _ in 0..500 {
        let mut jtj = vec![0.0; n * n];
        let mut jtr = vec![0.0; n];
        for (i, v) in views.iter().enumerate() {
            let cols: Vec<usize> = (0..9).chain(9 + 6 * i..15 + 6 * i).collect();
            let view_res = |q: &[f64]| residuals(&intrinsics_of(q), v, &q[9 + 6 * i..15 + 6 * i]);
            let r0 = view_res(&p);
            let jac: Vec<Vec<f64>> = cols
                .iter()
                .map(|&k| {
                    let step = 1e-6 * p[k].abs().max(if k < 9 { 1e-2 } else { 1.0 });
                    let (mut hi, mut lo) = (p.clone(), p.clone());
                    hi[k] += step;
                    lo[k] -= step;
                    let (rh, rl) = (view_res(&hi), view_res(&lo));
                    rh.iter()
                        .zip(&rl)
                        .map(|(a, b)| (a - b) / (2.0 * step))
                        .collect()
                })
                .collect();
            for (a, &ka) in cols.iter().enumerate() {
                jtr[ka] += jac[a].iter().zip(&r0).map(|(j, r)| j * r).sum::<f64>();
                for (b, &kb) in cols.iter().enumerate().skip(a) {
                    let s: f64 = jac[a].iter().zip(&jac[b]).map(|(x, y)| x * y).sum();
                    jtj[ka * n + kb] += s;
                    if a != b {
                        jtj[kb * n + ka] += s;
                    }
                }
            }
        }
        let mut improved = false;
        while lambda < 1e12 {
            let mut a = jtj.clone();
            for k in 0..n {
                a[k * n + k] += lambda * jtj[k * n + k].max(1e-12);
            }
            let Some(delta) = solve_spd(a, n, &jtr) else {
                lambda *= 10.0;
                continue;
            };
            let next: Vec<f64> = p.iter().zip(&delta).map(|(x, d)| x - d).collect();
            let c = cost(&next);
            if c.is_finite() && c < current {
                let gain = (current - c) / current.max(1e-300);
                p = next;
                current = c;
                lambda = (lambda / 10.0).max(1e-12);
                improved = gain > 1e-15;
                break;
            }
            lambda *= 10.0;
        }
        if !improved {
            break;
        }
    }
    p
}

/// Solves A x = b for symmetric positive definite A (row-major n×n) by Cholesky.
fn solve_spd(mut a: Vec<f64>, n: usize, b: &[f64]) -> Option<Vec<f64>> {
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        if d.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return None;
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / d;
        }
    }
    let mut y = b.to_vec();
    for i in 0..n {
        for k in 0..i {
            y[i] -= a[i * n + k] * y[k];
        }
        y[i] /= a[i * n + i];
    }
    for i in (0..n).rev() {
        for k in i + 1..n {
            y[i] -= a[k * n + i] * y[k];
        }
        y[i] /= a[i * n + i];
    }
    Some(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 9x6 board of 25 mm squares seen from poses around the image, through
    /// a lens with real barrel distortion and slightly off-centre axis.
    fn synthetic(truth: &Intrinsics) -> Vec<BoardView> {
        let board = board_points(9, 6, 25.0);
        let poses: [(Vec3, Vec3); 8] = [
            ([0.1, -0.2, 0.05], [-100.0, -60.0, 500.0]),
            ([-0.4, 0.1, 0.1], [-120.0, -80.0, 450.0]),
            ([0.3, 0.4, -0.1], [-60.0, -70.0, 550.0]),
            ([0.5, -0.3, 0.2], [-150.0, -40.0, 480.0]),
            ([-0.2, -0.5, 1.5], [20.0, -120.0, 420.0]),
            ([0.6, 0.2, -0.3], [-100.0, -20.0, 600.0]),
            ([-0.5, 0.5, 0.0], [-30.0, -90.0, 380.0]),
            ([0.0, 0.6, 3.0], [80.0, 60.0, 520.0]),
        ];
        poses
            .iter()
            .map(|(rv, t)| {
                let r = rodrigues(*rv);
                let pixels = board
                    .iter()
                    .map(|b| project_point(truth, &r, *t, [b.0, b.1, 0.0]).unwrap())
                    .collect();
                BoardView {
                    board: board.clone(),
                    pixels,
                }
            })
            .collect()
    }

    #[test]
    fn exact_board_views_give_back_the_true_intrinsics() {
        let truth = Intrinsics {
            fx: 812.5,
            fy: 806.25,
            cx: 655.0,
            cy: 352.0,
            distortion: [-0.21, 0.08, 0.0012, -0.0007, -0.015],
        };
        let fit = calibrate(&synthetic(&truth), (1280, 720)).unwrap();
        let i = &fit.intrinsics;
        for (got, want) in [
            (i.fx, truth.fx),
            (i.fy, truth.fy),
            (i.cx, truth.cx),
            (i.cy, truth.cy),
        ] {
            assert!(((got - want) / want).abs() < 1e-6, "{got} vs {want}: {i:?}");
        }
        for (got, want) in i.distortion.iter().zip(truth.distortion) {
            assert!((got - want).abs() < 1e-5, "{:?}", i.distortion);
        }
        assert!(fit.rms_px < 1e-6, "{}", fit.rms_px);
    }

    #[test]
    fn zhang_closed_form_recovers_a_distortion_free_camera() {
        let truth = Intrinsics {
            fx: 900.0,
            fy: 880.0,
            cx: 630.0,
            cy: 370.0,
            distortion: [0.0; 5],
        };
        let views = synthetic(&truth);
        let hs: Vec<_> = views
            .iter()
            .map(|v| homography(&v.board, &v.pixels).unwrap())
            .collect();
        let k = zhang(&hs, (640.0, 360.0), false).unwrap();
        for (got, want) in k.iter().zip([900.0, 880.0, 630.0, 370.0]) {
            assert!((got - want).abs() < 1e-3, "{k:?}");
        }
    }

    #[test]
    fn two_views_are_refused_with_the_reason() {
        let truth = Intrinsics {
            fx: 800.0,
            fy: 800.0,
            cx: 640.0,
            cy: 360.0,
            distortion: [0.0; 5],
        };
        let views = synthetic(&truth);
        let err = calibrate(&views[..2], (1280, 720)).unwrap_err();
        assert!(err.contains("at least 3"), "{err}");
    }
}
