"""spead2-udp: UDP, TCP and pcap-file transports for spead2.

Installed, it gives ``spead2.send.UdpStream`` / ``TcpStream`` (and their asyncio
variants) and the ``add_udp_reader``, ``add_tcp_reader`` and, where libpcap was found
at build time, ``add_udp_pcap_file_reader`` methods of receive streams, through the
hooks in :mod:`spead2_udp.plugin` (entry point ``udp`` in group ``spead2``).
"""

from __future__ import annotations

import spead2_core  # noqa: F401  - loads libspead2_core.so before the extension needs it

from . import _udp

HAVE_PCAP: bool = _udp.HAVE_PCAP

__all__ = ["HAVE_PCAP"]
