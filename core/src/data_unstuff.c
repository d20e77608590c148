/* SPDX-License-Identifier: MIT */
/* DATA body unstuffing and end-of-data detection (server side).
 *
 * Why so strict: SMTP smuggling (2023) works because receivers disagree on what ends the
 * body. "<LF>.<LF>", "<CR>.<CR>" and friends must be content here, or a relay that passes
 * them through would let an attacker hide a second message inside the first. Only
 * CRLF "." CRLF ends the body, and only a CRLF starts a line (so only a CRLF can make a
 * leading dot special). See docs/wire-lines-replies.md.
 *
 * Speed: 64-byte blocks are classified with bit masks (CRLF pairs, bare CR and LF, NUL,
 * 8-bit, line lengths), with SSE2 or, when the CPU has them, AVX2 or AVX-512BW (one
 * vector and three compares per block instead of four vectors and twenty), each with BMI2
 * for the mask logic. On the AVX paths a dot at a line start ends the run of blocks right
 * before it, so a segment ends there without a detour through the line-wise path. That path, which also
 * takes the tails of a buffer, finds lines with memchr and checks each line's content for
 * CR, NUL and 8-bit bytes (16 bytes at a time with SSE2, 8 otherwise), skipping the
 * checks for flags already raised; it is the reference the block paths are tested against
 * (SC_UNSTUFF_PATH_SCALAR). */
#include "data.h"
#include "scan.h"

#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__)
#define SC_UNSTUFF_HAVE_AVX512 1
#include <immintrin.h>
#define SC_AVX512 __attribute__((target("avx512f,avx512bw,bmi,bmi2")))
#define SC_AVX2 __attribute__((target("avx2,bmi,bmi2")))
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

enum { ST_BOL = 0, ST_MID = 1, ST_MID_CR = 2, ST_DONE = 3 };

#define SC_DATA_BYTE_FLAGS (SC_DATA_BARE_CR | SC_DATA_NUL | SC_DATA_8BIT)

/* Classification of a run, in SC_DATA_* terms. */
static uint32_t scan_bytes(const unsigned char *p, size_t n)
{
    uint32_t b = sc_scan_bytes(p, n);
    return ((b & SC_SCAN_NUL) ? SC_DATA_NUL : 0u) | ((b & SC_SCAN_CR) ? SC_DATA_BARE_CR : 0u) |
           ((b & SC_SCAN_8BIT) ? SC_DATA_8BIT : 0u);
}

/* Flags (among `need`) of line content p[0, n) that holds no LF, so every CR in it is
 * bare. Returns a superset-free, exact answer for the bits in `need`. */
static uint32_t content_flags(const unsigned char *p, size_t n, uint32_t need)
{
    if (need == 0 || n == 0)
        return 0;
#if defined(__SSE2__)
    if (n >= 16) {
        const __m128i cr = _mm_set1_epi8('\r');
        const __m128i zero = _mm_setzero_si128();
        __m128i special = zero, high = zero;
        size_t i = 0;
        for (; i + 16 <= n; i += 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
            special = _mm_or_si128(special,
                                   _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, zero)));
            high = _mm_or_si128(high, v);
        }
        if (i < n) { /* the last, overlapping 16 bytes */
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + n - 16));
            special = _mm_or_si128(special,
                                   _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, zero)));
            high = _mm_or_si128(high, v);
        }
        uint32_t f = 0;
        if (_mm_movemask_epi8(high) != 0)
            f |= SC_DATA_8BIT;
        if (_mm_movemask_epi8(special) != 0) /* rare: find out which one */
            f |= scan_bytes(p, n) & (SC_DATA_BARE_CR | SC_DATA_NUL);
        return f & need;
    }
#endif
    return scan_bytes(p, n) & need;
}

