//! Inner corners of a printed checkerboard in a greyscale image, ordered and
//! refined the way OpenCV's `findChessboardCorners` + `cornerSubPix` give them,
//! so that intrinsics can be estimated from photos of the board.
//!
//! Method: saddle points of the smoothed image (Hessian determinant < 0) that
//! pass an X-junction test (four alternating dark/light sectors on a ring) are
//! candidates; a grid is grown from a seed by extrapolating along rows and
//! columns; the grid must have exactly the pattern's size. Sub-pixel refinement
//! is OpenCV's gradient-orthogonality iteration.

// Image and grid code reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

use crate::source::RgbImage;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// A greyscale image, row-major, values 0–255.
#[derive(Clone, Debug)]
pub struct GreyImage {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl GreyImage {
    /// Luma with OpenCV's weights (what `imread(..., IMREAD_GRAYSCALE)` gives),
    /// rounded to integers as an 8-bit grey image would be.
    pub fn from_rgb(img: &RgbImage) -> GreyImage {
        let data = img
            .data
            .chunks_exact(3)
            .map(|p| {
                (0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
                    .round()
            })
            .collect();
        GreyImage {
            width: img.width as usize,
            height: img.height as usize,
            data,
        }
    }

    fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    /// Bilinear sample with edge replication (as OpenCV's `getRectSubPix`).
    fn sample(&self, x: f64, y: f64) -> f64 {
        let x = x.clamp(0.0, (self.width - 1) as f64);
        let y = y.clamp(0.0, (self.height - 1) as f64);
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.width - 1), (y0 + 1).min(self.height - 1));
        let (fx, fy) = (x - x0 as f64, y - y0 as f64);
        let top = f64::from(self.at(x0, y0)) * (1.0 - fx) + f64::from(self.at(x1, y0)) * fx;
        let bottom = f64::from(self.at(x0, y1)) * (1.0 - fx) + f64::from(self.at(x1, y1)) * fx;
        top * (1.0 - fy) + bottom * fy
    }

    /// Separable Gaussian blur, edges replicated.
    fn blurred(&self, sigma: f64) -> GreyImage {
        let r = (3.0 * sigma).ceil() as isize;
        let k: Vec<f32> = (-r..=r)
            .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp() as f32)
            .collect();
        let sum: f32 = k.iter().sum();
        let k: Vec<f32> = k.iter().map(|v| v / sum).collect();
        let (w, h) = (self.width as isize, self.height as isize);
        let mut tmp = vec![0.0f32; self.data.len()];
        for y in 0..h {
            for x in 0..w {
                let mut s = 0.0;
                for (i, kv) in k.iter().enumerate() {
                    let xx = (x + i as isize - r).clamp(0, w - 1);
                    s += kv * self.data[(y * w + xx) as usize];
                }
                tmp[(y * w + x) as usize] = s;
            }
        }
        let mut out = vec![0.0f32; self.data.len()];
        for y in 0..h {
            for x in 0..w {
                let mut s = 0.0;
                for (i, kv) in k.iter().enumerate() {
                    let yy = (y + i as isize - r).clamp(0, h - 1);
                    s += kv * tmp[(yy * w + x) as usize];
                }
                out[(y * w + x) as usize] = s;
            }
        }
        GreyImage {
            width: self.width,
            height: self.height,
            data: out,
        }
    }
}

/// Inner corners per row (`cols`) and per column (`rows`), as OpenCV's
/// `patternSize` (a board of 10 × 7 squares has 9 × 6 inner corners).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pattern {
    pub cols: usize,
    pub rows: usize,
}

