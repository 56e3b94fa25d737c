"""Pure-Python value model of spead2: descriptors, items and item groups.

This module implements :func:`parse_range_list`, :class:`Descriptor`,
:class:`Item` and :class:`ItemGroup`, i.e. the mapping between SPEAD item
descriptions/values and Python (numpy) values. It only relies on a handful of
names from the native module :mod:`spead2._spead2` (``RawDescriptor`` and two
constants), which the package ``__init__`` registers before importing this
module.

Three decoding/encoding strategies ("fast paths") exist for an item:

- *numpy*: the internal dtype has no object fields; values are numpy arrays
  that are converted to/from the wire bytes without copying where possible.
- *immediate*: a scalar single-field ``'u'``/``'i'`` format narrower than 64
  bits (e.g. u40); values are Python ints.
- *none* (generic bit path): everything else; elements are bit-packed MSB
  first.
"""

from __future__ import annotations

import ast
import logging
import numbers
import struct
from collections.abc import ItemsView, KeysView, Sequence, ValuesView
from typing import TYPE_CHECKING, Any

import numpy as np

from spead2 import _spead2

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import DTypeLike

__all__ = [
    "parse_range_list",
    "Descriptor",
    "Item",
    "ItemGroup",
    # Private names that the package namespace is expected to expose
    "_logger",
    "_UNRESERVED_ID",
    "_FASTPATH_NONE",
    "_FASTPATH_IMMEDIATE",
    "_FASTPATH_NUMPY",
    "_shape_elements",
]

_logger = logging.getLogger("spead2")

#: First ID used for automatic ID allocation by :meth:`ItemGroup.add_item`.
_UNRESERVED_ID = 0x1000

#: Generic bit-packing path.
_FASTPATH_NONE = 0
#: Scalar single-field u/i format narrower than 64 bits.
_FASTPATH_IMMEDIATE = 1
#: Internal dtype with no object fields.
_FASTPATH_NUMPY = 2

# Cached native constants (looked up once at import).
_BUG_COMPAT_SWAP_ENDIAN: int = _spead2.BUG_COMPAT_SWAP_ENDIAN
_STREAM_CTRL_ID: int = _spead2.STREAM_CTRL_ID

_BE_U8 = np.dtype(">u8")
_BE_I8 = np.dtype(">i8")
_U64_MASK = (1 << 64) - 1
_UINT8 = np.dtype(np.uint8)
_S1 = np.dtype("S1")
_C8_FORMAT = [("c", 8)]
_NUMPY_HEADER_KEYS = frozenset(["descr", "fortran_order", "shape"])


def parse_range_list(ranges: str | None) -> list[int]:
    """Parse a comma-separated list of integers and inclusive ranges.

    For example ``"100,4-6,8,10-10,12-13"`` gives
    ``[100, 4, 5, 6, 8, 10, 12, 13]``. Order is preserved and duplicates are
    kept. A falsy argument gives an empty list. Each element is split on its
    first ``-``; a reversed range yields nothing.

    Raises
    ------
    ValueError
        if an element (or range bound) is not an integer.
    """
    if not ranges:
        return []
    out: list[int] = []
    for part in ranges.split(","):
        if "-" in part:
            start, end = part.split("-", 1)
            out.extend(range(int(start), int(end) + 1))
        else:
            out.append(int(part))
    return out


def _shape_elements(shape: Sequence[int]) -> int:
    """Return the number of elements of an array with the given (fixed) shape."""
    elements = 1
    for dimension in shape:
        elements *= dimension
    return elements


def _dtype_equal(a: np.dtype | None, b: np.dtype | None) -> bool:
    """Compare two optional dtypes.

    Needed because ``numpy.dtype('f8') == None`` is true (``None`` converts to
    the default float dtype).
    """
    if a is None or b is None:
        return a is b
    return bool(a == b)


