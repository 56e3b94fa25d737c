"""Hook implementations of the spead2-xdp plugin (entry point ``xdp`` in group ``spead2``).

``add_udp_xdp_reader`` is a Python wrapper around the native reader so that the
fallback policy of :class:`UdpXdpConfig` can use the kernel's UDP sockets through
the public API (``add_udp_reader``, from whichever plugin provides it): this plugin
never reaches into another.
"""

from __future__ import annotations

import ipaddress
import warnings
from typing import Any, Callable

from spead2_core.hookspecs import hookimpl

from . import _xdp


class XdpFallbackWarning(RuntimeWarning):
    """AF_XDP could not start and the reader uses the kernel's UDP sockets instead."""


def add_udp_xdp_reader(stream: Any, config: Any) -> None:
    """Add an AF_XDP reader for ``config.endpoints`` on ``config.interface``.

    When AF_XDP cannot start (permission, driver, another XDP program, ring sizes),
    raises :class:`RuntimeError` saying why, or with ``config.fallback`` warns
    (``spead2_xdp.plugin.XdpFallbackWarning``) and adds UDP socket readers for the endpoints.
    The stream's statistics say which happened: ``xdp_readers`` counts AF_XDP readers,
    ``xdp_fallbacks`` the calls that fell back.
    """
    try:
        _xdp.recv.add_udp_xdp_reader(stream, config)
    except _xdp.XdpUnavailable as exc:
        if not config.fallback:
            raise
        if not hasattr(stream, "add_udp_reader"):
            raise RuntimeError(f"{exc}; no fallback either: add_udp_reader needs spead2-udp") from exc
        warnings.warn(f"AF_XDP is unavailable ({exc}): receiving through the kernel's UDP sockets instead",
                      XdpFallbackWarning, stacklevel=3)
        _add_socket_readers(stream, config)
        _xdp.recv.count_fallback(stream)


def _add_socket_readers(stream: Any, config: Any) -> None:
    interface_address = _interface_address(config.interface)
    for host, port in config.endpoints:
        if host and ipaddress.ip_address(host).is_multicast:
            stream.add_udp_reader(host, port, max_size=config.max_size, interface_address=interface_address)
        else:
            stream.add_udp_reader(port, max_size=config.max_size, bind_hostname=host)


def _interface_address(interface: str) -> str:
    """The IPv4 address of an interface given by name or address ("" if it has none)."""
    try:
        ipaddress.IPv4Address(interface)
        return interface
    except ValueError:
        return _xdp.interface_address(interface)


@hookimpl
def spead2_send_names() -> dict[str, Any]:
    return {
        "UdpXdpConfig": _xdp.send.UdpXdpConfig,
        "UdpXdpStream": _xdp.send.UdpXdpStream,
        "UdpXdpStreamAsyncio": _xdp.send.UdpXdpStreamAsyncio,
    }


@hookimpl
def spead2_recv_names() -> dict[str, Any]:
    return {"UdpXdpConfig": _xdp.recv.UdpXdpConfig}


@hookimpl
def spead2_recv_reader_methods() -> dict[str, Callable[..., None]]:
    return {"add_udp_xdp_reader": add_udp_xdp_reader}
