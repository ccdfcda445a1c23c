#!/usr/bin/env python3
"""Reference intrinsics from OpenCV for the checkerboard agreement test.

Runs cv2.findChessboardCorners + cv2.cornerSubPix (winSize (5, 5), i.e. an
11x11 window, as sortwatch uses) + cv2.calibrateCamera (default model: fx, fy, cx, cy,
k1, k2, p1, p2, k3) on OpenCV's own sample images left*.jpg (9x6 inner
corners), and writes the corners, K, distortion and RMS to
tests/golden/intrinsics/opencv_left.json.

usage: bash tests/golden/make_intrinsics_golden.sh
"""
import glob
import json
import os

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "intrinsics", "opencv_left.json")
DATA = "/usr/share/doc/opencv-doc/examples/data"
PATTERN = (9, 6)
SQUARE = 1.0  # board units: K does not depend on the square size


def main():
    paths = sorted(glob.glob(os.path.join(DATA, "left[0-9][0-9].jpg")))
    obj = np.zeros((PATTERN[0] * PATTERN[1], 3), np.float32)
    obj[:, :2] = np.mgrid[0:PATTERN[0], 0:PATTERN[1]].T.reshape(-1, 2) * SQUARE
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.001)
    views, objs, imgs, size = [], [], [], None
    for p in paths:
        g = cv2.imread(p, cv2.IMREAD_GRAYSCALE)
        size = (g.shape[1], g.shape[0])
        ok, c = cv2.findChessboardCorners(g, PATTERN)
        if not ok:
            continue
        c = cv2.cornerSubPix(g, c, (5, 5), (-1, -1), crit)
        views.append({"image": os.path.basename(p), "corners": c.reshape(-1, 2).tolist()})
        objs.append(obj)
        imgs.append(c)
    rms, K, D, rvecs, tvecs = cv2.calibrateCamera(objs, imgs, size, None, None)
    for v, o, i, r, t in zip(views, objs, imgs, rvecs, tvecs):
        proj, _ = cv2.projectPoints(o, r, t, K, D)
        e = np.linalg.norm(proj.reshape(-1, 2) - i.reshape(-1, 2), axis=1)
        v["rms_px"] = float(np.sqrt(np.mean(e**2)))
    out = {
        "opencv": cv2.__version__,
        "pattern": list(PATTERN),
        "image_width": size[0],
        "image_height": size[1],
        "fx": K[0, 0], "fy": K[1, 1], "cx": K[0, 2], "cy": K[1, 2],
        "distortion": D.reshape(-1).tolist(),
        "rms_px": rms,
        "views": views,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
    print(f"{len(views)}/{len(paths)} views, rms {rms:.4f}, K {K[0,0]:.3f} {K[1,1]:.3f} {K[0,2]:.3f} {K[1,2]:.3f}, D {D.ravel()}")


if __name__ == "__main__":
    main()
