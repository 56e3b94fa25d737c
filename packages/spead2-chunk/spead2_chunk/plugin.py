"""Hook implementations of the spead2-chunk plugin (entry point ``chunk`` in group ``spead2``)."""

from __future__ import annotations

from typing import Any

from spead2_core.hookspecs import hookimpl

from . import _chunk, _group


@hookimpl
def spead2_recv_names() -> dict[str, Any]:
    return {
        "Chunk": _chunk.Chunk,
        "ChunkRingbuffer": _chunk.ChunkRingbuffer,
        "ChunkStreamConfig": _chunk.ChunkStreamConfig,
        "ChunkRingPair": _chunk.ChunkRingPair,
        "ChunkRingStream": _chunk.ChunkRingStream,
        "ChunkStreamGroupConfig": _chunk.ChunkStreamGroupConfig,
        "ChunkStreamGroupMember": _chunk.ChunkStreamGroupMember,
        "ChunkStreamRingGroup": _group.ChunkStreamRingGroup,
    }
