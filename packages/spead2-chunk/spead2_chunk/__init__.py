"""spead2-chunk: the chunking receiver for spead2.

Installed, it gives ``spead2.recv.Chunk``, ``ChunkRingbuffer``, ``ChunkStreamConfig``,
``ChunkRingStream``, ``ChunkStreamRingGroup`` and their companions through the hooks in
:mod:`spead2_chunk.plugin` (entry point ``chunk`` in group ``spead2``).
"""

from __future__ import annotations

import spead2_core  # noqa: F401  - loads libspead2_core.so before the extension needs it

from . import _chunk  # noqa: F401
