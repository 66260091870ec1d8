"""NMS in the graph: the decode and ONNX `NonMaxSuppression` appended to an anchor-free detector,
so the model outputs final boxes (an end2end head) and needs no post-processing beyond the map
back to the frame (for runtimes that take only an ONNX file, or a TensorRT build that fuses it).

The appended tail, from the raw head (B, 4 [+1] + C, N) (or candidates first):
    boxes cx, cy, w, h -> x1, y1, x2, y2 (network px); class scores (times objectness)
    per class (the best class of each candidate only, as the kernel does unless multi_label),
    or class-agnostic over each candidate's best score
    NonMaxSuppression(max_detections per class, iou_threshold, score_threshold)
    the kept scores scattered into a (B, C, N) grid of -1, TopK(max_detections) over it
    -> rows (B, max_detections, 6): x1, y1, x2, y2, score, class; rows past the kept boxes
       have score -1 (below every threshold: the end2end head drops them).
The output keeps the raw output's name; the manifest's head becomes kind end2end, nms graph.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mmedge.errors import ExportError
from mmedge.tasks import DetectionHead

TAIL_OPS = ("NonMaxSuppression", "TopK", "ScatterND", "GatherND", "GatherElements")  # float32


def end2end_head(head: DetectionHead, output: str) -> DetectionHead:
    """The manifest head of a graph with the tail appended."""
    return replace(
        head, kind="end2end", layout="candidates_first", box_format="xyxy", objectness=False,
        nms="graph", output=output, multi_label=False,
    )  # fmt: skip


def _keep(head: DetectionHead, num_classes: int, candidates: int) -> int:
    """Rows of the output: max_detections, or fewer when the grid has fewer cells."""
    return min(head.max_detections, candidates * (1 if head.class_agnostic else num_classes))


def _const(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def _decode_nodes(head: DetectionHead, raw: str, opset: int) -> list[onnx.NodeProto]:
    """Raw head -> boxes x1, y1, x2, y2 (B, N, 4) 'xyxy', class scores (B, C, N) 'scores' and
    the scores NMS sees 'nms_scores' (names prefixed)."""
    p = "mmedge_nms_"
    n: list[onnx.NodeProto] = []
    node = helper.make_node
    t = p + "t"
    if head.channels_first:
        n.append(node("Transpose", [raw], [t], perm=[0, 2, 1]))  # (B, N, V)
    else:
        n.append(node("Identity", [raw], [t]))
    n += [
        node("Slice", [t, p + "s0", p + "s4", p + "ax2"], [p + "box"]),
        node("Slice", [t, p + ("s5" if head.objectness else "s4"), p + "send", p + "ax2"],
             [p + "cls"]),
    ]  # fmt: skip
    cls = p + "cls"
    if head.objectness:
        n += [
            node("Slice", [t, p + "s4", p + "s5", p + "ax2"], [p + "obj"]),
            node("Mul", [cls, p + "obj"], [p + "cls_obj"]),
        ]
        cls = p + "cls_obj"
    if head.box_format == "cxcywh":
        n += [
            node("Slice", [p + "box", p + "s0", p + "s2", p + "ax2"], [p + "xy"]),
            node("Slice", [p + "box", p + "s2", p + "s4", p + "ax2"], [p + "wh"]),
            node("Mul", [p + "wh", p + "half"], [p + "half_wh"]),
            node("Sub", [p + "xy", p + "half_wh"], [p + "x1y1"]),
            node("Add", [p + "xy", p + "half_wh"], [p + "x2y2"]),
            node("Concat", [p + "x1y1", p + "x2y2"], [p + "xyxy"], axis=2),
        ]
    else:
        n.append(node("Identity", [p + "box"], [p + "xyxy"]))
    n += [
        node("Transpose", [cls], [p + "scores"], perm=[0, 2, 1]),  # (B, C, N)
        node("ReduceMax", [p + "scores", p + "ax1"], [p + "best"], keepdims=1)  # (B, 1, N)
        if opset >= 18
        else node("ReduceMax", [p + "scores"], [p + "best"], keepdims=1, axes=[1]),
    ]
    if head.class_agnostic:
        n.append(node("Identity", [p + "best"], [p + "nms_scores"]))
    elif head.multi_label:
        n.append(node("Identity", [p + "scores"], [p + "nms_scores"]))
    else:  # each candidate competes in its best class only
        n += [
            node("Equal", [p + "scores", p + "best"], [p + "is_best"]),
            node("Where", [p + "is_best", p + "scores", p + "minus1"], [p + "nms_scores"]),
        ]
    return n


def tail_nodes(
    head: DetectionHead, raw: str, rows: str, num_classes: int, candidates: int, opset: int
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """The nodes and constants from the raw head tensor `raw` to the end2end rows `rows`, for
    ONNX opset `opset` (>= 13; ReduceMax takes its axes as an input from 18)."""
    if head.kind != "anchor_free":
        raise ExportError(f"NMS in the graph needs an anchor_free head, got {head.kind}")
    keep = _keep(head, num_classes, candidates)
    first = 5 if head.objectness else 4
    p = "mmedge_nms_"
    ints = {"s0": [0], "s2": [2], "s4": [4], "s5": [5], "send": [first + num_classes],
            "ax1": [1], "ax2": [2], "max_out": [keep], "k": [keep], "n": candidates,
            "flat": [0, -1], "four": [4]}  # fmt: skip
    floats = {"half": 0.5, "minus1": -1.0, "iou": [head.iou_threshold],
              "score": [head.score_threshold]}  # fmt: skip
    n: list[onnx.NodeProto] = []
    c = [_const(p + k, np.array(v, np.int64)) for k, v in ints.items()]
    c += [_const(p + k, np.array(v, np.float32)) for k, v in floats.items()]
    n += _decode_nodes(head, raw, opset)
    node = helper.make_node
    s = p + "nms_scores"
    n += [
        node(
            "NonMaxSuppression",
            [p + "xyxy", s, p + "max_out", p + "iou", p + "score"],
            [p + "selected"],
            center_point_box=0,
        ),
        node("GatherND", [s, p + "selected"], [p + "kept"]),
        node("Shape", [s], [p + "grid_shape"]),
        node("Expand", [p + "minus1", p + "grid_shape"], [p + "empty"]),
        node("ScatterND", [p + "empty", p + "selected", p + "kept"], [p + "grid"]),
        node("Reshape", [p + "grid", p + "flat"], [p + "flat_grid"]),
        node("TopK", [p + "flat_grid", p + "k"], [p + "top", p + "top_idx"], axis=1),
        node("Mod", [p + "top_idx", p + "n"], [p + "cand"]),
    ]
    if head.class_agnostic:
        n += [
            node("ArgMax", [p + "scores"], [p + "argmax"], axis=1, keepdims=0),  # (B, N)
            node("GatherElements", [p + "argmax", p + "cand"], [p + "class_i"], axis=1),
        ]
    else:
        n.append(node("Div", [p + "top_idx", p + "n"], [p + "class_i"]))
    n += [
        node("Unsqueeze", [p + "cand", p + "ax2"], [p + "cand3"]),
        node("Shape", [p + "cand"], [p + "bk"]),
        node("Concat", [p + "bk", p + "four"], [p + "bk4"], axis=0),
        node("Expand", [p + "cand3", p + "bk4"], [p + "cand4"]),
        node("GatherElements", [p + "xyxy", p + "cand4"], [p + "top_box"], axis=1),
        node("Unsqueeze", [p + "top", p + "ax2"], [p + "top3"]),
        node("Cast", [p + "class_i"], [p + "class_f"], to=TensorProto.FLOAT),
        node("Unsqueeze", [p + "class_f", p + "ax2"], [p + "class3"]),
        node("Concat", [p + "top_box", p + "top3", p + "class3"], [rows], axis=2),
    ]
    used = {i for x in n for i in x.input}
    return n, [x for x in c if x.name in used]


def _candidates(head: DetectionHead, shape: list) -> int:
    dim = shape[2] if head.channels_first else shape[1]
    if not isinstance(dim, int) or dim < 1:
        raise ExportError(
            f"NMS in the graph needs a fixed number of candidates; the head output has shape "
            f"{shape}"
        )
    return dim


def append_nms(
    model: onnx.ModelProto, head: DetectionHead, num_classes: int, output: str, shape: list
) -> onnx.ModelProto:
    """A copy of `model` whose output `output` (raw head of `shape`, batch first) becomes the
    end2end rows under the same name."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    raw = output + "_raw"
    for node in graph.node:
        node.output[:] = [raw if o == output else o for o in node.output]
    opset = max((i.version for i in out.opset_import if i.domain in ("", "ai.onnx")), default=0)
    if opset < 13:
        raise ExportError(f"NMS in the graph needs ONNX opset >= 13, the model has {opset}")
    nodes, consts = tail_nodes(head, raw, output, num_classes, _candidates(head, shape), opset)
    graph.node.extend(nodes)
    graph.initializer.extend(consts)
    keep = min(
        head.max_detections, _candidates(head, shape) * (1 if head.class_agnostic else num_classes)
    )
    for o in graph.output:
        if o.name == output:
            o.type.CopyFrom(helper.make_tensor_type_proto(TensorProto.FLOAT, ["batch", keep, 6]))
    onnx.checker.check_model(out)
    return out


