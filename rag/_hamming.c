/* The exact Hamming top-k scan over packed codes (rag.hamming is its Python face).
 *
 * One pass over the codes computes each row's distance (XOR + popcount, 64 bits at a time) and offers it
 * to a per-query selection that keeps only rows at distance <= a bound: the bound starts at "everything"
 * and drops to the k-th smallest kept distance whenever the kept rows fill their buffer (a histogram of
 * the kept distances, which are small integers, gives the k-th without sorting). Every row at distance
 * <= the final k-th is kept, so the answer is exact, ties included; a stable counting sort by distance
 * (rows were kept in slot order) then yields (distance, slot) order, so ties go to the smaller slot.
 *
 * Fused, the selection costs one compare per row, and the scan reads each code once: it runs at the
 * speed of memory for one query. For many queries the codes are walked in chunks that stay in L1 while
 * every query passes over them, so a batch reads the codes from memory once.
 *
 * The distance kernel is chosen at import, the fastest this CPU runs: AVX-512 VPOPCNTDQ (a popcount of
 * eight 64-bit lanes, sixteen rows per reduction, the bound tested on sixteen distances at once), AVX2 (a
 * vpshufb nibble lookup, four rows at a time), the POPCNT instruction (every x86-64 since 2008), or the
 * compiler's portable code.
 * They give the same distances (tests run each against a numpy oracle). The scan runs without the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t bound;   /* rows at distance <= bound are kept */
    Py_ssize_t count; /* kept rows */
    Py_ssize_t cap;
    int64_t *slots;
    uint32_t *dists;
    uint32_t *hist; /* kept rows per distance, bits + 1 bins */
    Py_ssize_t k;
    const uint8_t *mask; /* this query's allowed rows (1 = allowed), or NULL */
    int failed;          /* out of memory: sticky, the scan stops */
} Selection;

typedef struct {
    const uint8_t *codes;
    Py_ssize_t n;
    Py_ssize_t code_bytes;
    const uint8_t *queries;
    Py_ssize_t nq;
    Py_ssize_t k;
    const uint8_t *mask; /* NULL, or row q of length n at mask + q * mask_stride (stride 0: shared) */
    Py_ssize_t mask_stride;
    Py_ssize_t chunk_rows; /* 1..MAX_CHUNK_ROWS */
} Scan;


static inline uint64_t load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* The tail of a code whose length is not a multiple of 8, zero-padded into one word. */
static inline uint64_t load_tail(const uint8_t *p, Py_ssize_t bytes) {
    uint64_t v = 0;
    memcpy(&v, p, (size_t)bytes);
    return v;
}

/* The k-th smallest kept distance, from the histogram (the caller knows count >= k). */
static uint32_t kth_distance(const Selection *s, Py_ssize_t k) {
    Py_ssize_t seen = 0;
    uint32_t d = 0;
    for (;; d++) {
        seen += s->hist[d];
        if (seen >= k)
            return d;
    }
}

/* Lower the bound to the k-th kept distance and drop the rows past it (slot order is preserved). Many
 * rows tied at the bound can leave the buffer full: it doubles then. Returns -1 when out of memory. */
static int tighten(Selection *s) {
    if (s->count >= s->k) {
        uint32_t bound = kth_distance(s, s->k);
        Py_ssize_t kept = 0;
        for (Py_ssize_t i = 0; i < s->count; i++) {
            if (s->dists[i] <= bound) {
                s->slots[kept] = s->slots[i];
                s->dists[kept] = s->dists[i];
                kept++;
            }
        }
        for (uint32_t d = bound + 1; d <= s->bound; d++)
            s->hist[d] = 0;
        s->count = kept;
        s->bound = bound;
    }
    if (s->count * 2 > s->cap) {
        Py_ssize_t cap = s->cap * 2;
        int64_t *slots = realloc(s->slots, (size_t)cap * sizeof(int64_t));
        if (!slots)
            return -1;
        s->slots = slots;
        uint32_t *dists = realloc(s->dists, (size_t)cap * sizeof(uint32_t));
        if (!dists)
            return -1;
        s->dists = dists;
        s->cap = cap;
    }
    return 0;
}

