//! `sortwatch calibrate`: the camera's pose over the floor from tape-measured
//! floor markers and their pixel positions, written as a calibration file.

use crate::error::{Error, Result};
use crate::geometry::pnp::{self, Marker};
use crate::geometry::{Calibration, Intrinsics};
use serde::Deserialize;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Marker survey (TOML): camera, image size, intrinsics and `[[markers]]`
    /// with `floor_cm = [x, y]` and `pixel = [u, v]`. See docs/calibration.md.
    #[arg(long)]
    pub points: PathBuf,
    /// Where to write the calibration file.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Survey {
    camera: String,
    image_width: u32,
    image_height: u32,
    intrinsics: Intrinsics,
    markers: Vec<Marker>,
}

/// Reprojection error (px) above which the result is flagged as suspect.
pub const WARN_RMS_PX: f64 = 2.0;

/// What the calibration found; printed for the installer.
pub struct Report {
    pub calibration: Calibration,
    pub residuals_px: Vec<f64>,
    pub rms_px: f64,
    pub warnings: Vec<String>,
}

pub fn run(args: &Args) -> Result<Report> {
    let path = &args.points;
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(path, "cannot read marker survey", e))?;
    let bad = |msg: String| {
        Error::config(format!(
            "marker survey {}: {msg} (see docs/calibration.md)",
            path.display()
        ))
    };
    let survey: Survey =
        toml::from_str(&text).map_err(|e| bad(crate::config::toml_error(&text, &e)))?;
    let (w, h) = (
        f64::from(survey.image_width),
        f64::from(survey.image_height),
    );
    for (i, m) in survey.markers.iter().enumerate() {
        if !(0.0..=w).contains(&m.pixel[0]) || !(0.0..=h).contains(&m.pixel[1]) {
            return Err(bad(format!(
                "marker {} pixel {:?} lies outside the {}x{} image",
                i + 1,
                m.pixel,
                survey.image_width,
                survey.image_height
            )));
        }
    }
    let fit = pnp::solve(&survey.intrinsics, &survey.markers).map_err(bad)?;
    let [rx, ry, rz] = fit.extrinsics.rotation;
    let [tx, ty, tz] = fit.extrinsics.translation;
    let i = &survey.intrinsics;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by `sortwatch calibrate` from {} ({} markers).",
        path.display(),
        survey.markers.len()
    );
    let _ = writeln!(
        out,
        "# Reprojection error: RMS {:.2} px, worst {:.2} px.",
        fit.rms_px,
        fit.residuals_px.iter().fold(0.0f64, |a, &b| a.max(b))
    );
    let _ = writeln!(
        out,
        "camera = {:?}\nimage_width = {}\nimage_height = {}\n",
        survey.camera, survey.image_width, survey.image_height
    );
    let _ = writeln!(
        out,
        "[intrinsics]\nfx = {:?}\nfy = {:?}\ncx = {:?}\ncy = {:?}\ndistortion = {:?}\n",
        i.fx, i.fy, i.cx, i.cy, i.distortion
    );
    let _ = writeln!(
        out,
        "[extrinsics]\nrotation = [{rx:?}, {ry:?}, {rz:?}]\ntranslation = [{tx:?}, {ty:?}, {tz:?}]"
    );
    // The written file must load: validates the camera is above the floor, etc.
    let calibration = Calibration::parse(&out).map_err(|msg| {
        bad(format!(
            "the fitted pose is not usable: {msg}; check the marker coordinates"
        ))
    })?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, "cannot create directory", e))?;
    }
    std::fs::write(&args.out, &out)
        .map_err(|e| Error::io(&args.out, "cannot write calibration file", e))?;
    let mut warnings = Vec::new();
    if fit.rms_px > WARN_RMS_PX {
        warnings.push(format!("reprojection error RMS {:.1} px is large: a marker is mismeasured or mis-clicked, or the intrinsics are wrong", fit.rms_px));
    }
    for (k, r) in fit.residuals_px.iter().enumerate() {
        if *r > 2.0 * WARN_RMS_PX && *r > 2.0 * fit.rms_px {
            warnings.push(format!(
                "marker {} is off by {r:.1} px: re-measure it on the floor or re-click it",
                k + 1
            ));
        }
    }
    Ok(Report {
        calibration,
        residuals_px: fit.residuals_px,
        rms_px: fit.rms_px,
        warnings,
    })
}
