//! `sortwatch calibrate`: the camera's pose over the floor from tape-measured
//! floor markers and their pixel positions, written as a calibration file.

use crate::error::{Error, Result};
use crate::geometry::checkerboard::Pattern;
use crate::geometry::pnp::{self, Marker};
use crate::geometry::{Calibration, Intrinsics};
use crate::overlay;
use crate::source::{load_rgb, save_image};
use serde::Deserialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Marker survey (TOML): camera, image size, intrinsics (inline or
    /// `intrinsics_file`) and `[[markers]]` with `floor_cm = [x, y]` and
    /// `pixel = [u, v]`. See docs/calibration.md.
    #[arg(long, required_unless_present = "checkerboard")]
    pub points: Option<PathBuf>,
    /// Where to write the calibration file (with --checkerboard: the
    /// intrinsics file).
    #[arg(long)]
    pub out: PathBuf,
    /// Estimate the intrinsics instead, from photos of a printed checkerboard:
    /// a folder of PNG/JPEG files or a pattern such as 'photos/cam2-*.jpg'.
    #[arg(
        long,
        requires = "pattern",
        conflicts_with_all = ["points", "frame", "preview"]
    )]
    pub checkerboard: Option<String>,
    /// The checkerboard's inner corners, COLSxROWS: a board of 10 x 7 squares is 9x6.
    #[arg(long, requires = "checkerboard")]
    pub pattern: Option<Pattern>,
    /// Side of one printed square in cm, measured on the print. The intrinsics
    /// do not depend on it; it gives each photo's distance to the board.
    #[arg(long, requires = "checkerboard")]
    pub square_cm: Option<f64>,
    /// A frame from the camera (PNG/JPEG) to draw the result on.
    #[arg(long, requires = "preview")]
    pub frame: Option<PathBuf>,
    /// Where to write the frame with the fitted 1 m floor grid and the markers
    /// (green: clicked, red: where the fitted pose puts them). Check it by eye.
    #[arg(long, requires = "frame")]
    pub preview: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Survey {
    camera: String,
    image_width: u32,
    image_height: u32,
    /// Inline intrinsics, or `intrinsics_file` (relative to the survey):
    /// what `sortwatch calibrate --checkerboard` wrote.
    intrinsics: Option<Intrinsics>,
    intrinsics_file: Option<PathBuf>,
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
    let path = args
        .points
        .as_deref()
        .ok_or_else(|| Error::config("give --points SURVEY.toml or --checkerboard PHOTOS"))?;
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
    let intrinsics = match (&survey.intrinsics, &survey.intrinsics_file) {
        (Some(i), None) => i.clone(),
        (None, Some(file)) => {
            let file = path.parent().unwrap_or(Path::new(".")).join(file);
            let (size, i) = super::intrinsics::load(&file)?;
            if size != (survey.image_width, survey.image_height) {
                return Err(bad(format!(
                    "`intrinsics_file` {} was estimated from {}x{} photos but the survey is for {}x{}; intrinsics hold only at their own resolution: photograph the checkerboard at the camera's streaming resolution",
                    file.display(), size.0, size.1, survey.image_width, survey.image_height
                )));
            }
            i
        }
        (Some(_), Some(_)) => {
            return Err(bad(
                "give either `[intrinsics]` or `intrinsics_file`, not both".into(),
            ))
        }
        (None, None) => {
            return Err(bad(
                "missing `[intrinsics]`: write them inline or set `intrinsics_file` to the output of `sortwatch calibrate --checkerboard`".into(),
            ))
        }
    };
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
    let fit = pnp::solve(&intrinsics, &survey.markers).map_err(bad)?;
    let [rx, ry, rz] = fit.extrinsics.rotation;
    let [tx, ty, tz] = fit.extrinsics.translation;
    let i = &intrinsics;
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
            "the fitted pose is not usable: {msg}; check the marker coordinates: mirrored floor axes put the camera under the floor, and seen from above y must point 90° anticlockwise from x"
        ))
    })?;
    crate::fs::create_parent_dir(&args.out)?;
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
    if let (Some(frame), Some(preview)) = (&args.frame, &args.preview) {
        draw_preview(&calibration, &survey.markers, frame, preview)?;
    }
    Ok(Report {
        calibration,
        residuals_px: fit.residuals_px,
        rms_px: fit.rms_px,
        warnings,
    })
}