/* Keep one row if it is allowed and within the bound; tighten when the buffer is full. */
static inline void offer(Selection *s, int64_t slot, uint32_t d) {
    if (d > s->bound || (s->mask && !s->mask[slot]))
        return;
    s->slots[s->count] = slot;
    s->dists[s->count] = d;
    s->hist[d]++;
    if (++s->count == s->cap && tighten(s) < 0)
        s->failed = 1;
}

/* Offer `count` consecutive rows from slot `at` (masked rows skipped). Once the bound has dropped, most
 * groups of 16 rows are all past it: one test, which the compiler vectorizes, skips such a group. */
static void offer_chunk(Selection *s, Py_ssize_t at, const uint32_t *dist, Py_ssize_t count) {
    for (Py_ssize_t i = 0; i < count; i += 16) {
        Py_ssize_t group = count - i < 16 ? count - i : 16;
        if (group == 16) {
            uint32_t bound = s->bound;
            int near = 0;
            for (int j = 0; j < 16; j++)
                near |= dist[i + j] <= bound;
            if (!near)
                continue;
        }
        for (Py_ssize_t j = i; j < i + group; j++)
            offer(s, at + j, dist[j]);
    }
}

/* Distances of `count` consecutive rows to one query, into out[0..count): one function per popcount
 * variant. The scan computes a chunk of rows at a time into a buffer that stays in L1, then selects. */
typedef void (*distances_fn)(const uint8_t *rows, Py_ssize_t count, Py_ssize_t bytes, const uint8_t *query,
                             uint32_t *out);

/* Every query of a scan over one chunk of rows, [at, at + count): the scan walks the codes chunk by
 * chunk, and all its queries pass over a chunk (in L1) before the next. A variant that can test the bound
 * on its distance vectors has its own (fused); the others compute a chunk of distances, then offer. */
typedef void (*chunk_fn)(const Scan *sc, Py_ssize_t at, Py_ssize_t count, Selection *sel);
enum { MAX_CHUNK_ROWS = 1024 };

static distances_fn distances_impl;

static void distances_then_offer(const Scan *sc, Py_ssize_t at, Py_ssize_t count, Selection *sel) {
    const Py_ssize_t bytes = sc->code_bytes;
    uint32_t dist[MAX_CHUNK_ROWS];
    for (Py_ssize_t q = 0; q < sc->nq; q++) {
        distances_impl(sc->codes + at * bytes, count, bytes, sc->queries + q * bytes, dist);
        offer_chunk(sel + q, at, dist, count);
    }
}

/* 64 bits at a time; 128-byte codes (1024 bits, the pplx models' width) get a constant trip count. */
#define DEFINE_WORD_DISTANCES(NAME, ATTR)                                                                \
    ATTR static void NAME##_distances(const uint8_t *rows, Py_ssize_t count, Py_ssize_t bytes,           \
                                      const uint8_t *query, uint32_t *out) {                             \
        const Py_ssize_t words = bytes / 8, tail = bytes % 8;                                            \
        for (Py_ssize_t i = 0; i < count; i++, rows += bytes) {                                          \
            uint32_t d0 = 0, d1 = 0;                                                                     \
            if (bytes == 128) {                                                                          \
                for (int w = 0; w < 16; w += 2) {                                                        \
                    d0 += (uint32_t)__builtin_popcountll(load64(rows + 8 * w) ^ load64(query + 8 * w));  \
                    d1 += (uint32_t)__builtin_popcountll(load64(rows + 8 * w + 8) ^                      \
                                                         load64(query + 8 * w + 8));                     \
                }                                                                                        \
            } else {                                                                                     \
                for (Py_ssize_t w = 0; w < words; w++)                                                   \
                    d0 += (uint32_t)__builtin_popcountll(load64(rows + 8 * w) ^ load64(query + 8 * w));  \
                if (tail)                                                                                \
                    d1 = (uint32_t)__builtin_popcountll(load_tail(rows + 8 * words, tail) ^              \
                                                        load_tail(query + 8 * words, tail));             \
            }                                                                                            \
            out[i] = d0 + d1;                                                                            \
        }                                                                                                \
    }