static int best_path(void)
{
#if defined(SC_UNSTUFF_HAVE_AVX512)
    if (__builtin_cpu_supports("bmi2") && __builtin_cpu_supports("avx512bw"))
        return SC_UNSTUFF_PATH_AVX512;
    if (__builtin_cpu_supports("bmi2") && __builtin_cpu_supports("avx2"))
        return SC_UNSTUFF_PATH_AVX2;
#endif
#if defined(__SSE2__)
    return SC_UNSTUFF_PATH_SSE2;
#else
    return SC_UNSTUFF_PATH_SCALAR;
#endif
}

void sc_unstuffer_init(sc_unstuffer *u, size_t max_line)
{
    u->state = ST_BOL; /* the DATA command's CRLF has just started a line */
    u->path = best_path();
    u->line_len = 0;
    u->max_line = max_line ? max_line : SIZE_MAX;
    u->flags = 0;
    u->size = 0;
}

#if defined(__SSE2__)
static uint64_t mask64(__m128i a, __m128i b, __m128i c, __m128i d)
{
    uint64_t m0 = (uint64_t)(unsigned)_mm_movemask_epi8(a);
    uint64_t m1 = (uint64_t)(unsigned)_mm_movemask_epi8(b);
    uint64_t m2 = (uint64_t)(unsigned)_mm_movemask_epi8(c);
    uint64_t m3 = (uint64_t)(unsigned)_mm_movemask_epi8(d);
    return m0 | (m1 << 16) | (m2 << 32) | (m3 << 48);
}

static uint64_t eq64(__m128i a, __m128i b, __m128i c, __m128i d, __m128i x)
{
    return mask64(_mm_cmpeq_epi8(a, x), _mm_cmpeq_epi8(b, x), _mm_cmpeq_epi8(c, x),
                  _mm_cmpeq_epi8(d, x));
}

/* Classifies whole 64-byte blocks of content from p on, as bit masks, without looking
 * for lines one by one. Entry: state MID (the byte before p is no undecided CR and p is
 * no undecided line start). Stops before a block holding a dot at a line start, which
 * the line-wise path must decide. Returns the new position; *bol says it is at a line
 * start (the blocks ended with CRLF), *cr_last that the last byte is a CR whose
 * successor is not known yet. Needs max_line >= 64: lines inside a block are shorter. */
static size_t fast_blocks(sc_unstuffer *u, const unsigned char *buf, size_t len, size_t p,
                          int *bol, int *cr_last)
{
    const __m128i crv = _mm_set1_epi8('\r');
    const __m128i lfv = _mm_set1_epi8('\n');
    const __m128i dotv = _mm_set1_epi8('.');
    const __m128i zero = _mm_setzero_si128();
    uint64_t cr_carry = 0, bol_carry = 0;
    uint64_t bare_lf = 0, bare_cr = 0, nul = 0, high = 0;
    size_t line_len = u->line_len;
    int long_line = 0;
    while (len - p >= 64) {
        const unsigned char *q = buf + p;
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)q);
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(q + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(q + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(const void *)(q + 48));
        uint64_t cr = eq64(a, b, c, d, crv);
        uint64_t lf = eq64(a, b, c, d, lfv);
        uint64_t prev_cr = (cr << 1) | cr_carry;
        uint64_t line_end = lf & prev_cr; /* LFs of CRLF pairs */
        uint64_t starts = (line_end << 1) | bol_carry;
        if (eq64(a, b, c, d, dotv) & starts)
            break;
        bare_lf |= lf & ~prev_cr;
        /* A CR in the last lane is decided by the next block (or the line-wise path). */
        bare_cr |= cr & ~(lf >> 1) & ~((uint64_t)1 << 63);
        if (cr_carry && !(lf & 1))
            bare_cr |= 1;
        nul |= eq64(a, b, c, d, zero);
        high |= mask64(a, b, c, d);
        if (lf == 0) {
            line_len += 64;
            long_line |= line_len > u->max_line;
        } else {
            long_line |= line_len + (size_t)__builtin_ctzll(lf) + 1 > u->max_line;
            line_len = (size_t)__builtin_clzll(lf); /* bytes after the last LF */
        }
        cr_carry = cr >> 63;
        bol_carry = line_end >> 63;
        p += 64;
    }
    if (bare_lf)
        u->flags |= SC_DATA_BARE_LF;
    if (bare_cr)
        u->flags |= SC_DATA_BARE_CR;
    if (nul)
        u->flags |= SC_DATA_NUL;
    if (high)
        u->flags |= SC_DATA_8BIT;
    if (long_line)
        u->flags |= SC_DATA_LONG_LINE;
    u->line_len = line_len;
    *bol = (int)bol_carry;
    *cr_last = (int)cr_carry;
    return p;
}
#endif