impl Pattern {
    pub fn len(&self) -> usize {
        self.cols * self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl FromStr for Pattern {
    type Err = String;

    fn from_str(s: &str) -> Result<Pattern, String> {
        let bad = || {
            format!("pattern {s:?} is not COLSxROWS of inner corners, e.g. 9x6 for a board of 10 x 7 squares")
        };
        let (c, r) = s.split_once(['x', 'X']).ok_or_else(bad)?;
        let cols: usize = c.trim().parse().map_err(|_| bad())?;
        let rows: usize = r.trim().parse().map_err(|_| bad())?;
        if cols < 3 || rows < 3 {
            return Err(format!(
                "pattern {s:?} is too small: count inner corners (at least 3 x 3), not squares"
            ));
        }
        Ok(Pattern { cols, rows })
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.cols, self.rows)
    }
}

/// Why no board was found in an image; the message says what to check.
#[derive(Clone, Debug, PartialEq)]
pub enum NotFound {
    /// Too few X-shaped corners at all: board absent, blurred or over-exposed.
    TooFewCorners { found: usize },
    /// Corners were found but no grid of the pattern's size: wrong pattern,
    /// or part of the board is outside the frame or hidden.
    NoGrid,
}

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotFound::TooFewCorners { found } => write!(
                f,
                "only {found} checkerboard corners found; is the board in view, sharp and not over-exposed?"
            ),
            NotFound::NoGrid => write!(
                f,
                "corners found, but no complete grid of the pattern; check --pattern (inner corners, not squares) and that the whole board is in view"
            ),
        }
    }
}

/// Finds the pattern's inner corners, row-major (`cols` per row) like OpenCV:
/// rows run clockwise from columns in the image, and the square diagonally
/// inside the first corner is a dark one. Refined to sub-pixel with an 11×11
/// window (smaller when the squares are small).
pub fn find_corners(img: &GreyImage, pattern: Pattern) -> Result<Vec<(f64, f64)>, NotFound> {
    let smooth = img.blurred(1.5);
    let cands = saddle_candidates(&smooth);
    if cands.len() < pattern.len() {
        return Err(NotFound::TooFewCorners { found: cands.len() });
    }
    let pts: Vec<(f64, f64)> = cands.iter().map(|c| (c.0, c.1)).collect();
    let strength: Vec<f64> = cands.iter().map(|c| f64::from(c.2)).collect();
    // A seed inside an earlier grid would grow the same grid again.
    let mut covered = vec![false; pts.len()];
    // Strongest corners first: they are the likeliest to be on the board.
    for seed in 0..pts.len().min(80) {
        if covered[seed] {
            continue;
        }
        let Some(grid) = grow_grid(&smooth, &pts, seed, pattern) else {
            continue;
        };
        let (nx, ny, cells) = grid;
        for &k in cells.values() {
            covered[k] = true;
        }
        let Some(((nx, ny), cells)) = best_window(pattern, (nx, ny), &cells, &strength) else {
            continue;
        };
        if let Some(mut corners) = order(&smooth, &pts, pattern, (nx, ny), &cells) {
            let spacing = min_spacing(&corners, pattern);
            let half = ((spacing / 4.0).floor() as usize).clamp(2, 5);
            refine_corners(img, &mut corners, half);
            return Ok(corners);
        }
    }
    Err(NotFound::NoGrid)
}

/// OpenCV's `cornerSubPix`: moves each corner to where the image gradients in
/// a (2·half+1)² window are orthogonal to the offsets from it; at most 30
/// iterations or a 0.001 px step, and back to the start if it wanders off.
pub fn refine_corners(img: &GreyImage, corners: &mut [(f64, f64)], half: usize) {
    let h = half as isize;
    let weight = |d: isize| {
        let t = d as f64 / half as f64;
        (-t * t).exp()
    };
    for c in corners.iter_mut() {
        let start = *c;
        let mut p = start;
        for _ in 0..30 {
            let (mut a, mut b, mut cc, mut bb1, mut bb2) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for py in -h..=h {
                for px in -h..=h {
                    let m = weight(px) * weight(py);
                    let (x, y) = (p.0 + px as f64, p.1 + py as f64);
                    let gx = img.sample(x + 1.0, y) - img.sample(x - 1.0, y);
                    let gy = img.sample(x, y + 1.0) - img.sample(x, y - 1.0);
                    let (gxx, gxy, gyy) = (gx * gx * m, gx * gy * m, gy * gy * m);
                    a += gxx;
                    b += gxy;
                    cc += gyy;
                    bb1 += gxx * px as f64 + gxy * py as f64;
                    bb2 += gxy * px as f64 + gyy * py as f64;
                }
            }
            let det = a * cc - b * b;
            if det.abs() <= f64::EPSILON * f64::EPSILON {
                break;
            }
            let next = (
                p.0 + (cc * bb1 - b * bb2) / det,
                p.1 + (-b * bb1 + a * bb2) / det,
            );
            let step2 = (next.0 - p.0).powi(2) + (next.1 - p.1).powi(2);
            p = next;
            if p.0 < 0.0 || p.1 < 0.0 || p.0 >= img.width as f64 || p.1 >= img.height as f64 {
                break;
            }
            if step2 <= 1e-6 {
                break;
            }
        }
        if (p.0 - start.0).abs() > half as f64 || (p.1 - start.1).abs() > half as f64 {
            p = start;
        }
        *c = p;
    }
}