DEFINE_WORD_DISTANCES(portable, )

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_X86_VARIANTS 1
DEFINE_WORD_DISTANCES(popcnt, __attribute__((target("popcnt"))))

/* AVX2 has no popcount instruction: a nibble lookup (vpshufb) counts the bits of each byte, vpsadbw sums
 * bytes into 64-bit lanes (Mula, Kurz & Lemire, "Faster population counts using AVX2 instructions"). On
 * AMD Zen 3 it is 1.6x the POPCNT loop's speed on codes in cache, which is headroom for batches. */
#define AVX2 __attribute__((target("avx2,popcnt")))

enum { PREFETCH_AHEAD = 1024 };

/* The `bytes` of rows PREFETCH_AHEAD past `rows`, into L1: the hardware prefetcher alone left a single
 * query's scan ~20 % under the read floor on Zen 3 (prefetches past the end are harmless: they never
 * fault). */
static inline void prefetch_ahead(const uint8_t *rows, int bytes) {
    for (int line = 0; line < bytes; line += 64)
        _mm_prefetch((const char *)rows + PREFETCH_AHEAD + line, _MM_HINT_T0);
}

AVX2 static inline __m256i byte_counts(__m256i x) {
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3,
                                         1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f);
    return _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_and_si256(x, low)),
                           _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(x, 4), low)));
}

AVX2 static inline __m256i xor_at(const uint8_t *row, Py_ssize_t offset, __m256i q) {
    return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(row + offset)), q);
}

/* One 128-byte row: four 32-byte words whose byte counts (<= 32 each) are summed before vpsadbw. */
AVX2 static inline __m256i lanes128(const uint8_t *row, const __m256i q[4]) {
    __m256i bytes = _mm256_add_epi8(_mm256_add_epi8(byte_counts(xor_at(row, 0, q[0])), byte_counts(xor_at(row, 32, q[1]))),
                                    _mm256_add_epi8(byte_counts(xor_at(row, 64, q[2])), byte_counts(xor_at(row, 96, q[3]))));
    return _mm256_sad_epu8(bytes, _mm256_setzero_si256());
}

AVX2 static inline uint32_t lanes_sum(__m256i lanes) {
    __m128i half = _mm_add_epi64(_mm256_castsi256_si128(lanes), _mm256_extracti128_si256(lanes, 1));
    return (uint32_t)(_mm_cvtsi128_si64(half) + _mm_extract_epi64(half, 1));
}

/* Four 128-byte rows at once: their lane sums are packed two per 64-bit lane and reduced together. */
AVX2 static void avx2_distances128(const uint8_t *rows, Py_ssize_t count, const uint8_t *query, uint32_t *out) {
    __m256i q[4];
    for (int j = 0; j < 4; j++)
        q[j] = _mm256_loadu_si256((const __m256i *)(query + 32 * j));
    Py_ssize_t i = 0;
    for (; i + 4 <= count; i += 4, rows += 512) {
        prefetch_ahead(rows, 512);
        __m256i ab = _mm256_or_si256(lanes128(rows, q), _mm256_slli_epi64(lanes128(rows + 128, q), 32));
        __m256i cd = _mm256_or_si256(lanes128(rows + 256, q), _mm256_slli_epi64(lanes128(rows + 384, q), 32));
        __m256i sums = _mm256_add_epi32(_mm256_unpacklo_epi64(ab, cd), _mm256_unpackhi_epi64(ab, cd));
        __m128i four = _mm_add_epi32(_mm256_castsi256_si128(sums), _mm256_extracti128_si256(sums, 1));
        _mm_storeu_si128((__m128i *)(out + i), four);
    }
    for (; i < count; i++, rows += 128)
        out[i] = lanes_sum(lanes128(rows, q));
}

