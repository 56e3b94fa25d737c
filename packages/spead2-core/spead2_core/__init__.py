"""spead2 core: the native SPEAD library, its Python bindings and the plugin hooks.

Plugins depend on this package only (never on the ``spead2`` facade): they build
against :func:`get_include` / :func:`get_lib_dir` and implement the hooks in
:mod:`spead2_core.hookspecs`.
"""

from __future__ import annotations

import atexit
import os
from typing import Callable

from . import _core

__all__ = ["get_include", "get_lib_dir", "keyword_only_init", "hookimpl"]

_here = os.path.dirname(os.path.abspath(__file__))


def get_include() -> str:
    """Folder holding the public C++ headers (``spead2/*.h``)."""
    return os.path.join(_here, "include")


def get_lib_dir() -> str:
    """Folder holding ``libspead2_core.so``, to link plugins against."""
    return _here


def keyword_only_init(cls: type) -> type:
    """Give a native config class the spead2 keyword-only constructor.

    ``cls(**kwargs)`` default-constructs, then sets each keyword in order with
    ``setattr`` (so property validation applies); an unknown name raises
    ``TypeError`` and a read-only one ``AttributeError``, as in spead2 4.x.
    """
    native_init: Callable[..., None] = cls.__init__

    def __init__(self, **kwargs) -> None:
        native_init(self)
        for key, value in kwargs.items():
            if not hasattr(self, key):
                raise TypeError(f"got an unexpected keyword argument '{key}'")
            setattr(self, key, value)

    __init__.__doc__ = f"Construct a {cls.__name__}; every argument is a keyword naming an attribute."
    cls.__init__ = __init__
    return cls


for _cls in (_core.send.StreamConfig, _core.recv.StreamConfig, _core.recv.RingStreamConfig):
    keyword_only_init(_cls)

# No native thread may run while the interpreter finalises (streams, pools, logging).
atexit.register(_core._shutdown)

from .hookspecs import hookimpl  # noqa: E402
