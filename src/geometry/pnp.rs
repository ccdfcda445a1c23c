//! Camera pose from floor markers (planar PnP): markers measured on the floor
//! in cm and clicked in a frame give the extrinsics. A homography gives the
//! first estimate, Levenberg–Marquardt on the reprojection error refines it,
//! the way OpenCV's `solvePnP` (SOLVEPNP_ITERATIVE) does for planar targets.

// Dense linear algebra on small fixed matrices reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

use super::{project_point, rodrigues, rodrigues_inverse, Extrinsics, Intrinsics, Vec3};

/// One floor marker: where it is on the floor and where it is in the image.
#[derive(Clone, Copy, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Marker {
    /// Floor position (x, y) in cm, measured with a tape from a chosen origin.
    pub floor_cm: [f64; 2],
    /// Pixel position (u, v) in the camera's frame.
    pub pixel: [f64; 2],
}

/// The fitted pose and how well it explains the markers.
#[derive(Clone, Debug)]
pub struct PnpFit {
    pub extrinsics: Extrinsics,
    /// Reprojection error per marker, in px.
    pub residuals_px: Vec<f64>,
    pub rms_px: f64,
}

/// Rejects marker sets that cannot give a reliable pose; the message says why
/// and what to do on site.
pub fn check_markers(markers: &[Marker]) -> Result<(), String> {
    if markers.len() < 4 {
        return Err(format!("{} floor markers given; at least 4 are needed (6 or more spread over the watched area is better)", markers.len()));
    }
    for (i, a) in markers.iter().enumerate() {
        for (j, b) in markers.iter().enumerate().skip(i + 1) {
            if (a.floor_cm[0] - b.floor_cm[0]).hypot(a.floor_cm[1] - b.floor_cm[1]) < 1.0 {
                return Err(format!("markers {} and {} are at the same floor position; each marker needs its own spot", i + 1, j + 1));
            }
            if (a.pixel[0] - b.pixel[0]).hypot(a.pixel[1] - b.pixel[1]) < 2.0 {
                return Err(format!(
                    "markers {} and {} are at the same pixel; check the clicked positions",
                    i + 1,
                    j + 1
                ));
            }
        }
    }
    let n = markers.len() as f64;
    let (mx, my) = markers.iter().fold((0.0, 0.0), |(x, y), m| {
        (x + m.floor_cm[0] / n, y + m.floor_cm[1] / n)
    });
    let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
    for m in markers {
        let (dx, dy) = (m.floor_cm[0] - mx, m.floor_cm[1] - my);
        sxx += dx * dx / n;
        syy += dy * dy / n;
        sxy += dx * dy / n;
    }
    let half_gap = ((sxx - syy).powi(2) + 4.0 * sxy * sxy).sqrt() * 0.5;
    let (major, minor) = (
        (sxx + syy) * 0.5 + half_gap,
        ((sxx + syy) * 0.5 - half_gap).max(0.0),
    );
    if major.sqrt() < 25.0 {
        return Err(format!(
            "markers are too close together (spread {:.0} cm); place them across the floor area the camera watches, metres apart",
            major.sqrt()
        ));
    }
    if minor.sqrt() < 0.05 * major.sqrt() {
        return Err("markers lie (nearly) on one line; a line does not fix the camera's pose, so add markers well off that line".into());
    }
    Ok(())
}