#if defined(SC_UNSTUFF_HAVE_AVX512)
/* Keeps a mask in a general register: left alone, gcc moves the block logic into
 * AVX-512 mask registers and back (kmov, kand, kmov), a round trip per step that made
 * the loop three times slower than its instruction count. */
#define SC_IN_GPR(x) __asm__("" : "+r"(x))

/* What the AVX2 block path carries from block to block, all of it bit masks or counts in
 * general registers; the vectors only supply each block's CR, LF and dot masks. */
typedef struct sc_blocks {
    uint64_t cr_carry;  /* the last block ended with a CR */
    uint64_t bol_carry; /* ... with a CRLF */
    uint64_t bare_lf, bare_cr, long_line;
    size_t line_len, max_line;
} sc_blocks;

/* One 64-byte block from its masks (lane i = byte i). Returns 64 when the whole block
 * is content, else the lanes before the first dot at a line start: those end with the
 * CRLF in front of the dot, so no CR is left undecided and the line length is back to
 * 0; the caller stops there. Branch-free but for that dot. */
static inline __attribute__((always_inline)) size_t sc_block_step(sc_blocks *b, uint64_t cr,
                                                                  uint64_t lf, uint64_t dot)
{
    const uint64_t top = (uint64_t)1 << 63;
    SC_IN_GPR(cr);
    SC_IN_GPR(lf);
    SC_IN_GPR(dot);
    uint64_t prev_cr = (cr << 1) | b->cr_carry;
    SC_IN_GPR(prev_cr);
    uint64_t line_end = lf & prev_cr; /* LFs of CRLF pairs */
    SC_IN_GPR(line_end);
    uint64_t stop = dot & ((line_end << 1) | b->bol_carry);
    if (stop != 0) {
        uint64_t keep = (stop & (0 - stop)) - 1;
        if (keep == 0)
            return 0;
        lf &= keep;
        b->bare_lf |= lf & ~prev_cr;
        b->bare_cr |= (cr & keep & ~(lf >> 1)) | (b->cr_carry & ~lf);
        b->long_line |= b->line_len + (size_t)__builtin_ctzll(lf) + 1 > b->max_line;
        b->line_len = 0;
        b->cr_carry = 0;
        b->bol_carry = 1;
        return (size_t)__builtin_ctzll(stop);
    }
    b->bare_lf |= lf & ~prev_cr;
    /* A CR in the last lane is decided by the next block (or the line-wise path); one
     * carried in from the last block is bare unless this one starts with LF. */
    b->bare_cr |= (cr & ~(lf >> 1) & ~top) | (b->cr_carry & ~lf);
    /* The first line ends at the first LF (the block's end when there is none). */
    b->long_line |= b->line_len + (size_t)__builtin_ctzll(lf | top) + 1 > b->max_line;
    b->line_len = (size_t)__builtin_clzll(lf | 1) + ((b->line_len + 1) & (0 - (size_t)(lf == 0)));
    b->cr_carry = cr >> 63;
    b->bol_carry = line_end >> 63;
    SC_IN_GPR(b->bare_lf);
    SC_IN_GPR(b->bare_cr);
    SC_IN_GPR(b->cr_carry);
    SC_IN_GPR(b->bol_carry);
    return 64;
}

static sc_blocks sc_blocks_start(const sc_unstuffer *u)
{
    sc_blocks b = {0, 0, 0, 0, 0, u->line_len, u->max_line};
    return b;
}

