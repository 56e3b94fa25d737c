"""spead2-xdp: kernel-bypass UDP for spead2 through AF_XDP, on any Linux network driver.

Installed, it gives ``spead2.recv.UdpXdpConfig`` and ``add_udp_xdp_reader``, and
``spead2.send.UdpXdpConfig`` and ``UdpXdpStream`` (with its asyncio variant), through
the hooks in :mod:`spead2_xdp.plugin` (entry point ``xdp`` in group ``spead2``).
"""

from __future__ import annotations

import spead2_core  # noqa: F401  - loads libspead2_core.so before the extension needs it

from . import _xdp  # noqa: F401