/// Saddle points (x, y, strength), strongest first, that look like X-junctions.
fn saddle_candidates(s: &GreyImage) -> Vec<(f64, f64, f32)> {
    let (w, h) = (s.width, s.height);
    let mut resp = vec![0.0f32; w * h];
    for y in 1..h.saturating_sub(1) {
        for x in 1..w - 1 {
            let c = s.at(x, y);
            let dxx = s.at(x + 1, y) - 2.0 * c + s.at(x - 1, y);
            let dyy = s.at(x, y + 1) - 2.0 * c + s.at(x, y - 1);
            let dxy = (s.at(x + 1, y + 1) - s.at(x + 1, y - 1) - s.at(x - 1, y + 1)
                + s.at(x - 1, y - 1))
                * 0.25;
            resp[y * w + x] = (dxy * dxy - dxx * dyy).max(0.0);
        }
    }
    let max = resp.iter().fold(0.0f32, |a, &b| a.max(b));
    if max <= 0.0 {
        return Vec::new();
    }
    // Low threshold: far corners of a tilted board respond weakly; the
    // X-junction test removes the clutter this lets in.
    let thresh = max * 0.002;
    let r = 5usize;
    let margin = 8usize;
    let mut out = Vec::new();
    for y in margin..h.saturating_sub(margin) {
        for x in margin..w.saturating_sub(margin) {
            let v = resp[y * w + x];
            if v <= thresh {
                continue;
            }
            let mut is_max = true;
            'nms: for yy in y - r..=y + r {
                for xx in x - r..=x + r {
                    let o = resp[yy * w + xx];
                    if o > v || (o == v && (yy, xx) < (y, x)) {
                        is_max = false;
                        break 'nms;
                    }
                }
            }
            if is_max && is_x_junction(s, x as f64, y as f64) {
                out.push((x as f64, y as f64, v));
            }
        }
    }
    out.sort_by(|a, b| b.2.total_cmp(&a.2));
    out
}

/// Four alternating dark/light sectors on a ring around the point, with
/// contrast: what a checkerboard corner looks like and a blob or edge does not.
fn is_x_junction(s: &GreyImage, x: f64, y: f64) -> bool {
    const N: usize = 32;
    for radius in [3.0, 4.0, 6.0] {
        let ring: Vec<f64> = (0..N)
            .map(|k| {
                let t = k as f64 * std::f64::consts::TAU / N as f64;
                s.sample(x + radius * t.cos(), y + radius * t.sin())
            })
            .collect();
        let (lo, hi) = ring
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        if hi - lo < 20.0 {
            continue;
        }
        // An X-junction is point-symmetric (opposite sectors alike); a
        // board's rim against the background often has four sectors but not this.
        let asym = (0..N / 2)
            .map(|k| (ring[k] - ring[k + N / 2]).abs())
            .sum::<f64>()
            / (N / 2) as f64;
        if asym > 0.25 * (hi - lo) {
            continue;
        }
        let mid = (lo + hi) * 0.5;
        let changes: Vec<usize> = (0..N)
            .filter(|&k| (ring[k] > mid) != (ring[(k + 1) % N] > mid))
            .collect();
        // Four sectors, none much narrower than a quarter turn seen at a
        // slant: an edge near a corner gives a lopsided split.
        if changes.len() == 4
            && (0..4).all(|k| (changes[(k + 1) % 4] + N - changes[k]) % N >= N / 10)
        {
            return true;
        }
    }
    false
}

