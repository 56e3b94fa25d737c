/* Test-only exports of libspead2_ibv_double.so, the software stand-in for
 * libibverbs (see ibv_double.cpp).  The verbs themselves are declared by
 * <infiniband/verbs.h>; this header adds what a test needs to observe the
 * "hardware": counters and the pacing rate in force.
 *
 * From Python, load the same path as the code under test (dlopen returns the
 * already-loaded library, so the counters are shared) and read the struct with
 * ctypes; fields are only ever appended, and `size` says how much the caller has.
 */
#ifndef SPEAD2_IBV_DOUBLE_H
#define SPEAD2_IBV_DOUBLE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ibv_qp;

/* Process-wide totals since the library was loaded (or last reset). */
struct spead2_ibv_double_stats {
    uint64_t rx_frames;            /* frames written into posted receive WRs (success completions) */
    uint64_t rx_errors;            /* frames that produced an error completion (buffer too small, bad lkey) */
    uint64_t rx_dropped_no_wr;     /* frames matching a flow while the QP had no receive WR posted */
    uint64_t rx_dropped_cq_full;   /* frames matching a flow while the receive CQ was full */
    uint64_t tx_frames;            /* frames put on the wire */
    uint64_t tx_errors;            /* send WRs completed with an error status (not counting flushes) */
    uint64_t tx_cq_overflow;       /* send completions lost because the send CQ was full */
    uint64_t cq_events;            /* completion events written to completion channels */
    uint32_t last_rate_limit_kbps; /* last rate accepted by ibv_modify_qp_rate_limit (0 = unlimited) */
    uint32_t live_qps;             /* QPs currently existing */
};

/* Copies min(size, sizeof(struct spead2_ibv_double_stats)) bytes; returns 0. */
int spead2_ibv_double_stats(struct spead2_ibv_double_stats *stats, size_t size);

/* Zeroes the counters (not live_qps). */
void spead2_ibv_double_reset_stats(void);

/* The pacing rate (kbps, 0 = unlimited) currently applied to a QP of the double. */
uint32_t spead2_ibv_double_qp_rate_limit(struct ibv_qp *qp);

#ifdef __cplusplus
}
#endif

#endif /* SPEAD2_IBV_DOUBLE_H */