def _parse_format(fmt: Sequence[tuple[str, int]]) -> np.dtype:
    """Convert a SPEAD format list to the internal numpy dtype (§1.13).

    Raises
    ------
    ValueError
        for an empty format, zero/negative lengths or an unsupported
        code/length combination.
    """
    if not fmt:
        raise ValueError("empty format")
    fields = []
    for code, length in fmt:
        if length <= 0:
            if length == 0:
                raise ValueError("zero-length field (bug_compat mismatch?)")
            raise ValueError("negative-length field")
        if code in ("u", "i") and length in (8, 16, 32, 64):
            fields.append(">" + code + str(length // 8))
        elif code == "f" and length in (32, 64):
            fields.append(">f" + str(length // 8))
        elif code == "b" and length == 8:
            fields.append("?")
        elif code == "c" and length == 8:
            fields.append("S1")
        elif code in ("u", "i", "b"):
            fields.append("O")
        else:
            raise ValueError(f"illegal format ({code}, {length})")
    return np.dtype(",".join(fields))


def _encode_field(code: str, bits: int, value: Any) -> int:
    """Encode one field of one element as an unsigned ``bits``-bit integer."""
    if code == "u":
        raw = int(value)
        if not 0 <= raw < (1 << bits):
            raise ValueError(f"{value} is out of range for u{bits}")
    elif code == "i":
        raw = int(value)
        top = 1 << (bits - 1)
        if not -top <= raw < top:
            raise ValueError(f"{value} is out of range for i{bits}")
        raw &= (1 << bits) - 1
    elif code == "b":
        raw = 1 if value else 0
    elif code == "c":
        # A numpy S1 field strips trailing NULs, so a NUL character can come
        # back as b''.
        raw = ord(value) if len(value) else 0
    elif code == "f":
        if bits == 32:
            raw = int.from_bytes(struct.pack(">f", value), "big")
        elif bits == 64:
            raw = int.from_bytes(struct.pack(">d", value), "big")
        else:
            raise ValueError(f"Cannot encode a float with {bits} bits")
    else:
        raise ValueError(f"illegal format ({code}, {bits})")
    if raw >> bits:
        raise ValueError("Value is out of range for number of bits")
    return raw


def _decode_field(code: str, bits: int, raw: int) -> Any:
    """Decode one ``bits``-bit unsigned quantity into a Python value."""
    if code == "u":
        return raw
    elif code == "i":
        if raw >> (bits - 1):
            raw -= 1 << bits
        return raw
    elif code == "b":
        return bool(raw)
    elif code == "c":
        return bytes([raw])
    elif code == "f":
        if bits == 32:
            return np.frombuffer(raw.to_bytes(4, "big"), dtype=">f4")[0]
        elif bits == 64:
            return np.frombuffer(raw.to_bytes(8, "big"), dtype=">f8")[0]
        raise ValueError(f"Cannot decode a float with {bits} bits")
    raise ValueError(f"illegal format ({code}, {bits})")


def _pack_bits(elements: list, fields: list[tuple[str, int]]) -> bytearray:
    """Bit-pack elements (C order) MSB first, fields in format order.

    Each element is the bare field value for a single-field format, else a
    sequence of field values. The final partial byte is zero-padded at the
    bottom.
    """
    out = bytearray()
    acc = 0
    nacc = 0
    single = len(fields) == 1
    for element in elements:
        values = (element,) if single else element
        for (code, bits), value in zip(fields, values):
            acc = (acc << bits) | _encode_field(code, bits, value)
            nacc += bits
            if nacc >= 8:
                nbytes = nacc >> 3
                nacc &= 7
                out += (acc >> nacc).to_bytes(nbytes, "big")
                acc &= (1 << nacc) - 1
    if nacc:
        out.append((acc << (8 - nacc)) & 0xFF)
    return out


def _unpack_bits(data: bytes, fields: list[tuple[str, int]], elements: int) -> list:
    """Inverse of :func:`_pack_bits`: decode ``elements`` elements from ``data``."""
    out = []
    acc = 0
    nacc = 0
    pos = 0
    single = len(fields) == 1
    for _ in range(elements):
        values = []
        for code, bits in fields:
            if nacc < bits:
                need = (bits - nacc + 7) >> 3
                acc = (acc << (8 * need)) | int.from_bytes(data[pos : pos + need], "big")
                pos += need
                nacc += 8 * need
            nacc -= bits
            raw = acc >> nacc
            acc &= (1 << nacc) - 1
            values.append(_decode_field(code, bits, raw))
        out.append(values[0] if single else tuple(values))
    return out


class Descriptor:
    """Metadata describing one SPEAD item.

    Exactly one of `dtype` (a numpy dtype, transmitted as a numpy header) and
    `format` (a list of ``(code, bits)`` SPEAD format fields) must be given.

    Parameters
    ----------
    id
        SPEAD item ID (may be ``None`` for automatic allocation by
        :meth:`ItemGroup.add_item`).
    name
        Short name (ASCII).
    description
        Long description (ASCII).
    shape
        Dimensions; at most one may be ``None`` (variable length, format
        items only).
    dtype
        Numpy dtype (must not contain objects and must have non-zero size).
    order
        ``'C'`` or ``'F'`` (``'C'`` is required with `format`).
    format
        SPEAD format list, e.g. ``[('u', 8), ('f', 32)]``.

    Raises
    ------
    ValueError
        if the combination of arguments is invalid: neither or both of `dtype`
        and `format`, more than one unknown (``None``) dimension in `shape` (any
        with `dtype`), a dtype holding objects or of zero size, an `order` other
        than ``'C'`` or ``'F'``, or ``'F'`` with `format`.
    """

    id: int | None
    name: str
    description: str
    shape: tuple
    dtype: np.dtype | None
    order: str
    format: list[tuple[str, int]] | None

    def __init__(
        self,
        id: int | None,
        name: str,
        description: str,
        shape: Sequence[int | None],
        dtype: DTypeLike | None = None,
        order: str = "C",
        format: list[tuple[str, int]] | None = None,
    ) -> None:
        shape = tuple(shape)
        unknowns = sum(1 for x in shape if x is None)
        if unknowns > 1:
            raise ValueError("Cannot have multiple unknown dimensions")
        if dtype is not None:
            dtype = np.dtype(dtype)
            if dtype.hasobject:
                raise ValueError("Cannot use dtype that has reference-counted objects")
            if format is not None:
                raise ValueError("Only one of dtype and format can be specified")
            if dtype.itemsize == 0:
                raise ValueError("Cannot use zero-sized dtype")
            if unknowns > 0:
                raise ValueError("Cannot have unknown dimensions when using numpy descriptor")
            internal_dtype = dtype
        else:
            if format is None:
                raise ValueError("One of dtype and format must be specified")
            if order != "C":
                raise ValueError("When specifying format, order must be 'C'")
            internal_dtype = _parse_format(format)
        if order not in ("C", "F"):
            raise ValueError("Order must be 'C' or 'F'")
        self.id = id
        self.name = name
        self.description = description
        self.shape = shape
        self.dtype = dtype
        self.order = order
        self.format = format

        # Precomputed state used by Item (computed once, as in the reference;
        # later reassignment of dtype/format does not update it).
        self._internal_dtype: np.dtype = internal_dtype
        self._itemsize: int = internal_dtype.itemsize
        # Normalised copy of the format fields, for the bit path.
        self._fields: list[tuple[str, int]] = (
            [] if format is None else [(code, int(bits)) for code, bits in format]
        )
        self._imm_bits = 0
        self._imm_signed = False
        if not internal_dtype.hasobject:
            self._fastpath = _FASTPATH_NUMPY
            # Target dtype for the default new_order='=' on receive
            self._native_dtype: np.dtype = internal_dtype.newbyteorder("=")
        elif (
            shape == ()
            and dtype is None
            and len(self._fields) == 1
            and self._fields[0][0] in ("u", "i")
            and self._fields[0][1] < 64
        ):
            self._fastpath = _FASTPATH_IMMEDIATE
            self._imm_bits = self._fields[0][1]
            self._imm_signed = self._fields[0][0] == "i"
        else:
            self._fastpath = _FASTPATH_NONE
        # Cache keyed on the identity of self.shape (which may be reassigned)
        self._cached_shape: tuple | None = None
        self._cached_elements: int | None = None
        # set_from_raw's shortcut for the shape and order it was made for (_raw_plan).
        self._raw_plan: tuple | None = None

    def _fixed_elements(self) -> int | None:
        """Element count of ``self.shape``, or ``None`` if it is variable.

        Cached for as long as the ``shape`` attribute is the same object.
        """
        shape = self.shape
        if shape is not self._cached_shape:
            if any(x is None for x in shape):
                elements = None
            else:
                elements = _shape_elements(shape)
            self._cached_elements = elements
            self._cached_shape = shape
        return self._cached_elements

    @property
    def itemsize_bits(self) -> int:
        """Number of bits per element."""
        if self.dtype is not None:
            return self.dtype.itemsize * 8
        return sum(bits for _, bits in self.format)

    def _raw_plan_for_current_shape(self) -> tuple:
        """How :meth:`Item.set_from_raw` may decode a non-immediate value in one step.

        Returns ``(shape, order, elements, reshape_to)``, where ``elements`` is
        ``None`` when the shortcut does not apply: a variable or empty shape, a
        scalar, a ``c8`` string, or a byte order that needs swapping.
        ``reshape_to`` is ``None`` for 1-D shapes, which ``np.frombuffer``
        already produces.
        """
        shape = self.shape
        elements = self._fixed_elements()
        if (
            self._fastpath != _FASTPATH_NUMPY
            or not elements
            or len(shape) == 0
            or self.format == _C8_FORMAT
            or self._internal_dtype != self._native_dtype
        ):
            elements = None
        plan = (shape, self.order, elements, shape if len(shape) > 1 else None)
        self._raw_plan = plan
        return plan

    def is_variable_size(self) -> bool:
        """Whether any dimension is variable (``None``)."""
        return self._fixed_elements() is None

    def allow_immediate(self) -> bool:
        """Whether a value of this item may be encoded as an immediate.

        True iff the shape is fixed and either a numpy dtype is used or the
        element size is a whole number of bytes.
        """
        return not self.is_variable_size() and (
            self.dtype is not None or self.itemsize_bits % 8 == 0
        )

    def dynamic_shape(self, max_elements: int) -> Sequence[int]:
        """Resolve a variable dimension given the number of available elements.

        Returns ``self.shape`` itself if there is no variable dimension,
        otherwise a list in which the ``None`` is replaced by
        ``max_elements // product(known dimensions)`` (or 0 if that product is
        0).
        """
        known = 1
        unknown_pos = -1
        for i, x in enumerate(self.shape):
            if x is None:
                unknown_pos = i
            else:
                known *= x
        if unknown_pos == -1:
            return self.shape
        shape = list(self.shape)
        shape[unknown_pos] = 0 if known == 0 else max_elements // known
        return shape

    def compatible_shape(self, shape: Sequence[int]) -> bool:
        """Whether `shape` matches this descriptor's shape.

        The number of dimensions must match, and every fixed dimension must be
        equal (a variable dimension matches anything).
        """
        if len(shape) != len(self.shape):
            return False
        for x, y in zip(self.shape, shape):
            if x is not None and x != y:
                return False
        return True

    @classmethod
    def from_raw(cls, raw_descriptor: Any, flavour: Any) -> Descriptor:
        """Create a descriptor (or subclass instance) from a ``RawDescriptor``.

        Parameters
        ----------
        raw_descriptor
            A :class:`spead2._spead2.RawDescriptor` (or compatible object).
        flavour
            The :class:`spead2.Flavour` of the heap (only ``bug_compat`` is
            used, for ``BUG_COMPAT_SWAP_ENDIAN``).

        Raises
        ------
        ValueError
            if the numpy header is invalid or the descriptor is inconsistent
            (:exc:`UnicodeDecodeError` for non-ASCII text).
        """
        dtype = None
        format = None
        if raw_descriptor.numpy_header:
            header = raw_descriptor.numpy_header.decode("ascii")
            try:
                d = ast.literal_eval(header)
            except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError) as e:
                raise ValueError(f"Cannot parse descriptor: {header!r}") from e
            if not isinstance(d, dict):
                raise ValueError(f"Descriptor is not a dictionary: {header}")
            if set(d.keys()) != _NUMPY_HEADER_KEYS:
                raise ValueError(f"Descriptor does not contain the correct keys: {header}")
            shape = d["shape"]
            if not isinstance(shape, tuple) or not all(
                isinstance(x, numbers.Integral) and x >= 0 for x in shape
            ):
                raise ValueError(f"shape is not valid: {shape!r}")
            fortran_order = d["fortran_order"]
            if not isinstance(fortran_order, bool):
                raise ValueError(f"fortran_order is not a valid bool: {fortran_order!r}")
            try:
                dtype = np.dtype(d["descr"])
            except TypeError as e:
                raise ValueError(f"descr is not a valid dtype descriptor: {d['descr']!r}") from e
            order = "F" if fortran_order else "C"
            if flavour.bug_compat & _BUG_COMPAT_SWAP_ENDIAN:
                dtype = dtype.newbyteorder()
        else:
            shape = raw_descriptor.shape
            order = "C"
            format = raw_descriptor.format
        return cls(
            raw_descriptor.id,
            raw_descriptor.name.decode("ascii"),
            raw_descriptor.description.decode("ascii"),
            shape,
            dtype,
            order,
            format,
        )

    def to_raw(self, flavour: Any) -> Any:
        """Convert to a :class:`spead2._spead2.RawDescriptor` for `flavour`.

        With ``BUG_COMPAT_SWAP_ENDIAN`` in ``flavour.bug_compat`` the dtype in
        the numpy header is byte-swapped.

        Raises
        ------
        UnicodeEncodeError
            if the name or description is not ASCII.
        """
        raw = _spead2.RawDescriptor()
        raw.id = self.id
        raw.name = self.name.encode("ascii")
        raw.description = self.description.encode("ascii")
        raw.shape = self.shape
        if self.dtype is not None:
            dtype = self.dtype
            if flavour.bug_compat & _BUG_COMPAT_SWAP_ENDIAN:
                dtype = dtype.newbyteorder()
            # numpy >= 2 integers would repr as np.int64(...): use plain ints
            shape = tuple(
                int(x) if isinstance(x, numbers.Integral) and not isinstance(x, bool) else x
                for x in self.shape
            )
            header = {
                "descr": np.lib.format.dtype_to_descr(dtype),
                "fortran_order": self.order == "F",
                "shape": shape,
            }
            raw.numpy_header = repr(header).encode("ascii")
        else:
            raw.format = self.format
        return raw


class Item(Descriptor):
    """A :class:`Descriptor` together with a current value and a version.

    Takes the same arguments as :class:`Descriptor`, plus a keyword-only
    `value`. The version starts at 1 and is incremented every time the value
    is assigned (constructing with a value does not increment it).
    """

    version: int

    def __init__(self, *args: Any, value: Any = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._value = value
        self.version = 1

    @property
    def value(self) -> Any:
        """Current value (assigning increments :attr:`version`)."""
        return self._value

    @value.setter
    def value(self, new_value: Any) -> None:
        if new_value is None:
            raise ValueError("Item value cannot be set to None")
        self._value = new_value
        self.version += 1

    def _check_shape(self, array: np.ndarray) -> None:
        shape = array.shape
        if shape != self.shape and not self.compatible_shape(shape):
            raise ValueError(f"Value has shape {shape}, expected {self.shape}")

    def to_buffer(self) -> Any:
        """Convert the current value to an object supporting the buffer protocol.

        The numpy path returns the (C-contiguous) array itself without copying
        when the value already has the right dtype and layout; the immediate
        path returns a view of the trailing bytes of a big-endian 8-byte
        integer; the generic path returns a new bit-packed ``bytearray``.

        Raises
        ------
        ValueError
            if the value is ``None``, has the wrong shape or is out of range.
        """
        value = self._value
        if value is None:
            raise ValueError("Cannot send a value of None")
        fastpath = self._fastpath
        if isinstance(value, (bytes, str)) and len(self.shape) == 1:
            if self._internal_dtype == _S1:
                # Equivalent to splitting into characters and converting to
                # S1, but without the per-character Python objects.
                if isinstance(value, str):
                    value = value.encode("ascii")
                value = np.frombuffer(value, dtype=_S1)
            else:
                value = [value[i : i + 1] for i in range(len(value))]
        if fastpath == _FASTPATH_IMMEDIATE and self._imm_bits % 8 == 0:
            nbytes = self._imm_bits // 8
            if type(value) is int and self.shape == ():
                # Plain ints are the common case (timestamps, counters): the numpy
                # route below costs several microseconds per item and heap.  Same
                # bytes and same accepted range (two's complement for signed).
                if (-(1 << 63) if self._imm_signed else 0) <= value < (1 << 64):
                    return (value & _U64_MASK).to_bytes(8, "big")[8 - nbytes :]
            order = self.order
            if isinstance(value, np.ndarray) and value.dtype == _BE_U8:
                array = np.asarray(value, order=order)
            elif self._imm_signed:
                # The reference converts straight to >u8, which fails for
                # negative values with numpy >= 2. Encode two's complement
                # instead (the low bytes of >i8 are the two's complement of
                # the value at any narrower width).
                try:
                    array = np.asarray(value, dtype=_BE_I8, order=order).view(_BE_U8)
                except OverflowError:
                    array = np.asarray(value, dtype=_BE_U8, order=order)
            else:
                array = np.asarray(value, dtype=_BE_U8, order=order)
            self._check_shape(array)
            return array.reshape(1).view(_UINT8)[8 - nbytes :]
        array = np.asarray(value, dtype=self._internal_dtype, order=self.order)
        self._check_shape(array)
        if fastpath != _FASTPATH_NUMPY:
            return _pack_bits(array.reshape(-1).tolist(), self._fields)
        if self.order == "F":
            # F-contiguous; its transpose is a C-contiguous view with the
            # bytes in Fortran order.
            return array.T
        return array

    def set_from_raw(self, raw_item: Any, new_order: str = "=") -> None:
        """Decode a received raw item into :attr:`value`.

        Parameters
        ----------
        raw_item
            A :class:`spead2._spead2.recv.RawItem` (buffer of unsigned bytes with
            ``is_immediate`` and ``immediate_value`` attributes).
        new_order
            Byte order for numpy-path values: ``'='`` (native, default),
            ``'|'`` (keep the received order), ``'<'``, ``'>'`` or ``'S'``.

        Raises
        ------
        ValueError
            if the raw item is too small for the item's shape.
        UnicodeDecodeError
            if a 1-D ``c8`` value is not ASCII.
        """
        fastpath = self._fastpath
        if fastpath == _FASTPATH_NUMPY:
            plan = self._raw_plan
            if plan is None or plan[0] is not self.shape or plan[1] != self.order:
                plan = self._raw_plan_for_current_shape()
            if plan[2] is not None and new_order == "=" and not raw_item.is_immediate:
                # The common case, in one numpy call instead of five: on a
                # receiver that decodes each heap in Python these calls are
                # most of its time per item.
                try:
                    value = np.frombuffer(raw_item, self._internal_dtype, plan[2])
                except ValueError:
                    pass  # too short: the general path below says so
                else:
                    if plan[3] is not None:
                        value = value.reshape(plan[3], order=plan[1])
                    self.value = value
                    return
            raw = np.frombuffer(raw_item, dtype=_UINT8)
            itemsize = self._itemsize
            max_elements = raw.shape[0] // itemsize
            elements = self._fixed_elements()
            if elements is None:
                shape = self.dynamic_shape(max_elements)
                elements = _shape_elements(shape)
            else:
                shape = self.shape
            if elements > max_elements:
                raise ValueError(
                    f"Item {self.name} has too few elements for shape "
                    f"({max_elements} < {elements})"
                )
            size_bytes = elements * itemsize
            if raw_item.is_immediate:
                # Immediates are padded at the front. Slice with an explicit
                # start rather than [-size_bytes:]: the reference uses the
                # latter, which for a zero-size fixed shape (e.g. (0,)) is
                # [-0:], i.e. the whole field, and then fails. We deliberately
                # produce an empty array of the right dtype instead.
                raw = raw[raw.shape[0] - size_bytes :]
            else:
                raw = raw[:size_bytes]
            value = raw.view(self._internal_dtype)
            if new_order == "=":
                value = value.astype(self._native_dtype, casting="equiv", copy=False)
            elif new_order != "|":
                value = value.astype(
                    self._internal_dtype.newbyteorder(new_order), casting="equiv", copy=False
                )
            value = value.reshape(shape, order=self.order)
            if value.ndim == 0:
                value = value[()]
            elif value.ndim == 1 and self.format == _C8_FORMAT:
                value = value.tobytes().decode("ascii")
            self.value = value
            return
        if (
            fastpath == _FASTPATH_IMMEDIATE
            and raw_item.is_immediate
            and memoryview(raw_item).nbytes * 8 == self._imm_bits
        ):
            value = raw_item.immediate_value
            bits = self._imm_bits
            if self._imm_signed and value >> (bits - 1):
                value -= 1 << bits
            self.value = value
            return
        self._set_from_raw_bits(raw_item)

    def _set_from_raw_bits(self, raw_item: Any) -> None:
        """Generic (bit-unpacking) implementation of :meth:`set_from_raw`."""
        data = memoryview(raw_item).tobytes()
        bits_per_element = sum(bits for _, bits in self._fields)
        max_elements = len(data) * 8 // bits_per_element
        shape = self.dynamic_shape(max_elements)
        elements = _shape_elements(shape)
        if elements > max_elements:
            raise ValueError(
                f"Item {self.name} has too few elements for shape "
                f"({max_elements} < {elements})"
            )
        if raw_item.is_immediate:
            # Take the trailing bytes (see the comment in set_from_raw about
            # avoiding a [-0:] slice).
            nbytes = (elements * bits_per_element + 7) // 8
            data = data[len(data) - nbytes :]
        flat = _unpack_bits(data, self._fields, elements)
        array = np.empty(elements, dtype=self._internal_dtype)
        for i, element in enumerate(flat):
            array[i] = element
        value: Any = array.reshape(shape, order=self.order)
        if value.ndim == 0:
            value = value[()]
        elif value.ndim == 1 and self.format == _C8_FORMAT:  # pragma: no cover
            # Unreachable in practice: [('c', 8)] always takes the numpy path
            value = b"".join(value).decode("ascii")
        self.value = value


class ItemGroup:
    """A collection of :class:`Item` objects, indexed by both ID and name.

    Integral keys (including ``bool`` and numpy integers) are IDs, anything
    else is a name. Iteration order of :meth:`keys`, :meth:`values` and
    :meth:`items` is insertion order.
    """

    def __init__(self) -> None:
        self._by_id: dict[int, Item] = {}
        self._by_name: dict[str, Item] = {}

    def _add_item(self, item: Item) -> None:
        """Merge `item` into the group: same ID and descriptor keeps the old item (with
        the new value); otherwise items with the same ID or name are replaced."""
        old_by_id = self._by_id.get(item.id)
        if (
            old_by_id is not None
            and old_by_id.name == item.name
            and old_by_id.description == item.description
            and old_by_id.shape == item.shape
            and _dtype_equal(old_by_id.dtype, item.dtype)
            and old_by_id.order == item.order
            and old_by_id.format == item.format
        ):
            # Same descriptor: just transfer the value
            if item.value is not None:
                old_by_id.value = item.value
            return
        old_by_name = self._by_name.get(item.name)
        if old_by_id is not None or old_by_name is not None:
            _logger.info("Descriptor replacement for ID %#x, name %s", item.id, item.name)
            version = item.version
            if old_by_id is not None:
                version = max(version, old_by_id.version + 1)
            if old_by_name is not None:
                version = max(version, old_by_name.version + 1)
            item.version = version
        if old_by_id is not None:
            self._remove(old_by_id)
        if old_by_name is not None and old_by_name is not old_by_id:
            self._remove(old_by_name)
        self._by_id[item.id] = item
        self._by_name[item.name] = item

    def _remove(self, item: Item) -> None:
        """Remove `item` from both indices.

        Robust to the item's ``id``/``name`` attributes having been reassigned
        since it was inserted (falls back to a search by identity).
        """
        index: dict[Any, Item]
        for index, key in ((self._by_id, item.id), (self._by_name, item.name)):
            try:
                found = index.get(key) is item
            except TypeError:  # unhashable key
                found = False
            if found:
                del index[key]
            else:
                for k in [k for k, v in index.items() if v is item]:
                    del index[k]

    def add_item(
        self,
        id: int | None,
        name: str,
        description: str,
        shape: Sequence[int | None],
        dtype: DTypeLike | None = None,
        order: str = "C",
        format: list[tuple[str, int]] | None = None,
        *,
        value: Any = None,
    ) -> Item:
        """Construct an :class:`Item` and add it to the group.

        If `id` is ``None``, the lowest unused ID ``>= 0x1000`` is assigned.
        If an item with the same ID and an identical descriptor already
        exists, only its value is updated (if `value` is not ``None``);
        otherwise existing items with the same ID and/or name are replaced.

        Returns
        -------
        Item
            The newly constructed item (even if it was merged into an
            existing one and not stored).
        """
        item = Item(id, name, description, shape, dtype, order, format, value=value)
        if item.id is None:
            new_id = _UNRESERVED_ID
            while new_id in self._by_id:
                new_id += 1
            item.id = new_id
        self._add_item(item)
        return item

    def __getitem__(self, key: int | str) -> Item:
        """Look up an item by ID (integral key) or name (other keys)."""
        if isinstance(key, numbers.Integral):
            return self._by_id[key]
        return self._by_name[key]

    def __contains__(self, key: object) -> bool:
        """Whether an item with this ID (integral key) or name exists."""
        if isinstance(key, numbers.Integral):
            return key in self._by_id
        return key in self._by_name

    def keys(self) -> KeysView[str]:
        """Item names."""
        return self._by_name.keys()

    def ids(self) -> KeysView[int]:
        """Item IDs."""
        return self._by_id.keys()

    def values(self) -> ValuesView[Item]:
        """Items, in insertion order."""
        return self._by_name.values()

    def items(self) -> ItemsView[str, Item]:
        """``(name, item)`` pairs, in insertion order."""
        return self._by_name.items()

    def __len__(self) -> int:
        """Number of items."""
        return len(self._by_name)

    def update(self, heap: Any, new_order: str = "=") -> dict[str, Item]:
        """Apply the descriptors and values of a received heap.

        Parameters
        ----------
        heap
            A complete :class:`spead2.recv.Heap`.
        new_order
            Byte order for numpy-path values (see :meth:`Item.set_from_raw`).

        Returns
        -------
        dict
            Maps names to the items whose values were updated by this heap.

        Raises
        ------
        ValueError
            if a descriptor or value cannot be decoded (the group may then be
            partially updated).
        """
        descriptors = heap.get_descriptors()
        if descriptors:
            flavour = heap.flavour
            for descriptor in descriptors:
                self._add_item(Item.from_raw(descriptor, flavour=flavour))
        updated_items: dict[str, Item] = {}
        by_id = self._by_id
        for raw_item in heap.get_items():
            item_id = raw_item.id
            if item_id <= _STREAM_CTRL_ID:
                continue  # special fields, not real items
            item = by_id.get(item_id)
            if item is None:
                _logger.warning("Item with ID %#x received but there is no descriptor", item_id)
                continue
            item.set_from_raw(raw_item, new_order=new_order)
            item.version += 1
            updated_items[item.name] = item
        return updated_items
