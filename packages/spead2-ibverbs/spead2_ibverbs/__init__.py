"""spead2-ibverbs: kernel-bypass UDP for spead2 through ibverbs.

Installed, it gives ``spead2.recv.UdpIbvConfig`` and ``add_udp_ibv_reader``,
``spead2.send.UdpIbvConfig`` and ``UdpIbvStream`` (and the asyncio variant) through the
hooks in :mod:`spead2_ibverbs.plugin` (entry point ``ibverbs`` in group ``spead2``).
libibverbs itself is loaded when a transport is first used; ``SPEAD2_IBV_LIBRARY``
names another file to load instead (e.g. the test double of tests/ibverbs/double).
"""

from __future__ import annotations

import spead2_core  # noqa: F401  - loads libspead2_core.so before the extension needs it

from . import _ibverbs  # noqa: F401
