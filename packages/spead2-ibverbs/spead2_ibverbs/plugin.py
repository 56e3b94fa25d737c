"""Hook implementations of the spead2-ibverbs plugin (entry point ``ibverbs`` in group ``spead2``).

Importing this module never loads libibverbs: the names exist wherever the plugin is
installed (spec §0.2), and using them on a machine without the library, a device or
the permission raises ``RuntimeError`` saying which. ``spead2.IbvContext`` is the
exception (spec §1.16): it is published only where a device can be opened.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any, Callable

from spead2_core.hookspecs import hookimpl

from . import _ibverbs

#: Environment variables that send IPv4 multicast ``add_udp_reader`` calls through
#: ibverbs: the interface address to use (when the call names none), and optionally
#: the completion vector.
INTERFACE_VARIABLE = "SPEAD2_IBV_INTERFACE"
COMP_VECTOR_VARIABLE = "SPEAD2_IBV_COMP_VECTOR"

# add_udp_reader(multicast_group, port, max_size, buffer_size, interface_address)
_MULTICAST_PARAMETERS = ("multicast_group", "port", "max_size", "buffer_size", "interface_address")


def _functional() -> bool:
    try:
        return _ibverbs.device_count() > 0
    except RuntimeError:
        return False


@hookimpl
def spead2_names() -> dict[str, Any]:
    return {"IbvContext": _ibverbs.IbvContext} if _functional() else {}


@hookimpl
def spead2_send_names() -> dict[str, Any]:
    return {
        "UdpIbvConfig": _ibverbs.send.UdpIbvConfig,
        "UdpIbvStream": _ibverbs.send.UdpIbvStream,
        "UdpIbvStreamAsyncio": _ibverbs.send.UdpIbvStreamAsyncio,
    }


@hookimpl
def spead2_recv_names() -> dict[str, Any]:
    return {"UdpIbvConfig": _ibverbs.recv.UdpIbvConfig}


@hookimpl
def spead2_recv_reader_methods() -> dict[str, Callable[..., None]]:
    return {"add_udp_ibv_reader": _ibverbs.recv.add_udp_ibv_reader}


def _multicast_call(args: tuple, kwargs: dict) -> dict[str, Any] | None:
    """The arguments of an IPv4 multicast ``add_udp_reader`` call, by name; else None."""
    if len(args) > len(_MULTICAST_PARAMETERS) or not set(kwargs) <= set(_MULTICAST_PARAMETERS):
        return None
    named = dict(zip(_MULTICAST_PARAMETERS, args))
    if set(named) & set(kwargs):
        return None  # let the method itself report the duplicate
    named.update(kwargs)
    group = named.get("multicast_group")
    if not isinstance(group, str) or "port" not in named:
        return None
    try:
        if not (ipaddress.ip_address(group).version == 4 and ipaddress.ip_address(group).is_multicast):
            return None
    except ValueError:
        return None
    return named


@hookimpl
def spead2_recv_reader_override(method: str, stream: Any, args: tuple, kwargs: dict) -> bool | None:
    """With ``SPEAD2_IBV_INTERFACE`` set, take IPv4 multicast ``add_udp_reader`` calls."""
    interface = os.environ.get(INTERFACE_VARIABLE)
    if method != "add_udp_reader" or not interface:
        return None
    call = _multicast_call(args, kwargs)
    if call is None:
        return None
    explicit = call.get("interface_address", "")
    config = _ibverbs.recv.UdpIbvConfig(
        endpoints=[(call["multicast_group"], call["port"])],
        # An interface named by the call wins; the variable then only enables the override.
        interface_address=explicit if explicit and explicit != "0.0.0.0" else interface,
    )
    if "max_size" in call:
        config.max_size = call["max_size"]
    if "buffer_size" in call:
        config.buffer_size = call["buffer_size"]
    comp_vector = os.environ.get(COMP_VECTOR_VARIABLE)
    if comp_vector:
        config.comp_vector = int(comp_vector)
    _ibverbs.recv.add_udp_ibv_reader(stream, config)
    return True
