#!/usr/bin/env python3
"""Cuts MoveNet MultiPose's in-graph decoding off, leaving the network and its heads.

    python3 models/cut_movenet.py models/movenet-multipose.onnx models/movenet-multipose-heads.onnx

Needs only the `onnx` package (models/convert_movenet.sh runs it in its venv).

The float model ends in a CenterNet decoder built from about 260 small ONNX
operators (a 5x5 max-pool peak search on the person-centre heatmap, TopK, and
a Gaussian-weighted arg-max of every keypoint heatmap for every person over
an H/4 x W/4 x 6 x 17 tensor). On one core it is about a fifth of the model's
time. sortwatch decodes the heads itself in src/pose/centernet.rs, one fused
loop, to the same output (tests/pose_parity.rs checks both against Python
onnxruntime on the full model).

The pixel normalisation at the start is cut off too: five operators (Cast,
Sub, Mul, Sub, Transpose) over the whole input, about 8% of the model's time
on one core, because ONNX Runtime broadcasts the per-channel constants
slowly. sortwatch writes the normalised planar input itself. The cut model's
input is `input`, float32 [1, 3, H, W] (NCHW, RGB), each value
pixel * 0.0078430176 - 1 (the graph's own 1/127.5, rounded to float16;
INPUT_SCALE in src/pose/movenet.rs), H and W multiples of 32.

Its outputs, each [1, C, H/4, W/4]:

| output | C | what |
| --- | --- | --- |
| keypoint_heatmap | 17 | sigmoid keypoint heatmaps |
| center_heatmap | 1 | sigmoid person-centre heatmap |
| box_size | 2 | box height, width (cells; negative means 0) |
| box_offset | 2 | sub-cell offset (y, x) of the box centre |
| keypoint_regression | 34 | (y, x) of each keypoint relative to the centre cell |
| keypoint_offset | 34 | sub-cell offset (y, x) of each keypoint on its heatmap |
"""

import sys

import numpy as np
import onnx
from onnx import numpy_helper, utils

# The tensors where the heads end and the decoding starts (names as
# models/convert_movenet.py canonicalises them).
HEADS = {
    "Sigmoid_160:0": "keypoint_heatmap",
    "Sigmoid_189:0": "center_heatmap",
    "Conv_149:0": "box_size",
    "Conv_183:0": "box_offset",
    "Conv_177:0": "keypoint_regression",
    "Conv_154:0": "keypoint_offset",
}

# The pre-processing the cut removes, as (operator, constant operand) from the
# input on; sortwatch computes exactly this (src/pose/movenet.rs).
INPUT_SCALE = np.array(0x3C008000, np.uint32).view(np.float32)  # 1/127.5 in float16
PREPROCESS = [("Cast", None), ("Sub", 0.0), ("Mul", INPUT_SCALE), ("Sub", 1.0),
              ("Transpose", None)]


def preprocessed_tensor(m):
    """The tensor after the input's normalisation and NHWC -> NCHW transpose,
    checking that the graph does exactly what sortwatch does instead."""
    consts = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    tensor = m.graph.input[0].name
    for op, want in PREPROCESS:
        users = [n for n in m.graph.node if tensor in n.input]
        if len(users) != 1 or users[0].op_type != op:
            sys.exit(f"unexpected pre-processing at {tensor}: {[n.op_type for n in users]}, expected {op}")
        n = users[0]
        if op == "Transpose":
            perm = [a.ints for a in n.attribute if a.name == "perm"][0]
            if list(perm) != [0, 3, 1, 2]:
                sys.exit(f"{n.name}: perm {list(perm)}, expected NHWC -> NCHW")
        elif want is not None:
            c = np.unique(consts[n.input[1]].astype(np.float32))
            if c.size != 1 or c[0] != want:
                sys.exit(f"{n.name}: constant {c}, expected {want}")
        tensor = n.output[0]
    return tensor


def main():
    src, dst = sys.argv[1:3]
    m = onnx.shape_inference.infer_shapes(onnx.load(src))
    produced = {o for n in m.graph.node for o in n.output}
    missing = [t for t in HEADS if t not in produced]
    if missing:
        sys.exit(f"{src}: no tensors {missing}; is it models/convert_movenet.sh's output?")
    start = preprocessed_tensor(m)
    cut = utils.Extractor(m).extract_model([start], list(HEADS))
    for n in cut.graph.node:
        n.input[:] = ["input" if i == start else i for i in n.input]
        n.output[:] = [HEADS.get(o, o) for o in n.output]
    cut.graph.input[0].name = "input"
    for o in cut.graph.output:
        o.name = HEADS[o.name]
    del cut.graph.value_info[:]
    cut.doc_string = ("MoveNet MultiPose Lightning from its normalised NCHW input up to its heads "
                      "(pre-processing and decoding cut off by models/cut_movenet.py; "
                      "sortwatch does both)")
    onnx.checker.check_model(cut)
    onnx.save(cut, dst)


if __name__ == "__main__":
    main()
