# Type stubs for spead2.recv.stream_stat_indices: indices of the core
# statistics in spead2.recv.StreamStats (see StreamConfig.stats for names).

from typing import Final

HEAPS: Final = 0
INCOMPLETE_HEAPS_EVICTED: Final = 1
INCOMPLETE_HEAPS_FLUSHED: Final = 2
PACKETS: Final = 3
BATCHES: Final = 4
MAX_BATCH: Final = 5
SINGLE_PACKET_HEAPS: Final = 6
SEARCH_DIST: Final = 7
WORKER_BLOCKED: Final = 8