/// Fits the extrinsics of a camera with known intrinsics to floor markers.
pub fn solve(intr: &Intrinsics, markers: &[Marker]) -> Result<PnpFit, String> {
    check_markers(markers)?;
    let norm: Vec<(f64, f64)> = markers
        .iter()
        .map(|m| intr.to_normalized(m.pixel[0], m.pixel[1]))
        .collect();
    let floor: Vec<(f64, f64)> = markers
        .iter()
        .map(|m| (m.floor_cm[0], m.floor_cm[1]))
        .collect();
    let h = homography(&floor, &norm).ok_or(
        "the markers do not determine a homography; check for typing errors in the coordinates",
    )?;
    let (r, t) = decompose(&h);
    let mut params = [0.0; 6];
    params[..3].copy_from_slice(&rodrigues_inverse(&r));
    params[3..].copy_from_slice(&t);
    let params = refine(intr, markers, params);
    let residuals_px = residuals(intr, markers, &params)
        .chunks_exact(2)
        .map(|d| d[0].hypot(d[1]))
        .collect::<Vec<_>>();
    let rms_px =
        (residuals_px.iter().map(|r| r * r).sum::<f64>() / residuals_px.len() as f64).sqrt();
    Ok(PnpFit {
        extrinsics: Extrinsics {
            rotation: [params[0], params[1], params[2]],
            translation: [params[3], params[4], params[5]],
        },
        residuals_px,
        rms_px,
    })
}

/// Pixel residuals (projected − observed), two per marker.
fn residuals(intr: &Intrinsics, markers: &[Marker], p: &[f64; 6]) -> Vec<f64> {
    let r = rodrigues([p[0], p[1], p[2]]);
    let t = [p[3], p[4], p[5]];
    markers
        .iter()
        .flat_map(
            |m| match project_point(intr, &r, t, [m.floor_cm[0], m.floor_cm[1], 0.0]) {
                Some((u, v)) => [u - m.pixel[0], v - m.pixel[1]],
                None => [1e6, 1e6],
            },
        )
        .collect()
}

