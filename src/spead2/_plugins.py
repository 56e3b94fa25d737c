"""Plugin discovery: entry points in group ``spead2``, each loaded on its own.

A plugin that fails to import, or whose hook raises, becomes a warning; ``import
spead2`` keeps working with what the other plugins provide.
"""

from __future__ import annotations

import functools
import importlib.metadata
import types
import warnings
from typing import Any, Callable

import pluggy

from spead2_core import hookspecs

ENTRY_POINT_GROUP = "spead2"


class PluginWarning(RuntimeWarning):
    """A spead2 plugin could not be loaded or failed in a hook."""


@functools.lru_cache(maxsize=None)
def manager() -> pluggy.PluginManager:
    """The plugin manager, with every loadable plugin registered (built once)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # noqa: BLE001 - any failure must leave spead2 usable
            warnings.warn(f"spead2 plugin {ep.name!r} ({ep.value}) could not be loaded: {exc!r}", PluginWarning,
                          stacklevel=2)
    return pm


@functools.lru_cache(maxsize=None)
def collect(hook_name: str) -> dict[str, Any]:
    """Merge the dicts returned by every implementation of a hook (computed once).

    Each implementation is called on its own so that one failing plugin does not
    hide the others. On a name clash the first registered plugin wins, with a warning.
    """
    merged: dict[str, Any] = {}
    owners: dict[str, str] = {}
    hook = getattr(manager().hook, hook_name)
    # pluggy lists implementations last-registered first; registration order is fairer.
    for impl in reversed(hook.get_hookimpls()):
        try:
            names = impl.function() or {}
        except Exception as exc:  # noqa: BLE001
            warnings.warn(f"spead2 plugin {impl.plugin_name!r} failed in {hook_name}: {exc!r}", PluginWarning,
                          stacklevel=2)
            continue
        for name, value in names.items():
            if name in merged:
                warnings.warn(f"spead2 plugin {impl.plugin_name!r} redefines {name!r} from {owners[name]!r}; ignored",
                              PluginWarning, stacklevel=2)
                continue
            merged[name] = value
            owners[name] = impl.plugin_name
    return merged


def _as_method(function: Callable[..., Any]) -> Callable[..., Any]:
    """Make ``function`` bind ``self`` when set on a class (native functions do not)."""
    if isinstance(function, types.FunctionType):
        return function

    @functools.wraps(function)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return function(self, *args, **kwargs)

    return method


def _overridable(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """Let implementations of ``spead2_recv_reader_override`` take calls of ``method``."""
    hook = manager().hook.spead2_recv_reader_override

    @functools.wraps(method)
    def reader_method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if hook.get_hookimpls() and hook(method=name, stream=self, args=args, kwargs=kwargs):
            return None
        return method(self, *args, **kwargs)

    return reader_method


@functools.lru_cache(maxsize=None)
def install() -> None:
    """Attach what the plugins provide to the native module alias ``spead2._spead2``."""
    from spead2 import _spead2

    for name, value in collect("spead2_names").items():
        setattr(_spead2, name, value)
    for name, value in collect("spead2_send_names").items():
        setattr(_spead2.send, name, value)
    for name, value in collect("spead2_recv_names").items():
        setattr(_spead2.recv, name, value)
    for name, function in collect("spead2_recv_reader_methods").items():
        setattr(_spead2.recv._Stream, name, _overridable(name, _as_method(function)))


def top_level_names() -> dict[str, Any]:
    """Names plugins add to ``spead2``."""
    return collect("spead2_names")


def send_names() -> dict[str, Any]:
    """Names plugins add to ``spead2.send`` (``…Asyncio`` classes excluded)."""
    return {k: v for k, v in collect("spead2_send_names").items() if not k.endswith("Asyncio")}


def recv_names() -> dict[str, Any]:
    """Names plugins add to ``spead2.recv``."""
    return collect("spead2_recv_names")