/* Hands the run's findings to the unstuffer (fast_blocks' outputs). */
static void sc_blocks_end(sc_unstuffer *u, const sc_blocks *b, int nul, int high, int *bol,
                          int *cr_last)
{
    if (b->bare_lf)
        u->flags |= SC_DATA_BARE_LF;
    if (b->bare_cr)
        u->flags |= SC_DATA_BARE_CR;
    if (nul)
        u->flags |= SC_DATA_NUL;
    if (high)
        u->flags |= SC_DATA_8BIT;
    if (b->long_line)
        u->flags |= SC_DATA_LONG_LINE;
    u->line_len = b->line_len;
    *bol = (int)b->bol_carry;
    *cr_last = (int)b->cr_carry;
}

/* fast_blocks with one 64-byte vector per block, the same contract, except that a block
 * holding a dot at a line start is taken up to that dot (the lanes before it end with a
 * CRLF), so the caller stops right at the dot. The block loop has no data-dependent
 * branch but that dot: NUL and 8-bit bytes are folded into two vectors (a running
 * minimum and OR) judged once at the end, the line length is kept with selects. */
SC_AVX512 static size_t fast_blocks_avx512(sc_unstuffer *u, const unsigned char *buf,
                                           size_t len, size_t p, int *bol, int *cr_last)
{
    const __m512i crv = _mm512_set1_epi8('\r');
    const __m512i lfv = _mm512_set1_epi8('\n');
    const __m512i dotv = _mm512_set1_epi8('.');
    __m512i low = _mm512_set1_epi8(-1); /* unsigned minimum: 0 once a NUL passed */
    __m512i high = _mm512_setzero_si512();
    const uint64_t top = (uint64_t)1 << 63;
    uint64_t cr_carry = 0, bol_carry = 0;
    uint64_t bare_lf = 0, bare_cr = 0, long_line = 0;
    const size_t max_line = u->max_line;
    size_t line_len = u->line_len;
    while (len - p >= 64) {
        __m512i v = _mm512_loadu_si512((const void *)(buf + p));
        uint64_t cr = _cvtmask64_u64(_mm512_cmpeq_epi8_mask(v, crv));
        uint64_t lf = _cvtmask64_u64(_mm512_cmpeq_epi8_mask(v, lfv));
        uint64_t dot = _cvtmask64_u64(_mm512_cmpeq_epi8_mask(v, dotv));
        SC_IN_GPR(cr);
        SC_IN_GPR(lf);
        SC_IN_GPR(dot);
        uint64_t prev_cr = (cr << 1) | cr_carry;
        SC_IN_GPR(prev_cr);
        uint64_t line_end = lf & prev_cr; /* LFs of CRLF pairs */
        SC_IN_GPR(line_end);
        uint64_t stop = dot & ((line_end << 1) | bol_carry);
        if (stop != 0) {
            /* Lanes [0, s) end with the CRLF in front of the dot: no CR is undecided,
             * and the last LF leaves an empty line. */
            uint64_t keep = (stop & (0 - stop)) - 1;
            if (keep == 0)
                break;
            lf &= keep;
            bare_lf |= lf & ~prev_cr;
            bare_cr |= (cr & keep & ~(lf >> 1)) | (cr_carry & ~lf);
            low = _mm512_mask_min_epu8(low, keep, low, v);
            high = _mm512_or_si512(high, _mm512_maskz_mov_epi8(keep, v));
            long_line |= line_len + (size_t)__builtin_ctzll(lf) + 1 > max_line;
            line_len = 0;
            p += (size_t)__builtin_ctzll(stop);
            cr_carry = 0;
            bol_carry = 1;
            break;
        }
        bare_lf |= lf & ~prev_cr;
        /* A CR in the last lane is decided by the next block (or the line-wise path);
         * one carried in from the last block is bare unless this one starts with LF. */
        bare_cr |= (cr & ~(lf >> 1) & ~top) | (cr_carry & ~lf);
        low = _mm512_min_epu8(low, v);
        high = _mm512_or_si512(high, v);
        /* The first line ends at the first LF (the block's end when there is none). */
        long_line |= line_len + (size_t)__builtin_ctzll(lf | top) + 1 > max_line;
        line_len = (size_t)__builtin_clzll(lf | 1) + ((line_len + 1) & (0 - (size_t)(lf == 0)));
        cr_carry = cr >> 63;
        bol_carry = line_end >> 63;
        SC_IN_GPR(bare_lf);
        SC_IN_GPR(bare_cr);
        SC_IN_GPR(cr_carry);
        SC_IN_GPR(bol_carry);
        p += 64;
    }
    if (bare_lf)
        u->flags |= SC_DATA_BARE_LF;
    if (bare_cr)
        u->flags |= SC_DATA_BARE_CR;
    if (_mm512_testn_epi8_mask(low, low) != 0)
        u->flags |= SC_DATA_NUL;
    if (_mm512_movepi8_mask(high) != 0)
        u->flags |= SC_DATA_8BIT;
    if (long_line)
        u->flags |= SC_DATA_LONG_LINE;
    u->line_len = line_len;
    *bol = (int)bol_carry;
    *cr_last = (int)cr_carry;
    return p;
}