/// Whether the segment a–b runs along the edge between a dark and a light
/// square, as the step between two neighbouring corners does (a diagonal
/// step crosses the middle of one square; clutter rarely has such an edge).
fn is_edge(s: &GreyImage, a: (f64, f64), b: (f64, f64)) -> bool {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len = dx.hypot(dy);
    if len < 4.0 {
        return false;
    }
    let off = (0.2 * len).max(2.0);
    let (nx, ny) = (-dy / len * off, dx / len * off);
    let mut sign = 0.0;
    for t in [0.3, 0.5, 0.7] {
        let (mx, my) = (a.0 + t * dx, a.1 + t * dy);
        let d = s.sample(mx + nx, my + ny) - s.sample(mx - nx, my - ny);
        if d.abs() < 15.0 || d * sign < 0.0 {
            return false;
        }
        sign = d;
    }
    true
}

type Cells = HashMap<(i32, i32), usize>;

/// Grows a grid of candidates from `seed`: its nearest neighbour fixes one
/// axis, the nearest one off that line the other; then cells are added by
/// extrapolating rows and columns, up to two more than the pattern's longer
/// side. Returns the grid's extent and cells (indices from 0); `None` when
/// the seed has no neighbours along board edges.
fn grow_grid(
    smooth: &GreyImage,
    pts: &[(f64, f64)],
    seed: usize,
    pattern: Pattern,
) -> Option<(usize, usize, Cells)> {
    let dist = |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).hypot(a.1 - b.1);
    let c = pts[seed];
    let mut near: Vec<usize> = (0..pts.len()).filter(|&i| i != seed).collect();
    near.sort_by(|&a, &b| dist(pts[a], c).total_cmp(&dist(pts[b], c)));
    let n1 = near
        .iter()
        .take(8)
        .copied()
        .find(|&i| is_edge(smooth, c, pts[i]))?;
    let u = (pts[n1].0 - c.0, pts[n1].1 - c.1);
    let lu = u.0.hypot(u.1);
    let n2 = near.iter().take(8).copied().find(|&i| {
        let d = (pts[i].0 - c.0, pts[i].1 - c.1);
        let ld = d.0.hypot(d.1);
        let sin = (u.0 * d.1 - u.1 * d.0).abs() / (lu * ld);
        sin > 0.5 && ld < 2.0 * lu && is_edge(smooth, c, pts[i])
    })?;
    let mut cells: Cells = HashMap::new();
    let mut used = vec![false; pts.len()];
    for (cell, i) in [((0, 0), seed), ((1, 0), n1), ((0, 1), n2)] {
        cells.insert(cell, i);
        used[i] = true;
    }
    // Board edges and surroundings can add a row or two of X-like junctions
    // beyond the pattern; `best_window` picks the pattern out of them.
    let long = pattern.cols.max(pattern.rows) as i32 + 2;
    let (mut lo, mut hi) = ((0i32, 0i32), (1i32, 1i32));
    let dirs = [(1, 0), (-1, 0), (0, 1), (0, -1)];
    loop {
        let mut added = false;
        let snapshot: Vec<((i32, i32), usize)> = cells.iter().map(|(&k, &v)| (k, v)).collect();
        for ((i, j), idx) in snapshot {
            let p = pts[idx];
            for (di, dj) in dirs {
                let target = (i + di, j + dj);
                if cells.contains_key(&target) {
                    continue;
                }
                let pred = if let Some(&back) = cells.get(&(i - di, j - dj)) {
                    let q = pts[back];
                    (2.0 * p.0 - q.0, 2.0 * p.1 - q.1)
                } else {
                    // A neighbouring row or column already has this step.
                    let side = [(dj, di), (-dj, -di)].into_iter().find_map(|(si, sj)| {
                        let a = cells.get(&(i + si, j + sj))?;
                        let b = cells.get(&(i + si + di, j + sj + dj))?;
                        Some((pts[*b].0 - pts[*a].0, pts[*b].1 - pts[*a].1))
                    });
                    match side {
                        Some(d) => (p.0 + d.0, p.1 + d.1),
                        None => continue,
                    }
                };
                let step = dist(pred, p);
                let best = (0..pts.len())
                    .filter(|&k| !used[k])
                    .min_by(|&a, &b| dist(pts[a], pred).total_cmp(&dist(pts[b], pred)));
                let Some(best) = best else { continue };
                if dist(pts[best], pred) > 0.3 * step || !is_edge(smooth, p, pts[best]) {
                    continue;
                }
                let (nlo, nhi) = (
                    (lo.0.min(target.0), lo.1.min(target.1)),
                    (hi.0.max(target.0), hi.1.max(target.1)),
                );
                if nhi.0 - nlo.0 + 1 > long || nhi.1 - nlo.1 + 1 > long {
                    // Past any board of this pattern: the grid is kept as
                    // is, and `best_window` refuses it if it is all board.
                    continue;
                }
                (lo, hi) = (nlo, nhi);
                cells.insert(target, best);
                used[best] = true;
                added = true;
            }
        }
        if !added {
            break;
        }
    }
    let (nx, ny) = ((hi.0 - lo.0 + 1) as usize, (hi.1 - lo.1 + 1) as usize);
    let cells = cells
        .into_iter()
        .map(|((i, j), v)| ((i - lo.0, j - lo.1), v))
        .collect();
    Some((nx, ny, cells))
}

