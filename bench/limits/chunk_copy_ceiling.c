/* The fastest the chunk-64K workload of spead_bench.py could possibly go on this
 * machine: its copies alone, with no decoding, no heap assembly and no consumer.
 * 1024 heaps of 64 KiB in 8972-byte packets (8900-byte payloads after a 72-byte
 * header) are read from one buffer and their payloads written into 8 rotating 4 MiB
 * chunks, with the C library's memcpy and with AVX2 streaming (non-temporal) stores.
 *
 *     gcc -O2 -o /tmp/chunk_copy_ceiling bench/limits/chunk_copy_ceiling.c && /tmp/chunk_copy_ceiling
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define PKT 8972
#define HDR 72
#define PAY (PKT - HDR)
#define HEAP (64 * 1024)
#define CHUNK (64 * HEAP)
#define NHEAP 1024
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
/* Streaming stores must be aligned: the head is copied with memcpy. */
__attribute__((target("avx2"))) static void nt(uint8_t *d, const uint8_t *s, size_t n) {
    size_t head = (32 - ((uintptr_t)d & 31)) & 31; if (head > n) head = n;
    memcpy(d, s, head); d += head; s += head; n -= head;
    for (size_t i = 0; i < n / 128; i++, s += 128, d += 128) {
        __m256i a = _mm256_loadu_si256((const __m256i *)s), b = _mm256_loadu_si256((const __m256i *)(s + 32));
        __m256i c = _mm256_loadu_si256((const __m256i *)(s + 64)), e = _mm256_loadu_si256((const __m256i *)(s + 96));
        _mm256_stream_si256((__m256i *)d, a); _mm256_stream_si256((__m256i *)(d + 32), b);
        _mm256_stream_si256((__m256i *)(d + 64), c); _mm256_stream_si256((__m256i *)(d + 96), e);
    }
    _mm_sfence(); memcpy(d, s, n % 128);
}
int main(void) {
    size_t pkts_per_heap = (HEAP + PAY - 1) / PAY;
    size_t bufsize = (size_t)NHEAP * pkts_per_heap * PKT;
    uint8_t *buf = malloc(bufsize), *chunks[8];
    memset(buf, 1, bufsize);
    for (int i = 0; i < 8; i++) { chunks[i] = aligned_alloc(4096, CHUNK); memset(chunks[i], 0, CHUNK); }
    for (int mode = 0; mode < 2; mode++) {
        double best = 1e9;
        for (int rep = 0; rep < 40; rep++) {
            double t0 = now();
            const uint8_t *p = buf;
            for (size_t h = 0; h < NHEAP; h++) {
                uint8_t *dst = chunks[(h / 64) % 8] + (h % 64) * HEAP;
                for (size_t off = 0; off < HEAP; off += PAY, p += PKT) {
                    size_t n = HEAP - off < PAY ? HEAP - off : PAY;
                    if (mode) nt(dst + off, p + HDR, n); else memcpy(dst + off, p + HDR, n);
                }
            }
            double t = now() - t0; if (t < best) best = t;
        }
        printf("%s: %.1f Gb/s of payload (best of 40)\n", mode ? "AVX2 streaming stores" : "memcpy", NHEAP * (double)HEAP * 8 / best / 1e9);
    }
    return 0;
}