/* fast_blocks_avx512 with two 32-byte vectors per block, for CPUs with AVX2 but not
 * AVX-512BW: the masks come from compares and byte-sign moves, the block logic is
 * sc_block_step, the same as fast_blocks_avx512 writes out in its loop (written through
 * sc_block_step, that loop ran 12% slower with gcc 12: more moves between iterations). */
SC_AVX2 static uint64_t eq64_avx2(__m256i a, __m256i b, __m256i x)
{
    return (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a, x)) |
           (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(b, x)) << 32;
}

SC_AVX2 static size_t fast_blocks_avx2(sc_unstuffer *u, const unsigned char *buf, size_t len,
                                       size_t p, int *bol, int *cr_last)
{
    const __m256i crv = _mm256_set1_epi8('\r');
    const __m256i lfv = _mm256_set1_epi8('\n');
    const __m256i dotv = _mm256_set1_epi8('.');
    __m256i low = _mm256_set1_epi8(-1);
    __m256i high = _mm256_setzero_si256();
    uint32_t cut = 0; /* flags of a block cut at a dot */
    sc_blocks b = sc_blocks_start(u);
    while (len - p >= 64) {
        __m256i v0 = _mm256_loadu_si256((const __m256i *)(const void *)(buf + p));
        __m256i v1 = _mm256_loadu_si256((const __m256i *)(const void *)(buf + p + 32));
        size_t n = sc_block_step(&b, eq64_avx2(v0, v1, crv), eq64_avx2(v0, v1, lfv),
                                 eq64_avx2(v0, v1, dotv));
        if (n != 64) {
            cut = scan_bytes(buf + p, n); /* once per stuffed line: bytewise is fine */
            p += n;
            break;
        }
        low = _mm256_min_epu8(low, _mm256_min_epu8(v0, v1));
        high = _mm256_or_si256(high, _mm256_or_si256(v0, v1));
        p += 64;
    }
    int nul = _mm256_movemask_epi8(_mm256_cmpeq_epi8(low, _mm256_setzero_si256())) != 0;
    sc_blocks_end(u, &b, nul || (cut & SC_DATA_NUL), _mm256_movemask_epi8(high) != 0 ||
                  (cut & SC_DATA_8BIT), bol, cr_last);
    return p;
}
#endif

static void add_line_len(sc_unstuffer *u, size_t n)
{
    u->line_len += n;
    if (u->line_len > u->max_line)
        u->flags |= SC_DATA_LONG_LINE;
}