/// The complete pattern-sized window of a grown grid whose corners respond
/// most strongly (stray junctions at the board's rim respond weaker than
/// inner corners); `None` if no window is complete. A window with a complete
/// line of corners beside it is refused: the board is bigger than the pattern.
fn best_window(
    pattern: Pattern,
    (nx, ny): (usize, usize),
    cells: &Cells,
    strength: &[f64],
) -> Option<((usize, usize), Cells)> {
    let mut best: Option<(f64, (usize, usize), Cells)> = None;
    for (wx, wy) in [(pattern.cols, pattern.rows), (pattern.rows, pattern.cols)] {
        if wx > nx || wy > ny {
            continue;
        }
        for x0 in 0..=(nx - wx) as i32 {
            for y0 in 0..=(ny - wy) as i32 {
                let mut win = Cells::new();
                let mut score = 0.0;
                for i in 0..wx as i32 {
                    for j in 0..wy as i32 {
                        if let Some(&k) = cells.get(&(x0 + i, y0 + j)) {
                            win.insert((i, j), k);
                            score += strength[k];
                        }
                    }
                }
                let full_x = |x: i32| (y0..y0 + wy as i32).all(|y| cells.contains_key(&(x, y)));
                let full_y = |y: i32| (x0..x0 + wx as i32).all(|x| cells.contains_key(&(x, y)));
                let bigger = full_x(x0 - 1)
                    || full_x(x0 + wx as i32)
                    || full_y(y0 - 1)
                    || full_y(y0 + wy as i32);
                if win.len() == pattern.len()
                    && !bigger
                    && best.as_ref().is_none_or(|b| score > b.0)
                {
                    best = Some((score, (wx, wy), win));
                }
            }
        }
    }
    best.map(|(_, size, win)| (size, win))
}

