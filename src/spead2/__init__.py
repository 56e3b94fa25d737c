"""spead2: the SPEAD protocol (Streaming Protocol for Exchange of Astronomical Data).

This facade assembles the familiar spead2 namespace from the native core
(``spead2_core``) and whatever plugins are installed (entry point group ``spead2``).
"""

from __future__ import annotations

import logging
import sys

from spead2_core import _core as _spead2

# The native module is public API under the name spead2._spead2 (user code and the
# reference's tests touch it), and so are its submodules.
sys.modules[__name__ + "._spead2"] = _spead2
sys.modules[__name__ + "._spead2.send"] = _spead2.send
sys.modules[__name__ + "._spead2.recv"] = _spead2.recv
sys.modules[__name__ + "._spead2.recv.stream_stat_indices"] = _spead2.recv.stream_stat_indices

from ._spead2 import (  # noqa: E402
    BUG_COMPAT_DESCRIPTOR_WIDTHS,
    BUG_COMPAT_PYSPEAD_0_5_2,
    BUG_COMPAT_SHAPE_BIT_1,
    BUG_COMPAT_SWAP_ENDIAN,
    CTRL_DESCRIPTOR_REISSUE,
    CTRL_DESCRIPTOR_UPDATE,
    CTRL_STREAM_START,
    CTRL_STREAM_STOP,
    DESCRIPTOR_DESCRIPTION_ID,
    DESCRIPTOR_DTYPE_ID,
    DESCRIPTOR_FORMAT_ID,
    DESCRIPTOR_ID,
    DESCRIPTOR_ID_ID,
    DESCRIPTOR_NAME_ID,
    DESCRIPTOR_SHAPE_ID,
    HEAP_CNT_ID,
    HEAP_LENGTH_ID,
    MEMCPY_NONTEMPORAL,
    MEMCPY_STD,
    NULL_ID,
    PAYLOAD_LENGTH_ID,
    PAYLOAD_OFFSET_ID,
    STREAM_CTRL_ID,
    Empty,
    Flavour,
    Full,
    MemoryAllocator,
    MemoryPool,
    MmapAllocator,
    Stopped,
    ThreadPool,
)
from ._version import __version__  # noqa: E402
from ._items import (  # noqa: E402
    _FASTPATH_IMMEDIATE,
    _FASTPATH_NONE,
    _FASTPATH_NUMPY,
    _UNRESERVED_ID,
    Descriptor,
    Item,
    ItemGroup,
    _shape_elements,
    parse_range_list,
)
from . import _plugins  # noqa: E402

_logger = logging.getLogger(__name__)

_plugins.install()
globals().update(_plugins.top_level_names())