AVX2 static void avx2_distances(const uint8_t *rows, Py_ssize_t count, Py_ssize_t bytes, const uint8_t *query,
                                uint32_t *out) {
    if (bytes == 128) {
        avx2_distances128(rows, count, query, out);
    } else if (bytes % 32) {
        popcnt_distances(rows, count, bytes, query, out);
    } else {
        for (Py_ssize_t i = 0; i < count; i++, rows += bytes) {
            __m256i lanes = _mm256_setzero_si256();
            for (Py_ssize_t at = 0; at < bytes; at += 32) {
                __m256i q = _mm256_loadu_si256((const __m256i *)(query + at));
                lanes = _mm256_add_epi64(lanes, _mm256_sad_epu8(byte_counts(xor_at(rows, at, q)), _mm256_setzero_si256()));
            }
            out[i] = lanes_sum(lanes);
        }
    }
}

/* AVX-512 with VPOPCNTDQ (Intel Ice Lake and later, AMD Zen 4 and later) counts the bits of eight 64-bit
 * lanes in one instruction: a 128-byte row is two XORs and two popcounts, about 3x less work per code than
 * the AVX2 lookup, which is what a batched scan (compute-bound per query) is short of. Rows of any multiple
 * of 64 bytes up to 4 KiB go through it (distances < 65536, so 16-bit fields hold them), 1024-bit codes
 * with the query in two registers and the loops unrolled. */
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vpopcntdq,avx2,popcnt")))
enum { MAX_WORDS = 64 };
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* A row's bit counts per 64-bit lane (<= 64 x words), `words` 64-byte words against the query's q[]. */
AVX512 static ALWAYS_INLINE __m512i row_counts(const uint8_t *row, const __m512i *q, Py_ssize_t words) {
    __m512i counts = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512((const void *)row), q[0]));
    for (Py_ssize_t w = 1; w < words; w++) {
        __m512i x = _mm512_xor_si512(_mm512_loadu_si512((const void *)(row + 64 * w)), q[w]);
        counts = _mm512_add_epi64(counts, _mm512_popcnt_epi64(x));
    }
    return counts;
}

AVX512 static ALWAYS_INLINE uint32_t row_distance(const uint8_t *row, const __m512i *q, Py_ssize_t words) {
    return (uint32_t)_mm512_reduce_add_epi64(row_counts(row, q, words));
}

/* v with `row`'s lane counts (< 65536) copied into 16-bit field `field` (1..3) of each 64-bit lane: one
 * masked byte shuffle (byte j of a 128-bit lane takes byte j - 2 x field). */
AVX512 static inline __m512i into_field(__m512i v, __m512i row, int field) {
    const __m512i identity = _mm512_set_epi64(0x0f0e0d0c0b0a0908, 0x0706050403020100, 0x0f0e0d0c0b0a0908,
                                              0x0706050403020100, 0x0f0e0d0c0b0a0908, 0x0706050403020100,
                                              0x0f0e0d0c0b0a0908, 0x0706050403020100);
    const __m512i from = _mm512_sub_epi8(identity, _mm512_set1_epi8((char)(2 * field)));
    return _mm512_mask_shuffle_epi8(v, (__mmask64)(0x0303030303030303ULL << (2 * field)), row, from);
}

/* Sixteen rows' distances as 16-bit fields, in row order. Four rows share each 64-bit lane (a 16-bit
 * field each), and the lanes of four such vectors are summed by one transpose-add: 64-bit unpacks, a
 * two-source permute, then the two 256-bit halves. Against the previous reduction (four rows packed per
 * vector, each vector reduced by _mm512_reduce_add_epi64 and split by scalar shifts): 0.65-0.87x for the
 * distances alone, rows in L1. */
AVX512 static ALWAYS_INLINE __m256i distances16(const uint8_t *rows, const __m512i *q, Py_ssize_t words) {
    const Py_ssize_t bytes = 64 * words;
    __m512i p[4];
    for (int g = 0; g < 4; g++) {
        const uint8_t *r = rows + 4 * bytes * g;
        __m512i v = row_counts(r, q, words);
        v = into_field(v, row_counts(r + bytes, q, words), 1);
        v = into_field(v, row_counts(r + 2 * bytes, q, words), 2);
        p[g] = into_field(v, row_counts(r + 3 * bytes, q, words), 3);
    }
    /* a's 128-bit lane L: p0's lanes 2L and 2L + 1 summed, then p1's; b likewise for p2, p3 */
    __m512i a = _mm512_add_epi64(_mm512_unpacklo_epi64(p[0], p[1]), _mm512_unpackhi_epi64(p[0], p[1]));
    __m512i b = _mm512_add_epi64(_mm512_unpacklo_epi64(p[2], p[3]), _mm512_unpackhi_epi64(p[2], p[3]));
    /* c's 128-bit lanes: (p0, p1) over lanes 0-3, (p2, p3) over 0-3, (p0, p1) over 4-7, (p2, p3) over 4-7 */
    const __m512i first = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
    const __m512i second = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    __m512i c = _mm512_add_epi64(_mm512_permutex2var_epi64(a, first, b), _mm512_permutex2var_epi64(a, second, b));
    return _mm256_add_epi64(_mm512_castsi512_si256(c), _mm512_extracti64x4_epi64(c, 1));
}

