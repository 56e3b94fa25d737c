"""Helpers for numba-compiled code that works with spead2 (e.g. chunk place callbacks).

Importing this module imports :mod:`numba` (``ImportError`` if it is not installed).
"""

from __future__ import annotations

import numba
from numba import types
from numba.core import cgutils

__all__ = ["intp_to_voidptr"]


@numba.extending.intrinsic
def intp_to_voidptr(typingctx, src):
    """Convert an ``intp`` or ``uintp`` to a ``void *`` inside numba-compiled code.

    numba records cannot hold pointers, so :data:`spead2.recv.numba.chunk_place_data`
    stores them as integers; this turns one back into a pointer, e.g. for
    ``numba.carray(intp_to_voidptr(data[0].items), n, dtype=np.int64)``. Any other
    argument type fails numba's typing.
    """
    if src not in (types.intp, types.uintp):
        return None

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return types.voidptr(src), codegen