/// Puts a complete grid into OpenCV's order; `None` if it is not the pattern.
fn order(
    smooth: &GreyImage,
    pts: &[(f64, f64)],
    pattern: Pattern,
    (nx, ny): (usize, usize),
    cells: &Cells,
) -> Option<Vec<(f64, f64)>> {
    if cells.len() != pattern.len() {
        return None;
    }
    let (cols, rows) = (pattern.cols, pattern.rows);
    let transpose = if (nx, ny) == (cols, rows) {
        false
    } else if (nx, ny) == (rows, cols) {
        true
    } else {
        return None;
    };
    let mut g = Vec::with_capacity(pattern.len());
    for r in 0..rows as i32 {
        for c in 0..cols as i32 {
            let key = if transpose { (r, c) } else { (c, r) };
            g.push(pts[*cells.get(&key)?]);
        }
    }
    let at = |g: &[(f64, f64)], c: usize, r: usize| g[r * cols + c];
    // Rows must turn clockwise into columns (image y points down).
    let (o, x1, y1) = (at(&g, 0, 0), at(&g, 1, 0), at(&g, 0, 1));
    let cross = (x1.0 - o.0) * (y1.1 - o.1) - (x1.1 - o.1) * (y1.0 - o.0);
    if cross < 0.0 {
        g = (0..rows)
            .flat_map(|r| (0..cols).map(move |c| (c, rows - 1 - r)))
            .map(|(c, r)| at(&g, c, r))
            .collect();
    }
    // OpenCV starts at the corner whose inner diagonal square is dark; for
    // cols + rows odd the half-turned board starts at a light one.
    let square = |g: &[(f64, f64)], c: usize, r: usize| {
        let q = [
            at(g, c, r),
            at(g, c + 1, r),
            at(g, c, r + 1),
            at(g, c + 1, r + 1),
        ];
        let (x, y) = q
            .iter()
            .fold((0.0, 0.0), |(x, y), p| (x + p.0 / 4.0, y + p.1 / 4.0));
        smooth.sample(x, y)
    };
    if square(&g, 0, 0) > square(&g, 1, 0) {
        g.reverse();
    }
    Some(g)
}