AVX512 static ALWAYS_INLINE void load_query(const uint8_t *query, __m512i *q, Py_ssize_t words) {
    for (Py_ssize_t w = 0; w < words; w++)
        q[w] = _mm512_loadu_si512((const void *)(query + 64 * w));
}

AVX512 static ALWAYS_INLINE void distances_words(const uint8_t *rows, Py_ssize_t count, const uint8_t *query,
                                                 uint32_t *out, Py_ssize_t words) {
    __m512i q[MAX_WORDS];
    load_query(query, q, words);
    Py_ssize_t i = 0;
    for (; i + 16 <= count; i += 16, rows += 16 * 64 * words)
        _mm512_storeu_si512((void *)(out + i), _mm512_cvtepu16_epi32(distances16(rows, q, words)));
    for (; i < count; i++, rows += 64 * words)
        out[i] = row_distance(rows, q, words);
}

AVX512 static void avx512_distances(const uint8_t *rows, Py_ssize_t count, Py_ssize_t bytes, const uint8_t *query,
                                    uint32_t *out) {
    if (bytes == 128)
        distances_words(rows, count, query, out, 2);
    else if (bytes % 64 == 0 && bytes / 64 <= MAX_WORDS)
        distances_words(rows, count, query, out, bytes / 64);
    else
        avx2_distances(rows, count, bytes, query, out);
}

/* The rows of a group of 16 (from slot `at`) whose bit is set in `near`, offered in slot order. */
static void offer_near(Selection *s, Py_ssize_t at, const uint16_t *dist, uint32_t near) {
    for (; near; near &= near - 1) {
        int j = __builtin_ctz(near);
        offer(s, at + j, dist[j]);
    }
}

/* Lines to prefetch while a kernel runs: `step` bytes from `from` on per 16 rows it reads. */
typedef struct {
    const uint8_t *from;
    Py_ssize_t step;
} Prefetch;

/* Rows against one query with the bound test fused: sixteen distances are compared with the bound in one
 * instruction, and only the rows within it (few, once the bound has dropped) reach the scalar offer,
 * where a chunk's distances were stored, reloaded and tested (with the transpose-add and the chunk-outer
 * scan: 0.77-0.87x per batch of 8 or 32). */
AVX512 static ALWAYS_INLINE void offer_words(const uint8_t *rows, Py_ssize_t count, const uint8_t *query,
                                             Py_ssize_t at, Selection *s, Prefetch ahead, Py_ssize_t words) {
    __m512i q[MAX_WORDS];
    load_query(query, q, words);
    Py_ssize_t i = 0;
    for (; i + 16 <= count; i += 16, rows += 16 * 64 * words) {
        for (Py_ssize_t line = 0; line < ahead.step; line += 64)
            _mm_prefetch((const char *)ahead.from + line, _MM_HINT_T0);
        ahead.from += ahead.step;
        __m256i d = distances16(rows, q, words);
        __mmask16 near = _mm256_cmple_epu16_mask(d, _mm256_set1_epi16((short)s->bound));
        if (near) {
            uint16_t dist[16];
            _mm256_storeu_si256((__m256i *)dist, d);
            offer_near(s, at + i, dist, near);
        }
    }
    for (; i < count; i++, rows += 64 * words)
        offer(s, at + i, row_distance(rows, q, words));
}

