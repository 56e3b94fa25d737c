"""Delta-heap generation for sending an item group.

:class:`HeapGenerator` remembers which descriptors and value versions of an
:class:`spead2.ItemGroup` have already been put into heaps, so that each new
heap only carries what changed. :class:`ItemGroup` is an item group that is
its own heap generator.
"""

from __future__ import annotations

import weakref
from typing import Any

from spead2 import _spead2
from spead2._items import Item
from spead2._items import ItemGroup as _CommonItemGroup

__all__ = ["HeapGenerator", "ItemGroup"]

_DESCRIPTORS_ERROR = "descriptors must be one of 'stale', 'all', 'none'"
_DATA_ERROR = "data must be one of 'stale', 'all', 'none'"
_MODES = ("stale", "all", "none")


class _ItemInfo:
    """Per-item-ID send state tracked by :class:`HeapGenerator`.

    Attributes
    ----------
    version
        Version of the item value last added to a heap (``None`` if never, or
        reset after the item object was replaced).
    descriptor_cnt
        Value of the generator's descriptor counter when the descriptor was
        last added to a heap (``None`` if never).
    item
        Weak reference to the :class:`~spead2.Item` object the record refers
        to, used to detect replacement of the item in the group.
    """

    __slots__ = ("version", "descriptor_cnt", "item")

    def __init__(self, item: Item) -> None:
        self.version: int | None = None
        self.descriptor_cnt: int | None = None
        self.item: weakref.ref[Item] = weakref.ref(item)


class HeapGenerator:
    """Produce heaps carrying the changes to an item group.

    Parameters
    ----------
    item_group
        The :class:`spead2.ItemGroup` to track.
    descriptor_frequency
        If not ``None``, descriptors are resent (with ``descriptors='stale'``)
        once at least this many :meth:`add_to_heap` calls have happened since
        they were last sent.
    flavour
        Flavour of the heaps created by :meth:`get_heap`, :meth:`get_start`
        and :meth:`get_end`.
    """

    def __init__(
        self,
        item_group: _CommonItemGroup,
        descriptor_frequency: int | None = None,
        flavour: _spead2.Flavour = _spead2.Flavour(),
    ) -> None:
        # When this object is its own item group (send.ItemGroup), don't
        # store a reference to self, to avoid a reference cycle.
        self._item_group: _CommonItemGroup | None = None if item_group is self else item_group
        self._info: dict[int, _ItemInfo] = {}
        self._descriptor_frequency = descriptor_frequency
        self._descriptor_cnt = 0
        self._flavour = flavour

    def _get_item_group(self) -> _CommonItemGroup:
        item_group = self._item_group
        return self if item_group is None else item_group  # type: ignore[return-value]

    def _descriptor_stale(self, item: Item, info: _ItemInfo) -> bool:
        """Whether the descriptor of `item` needs to be (re)sent.

        Checks, in order: never sent; due under ``descriptor_frequency``; the
        group now holds a different object under this ID (the record is then
        re-pointed at it and its data version reset so the value is resent).
        """
        if info.descriptor_cnt is None:
            return True
        if (
            self._descriptor_frequency is not None
            and self._descriptor_cnt - info.descriptor_cnt >= self._descriptor_frequency
        ):
            return True
        if info.item() is not item:
            info.item = weakref.ref(item)
            info.version = None
            return True
        return False

    def add_to_heap(self, heap: Any, descriptors: str = "stale", data: str = "stale") -> Any:
        """Add descriptors and values of the item group to `heap`.

        Parameters
        ----------
        heap
            A :class:`spead2.send.Heap` to append to.
        descriptors
            ``'stale'`` (only descriptors never sent, due for a resend or
            whose item was replaced), ``'all'`` or ``'none'``.
        data
            ``'stale'`` (only values whose version changed since last sent),
            ``'all'`` or ``'none'``. Values of ``None`` are never sent.

        Returns
        -------
        heap
            The `heap` argument.

        Raises
        ------
        ValueError
            if `descriptors` or `data` is not one of the allowed strings.
        """
        if descriptors not in _MODES:
            raise ValueError(_DESCRIPTORS_ERROR)
        if data not in _MODES:
            raise ValueError(_DATA_ERROR)
        info_map = self._info
        descriptor_cnt = self._descriptor_cnt
        for item in self._get_item_group().values():
            info = info_map.get(item.id)
            if info is None:
                info = info_map[item.id] = _ItemInfo(item)
            if descriptors == "all" or (
                descriptors == "stale" and self._descriptor_stale(item, info)
            ):
                heap.add_descriptor(item)
                info.descriptor_cnt = descriptor_cnt
            if item.value is not None:
                if data == "all" or (data == "stale" and info.version != item.version):
                    heap.add_item(item)
                    info.version = item.version
        self._descriptor_cnt += 1
        return heap

    def get_heap(self, descriptors: str = "stale", data: str = "stale") -> Any:
        """Create a new :class:`spead2.send.Heap` and fill it with :meth:`add_to_heap`."""
        return self.add_to_heap(_spead2.send.Heap(self._flavour), descriptors, data)

    def get_start(self) -> Any:
        """Create a heap containing only a start-of-stream control item."""
        heap = _spead2.send.Heap(self._flavour)
        heap.add_start()
        return heap

    def get_end(self) -> Any:
        """Create a heap containing only an end-of-stream control item."""
        heap = _spead2.send.Heap(self._flavour)
        heap.add_end()
        return heap


class ItemGroup(_CommonItemGroup, HeapGenerator):
    """An :class:`spead2.ItemGroup` that is also its own :class:`HeapGenerator`.

    Parameters
    ----------
    descriptor_frequency
        See :class:`HeapGenerator`.
    flavour
        See :class:`HeapGenerator`.
    """

    def __init__(
        self,
        descriptor_frequency: int | None = None,
        flavour: _spead2.Flavour = _spead2.Flavour(),
    ) -> None:
        _CommonItemGroup.__init__(self)
        HeapGenerator.__init__(self, self, descriptor_frequency, flavour)