fn min_spacing(corners: &[(f64, f64)], pattern: Pattern) -> f64 {
    let mut best = f64::MAX;
    for r in 0..pattern.rows {
        for c in 0..pattern.cols {
            let p = corners[r * pattern.cols + c];
            if c + 1 < pattern.cols {
                let q = corners[r * pattern.cols + c + 1];
                best = best.min((p.0 - q.0).hypot(p.1 - q.1));
            }
            if r + 1 < pattern.rows {
                let q = corners[(r + 1) * pattern.cols + c];
                best = best.min((p.0 - q.0).hypot(p.1 - q.1));
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A board of `(cols + 1) x (rows + 1)` squares of `sq` px with a white
    /// margin, seen through the homography `h` (board px → image px), 4×4
    /// supersampled. Square (0, 0) is dark, as on a printed OpenCV board.
    fn render(cols: usize, rows: usize, sq: f64, h: [[f64; 3]; 3]) -> GreyImage {
        let (w, ht) = (640usize, 480usize);
        // Invert h to map image → board.
        let m = h;
        let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
        let inv = [
            [
                (m[1][1] * m[2][2] - m[1][2] * m[2][1]) / det,
                (m[0][2] * m[2][1] - m[0][1] * m[2][2]) / det,
                (m[0][1] * m[1][2] - m[0][2] * m[1][1]) / det,
            ],
            [
                (m[1][2] * m[2][0] - m[1][0] * m[2][2]) / det,
                (m[0][0] * m[2][2] - m[0][2] * m[2][0]) / det,
                (m[0][2] * m[1][0] - m[0][0] * m[1][2]) / det,
            ],
            [
                (m[1][0] * m[2][1] - m[1][1] * m[2][0]) / det,
                (m[0][1] * m[2][0] - m[0][0] * m[2][1]) / det,
                (m[0][0] * m[1][1] - m[0][1] * m[1][0]) / det,
            ],
        ];
        let mut data = vec![0.0f32; w * ht];
        for y in 0..ht {
            for x in 0..w {
                let mut acc = 0.0;
                for sy in 0..4 {
                    for sx in 0..4 {
                        let (u, v) = (
                            x as f64 + (sx as f64 - 1.5) / 4.0,
                            y as f64 + (sy as f64 - 1.5) / 4.0,
                        );
                        let z = inv[2][0] * u + inv[2][1] * v + inv[2][2];
                        let bx = (inv[0][0] * u + inv[0][1] * v + inv[0][2]) / z;
                        let by = (inv[1][0] * u + inv[1][1] * v + inv[1][2]) / z;
                        // Board squares start one square before corner (0, 0).
                        let (i, j) = ((bx / sq).floor() as i64 + 1, (by / sq).floor() as i64 + 1);
                        let on = (0..=cols as i64).contains(&i) && (0..=rows as i64).contains(&j);
                        acc += if on && (i + j) % 2 == 0 { 30.0 } else { 220.0 };
                    }
                }
                data[y * w + x] = (acc / 16.0f64).round() as f32;
            }
        }
        GreyImage {
            width: w,
            height: ht,
            data,
        }
    }

    fn project(h: &[[f64; 3]; 3], x: f64, y: f64) -> (f64, f64) {
        let z = h[2][0] * x + h[2][1] * y + h[2][2];
        (
            (h[0][0] * x + h[0][1] * y + h[0][2]) / z,
            (h[1][0] * x + h[1][1] * y + h[1][2]) / z,
        )
    }

    const TILTED: [[f64; 3]; 3] = [
        [0.9, 0.15, 150.0],
        [-0.1, 0.85, 120.0],
        [0.0003, 0.0002, 1.0],
    ];

    #[test]
    fn tilted_board_corners_are_found_in_opencv_order_to_a_tenth_pixel() {
        let img = render(9, 6, 32.0, TILTED);
        let corners = find_corners(&img, Pattern { cols: 9, rows: 6 }).unwrap();
        for (k, c) in corners.iter().enumerate() {
            let truth = project(&TILTED, (k % 9) as f64 * 32.0, (k / 9) as f64 * 32.0);
            let d = (c.0 - truth.0).hypot(c.1 - truth.1);
            assert!(d < 0.1, "corner {k}: {c:?} vs {truth:?}");
        }
    }

    #[test]
    fn small_and_large_squares_are_found_alike() {
        // Squares from about 9 px (a board across a room) to 40 px.
        for sq in [10.0, 16.0, 45.0] {
            let img = render(9, 6, sq, TILTED);
            let corners = find_corners(&img, Pattern { cols: 9, rows: 6 })
                .unwrap_or_else(|e| panic!("squares of {sq}: {e}"));
            let last = project(&TILTED, 8.0 * sq, 5.0 * sq);
            let d = (corners[53].0 - last.0).hypot(corners[53].1 - last.1);
            assert!(d < 0.15, "squares of {sq}: {:?} vs {last:?}", corners[53]);
        }
    }

    #[test]
    fn half_turned_board_still_starts_at_the_dark_inner_square() {
        // Rotating the board 180° in the image must not change which
        // physical corner comes first.
        let turned = [
            [-TILTED[0][0], -TILTED[0][1], 640.0 - TILTED[0][2]],
            [-TILTED[1][0], -TILTED[1][1], 480.0 - TILTED[1][2]],
            [-TILTED[2][0], -TILTED[2][1], 1.0],
        ];
        let img = render(9, 6, 32.0, turned);
        let corners = find_corners(&img, Pattern { cols: 9, rows: 6 }).unwrap();
        let first = project(&turned, 0.0, 0.0);
        assert!(
            (corners[0].0 - first.0).hypot(corners[0].1 - first.1) < 0.1,
            "{:?} vs {first:?}",
            corners[0]
        );
    }

    #[test]
    fn board_with_more_corners_than_the_pattern_is_not_found() {
        let img = render(9, 6, 32.0, TILTED);
        let err = find_corners(&img, Pattern { cols: 8, rows: 6 }).unwrap_err();
        assert!(matches!(err, NotFound::NoGrid), "{err}");
    }

    #[test]
    fn blank_image_reports_too_few_corners() {
        let img = GreyImage {
            width: 320,
            height: 240,
            data: vec![128.0; 320 * 240],
        };
        let err = find_corners(&img, Pattern { cols: 9, rows: 6 }).unwrap_err();
        assert!(err.to_string().contains("board in view"), "{err}");
    }

    #[test]
    fn pattern_parses_inner_corners_and_refuses_nonsense() {
        assert_eq!("9x6".parse::<Pattern>(), Ok(Pattern { cols: 9, rows: 6 }));
        assert!("9".parse::<Pattern>().unwrap_err().contains("COLSxROWS"));
        assert!("2x6"
            .parse::<Pattern>()
            .unwrap_err()
            .contains("inner corners"));
    }
}
