"""Plugin hook specifications for spead2.

A plugin is a module named by an entry point in group ``spead2``::

    [project.entry-points.spead2]
    myplugin = "myplugin.plugin"

that implements some of the hooks below with :data:`hookimpl`. It needs nothing but
this module (and ``spead2_core`` for building against the C++ core). The facade
package ``spead2`` loads every plugin in its own ``try``/``except``: a plugin that
fails to import becomes a warning, never a broken ``import spead2``.

The core's own transports (memory buffer reader, bytes stream) are registered
through these same hooks by :mod:`spead2_core.plugin`.
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

PROJECT = "spead2"
hookspec = pluggy.HookspecMarker(PROJECT)
#: Decorator for plugin hook implementations.
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def spead2_names() -> dict[str, Any]:
    """Public names to add to the top-level ``spead2`` module (e.g. ``InprocQueue``).

    They are also set on the native module alias ``spead2._spead2``.
    """


@hookspec
def spead2_send_names() -> dict[str, Any]:
    """Public names for ``spead2.send`` (and ``spead2._spead2.send``): send stream
    classes and their configuration classes.

    A class whose name ends in ``Asyncio`` (e.g. ``UdpStreamAsyncio``) is only set on
    ``spead2._spead2.send``; ``spead2.send.asyncio`` wraps it as ``UdpStream``. If
    such a class has an attribute ``_asyncio_mixin`` (a class), its methods are added
    on a subclass of the wrapper: that is how ``spead2.send.asyncio.TcpStream`` gets
    ``connect``.
    """


@hookspec
def spead2_recv_names() -> dict[str, Any]:
    """Public names for ``spead2.recv`` (and ``spead2._spead2.recv``): extra receive
    stream classes (e.g. chunk streams) and configuration classes."""


@hookspec
def spead2_recv_reader_methods() -> dict[str, Callable[..., None]]:
    """Reader methods for every receive stream, as ``{name: function}``.

    Each function is called as ``function(stream, *args, **kwargs)`` and adds a reader
    (receive transport) to ``stream``; it is installed as a method of
    ``spead2._spead2.recv._Stream`` (so ``spead2.recv.Stream.add_<x>_reader`` exists).
    Plain Python functions bind ``self``; native functions are wrapped so they do too.
    """


@hookspec(firstresult=True)
def spead2_recv_reader_override(method: str, stream: Any, args: tuple, kwargs: dict) -> bool | None:
    """Offer to serve a call of a reader method, including another plugin's.

    Called before every call of an ``add_*_reader`` method, with the method's name, the
    stream and the call's arguments. An implementation that adds a reader of its own
    instead (e.g. an ibverbs reader for ``add_udp_reader`` when ``SPEAD2_IBV_INTERFACE``
    is set) returns ``True``, and the method is then not called; returning ``None``
    lets the next implementation, and finally the method itself, handle the call.
    """
