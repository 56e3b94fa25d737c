"""The Python face of chunk stream groups: a native group that is also a Sequence of its members."""

from __future__ import annotations

import collections.abc

from . import _chunk


class ChunkStreamRingGroup(_chunk.ChunkStreamRingGroup):
    """Chunk streams (members) filling the same sequence of chunks, read as a sequence of members.

    ``len(group)``, ``group[i]`` (negative indices and slices too), iteration, ``in``,
    ``index`` and ``count`` behave as for any :class:`collections.abc.Sequence`.
    """

    count = collections.abc.Sequence.count
    index = collections.abc.Sequence.index
    __iter__ = collections.abc.Sequence.__iter__
    __contains__ = collections.abc.Sequence.__contains__
    __reversed__ = collections.abc.Sequence.__reversed__


collections.abc.Sequence.register(ChunkStreamRingGroup)
