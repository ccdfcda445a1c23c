//! `sortwatch calibrate --checkerboard`: the camera's intrinsics (focal
//! lengths, principal point, lens distortion) from photos of a printed
//! checkerboard, written as a file a marker survey can name in `intrinsics_file`.

use super::calibrate::Args;
use crate::error::{Error, Result};
use crate::geometry::checkerboard::{find_corners, GreyImage};
use crate::geometry::intrinsics::{board_points, calibrate, BoardView};
use crate::geometry::Intrinsics;
use crate::source::load_rgb;
use serde::Deserialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Fewer usable photos than this leave the distortion poorly pinned down.
pub const WARN_MIN_VIEWS: usize = 5;
/// Reprojection error (px) above which the result is flagged as suspect;
/// a sharp, flat board usually gives well under half a pixel.
pub const WARN_RMS_PX: f64 = 1.0;

/// What the estimate found; printed for the installer.
pub struct Report {
    pub intrinsics: Intrinsics,
    pub image_size: (u32, u32),
    /// Photos the board was found in: file name, RMS px, board distance in cm
    /// (when --square-cm was given).
    pub used: Vec<(String, f64, Option<f64>)>,
    /// Photos without the board, each with the reason.
    pub skipped: Vec<String>,
    pub rms_px: f64,
    pub warnings: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IntrinsicsFile {
    image_width: u32,
    image_height: u32,
    intrinsics: Intrinsics,
}

/// Reads an intrinsics file written by `calibrate --checkerboard`: the image
/// size the photos had and the intrinsics.
pub fn load(path: &Path) -> Result<((u32, u32), Intrinsics)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(path, "cannot read intrinsics file", e))?;
    parse(&text).map_err(|msg| {
        Error::config(format!(
            "intrinsics file {}: {msg} (write it with `sortwatch calibrate --checkerboard`; see docs/calibration.md)",
            path.display()
        ))
    })
}

fn parse(text: &str) -> std::result::Result<((u32, u32), Intrinsics), String> {
    let f: IntrinsicsFile =
        toml::from_str(text).map_err(|e| crate::config::toml_error(text, &e))?;
    let i = &f.intrinsics;
    let ok = [i.fx, i.fy, i.cx, i.cy].iter().all(|v| v.is_finite())
        && i.fx > 0.0
        && i.fy > 0.0
        && i.distortion.iter().all(|v| v.is_finite());
    if !ok {
        return Err("`intrinsics` must have positive fx, fy and finite values".into());
    }
    Ok(((f.image_width, f.image_height), f.intrinsics))
}

