"""Indices of the core statistics in :class:`spead2.recv.StreamStats`."""

from spead2._spead2.recv.stream_stat_indices import *  # noqa: F401,F403
