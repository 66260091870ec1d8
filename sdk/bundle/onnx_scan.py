"""What an ONNX file declares, read straight from its protobuf encoding (the runtime does not
depend on the onnx package): graph inputs and outputs with their element types, the operator
types, the bytes of float32 / float16 / 8-bit weights, and the external data files it points
to. Enough to check a manifest against the artifact it describes (mmedge.bundle.consistency).

Field numbers are those of onnx/onnx.proto (ModelProto.graph = 7; GraphProto.node = 1,
initializer = 5, input = 11, output = 12; NodeProto.op_type = 4, attribute = 5; TensorProto
dims = 1, data_type = 2, data_location = 14, external_data = 13; ValueInfoProto.name = 1,
type = 2; TypeProto.tensor_type = 1; Tensor.elem_type = 1). Subgraphs (If, Loop) are read too.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mmedge.errors import BundleError

# TensorProto.DataType -> bytes per element, for the ones weights come in
ELEMENT_BYTES = {1: 4, 2: 1, 3: 1, 6: 4, 7: 8, 10: 2, 11: 8, 16: 2}
ELEMENT_NAMES = {1: "float32", 2: "uint8", 3: "int8", 6: "int32", 7: "int64", 10: "float16",
                 11: "float64", 16: "bfloat16"}  # fmt: skip
QUANTISED_OPS = frozenset(
    {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger",
     "MatMulInteger", "DynamicQuantizeLinear", "QLinearAdd", "QGemm"}
)  # fmt: skip


@dataclass
class OnnxScan:
    inputs: dict[str, int] = field(default_factory=dict)  # name -> elem_type
    outputs: dict[str, int] = field(default_factory=dict)
    shapes: dict[str, tuple[int | str, ...]] = field(default_factory=dict)  # inputs and outputs
    initializers: set[str] = field(default_factory=set)
    op_types: set[str] = field(default_factory=set)
    weight_bytes: dict[int, int] = field(default_factory=dict)  # elem_type -> bytes
    external_files: set[str] = field(default_factory=set)

    @property
    def graph_inputs(self) -> dict[str, int]:
        """Inputs a caller feeds (old exporters list initializers among the inputs too)."""
        return {n: t for n, t in self.inputs.items() if n not in self.initializers}

    @property
    def quantised(self) -> bool:
        return bool(self.op_types & QUANTISED_OPS)


Buffer = memoryview | mmap.mmap


def _varint(buf: Buffer, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf: Buffer, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, a, b) of one message: a varint's value in a, or a
    length-delimited payload's start and end in a and b."""
    i = start
    while i < end:
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
            yield number, 0, value, 0
        elif wire == 2:
            length, i = _varint(buf, i)
            if i + length > end:
                raise ValueError("a field's length runs past the end of its message")
            yield number, 2, i, i + length
            i += length
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unknown wire type {wire}")


def _string(buf: Buffer, s: int, e: int) -> str:
    return bytes(buf[s:e]).decode("utf-8", errors="replace")


def _varints(buf: Buffer, wire: int, a: int, b: int) -> list[int]:
    """A repeated varint field's values (packed or one at a time)."""
    if wire == 0:
        return [a]
    out, i = [], a
    while i < b:
        value, i = _varint(buf, i)
        out.append(value)
    return out


def _shape(buf: Buffer, s: int, e: int) -> tuple[int | str, ...]:
    """TensorShapeProto: dim (1) = Dimension(dim_value 1 | dim_param 2); '?' when neither."""
    dims: list[int | str] = []
    for n, w, a, b in _fields(buf, s, e):
        if n == 1 and w == 2:
            dim: int | str = "?"
            for dn, dw, da, db in _fields(buf, a, b):
                dim = da if dn == 1 and dw == 0 else (_string(buf, da, db) if dn == 2 else dim)
            dims.append(dim)
    return tuple(dims)


def _value_info(buf: Buffer, s: int, e: int) -> tuple[str, int, tuple[int | str, ...] | None]:
    name, elem, shape = "", 0, None
    for n, w, a, b in _fields(buf, s, e):
        if n == 1 and w == 2:
            name = _string(buf, a, b)
        elif n == 2 and w == 2:  # TypeProto
            for tn, tw, ta, tb in _fields(buf, a, b):
                if tn == 1 and tw == 2:  # tensor_type: elem_type 1, shape 2
                    for en, ew, ea, eb in _fields(buf, ta, tb):
                        if en == 1 and ew == 0:
                            elem = ea
                        elif en == 2 and ew == 2:
                            shape = _shape(buf, ea, eb)
    return name, elem, shape


def _initializer(buf: Buffer, s: int, e: int, scan: OnnxScan) -> None:
    count, elem, name = 1, 0, ""
    for n, w, a, b in _fields(buf, s, e):
        if n == 1:
            for d in _varints(buf, w, a, b):
                count *= d
        elif n == 2 and w == 0:
            elem = a
        elif n == 8 and w == 2:
            name = _string(buf, a, b)
        elif n == 13 and w == 2:  # external_data: StringStringEntryProto(key 1, value 2)
            entry = {k: _string(buf, ka, kb) for k, kw, ka, kb in _fields(buf, a, b) if kw == 2}
            if entry.get(1) == "location" and 2 in entry:
                scan.external_files.add(entry[2])
    scan.initializers.add(name)
    scan.weight_bytes[elem] = scan.weight_bytes.get(elem, 0) + count * ELEMENT_BYTES.get(elem, 0)


def _node(buf: Buffer, s: int, e: int, scan: OnnxScan) -> None:
    for n, w, a, b in _fields(buf, s, e):
        if n == 4 and w == 2:
            scan.op_types.add(_string(buf, a, b))
        elif n == 5 and w == 2:  # AttributeProto: g = 6, graphs = 11 (If, Loop, Scan bodies)
            for an, aw, aa, ab in _fields(buf, a, b):
                if an in (6, 11) and aw == 2:
                    _graph(buf, aa, ab, scan, top=False)


def _graph(buf: Buffer, s: int, e: int, scan: OnnxScan, top: bool = True) -> None:
    for n, w, a, b in _fields(buf, s, e):
        if w != 2:
            continue
        if n == 1:
            _node(buf, a, b, scan)
        elif n == 5:
            _initializer(buf, a, b, scan)
        elif n in (11, 12) and top:
            name, elem, shape = _value_info(buf, a, b)
            (scan.inputs if n == 11 else scan.outputs)[name] = elem
            if shape is not None:
                scan.shapes[name] = shape


def scan_onnx(path: Path) -> OnnxScan:
    """Reads what `path` declares; BundleError when it is not an ONNX model."""
    scan = OnnxScan()
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            graphs = [(a, b) for n, w, a, b in _fields(buf, 0, len(buf)) if n == 7 and w == 2]
            if len(graphs) != 1:
                raise ValueError(f"{len(graphs)} graphs")
            _graph(buf, *graphs[0], scan)
    except (ValueError, IndexError, OSError) as exc:
        raise BundleError(f"{path.name} is not a readable ONNX model: {exc}") from exc
    return scan