/* One query streams from memory: it prefetches the rows PREFETCH_AHEAD ahead (see prefetch_ahead). In a
 * batch the chunk is in L1 after the first query, where such prefetches only take load slots (0.83x per
 * batch of 8 without them): there each query prefetches its share of the next chunk instead, so that
 * chunk arrives while the batch computes on this one (a further 0.84x per batch of 8). */
AVX512 static ALWAYS_INLINE void chunk_words(const Scan *sc, Py_ssize_t at, Py_ssize_t count, Selection *sel,
                                             Py_ssize_t words) {
    const Py_ssize_t bytes = 64 * words;
    const uint8_t *rows = sc->codes + at * bytes;
    if (sc->nq == 1) {
        offer_words(rows, count, sc->queries, at, sel, (Prefetch){rows + PREFETCH_AHEAD, 16 * bytes}, words);
        return;
    }
    const Py_ssize_t chunk_bytes = sc->chunk_rows * bytes, groups = sc->chunk_rows / 16 ? sc->chunk_rows / 16 : 1;
    const Py_ssize_t share = (chunk_bytes / sc->nq + 63) / 64 * 64, step = (share / groups + 63) / 64 * 64;
    for (Py_ssize_t q = 0; q < sc->nq; q++) {
        Prefetch ahead = {rows + chunk_bytes + q * share, step};
        offer_words(rows, count, sc->queries + q * bytes, at, sel + q, ahead, words);
    }
}

/* 1024-bit codes get their own copy (the query in two registers, the loops unrolled). */
AVX512 static void avx512_chunk(const Scan *sc, Py_ssize_t at, Py_ssize_t count, Selection *sel) {
    const Py_ssize_t bytes = sc->code_bytes, words = bytes / 64;
    if (bytes == 128)
        chunk_words(sc, at, count, sel, 2);
    else if (bytes % 64 == 0 && words <= MAX_WORDS)
        chunk_words(sc, at, count, sel, words);
    else
        distances_then_offer(sc, at, count, sel);
}
#endif

static chunk_fn chunk_impl = distances_then_offer;

static void scan(const Scan *sc, Selection *sel) {
    for (Py_ssize_t at = 0; at < sc->n; at += sc->chunk_rows) {
        Py_ssize_t count = sc->n - at < sc->chunk_rows ? sc->n - at : sc->chunk_rows;
        chunk_impl(sc, at, count, sel);
        for (Py_ssize_t q = 0; q < sc->nq; q++)
            if (sel[q].failed)
                return;
    }
}


static void free_selections(Selection *sel, Py_ssize_t nq) {
    for (Py_ssize_t q = 0; q < nq; q++) {
        free(sel[q].slots);
        free(sel[q].dists);
        free(sel[q].hist);
    }
    free(sel);
}

static Selection *new_selections(const Scan *sc) {
    const uint32_t bits = (uint32_t)(sc->code_bytes * 8);
    Selection *sel = calloc((size_t)sc->nq, sizeof(Selection));
    if (!sel)
        return NULL;
    for (Py_ssize_t q = 0; q < sc->nq; q++) {
        sel[q].bound = bits;
        sel[q].k = sc->k;
        sel[q].mask = sc->mask ? sc->mask + q * sc->mask_stride : NULL;
        sel[q].cap = 4 * sc->k + 64;
        sel[q].slots = malloc((size_t)sel[q].cap * sizeof(int64_t));
        sel[q].dists = malloc((size_t)sel[q].cap * sizeof(uint32_t));
        sel[q].hist = calloc((size_t)bits + 1, sizeof(uint32_t));
        if (!sel[q].slots || !sel[q].dists || !sel[q].hist) {
            free_selections(sel, q + 1);
            return NULL;
        }
    }
    return sel;
}

/* Query q's first min(k, kept) rows in (distance, slot) order: a counting sort of its kept rows, stable
 * (they were kept in slot order), so ties stay in slot order. It turns the histogram into start offsets. */