/// The frame with a 1 m floor grid through the fitted pose, clicked markers
/// (green crosses) and where the pose puts them (red rings).
fn draw_preview(cal: &Calibration, markers: &[Marker], frame: &Path, out: &Path) -> Result<()> {
    let mut img = load_rgb(frame)?;
    if (img.width, img.height) != (cal.image_width, cal.image_height) {
        return Err(Error::config(format!(
            "frame {} is {}x{} but the survey says {}x{}; take the frame at the camera's streaming resolution",
            frame.display(),
            img.width,
            img.height,
            cal.image_width,
            cal.image_height
        )));
    }
    // Grid over the markers' extent plus a metre, sampled every 10 cm so the
    // lines bend with the lens as they should.
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for m in markers {
        (x0, x1) = (x0.min(m.floor_cm[0]), x1.max(m.floor_cm[0]));
        (y0, y1) = (y0.min(m.floor_cm[1]), y1.max(m.floor_cm[1]));
    }
    let down = |v: f64| (v / 100.0).floor() * 100.0 - 100.0;
    let up = |v: f64| (v / 100.0).ceil() * 100.0 + 100.0;
    let (x0, x1, y0, y1) = (down(x0), up(x1), down(y0), up(y1));
    let (w, h) = (f64::from(cal.image_width), f64::from(cal.image_height));
    let inside =
        |(u, v): (f64, f64)| (-50.0..w + 50.0).contains(&u) && (-50.0..h + 50.0).contains(&v);
    let mut segment = |a: [f64; 3], b: [f64; 3]| {
        if let (Some(p), Some(q)) = (cal.project(a), cal.project(b)) {
            if inside(p) && inside(q) {
                overlay::line(
                    &mut img,
                    (p.0 as f32, p.1 as f32),
                    (q.0 as f32, q.1 as f32),
                    1,
                    [255, 255, 0],
                );
            }
        }
    };
    let steps = |from: f64, to: f64, by: f64| {
        (0..=((to - from) / by).round() as usize).map(move |i| from + by * i as f64)
    };
    for x in steps(x0, x1, 100.0) {
        for y in steps(y0, y1 - 10.0, 10.0) {
            segment([x, y, 0.0], [x, y + 10.0, 0.0]);
        }
    }
    for y in steps(y0, y1, 100.0) {
        for x in steps(x0, x1 - 10.0, 10.0) {
            segment([x, y, 0.0], [x + 10.0, y, 0.0]);
        }
    }
    for (i, m) in markers.iter().enumerate() {
        let (u, v) = (m.pixel[0] as f32, m.pixel[1] as f32);
        overlay::line(&mut img, (u - 8.0, v), (u + 8.0, v), 2, [0, 255, 0]);
        overlay::line(&mut img, (u, v - 8.0), (u, v + 8.0), 2, [0, 255, 0]);
        if let Some((pu, pv)) = cal.project([m.floor_cm[0], m.floor_cm[1], 0.0]) {
            overlay::ring(&mut img, pu as f32, pv as f32, 7, [255, 40, 40]);
        }
        overlay::text(
            &mut img,
            u as i32 + 10,
            v as i32 + 6,
            1,
            &format!("{}", i + 1),
            [0, 255, 0],
        );
    }
    let title = format!("{}: 1 m floor grid from the fitted pose", cal.camera);
    overlay::text(&mut img, 6, 6, 1, &title, [255, 255, 0]);
    save_image(&img, out)
}