def apply_tail(raw: np.ndarray, head: DetectionHead, num_classes: int) -> np.ndarray:
    """The end2end rows of raw head outputs (B, ...) through the same tail, in ONNX Runtime:
    what the exported graph gives for PyTorch's own raw outputs (the parity reference)."""
    import onnxruntime as ort

    shape = ["batch", *raw.shape[1:]]
    candidates = _candidates(head, shape)
    nodes, consts = tail_nodes(head, "raw", "rows", num_classes, candidates, 17)
    graph = helper.make_graph(
        nodes, "mmedge_nms_tail",
        [helper.make_tensor_value_info("raw", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("rows", TensorProto.FLOAT, None)],
        consts,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"raw": np.ascontiguousarray(raw, np.float32)})[0]


def _output_dims(model: onnx.ModelProto, output: str) -> list:
    """The graph output's dims: ints where fixed, names (or None) where not."""
    for o in onnx.shape_inference.infer_shapes(model).graph.output:
        if o.name == output:
            return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                    for d in o.type.tensor_type.shape.dim]  # fmt: skip
    raise ExportError(f"the exported graph has no output {output!r}")


class GraphNms:
    """An export's request for NMS in the graph: appends the tail to each ONNX file, turns the
    PyTorch reference into end2end rows, and records how the graph's NMS agrees with the
    kernel's on that reference (box parity, reports['graph_nms'] of the manifest)."""

    def __init__(self, raw_head: DetectionHead, labels: list[str], output: str) -> None:
        self.raw_head, self.labels, self.output = raw_head, list(labels), output
        self.head = end2end_head(raw_head, output)
        self.report: dict[str, object] = {}

    @classmethod
    def requested(
        cls, heads: Sequence[DetectionHead], labels: Sequence[str] | None, output: str
    ) -> GraphNms:
        if len(heads) != 1:
            raise ExportError("graph_nms needs one detection head (heads=[DetectionHead(...)])")
        return cls(heads[0], list(labels or []), output)

    def prepare(self, fp32: Path, unsimplified: Path | None, scratch: Path) -> Path:
        """Appends the tail to the fp32 graph (and the one before onnxslim); returns a copy of
        the graph without it (int8 quantises that and appends the tail after)."""
        raw = scratch / "model.raw.onnx"
        shutil.copyfile(fp32, raw)
        self.append(fp32, unsimplified)
        return raw

    @property
    def reports(self) -> dict[str, dict[str, object]]:
        """The manifest reports it adds: {'graph_nms': agreement with the kernel}."""
        return {"graph_nms": self.report}

    def convert(self, reference: dict[str, np.ndarray]) -> None:
        """Turns the reference's head output into the rows the graph gives, in place."""
        reference[self.output] = self.reference(reference[self.output])

    def append(self, *paths: Path | None) -> None:
        """Rewrites these ONNX files with the tail (None: skipped)."""
        for path in paths:
            if path is None:
                continue
            model = onnx.load(str(path))
            shape = _output_dims(model, self.output)
            onnx.save(
                append_nms(model, self.raw_head, len(self.labels), self.output, shape), str(path)
            )

    def reference(self, raw: np.ndarray) -> np.ndarray:
        """PyTorch's raw head outputs as end2end rows; records the agreement with the kernel."""
        from mmedge.export.detection_metrics import box_parity

        rows = apply_tail(raw, self.raw_head, len(self.labels))
        maps = np.tile(np.array([[1, 0, 1, 0, 1e9, 1e9]], np.float32), (len(raw), 1))
        sizes = [(0, 0)] * len(raw)
        kernel = self.raw_head.decode(raw, maps, self.labels, sizes)
        graph = self.head.decode(rows, maps, self.labels, sizes)
        parity = box_parity(
            *[[(d.xyxy, d.scores, d.class_ids) for d in f] for f in (kernel, graph)]
        )
        self.report = {
            "nms": "graph (ONNX NonMaxSuppression)",
            "agreement_with_kernel": parity.summary(),
            "matched": parity.matched,
        }
        if parity.matched < 0.99 or parity.extra > 0.01:
            raise ExportError(
                "NMS in the graph keeps other boxes than mmedge's kernel on PyTorch's own "
                f"outputs ({parity.summary()}); export with the kernel's NMS instead"
            )
        return rows