/// Levenberg–Marquardt on the reprojection error, numerical Jacobian.
fn refine(intr: &Intrinsics, markers: &[Marker], mut p: [f64; 6]) -> [f64; 6] {
    let cost = |p: &[f64; 6]| {
        residuals(intr, markers, p)
            .iter()
            .map(|r| r * r)
            .sum::<f64>()
    };
    let mut current = cost(&p);
    let mut lambda = 1e-3;
    for _ in 0..200 {
        let r0 = residuals(intr, markers, &p);
        let mut jac = vec![[0.0; 6]; r0.len()];
        for k in 0..6 {
            let step = if k < 3 {
                1e-7
            } else {
                1e-5 * p[k].abs().max(1.0)
            };
            let (mut hi, mut lo) = (p, p);
            hi[k] += step;
            lo[k] -= step;
            let (rh, rl) = (residuals(intr, markers, &hi), residuals(intr, markers, &lo));
            for i in 0..r0.len() {
                jac[i][k] = (rh[i] - rl[i]) / (2.0 * step);
            }
        }
        let mut jtj = [[0.0; 6]; 6];
        let mut jtr = [0.0; 6];
        for (row, r) in jac.iter().zip(&r0) {
            for a in 0..6 {
                jtr[a] += row[a] * r;
                for b in 0..6 {
                    jtj[a][b] += row[a] * row[b];
                }
            }
        }
        let mut improved = false;
        for _ in 0..10 {
            let mut m = jtj;
            for (a, row) in m.iter_mut().enumerate() {
                row[a] += lambda * jtj[a][a].max(1e-12);
            }
            let Some(delta) = solve6(m, jtr.map(|v| -v)) else {
                break;
            };
            let mut q = p;
            for k in 0..6 {
                q[k] += delta[k];
            }
            let c = cost(&q);
            if c < current {
                let rel = (current - c) / current.max(1e-30);
                p = q;
                current = c;
                lambda = (lambda * 0.1).max(1e-12);
                improved = rel > 1e-15;
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

/// Solves a 6×6 linear system by Gaussian elimination with partial pivoting.
pub(crate) fn solve6(a: [[f64; 6]; 6], b: [f64; 6]) -> Option<[f64; 6]> {
    solve_linear(a, b)
}

/// Solves an N×N linear system by Gaussian elimination with partial pivoting.
pub(crate) fn solve_linear<const N: usize>(
    mut a: [[f64; N]; N],
    mut b: [f64; N],
) -> Option<[f64; N]> {
    for col in 0..N {
        let piv = (col..N).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        for row in col + 1..N {
            let f = a[row][col] / a[col][col];
            for k in col..N {
                a[row][k] -= f * a[col][k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; N];
    for row in (0..N).rev() {
        let s: f64 = (row + 1..N).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

/// Homography from floor points to normalised image points (normalised DLT).
pub(crate) fn homography(src: &[(f64, f64)], dst: &[(f64, f64)]) -> Option<[[f64; 3]; 3]> {
    let (ts, _) = normalizer(src);
    let (td, tdi) = normalizer(dst);
    let apply =
        |t: &[[f64; 3]; 3], (x, y): (f64, f64)| (t[0][0] * x + t[0][2], t[1][1] * y + t[1][2]);
    let mut ata = vec![vec![0.0; 9]; 9];
    for (&s, &d) in src.iter().zip(dst) {
        let (x, y) = apply(&ts, s);
        let (u, v) = apply(&td, d);
        for row in [
            [-x, -y, -1.0, 0.0, 0.0, 0.0, u * x, u * y, u],
            [0.0, 0.0, 0.0, -x, -y, -1.0, v * x, v * y, v],
        ] {
            for i in 0..9 {
                for j in 0..9 {
                    ata[i][j] += row[i] * row[j];
                }
            }
        }
    }
    let h = smallest_eigenvector(ata)?;
    let hn = [[h[0], h[1], h[2]], [h[3], h[4], h[5]], [h[6], h[7], h[8]]];
    // H = Td⁻¹ · Hn · Ts
    Some(mul3(&tdi, &mul3(&hn, &ts)))
}

/// Similarity that moves points to their centroid and scales their mean
/// distance to √2; returns it and its inverse.
fn normalizer(pts: &[(f64, f64)]) -> ([[f64; 3]; 3], [[f64; 3]; 3]) {
    let n = pts.len() as f64;
    let (mx, my) = pts
        .iter()
        .fold((0.0, 0.0), |(a, b), p| (a + p.0 / n, b + p.1 / n));
    let mean = pts.iter().map(|p| (p.0 - mx).hypot(p.1 - my)).sum::<f64>() / n;
    let s = std::f64::consts::SQRT_2 / mean.max(1e-12);
    (
        [[s, 0.0, -s * mx], [0.0, s, -s * my], [0.0, 0.0, 1.0]],
        [[1.0 / s, 0.0, mx], [0.0, 1.0 / s, my], [0.0, 0.0, 1.0]],
    )
}

fn mul3(a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    std::array::from_fn(|i| std::array::from_fn(|j| (0..3).map(|k| a[i][k] * b[k][j]).sum()))
}

/// Eigenvector of the smallest eigenvalue of a symmetric matrix (cyclic Jacobi).
pub(crate) fn smallest_eigenvector(mut a: Vec<Vec<f64>>) -> Option<Vec<f64>> {
    let n = a.len();
    let mut v: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    for _ in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off < 1e-30 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vkp, vkq) = (row[p], row[q]);
                    row[p] = c * vkp - s * vkq;
                    row[q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let k = (0..n).min_by(|&i, &j| a[i][i].total_cmp(&a[j][j]))?;
    let vec: Vec<f64> = (0..n).map(|i| v[i][k]).collect();
    vec.iter().all(|x| x.is_finite()).then_some(vec)
}

/// Homography (floor → normalised image) to rotation and translation.
pub(crate) fn decompose(h: &[[f64; 3]; 3]) -> ([[f64; 3]; 3], Vec3) {
    let col = |j: usize| [h[0][j], h[1][j], h[2][j]];
    let (h1, h2, h3) = (col(0), col(1), col(2));
    let norm = |v: Vec3| (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    let mut s = 2.0 / (norm(h1) + norm(h2));
    // The floor is in front of the camera: positive depth.
    if h3[2] * s < 0.0 {
        s = -s;
    }
    let r1 = h1.map(|v| v * s.signum() / norm(h1));
    let r2 = h2.map(|v| v * s);
    let d = r1[0] * r2[0] + r1[1] * r2[1] + r1[2] * r2[2];
    let r2 = [r2[0] - d * r1[0], r2[1] - d * r1[1], r2[2] - d * r1[2]];
    let r2 = r2.map(|v| v / norm(r2));
    let r3 = [
        r1[1] * r2[2] - r1[2] * r2[1],
        r1[2] * r2[0] - r1[0] * r2[2],
        r1[0] * r2[1] - r1[1] * r2[0],
    ];
    let r = [
        [r1[0], r2[0], r3[0]],
        [r1[1], r2[1], r3[1]],
        [r1[2], r2[2], r3[2]],
    ];
    (r, h3.map(|v| v * s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intr() -> Intrinsics {
        Intrinsics {
            fx: 900.0,
            fy: 900.0,
            cx: 640.0,
            cy: 360.0,
            distortion: [-0.2, 0.05, 0.0, 0.0, 0.0],
        }
    }

    /// A camera `height` cm up, looking along +y, tilted down by `tilt` degrees.
    fn pose(height: f64, tilt: f64) -> (Vec3, Vec3) {
        let (s, c) = tilt.to_radians().sin_cos();
        let r = [[1.0, 0.0, 0.0], [0.0, -s, -c], [0.0, c, -s]];
        let t = [0.0, c * height, s * height];
        (rodrigues_inverse(&r), t)
    }

    fn markers((rvec, t): (Vec3, Vec3), floor: &[[f64; 2]]) -> Vec<Marker> {
        let r = rodrigues(rvec);
        floor
            .iter()
            .map(|&f| {
                let (u, v) = project_point(&intr(), &r, t, [f[0], f[1], 0.0]).unwrap();
                Marker {
                    floor_cm: f,
                    pixel: [u, v],
                }
            })
            .collect()
    }

    #[test]
    fn exact_markers_give_back_the_camera_pose() {
        let (rvec, t) = pose(350.0, 45.0);
        let m = markers(
            (rvec, t),
            &[
                [-150.0, 200.0],
                [150.0, 220.0],
                [160.0, 520.0],
                [-140.0, 500.0],
                [10.0, 350.0],
            ],
        );
        let fit = solve(&intr(), &m).unwrap();
        for k in 0..3 {
            assert!(
                (fit.extrinsics.rotation[k] - rvec[k]).abs() < 1e-6,
                "{:?}",
                fit.extrinsics
            );
            assert!(
                (fit.extrinsics.translation[k] - t[k]).abs() < 1e-4,
                "{:?}",
                fit.extrinsics
            );
        }
        assert!(fit.rms_px < 1e-6);
    }

    #[test]
    fn degenerate_marker_sets_are_refused_with_the_reason() {
        let base = markers(
            pose(350.0, 45.0),
            &[
                [-150.0, 200.0],
                [150.0, 220.0],
                [160.0, 520.0],
                [-140.0, 500.0],
            ],
        );
        assert!(check_markers(&base[..3])
            .unwrap_err()
            .contains("at least 4"));
        let line = markers(
            pose(350.0, 45.0),
            &[
                [-100.0, 300.0],
                [0.0, 301.0],
                [100.0, 299.0],
                [200.0, 300.0],
            ],
        );
        assert!(check_markers(&line).unwrap_err().contains("one line"));
        let huddle = markers(
            pose(350.0, 45.0),
            &[[0.0, 300.0], [10.0, 300.0], [10.0, 310.0], [0.0, 312.0]],
        );
        assert!(check_markers(&huddle).unwrap_err().contains("too close"));
        let mut twice = base.clone();
        twice[3].floor_cm = twice[0].floor_cm;
        assert!(check_markers(&twice)
            .unwrap_err()
            .contains("same floor position"));
    }
}
