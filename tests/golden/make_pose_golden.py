#!/usr/bin/env python3
"""Make ONNX Runtime (Python) goldens for the MoveNet MultiPose ONNX model.

Run through `bash tests/golden/make_pose_golden.sh`. For each case NAME it
writes into tests/golden/pose/:

  NAME.png   the exact model input: RGB8, H and W multiples of 32, lossless
  NAME.json  {"case", "input_png", "input_shape": [1,H,W,3],
              "output_shape": [1,6,56], "output": [336 floats],
              "onnxruntime", "model_sha256", "source"}

`output` is output_0 flattened in C order, each float32 written as the double
it converts to exactly (so parsing as f64 and casting to f32 is lossless).
The model is run with default session options on the CPU execution provider
with the PNG (as decoded back from disk) as int32 [1,H,W,3].

Cases:
  astronaut_256          scikit-image astronaut (512x512) downsampled 2x by
                         2x2 box averaging, rounded half up: (a+b+c+d+2)//4
  astronaut_512          scikit-image astronaut, native 512x512
  vtest_fNNNN_576x768    frame NNNN (0-based decode order) of OpenCV's CCTV
                         sample vtest.avi (768x576, 10 fps, msmpeg4v3),
                         decoded to rgb24 by the ffmpeg CLI, native size
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image
from skimage import data

VTEST_FRAMES = (50, 300, 600)
FFMPEG_CMD = ("ffmpeg -v error -i vtest.avi -vf 'select=eq(n\\,{n})' -vsync 0 "
              "-frames:v 1 -pix_fmt rgb24 -f rawvideo -")


def log(msg):
    print(f"make_pose_golden: {msg}", file=sys.stderr, flush=True)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def box_down2(img):
    h, w, c = img.shape
    s = img.reshape(h // 2, 2, w // 2, 2, c).astype(np.uint32).sum(axis=(1, 3))
    return ((s + 2) // 4).astype(np.uint8)


def vtest_frame(path, n, width=768, height=576):
    cmd = ["ffmpeg", "-v", "error", "-i", path, "-vf", f"select=eq(n\\,{n})",
           "-vsync", "0", "-frames:v", "1", "-pix_fmt", "rgb24", "-f", "rawvideo", "-"]
    raw = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout
    if len(raw) != width * height * 3:
        raise RuntimeError(f"frame {n}: got {len(raw)} bytes from ffmpeg, "
                           f"want {width * height * 3}")
    return np.frombuffer(raw, np.uint8).reshape(height, width, 3).copy()


def ffmpeg_version():
    out = subprocess.run(["ffmpeg", "-version"], check=True, stdout=subprocess.PIPE,
                         text=True).stdout
    return out.splitlines()[0].split(" Copyright")[0]


def cases(vtest):
    astro = data.astronaut()
    assert astro.shape == (512, 512, 3) and astro.dtype == np.uint8
    skv = __import__("skimage").__version__
    yield ("astronaut_256", box_down2(astro),
           f"skimage.data.astronaut() (scikit-image {skv}, 512x512 RGB) downsampled 2x "
           "by 2x2 box averaging with rounding half up: (a+b+c+d+2)//4")
    yield ("astronaut_512", astro,
           f"skimage.data.astronaut() (scikit-image {skv}), native 512x512 RGB")
    ffv = ffmpeg_version()
    for n in VTEST_FRAMES:
        yield (f"vtest_f{n:04d}_576x768", vtest_frame(vtest, n),
               f"frame index {n} (0-based, decode order) of OpenCV's sample vtest.avi "
               f"(Debian opencv-doc, sha256 {sha256(vtest)}), native 768x576, extracted "
               f"with `{FFMPEG_CMD.format(n=n)}` ({ffv})")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.abspath(os.path.join(here, "..", ".."))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.path.join(root, "models", "movenet-multipose.onnx"))
    ap.add_argument("--vtest", default="/usr/share/doc/opencv-doc/examples/data/vtest.avi")
    ap.add_argument("--out-dir", default=os.path.join(here, "pose"))
    args = ap.parse_args()

    os.makedirs(args.out_dir, exist_ok=True)
    model_sha = sha256(args.model)
    sess = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    inp, out = sess.get_inputs()[0], sess.get_outputs()[0]
    log(f"onnxruntime {ort.__version__}, model sha256 {model_sha}")
    log(f"input {inp.name} {inp.type} {inp.shape}; output {out.name} {out.type} {out.shape}")
    assert inp.name == "input" and out.name == "output_0"

    for name, img, source in cases(args.vtest):
        h, w, _ = img.shape
        assert h % 32 == 0 and w % 32 == 0, (name, img.shape)
        png = os.path.join(args.out_dir, name + ".png")
        Image.fromarray(img, "RGB").save(png, optimize=True)
        back = np.asarray(Image.open(png).convert("RGB"))
        assert back.shape == img.shape and np.array_equal(back, img), "PNG round trip"
        x = back[None].astype(np.int32)
        y = sess.run(["output_0"], {"input": x})[0]
        assert y.shape == (1, 6, 56) and y.dtype == np.float32 and np.all(np.isfinite(y))
        doc = {
            "case": name,
            "input_png": name + ".png",
            "input_shape": [1, h, w, 3],
            "output_shape": list(y.shape),
            "output": [float(v) for v in y.reshape(-1)],
            "onnxruntime": ort.__version__,
            "model_sha256": model_sha,
            "source": source,
        }
        with open(os.path.join(args.out_dir, name + ".json"), "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        scores = y[0, :, 55]
        best = int(np.argmax(scores))
        log(f"{name}: {w}x{h}, person scores {[round(float(v), 3) for v in scores]}, "
            f"best #{best} box(ymin,xmin,ymax,xmax)={[round(float(v), 3) for v in y[0, best, 51:55]]}")


if __name__ == "__main__":
    main()
