#!/usr/bin/env python3
"""Reference extrinsics from OpenCV for the calibration agreement test.

For several camera geometries (with and without lens distortion), floor markers
(z = 0, cm) are projected with cv2.projectPoints, rounded to 0.01 px and
perturbed by a seeded 0.3 px noise, as a tape-and-click survey would be; then
cv2.solvePnP (SOLVEPNP_ITERATIVE) recovers rvec/tvec, and cv2.projectPoints
gives the reprojections. Written to tests/golden/calibration/<case>.json.

usage: bash tests/golden/make_calibration_golden.sh
"""
import json
import os
import sys

import cv2
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "calibration")

CASES = [
    # name, fx, fy, cx, cy, distortion, camera height cm, tilt deg, yaw deg, markers (cm)
    ("h300_tilt45_nodist", 900, 900, 640, 360, [0, 0, 0, 0, 0], 300, 45, 0,
     [[-150, 200], [150, 200], [150, 500], [-150, 500], [0, 350]]),
    ("h450_tilt60_barrel", 1100, 1095, 960, 540, [-0.28, 0.09, 0.001, -0.0008, -0.01], 450, 60, 15,
     [[-200, 100], [200, 120], [220, 420], [-180, 400], [0, 250], [90, 330]]),
    ("h250_tilt30_mild", 600, 600, 384, 288, [-0.08, 0.01, 0, 0, 0], 250, 30, -20,
     [[-100, 300], [120, 320], [140, 700], [-120, 650]]),
]


def pose(height, tilt_deg, yaw_deg):
    t, y = np.radians(tilt_deg), np.radians(yaw_deg)
    # Camera looking along world +y (rotated by yaw about z), tilted down.
    fwd = np.array([np.sin(y) * np.cos(t), np.cos(y) * np.cos(t), -np.sin(t)])
    right = np.array([np.cos(y), -np.sin(y), 0.0])
    down = np.cross(fwd, right)
    R = np.stack([right, down, fwd])
    C = np.array([0.0, 0.0, float(height)])
    return R, -R @ C


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261123)
    for name, fx, fy, cx, cy, dist, h, tilt, yaw, markers in CASES:
        K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=np.float64)
        D = np.array(dist, dtype=np.float64)
        R, t = pose(h, tilt, yaw)
        rvec_true, _ = cv2.Rodrigues(R)
        obj = np.array([[x, y, 0.0] for x, y in markers], dtype=np.float64)
        img, _ = cv2.projectPoints(obj, rvec_true, t, K, D)
        img = np.round(img.reshape(-1, 2) + rng.normal(0, 0.3, (len(obj), 2)), 2)
        ok, rvec, tvec = cv2.solvePnP(obj, img, K, D, flags=cv2.SOLVEPNP_ITERATIVE)
        assert ok, name
        reproj, _ = cv2.projectPoints(obj, rvec, tvec, K, D)
        out = {
            "case": name,
            "opencv": cv2.__version__,
            "intrinsics": {"fx": fx, "fy": fy, "cx": cx, "cy": cy, "distortion": dist},
            "floor_cm": [[float(x), float(y)] for x, y in markers],
            "pixels": img.tolist(),
            "rvec": rvec.ravel().tolist(),
            "tvec": tvec.ravel().tolist(),
            "reprojected": reproj.reshape(-1, 2).tolist(),
        }
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(out, f, indent=1)
        print(name, "rvec", rvec.ravel(), "tvec", tvec.ravel(), file=sys.stderr)


if __name__ == "__main__":
    main()
