"""numba view of the chunk place callback's argument (``struct chunk_place_data``).

Importing this module imports :mod:`numba` (``ImportError`` if it is not installed).
"""

from __future__ import annotations

from numba import types

__all__ = ["chunk_place_data"]

_size_t = getattr(types, "size_t", types.uintp)

#: ``struct chunk_place_data`` as a C-compatible numba record (80 bytes, aligned); pointer
#: fields are ``intp``: turn them into pointers with :func:`spead2.numba.intp_to_voidptr`.
chunk_place_data = types.Record.make_c_struct(
    [
        ("packet", types.intp),
        ("packet_size", _size_t),
        ("items", types.intp),
        ("chunk_id", types.int64),
        ("heap_index", _size_t),
        ("heap_offset", _size_t),
        ("batch_stats", types.intp),
        ("extra", types.intp),
        ("extra_offset", _size_t),
        ("extra_size", _size_t),
    ]
)
