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

The cut model has the same input and these outputs, each [1, C, H/4, W/4]:

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

import onnx
from onnx import utils

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


def main():
    src, dst = sys.argv[1:3]
    m = onnx.shape_inference.infer_shapes(onnx.load(src))
    produced = {o for n in m.graph.node for o in n.output}
    missing = [t for t in HEADS if t not in produced]
    if missing:
        sys.exit(f"{src}: no tensors {missing}; is it models/convert_movenet.sh's output?")
    cut = utils.Extractor(m).extract_model([m.graph.input[0].name], list(HEADS))
    for n in cut.graph.node:
        n.output[:] = [HEADS.get(o, o) for o in n.output]
    for o in cut.graph.output:
        o.name = HEADS[o.name]
    del cut.graph.value_info[:]
    cut.doc_string = ("MoveNet MultiPose Lightning up to its heads (decoding cut off by "
                      "models/cut_movenet.py; sortwatch decodes them)")
    onnx.checker.check_model(cut)
    onnx.save(cut, dst)


if __name__ == "__main__":
    main()
