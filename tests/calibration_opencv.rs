//! Our floor-marker calibration agrees with OpenCV's solvePnP/projectPoints on
//! the same points: within 1e-3 relative on rvec and tvec, 0.1 px on
//! reprojection. Goldens: tests/golden/make_calibration_golden.sh.

use serde::Deserialize;
use sortwatch::geometry::pnp::{self, Marker};
use sortwatch::geometry::{project_point, rodrigues, Intrinsics};

#[derive(Deserialize)]
struct Golden {
    case: String,
    intrinsics: Intrinsics,
    floor_cm: Vec<[f64; 2]>,
    pixels: Vec<[f64; 2]>,
    rvec: [f64; 3],
    tvec: [f64; 3],
    reprojected: Vec<[f64; 2]>,
}

fn rel(a: [f64; 3], b: [f64; 3]) -> f64 {
    let d = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
    d / (b[0] * b[0] + b[1] * b[1] + b[2] * b[2]).sqrt()
}

#[test]
fn floor_marker_calibration_matches_opencv_solvepnp() {
    let mut cases = 0;
    for entry in std::fs::read_dir("tests/golden/calibration").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let g: Golden = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let markers: Vec<Marker> = g
            .floor_cm
            .iter()
            .zip(&g.pixels)
            .map(|(&floor_cm, &pixel)| Marker { floor_cm, pixel })
            .collect();
        let fit = pnp::solve(&g.intrinsics, &markers).unwrap();
        let (dr, dt) = (
            rel(fit.extrinsics.rotation, g.rvec),
            rel(fit.extrinsics.translation, g.tvec),
        );
        let r = rodrigues(fit.extrinsics.rotation);
        let worst_px = g
            .floor_cm
            .iter()
            .zip(&g.reprojected)
            .map(|(f, cv)| {
                let (u, v) = project_point(
                    &g.intrinsics,
                    &r,
                    fit.extrinsics.translation,
                    [f[0], f[1], 0.0],
                )
                .unwrap();
                (u - cv[0]).hypot(v - cv[1])
            })
            .fold(0.0, f64::max);
        eprintln!("{}: rvec rel {dr:.2e}, tvec rel {dt:.2e}, reprojection vs OpenCV {worst_px:.2e} px, rms to markers {:.3} px", g.case, fit.rms_px);
        assert!(
            dr <= 1e-3 && dt <= 1e-3,
            "{}: rvec rel {dr}, tvec rel {dt}",
            g.case
        );
        assert!(
            worst_px <= 0.1,
            "{}: reprojection differs from OpenCV by {worst_px} px",
            g.case
        );
        cases += 1;
    }
    assert!(cases >= 3, "{cases} golden cases");
}