sc_unstuff_status sc_unstuff_next(sc_unstuffer *u, const char *cbuf, size_t len,
                                  size_t *seg_off, size_t *seg_len, size_t *consumed)
{
    const unsigned char *buf = (const unsigned char *)cbuf;
    *seg_off = 0;
    *seg_len = 0;
    *consumed = 0;
    if (u->state == ST_DONE)
        return SC_UNSTUFF_END;

    size_t p = 0;
    if (u->state == ST_BOL) {
        if (len == 0)
            return SC_UNSTUFF_NEED_MORE;
        if (buf[0] == '.') {
            /* Undecided until we see ".\r\n" or anything else: keep it unconsumed. */
            if (len < 2 || (buf[1] == '\r' && len < 3))
                return SC_UNSTUFF_NEED_MORE;
            if (buf[1] == '\r' && buf[2] == '\n') {
                u->state = ST_DONE;
                *consumed = 3;
                return SC_UNSTUFF_END;
            }
            /* RFC 5321 4.5.2: a leading dot with more on the line is removed. A bare LF
             * does not end a line, so ".<LF>" loses its dot just like "..". */
            p = 1;
            add_line_len(u, 1);
        }
        u->state = ST_MID;
    }

    size_t start = p;
    while (p < len) {
#if defined(__SSE2__)
        if (u->state == ST_MID && len - p >= 64 && u->max_line >= 64 &&
            u->path != SC_UNSTUFF_PATH_SCALAR) {
            int bol, cr_last;
            size_t q;
#if defined(SC_UNSTUFF_HAVE_AVX512)
            if (u->path == SC_UNSTUFF_PATH_AVX512)
                q = fast_blocks_avx512(u, buf, len, p, &bol, &cr_last);
            else if (u->path == SC_UNSTUFF_PATH_AVX2)
                q = fast_blocks_avx2(u, buf, len, p, &bol, &cr_last);
            else
#endif
                q = fast_blocks(u, buf, len, p, &bol, &cr_last);
            if (q != p) {
                p = q;
                if (cr_last) {
                    u->state = ST_MID_CR;
                    continue;
                }
                if (bol && (p == len || buf[p] == '.')) {
                    u->state = ST_BOL;
                    break;
                }
                if (p == len)
                    break;
            }
        }
#endif
        if (u->state == ST_MID_CR) {
            if (buf[p] == '\n') {
                p++;
                add_line_len(u, 1);
                u->line_len = 0;
                u->state = ST_BOL;
                if (p == len || buf[p] == '.')
                    break; /* the next call decides about a dot */
                u->state = ST_MID;
                continue;
            }
            u->flags |= SC_DATA_BARE_CR;
            u->state = ST_MID;
        }
        uint32_t need = ~u->flags & SC_DATA_BYTE_FLAGS;
        const unsigned char *lf = memchr(buf + p, '\n', len - p);
        if (!lf) {
            /* A partial line: emit it, but a final CR is decided by the next byte. */
            if (buf[len - 1] == '\r') {
                u->flags |= content_flags(buf + p, len - 1 - p, need);
                u->state = ST_MID_CR;
            } else {
                u->flags |= content_flags(buf + p, len - p, need);
            }
            add_line_len(u, len - p);
            p = len;
            break;
        }
        size_t i = (size_t)(lf - buf);
        int crlf = i > p && buf[i - 1] == '\r';
        u->flags |= content_flags(buf + p, crlf ? i - 1 - p : i - p, need);
        add_line_len(u, i + 1 - p);
        p = i + 1;
        u->line_len = 0;
        if (!crlf) {
            /* A bare LF never starts a line (no smuggling), but it does end the run that
             * counts towards the line length: normalised, it becomes a CRLF. */
            u->flags |= SC_DATA_BARE_LF;
            continue;
        }
        if (p < len && buf[p] == '.') {
            u->state = ST_BOL;
            break;
        }
        if (p == len)
            u->state = ST_BOL;
    }

    *consumed = p;
    if (p == start)
        return SC_UNSTUFF_NEED_MORE;
    *seg_off = start;
    *seg_len = p - start;
    u->size += (uint64_t)(p - start);
    return SC_UNSTUFF_SEGMENT;
}