static Py_ssize_t emit(Selection *s, Py_ssize_t k, int64_t *out_slots, int32_t *out_dists) {
    Py_ssize_t total = s->count < k ? s->count : k;
    uint32_t at = 0;
    for (uint32_t d = 0; d <= s->bound; d++) {
        uint32_t rows = s->hist[d];
        s->hist[d] = at;
        at += rows;
    }
    for (Py_ssize_t i = 0; i < s->count; i++) {
        uint32_t place = s->hist[s->dists[i]]++;
        if ((Py_ssize_t)place < total) {
            out_slots[place] = s->slots[i];
            out_dists[place] = (int32_t)s->dists[i];
        }
    }
    return total;
}

/* Bytes of a buffer argument, checked against the size the call implies. */
static int check_size(const Py_buffer *b, Py_ssize_t want, const char *what) {
    if (b->len < want) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd bytes, the call needs %zd", what, b->len, want);
        return -1;
    }
    return 0;
}

static int run_scan(Scan *sc, int64_t *out_slots, int32_t *out_dists, int64_t *out_counts) {
    Selection *sel = NULL;
    int oom = 0;
    Py_BEGIN_ALLOW_THREADS
    sel = new_selections(sc);
    if (!sel) {
        oom = 1;
    } else {
        scan(sc, sel);
        for (Py_ssize_t q = 0; q < sc->nq && !oom; q++) {
            if (sel[q].failed || tighten(sel + q) < 0)
                oom = 1;
            else
                out_counts[q] = emit(sel + q, sc->k, out_slots + q * sc->k, out_dists + q * sc->k);
        }
        free_selections(sel, sc->nq);
    }
    Py_END_ALLOW_THREADS
    if (oom) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(top_k_doc,
             "top_k(codes, n, code_bytes, queries, nq, k, mask, mask_stride, chunk_rows, out_slots, "
             "out_dists, out_counts)\n\nExact Hamming top-k of nq queries over n codes into the out buffers "
             "(int64 slots and int32 distances, nq x k; int64 counts, nq). mask: None or bytes (1 = "
             "allowed), row q at q * mask_stride (0: one mask for all).");

static PyObject *top_k(PyObject *self, PyObject *args) {
    (void)self;
    Scan sc;
    PyObject *mask_obj;
    Py_buffer codes, queries, mask = {0}, slots, dists, counts;
    if (!PyArg_ParseTuple(args, "y*nny*nnOnnw*w*w*", &codes, &sc.n, &sc.code_bytes, &queries, &sc.nq, &sc.k,
                          &mask_obj, &sc.mask_stride, &sc.chunk_rows, &slots, &dists, &counts))
        return NULL;
    int have_mask = mask_obj != Py_None;
    int bad = have_mask && PyObject_GetBuffer(mask_obj, &mask, PyBUF_SIMPLE) < 0;
    if (!bad && (sc.n < 0 || sc.nq < 0 || sc.k < 1 || sc.code_bytes < 1 || sc.code_bytes > 8192 ||
                 sc.chunk_rows < 1 || sc.chunk_rows > MAX_CHUNK_ROWS || sc.mask_stride < 0)) {
        PyErr_SetString(PyExc_ValueError, "top_k: n, nq >= 0; k >= 1; 1 <= chunk_rows <= 1024; 1 <= code_bytes <= 8192");
        bad = 1;
    }
    bad = bad || check_size(&codes, sc.n * sc.code_bytes, "codes") < 0 ||
          check_size(&queries, sc.nq * sc.code_bytes, "queries") < 0 ||
          (have_mask && check_size(&mask, sc.mask_stride * (sc.nq ? sc.nq - 1 : 0) + sc.n, "mask") < 0) ||
          check_size(&slots, sc.nq * sc.k * 8, "out_slots") < 0 ||
          check_size(&dists, sc.nq * sc.k * 4, "out_dists") < 0 || check_size(&counts, sc.nq * 8, "out_counts") < 0;
    if (!bad && sc.nq > 0) {
        sc.codes = codes.buf;
        sc.queries = queries.buf;
        sc.mask = have_mask ? mask.buf : NULL;
        bad = run_scan(&sc, slots.buf, dists.buf, counts.buf) < 0;
    }
    PyBuffer_Release(&codes);
    PyBuffer_Release(&queries);
    if (have_mask && mask.obj)
        PyBuffer_Release(&mask);
    PyBuffer_Release(&slots);
    PyBuffer_Release(&dists);
    PyBuffer_Release(&counts);
    if (bad)
        return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(distances_doc, "distances(codes, n, code_bytes, queries, nq, out)\n\nThe nq x n Hamming distance "
                            "matrix into out (int32, row-major).");

static PyObject *distances(PyObject *self, PyObject *args) {
    (void)self;
    Scan sc = {0};
    Py_buffer codes, queries, out;
    if (!PyArg_ParseTuple(args, "y*nny*nw*", &codes, &sc.n, &sc.code_bytes, &queries, &sc.nq, &out))
        return NULL;
    int bad = 0;
    if (sc.n < 0 || sc.nq < 0 || sc.code_bytes < 1) {
        PyErr_SetString(PyExc_ValueError, "distances: n, nq >= 0; code_bytes >= 1");
        bad = 1;
    }
    bad = bad || check_size(&codes, sc.n * sc.code_bytes, "codes") < 0 ||
          check_size(&queries, sc.nq * sc.code_bytes, "queries") < 0 ||
          check_size(&out, sc.nq * sc.n * 4, "out") < 0;
    if (!bad) {
        sc.codes = codes.buf;
        sc.queries = queries.buf;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t q = 0; q < sc.nq; q++)
            distances_impl(sc.codes, sc.n, sc.code_bytes, sc.queries + q * sc.code_bytes,
                           (uint32_t *)out.buf + q * sc.n);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&codes);
    PyBuffer_Release(&queries);
    PyBuffer_Release(&out);
    if (bad)
        return NULL;
    Py_RETURN_NONE;
}

/* The variants this CPU can run, fastest first; the first is chosen at import. */
typedef struct {
    const char *name;
    distances_fn fn;
    chunk_fn chunk;
} Variant;

static Variant variants_table[4];
static Py_ssize_t variants_count;
static const char *variant_name = "portable";

static void find_variants(void) {
#ifdef HAVE_X86_VARIANTS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vpopcntdq"))
        variants_table[variants_count++] = (Variant){"avx512", avx512_distances, avx512_chunk};
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt"))
        variants_table[variants_count++] = (Variant){"avx2", avx2_distances, distances_then_offer};
    if (__builtin_cpu_supports("popcnt"))
        variants_table[variants_count++] = (Variant){"popcnt", popcnt_distances, distances_then_offer};
#endif
    variants_table[variants_count++] = (Variant){"portable", portable_distances, distances_then_offer};
    distances_impl = variants_table[0].fn;
    chunk_impl = variants_table[0].chunk;
    variant_name = variants_table[0].name;
}

static PyObject *variant(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    return PyUnicode_FromString(variant_name);
}

static PyObject *variants(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *names = PyList_New(variants_count);
    for (Py_ssize_t i = 0; names && i < variants_count; i++)
        PyList_SET_ITEM(names, i, PyUnicode_FromString(variants_table[i].name));
    return names;
}

static PyObject *use_variant(PyObject *self, PyObject *args) {
    (void)self;
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name))
        return NULL;
    for (Py_ssize_t i = 0; i < variants_count; i++) {
        if (strcmp(name, variants_table[i].name) == 0) {
            distances_impl = variants_table[i].fn;
            chunk_impl = variants_table[i].chunk;
            variant_name = variants_table[i].name;
            Py_RETURN_NONE;
        }
    }
    PyErr_Format(PyExc_ValueError, "no Hamming kernel variant %s on this CPU", name);
    return NULL;
}

static PyMethodDef methods[] = {
    {"top_k", top_k, METH_VARARGS, top_k_doc},
    {"distances", distances, METH_VARARGS, distances_doc},
    {"variant", variant, METH_NOARGS, "The popcount variant in use: 'avx512', 'avx2', 'popcnt' or 'portable'."},
    {"variants", variants, METH_NOARGS, "The variants this CPU can run, fastest (the import's choice) first."},
    {"use_variant", use_variant, METH_VARARGS, "Switch every later scan to a variant (for tests and benches)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "rag._hamming", "The exact Hamming top-k scan.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__hamming(void) {
    find_variants();
    return PyModule_Create(&module);
}
