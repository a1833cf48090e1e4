"""The few ONNX protobuf messages an encoder graph needs, written by hand.

The ``onnx`` package would build the same bytes, but importing it takes ~2 s on the shared
machine and pulls ml_dtypes; onnxruntime reads a serialised ``ModelProto``, which is plain
protobuf wire format (field numbers from onnx.proto3 of the ONNX specification, IR version 8):
varints, length-delimited bytes, 32-bit floats.

    graph = Graph("g", inputs=[value("x", FLOAT, ["n", 4])], outputs=[value("y", FLOAT, ["n", 4])])
    graph.node("Relu", ["x"], ["y"])
    data = model(graph, opsets={"": 17})

Large initializers can stay out of the bytes (``Graph.external``): the session is then given
their values directly, without a copy.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["FLOAT", "INT32", "Graph", "model", "value"]

# TensorProto.DataType
FLOAT, UINT8, INT8, INT32, INT64 = 1, 2, 3, 6, 7
_DTYPES = {
    np.dtype(np.float32): FLOAT,
    np.dtype(np.uint8): UINT8,
    np.dtype(np.int8): INT8,
    np.dtype(np.int32): INT32,
    np.dtype(np.int64): INT64,
}
# AttributeProto.AttributeType
_ATTR_FLOAT, _ATTR_INT, _ATTR_INTS = 1, 2, 7


def _varint(number: int) -> bytes:
    if number < 0:
        number += 1 << 64  # int64 fields: two's complement, ten bytes
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _int(field_number: int, number: int) -> bytes:
    return _varint(field_number << 3) + _varint(number)


def _bytes(field_number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(field_number << 3 | 2) + _varint(len(data)) + data


def _float(field_number: int, number: float) -> bytes:
    return _varint(field_number << 3 | 5) + struct.pack("<f", number)


def _attribute(name: str, attr: int | float | Sequence[int]) -> bytes:
    body = _bytes(1, name)
    if isinstance(attr, float):
        body += _float(2, attr) + _int(20, _ATTR_FLOAT)
    elif isinstance(attr, int):
        body += _int(3, attr) + _int(20, _ATTR_INT)
    else:
        body += b"".join(_int(8, v) for v in attr) + _int(20, _ATTR_INTS)
    return body


def _tensor(name: str, array: npt.NDArray[np.generic]) -> bytes:
    data = np.ascontiguousarray(array)
    body = b"".join(_int(1, d) for d in data.shape)
    body += _int(2, _DTYPES[data.dtype]) + _bytes(8, name) + _bytes(9, data.tobytes())
    return body


def _external_tensor(name: str, array: npt.NDArray[np.generic]) -> bytes:
    """A TensorProto whose data is elsewhere (``data_location`` EXTERNAL): its shape and type
    only; the caller hands the values to the session (``add_external_initializers``)."""
    body = b"".join(_int(1, d) for d in array.shape)
    body += _int(2, _DTYPES[array.dtype]) + _bytes(8, name)
    entries = {"location": "supplied-by-the-session", "offset": "0", "length": str(array.nbytes)}
    body += b"".join(_bytes(13, _bytes(1, k) + _bytes(2, v)) for k, v in entries.items())
    return body + _int(14, 1)


def value(name: str, elem_type: int, shape: Sequence[int | str]) -> bytes:
    """A ValueInfoProto: a graph input or output with its element type and (symbolic) shape."""
    dims = b"".join(_bytes(1, _bytes(2, d) if isinstance(d, str) else _int(1, d)) for d in shape)
    tensor_type = _int(1, elem_type) + _bytes(2, dims)
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


@dataclass
class Graph:
    name: str
    inputs: list[bytes]
    outputs: list[bytes]
    _nodes: list[bytes] = field(default_factory=list)
    _initializers: list[bytes] = field(default_factory=list)
    #: values of the initializers declared ``external``, by name, for the session
    external_values: dict[str, npt.NDArray[np.generic]] = field(default_factory=dict)

    def node(
        self,
        op: str,
        inputs: Sequence[str],
        outputs: Sequence[str],
        *,
        domain: str = "",
        **attrs: int | float | Sequence[int],
    ) -> None:
        body = b"".join(_bytes(1, i) for i in inputs) + b"".join(_bytes(2, o) for o in outputs)
        body += _bytes(3, outputs[0]) + _bytes(4, op)
        body += b"".join(_bytes(5, _attribute(k, v)) for k, v in attrs.items())
        if domain:
            body += _bytes(7, domain)
        self._nodes.append(body)

    def initializer(self, name: str, array: npt.NDArray[np.generic]) -> None:
        self._initializers.append(_tensor(name, array))

    def external(self, name: str, array: npt.NDArray[np.generic]) -> None:
        """An initializer the serialised graph only declares: the bytes stay in ``array``
        (kept in ``external_values``), which every session of the graph then shares instead
        of each parsing its own copy out of the model's bytes."""
        data = np.ascontiguousarray(array)
        self._initializers.append(_external_tensor(name, data))
        self.external_values[name] = data

    def serialise(self) -> bytes:
        parts = [_bytes(1, n) for n in self._nodes]
        parts.append(_bytes(2, self.name))
        parts += [_bytes(5, t) for t in self._initializers]
        parts += [_bytes(11, i) for i in self.inputs] + [_bytes(12, o) for o in self.outputs]
        return b"".join(parts)


def model(graph: Graph, opsets: dict[str, int], producer: str = "snapagent") -> bytes:
    """A serialised ModelProto (IR version 8) holding ``graph``."""
    body = _int(1, 8) + _bytes(2, producer)
    body += b"".join(
        _bytes(8, (_bytes(1, d) if d else b"") + _int(2, v)) for d, v in opsets.items()
    )
    return body + _bytes(7, graph.serialise())