pub fn run(args: &Args) -> Result<Report> {
    let spec = args
        .checkerboard
        .as_deref()
        .ok_or_else(|| Error::config("--checkerboard is required"))?;
    let pattern = args.pattern.ok_or_else(|| {
        Error::config("--pattern is required with --checkerboard: inner corners as COLSxROWS, e.g. 9x6 for a board of 10 x 7 squares")
    })?;
    let square = args.square_cm.unwrap_or(1.0);
    if !(square.is_finite() && square > 0.0) {
        return Err(Error::config(format!(
            "--square-cm {square} must be the printed square's side in cm, e.g. 2.5"
        )));
    }
    let paths = list_images(spec)?;
    let board = board_points(pattern.cols, pattern.rows, square);
    let mut size: Option<(u32, u32, &Path)> = None;
    let (mut views, mut names, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    for path in &paths {
        let rgb = load_rgb(path)?;
        match size {
            None => size = Some((rgb.width, rgb.height, path)),
            Some((w, h, first)) if (w, h) != (rgb.width, rgb.height) => {
                return Err(Error::invalid(format!(
                    "photo {} is {}x{} but {} is {w}x{h}; take every photo at the camera's streaming resolution",
                    path.display(),
                    rgb.width,
                    rgb.height,
                    first.display()
                )));
            }
            Some(_) => {}
        }
        match find_corners(&GreyImage::from_rgb(&rgb), pattern) {
            Ok(pixels) => {
                views.push(BoardView {
                    board: board.clone(),
                    pixels,
                });
                names.push(file_name(path));
            }
            Err(why) => skipped.push(format!("{}: {why}", file_name(path))),
        }
    }
    // `list_images` never returns an empty list.
    let (w, h, _) =
        size.ok_or_else(|| Error::new(crate::error::ErrorKind::Internal, "no photos listed"))?;
    if views.is_empty() {
        let mut listed: Vec<String> = paths.iter().take(8).map(|p| file_name(p)).collect();
        if paths.len() > 8 {
            listed.push(format!("and {} more", paths.len() - 8));
        }
        return Err(Error::invalid(format!(
            "no {pattern} checkerboard found in any of the {} photos ({}); check --pattern: it counts inner corners (where four squares meet), e.g. 9x6 for a board of 10 x 7 squares",
            paths.len(),
            listed.join(", ")
        )));
    }
    let fit = calibrate(&views, (w, h)).map_err(|msg| {
        Error::invalid(format!(
            "checkerboard photos {spec}: {msg}; the board was found in {} of {} photos",
            views.len(),
            paths.len()
        ))
    })?;
    let i = &fit.intrinsics;
    let mut warnings = Vec::new();
    if views.len() < WARN_MIN_VIEWS {
        warnings.push(format!(
            "only {} photos showed the board; take 10 to 20, with the board at different angles and in every part of the image",
            views.len()
        ));
    }
    if fit.rms_px > WARN_RMS_PX {
        warnings.push(format!(
            "reprojection error RMS {:.2} px is large: blurred photos, a board that is not flat, or a wrong --pattern",
            fit.rms_px
        ));
    }
    for (name, r) in names.iter().zip(&fit.view_rms_px) {
        if *r > WARN_RMS_PX && *r > 2.0 * fit.rms_px {
            warnings.push(format!(
                "photo {name} fits poorly ({r:.2} px): it may be blurred; remove it and run again"
            ));
        }
    }
    let uncovered = uncovered_corners(&views, (w, h));
    if !uncovered.is_empty() {
        warnings.push(format!(
            "no photo shows the board near the image's {} corner{}; lens distortion there is guessed: add photos with the board in that part of the image",
            uncovered.join(", "),
            if uncovered.len() > 1 { "s" } else { "" }
        ));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by `sortwatch calibrate --checkerboard` from {} of {} photos in {spec} ({pattern} inner corners).",
        views.len(),
        paths.len()
    );
    let _ = writeln!(
        out,
        "# Reprojection error: RMS {:.3} px. Name this file in a marker survey as\n# intrinsics_file = \"...\", or paste the [intrinsics] block into it.",
        fit.rms_px
    );
    let _ = writeln!(out, "image_width = {w}\nimage_height = {h}\n");
    let _ = writeln!(
        out,
        "[intrinsics]\nfx = {:?}\nfy = {:?}\ncx = {:?}\ncy = {:?}\ndistortion = {:?}",
        i.fx, i.fy, i.cx, i.cy, i.distortion
    );
    // What we write must load back the same way a survey will load it.
    parse(&out).map_err(|msg| Error::new(crate::error::ErrorKind::Internal, msg))?;
    crate::fs::create_parent_dir(&args.out)?;
    std::fs::write(&args.out, &out)
        .map_err(|e| Error::io(&args.out, "cannot write intrinsics file", e))?;
    let used = names
        .into_iter()
        .zip(&fit.view_rms_px)
        .zip(&fit.poses)
        .map(|((n, r), pose)| {
            let t = pose.translation;
            let dist = (t[0] * t[0] + t[1] * t[1] + t[2] * t[2]).sqrt();
            (n, *r, args.square_cm.map(|_| dist))
        })
        .collect();
    Ok(Report {
        intrinsics: fit.intrinsics,
        image_size: (w, h),
        used,
        skipped,
        rms_px: fit.rms_px,
        warnings,
    })
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The PNG/JPEG files of a folder, or those matching a `*`/`?` pattern in the
/// file name part of `spec`; sorted by name.
fn list_images(spec: &str) -> Result<Vec<PathBuf>> {
    let path = Path::new(spec);
    let (dir, pattern) = if path.is_dir() {
        (path.to_path_buf(), "*".to_string())
    } else if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    } else {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        match name {
            Some(n) if n.contains(['*', '?']) => (
                path.parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
                    .to_path_buf(),
                n,
            ),
            _ => {
                return Err(Error::new(
                    crate::error::ErrorKind::NotFound,
                    format!("checkerboard photos {spec}: no such folder or file (give a folder of photos or a pattern like 'photos/*.jpg')"),
                ))
            }
        }
    };
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| Error::io(&dir, "cannot read the checkerboard photo folder", e))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let ext = p
                .extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase());
            matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg"))
                && p.file_name()
                    .is_some_and(|n| glob_match(&pattern, &n.to_string_lossy()))
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(Error::new(
            crate::error::ErrorKind::NotFound,
            format!(
                "checkerboard photos {spec}: no PNG or JPEG files{} in {}; give the folder the photos are in",
                if pattern == "*" { String::new() } else { format!(" match {pattern}") },
                dir.display()
            ),
        ));
    }
    Ok(paths)
}

/// `*` (any run) and `?` (one character) wildcards.
fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The image corners (a fifth of the width and height) no photo's board
/// reaches: distortion is strongest there and only photos there pin it down.
fn uncovered_corners(views: &[BoardView], (w, h): (u32, u32)) -> Vec<&'static str> {
    let (w, h) = (f64::from(w), f64::from(h));
    let near = |u: f64, v: f64, right: bool, bottom: bool| {
        (if right { u > 0.8 * w } else { u < 0.2 * w })
            && (if bottom { v > 0.8 * h } else { v < 0.2 * h })
    };
    [
        ("top-left", false, false),
        ("top-right", true, false),
        ("bottom-left", false, true),
        ("bottom-right", true, true),
    ]
    .into_iter()
    .filter(|&(_, right, bottom)| {
        !views
            .iter()
            .flat_map(|v| &v.pixels)
            .any(|&(u, v)| near(u, v, right, bottom))
    })
    .map(|(name, ..)| name)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_wildcards_in_file_names() {
        assert!(glob_match("left*.jpg", "left01.jpg"));
        assert!(glob_match("left??.jpg", "left01.jpg"));
        assert!(!glob_match("left??.jpg", "left.jpg"));
        assert!(!glob_match("right*.jpg", "left01.jpg"));
        assert!(glob_match("*", "anything.png"));
    }

    #[test]
    fn board_only_in_the_middle_leaves_all_four_corners_uncovered() {
        let v = BoardView {
            board: vec![(0.0, 0.0)],
            pixels: vec![(320.0, 240.0), (100.0, 50.0)],
        };
        assert_eq!(
            uncovered_corners(&[v], (640, 480)),
            ["top-right", "bottom-left", "bottom-right"]
        );
    }
}
