/* SPDX-License-Identifier: MIT */
/* DATA body stuffing and CRLF normalisation (client side).
 *
 * Every CR or LF in the input leaves as exactly one CRLF (a CRLF pair counts once), so
 * the output can never hold a bare CR or LF and the client can never send a smuggling
 * sequence, whatever the host hands us. A CR is written as CRLF at once and remembered
 * in pending_cr, so that an LF arriving next (possibly in the next call) is swallowed:
 * nothing is ever held back across calls.
 *
 * Speed: a typical body is already normalised, so the fast path copies it verbatim in
 * 64-byte blocks and only looks for the first byte it must not copy as is ("trouble").
 * Judging byte j needs only byte j-1, so a second load one byte back makes that a few
 * compares per block, with no per-line work:
 *   (in[j] == LF) != (in[j-1] == CR)       a bare LF, or the byte after a bare CR
 *   in[j] == '.' && in[j-1] == LF           a dot starting a line (when stuffing)
 * The block is stored before it is judged; a trouble byte just limits how much of it
 * counts. Everything else (bare CR/LF, stuffed dots, the first byte of a call, tails,
 * small output room) takes the byte-wise path, which owns the state machine.
 * AVX2 is chosen at init when the CPU has it (glibc's memcpy uses it too, and SSE2
 * alone tops out at a fraction of its speed on cache-resident bodies), AVX-512 (BW and
 * VBMI) before it; sc_stuffer.path lets tests force the slower and byte-wise paths. */
#include "data.h"

#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define SC_STUFF_HAVE_AVX2 1
#if defined(__x86_64__) /* 64-bit masks live in general registers */
#define SC_STUFF_HAVE_AVX512 1
#endif
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Index of the first CR or LF in p[0, n), or n. */
static size_t find_cr_or_lf(const unsigned char *p, size_t n, int path)
{
    size_t i = 0;
#if defined(__SSE2__)
    if (path >= SC_STUFF_PATH_SSE2) {
        const __m128i cr = _mm_set1_epi8('\r');
        const __m128i lf = _mm_set1_epi8('\n');
        for (; i + 16 <= n; i += 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
            int m = _mm_movemask_epi8(
                _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));
            if (m != 0)
                return i + (size_t)__builtin_ctz((unsigned)m);
        }
    }
#else
    (void)path;
#endif
    for (; i < n; i++)
        if (p[i] == '\r' || p[i] == '\n')
            return i;
    return n;
}

/* The kernels below copy p[0, k) to q and return k: the longest run of whole 64-byte
 * blocks (within n input bytes and room output bytes) before the first trouble byte,
 * plus the clean part of the block holding it. p[-1] must be readable and be the byte
 * before p (it stands for the state). With dot stuffing off, the dot rule compares
 * against LF instead, which only finds LFs after LFs, already trouble anyway. */

#if defined(__SSE2__)
static __m128i trouble16(const unsigned char *b, __m128i v, __m128i cr, __m128i lf, __m128i dot)
{
    __m128i w = _mm_loadu_si128((const __m128i *)(const void *)(b - 1));
    __m128i pair = _mm_xor_si128(_mm_cmpeq_epi8(v, lf), _mm_cmpeq_epi8(w, cr));
    __m128i bol_dot = _mm_and_si128(_mm_cmpeq_epi8(v, dot), _mm_cmpeq_epi8(w, lf));
    return _mm_or_si128(pair, bol_dot);
}

static __m128i load16(const unsigned char *b)
{
    return _mm_loadu_si128((const __m128i *)(const void *)b);
}

/* Stores come after all loads: q may alias p as far as the compiler knows. */
static size_t clean_sse2(const unsigned char *p, size_t n, char *q, size_t room, int dot_stuff)
{
    const __m128i cr = _mm_set1_epi8('\r');
    const __m128i lf = _mm_set1_epi8('\n');
    const __m128i dot = _mm_set1_epi8(dot_stuff ? '.' : '\n');
    const size_t lim = n < room ? n : room;
    size_t k = 0;
    for (; k + 64 <= lim; k += 64) {
        const unsigned char *b = p + k;
        __m128i v0 = load16(b), v1 = load16(b + 16), v2 = load16(b + 32), v3 = load16(b + 48);
        __m128i t0 = trouble16(b, v0, cr, lf, dot);
        __m128i t1 = trouble16(b + 16, v1, cr, lf, dot);
        __m128i t2 = trouble16(b + 32, v2, cr, lf, dot);
        __m128i t3 = trouble16(b + 48, v3, cr, lf, dot);
        char *d = q + k;
        _mm_storeu_si128((__m128i *)(void *)d, v0);
        _mm_storeu_si128((__m128i *)(void *)(d + 16), v1);
        _mm_storeu_si128((__m128i *)(void *)(d + 32), v2);
        _mm_storeu_si128((__m128i *)(void *)(d + 48), v3);
        __m128i any = _mm_or_si128(_mm_or_si128(t0, t1), _mm_or_si128(t2, t3));
        if (_mm_movemask_epi8(any) != 0) {
            uint64_t m = (uint64_t)(unsigned)_mm_movemask_epi8(t0) |
                         (uint64_t)(unsigned)_mm_movemask_epi8(t1) << 16 |
                         (uint64_t)(unsigned)_mm_movemask_epi8(t2) << 32 |
                         (uint64_t)(unsigned)_mm_movemask_epi8(t3) << 48;
            return k + (size_t)__builtin_ctzll(m);
        }
    }
    return k;
}
#endif

#if defined(SC_STUFF_HAVE_AVX2)
/* Loads come first and stores last: q may alias p as far as the compiler knows, so a
 * store in between would force every compare to load again. */
__attribute__((target("avx2"))) static __m256i trouble32(__m256i v, __m256i w, __m256i cr,
                                                         __m256i lf, __m256i dot)
{
    __m256i pair = _mm256_xor_si256(_mm256_cmpeq_epi8(v, lf), _mm256_cmpeq_epi8(w, cr));
    __m256i bol_dot = _mm256_and_si256(_mm256_cmpeq_epi8(v, dot), _mm256_cmpeq_epi8(w, lf));
    return _mm256_or_si256(pair, bol_dot);
}

__attribute__((target("avx2"))) static __m256i load32(const unsigned char *b)
{
    return _mm256_loadu_si256((const __m256i *)(const void *)b);
}

/* Loads (half of them split across cache lines) are what limits this loop, so the
 * input one byte back is loaded once per step and otherwise built from the vectors
 * already loaded. As lddqu the compiler keeps it one load instead of folding it into
 * both compares that use it. */
__attribute__((target("avx2"))) static __m256i load32_back(const unsigned char *b)
{
    return _mm256_lddqu_si256((const __m256i *)(const void *)(b - 1));
}

/* [last byte of a, first 31 bytes of b] */
__attribute__((target("avx2"))) static __m256i back1(__m256i a, __m256i b)
{
    return _mm256_alignr_epi8(b, _mm256_permute2x128_si256(a, b, 0x21), 15);
}

__attribute__((target("avx2"))) static void store32(char *d, __m256i v)
{
    _mm256_storeu_si256((__m256i *)(void *)d, v);
}

__attribute__((target("avx2"))) static uint64_t mask64_avx2(__m256i t0, __m256i t1)
{
    return (uint64_t)(uint32_t)_mm256_movemask_epi8(t0) |
           (uint64_t)(uint32_t)_mm256_movemask_epi8(t1) << 32;
}

/* Two blocks per step, so the loop and the test cost half as much per byte. */
__attribute__((target("avx2"))) static size_t clean_avx2(const unsigned char *p, size_t n,
                                                         char *q, size_t room, int dot_stuff)
{
    const __m256i cr = _mm256_set1_epi8('\r');
    const __m256i lf = _mm256_set1_epi8('\n');
    const __m256i dot = _mm256_set1_epi8(dot_stuff ? '.' : '\n');
    const size_t lim = n < room ? n : room;
    size_t k = 0;
    for (; k + 128 <= lim; k += 128) {
        const unsigned char *b = p + k;
        __m256i v0 = load32(b), v1 = load32(b + 32), v2 = load32(b + 64), v3 = load32(b + 96);
        __m256i w0 = load32_back(b), w1 = back1(v0, v1), w2 = back1(v1, v2), w3 = back1(v2, v3);
        __m256i t0 = trouble32(v0, w0, cr, lf, dot);
        __m256i t1 = trouble32(v1, w1, cr, lf, dot);
        __m256i t2 = trouble32(v2, w2, cr, lf, dot);
        __m256i t3 = trouble32(v3, w3, cr, lf, dot);
        char *d = q + k;
        store32(d, v0);
        store32(d + 32, v1);
        store32(d + 64, v2);
        store32(d + 96, v3);
        __m256i any = _mm256_or_si256(_mm256_or_si256(t0, t1), _mm256_or_si256(t2, t3));
        if (!_mm256_testz_si256(any, any)) {
            uint64_t m = mask64_avx2(t0, t1);
            if (m != 0)
                return k + (size_t)__builtin_ctzll(m);
            return k + 64 + (size_t)__builtin_ctzll(mask64_avx2(t2, t3));
        }
    }
    if (k + 64 <= lim) {
        const unsigned char *b = p + k;
        __m256i v0 = load32(b), v1 = load32(b + 32);
        __m256i w0 = load32_back(b), w1 = back1(v0, v1);
        uint64_t m = mask64_avx2(trouble32(v0, w0, cr, lf, dot), trouble32(v1, w1, cr, lf, dot));
        store32(q + k, v0);
        store32(q + k + 32, v1);
        if (m != 0)
            return k + (size_t)__builtin_ctzll(m);
        k += 64;
    }
    return k;
}
#endif

#if defined(SC_STUFF_HAVE_AVX512)
#define SC_AVX512 __attribute__((target("avx512f,avx512bw,avx512vbmi")))

/* The AVX-512 kernel judges codes, not bytes: one 128-entry table lookup (vpermi2b, with
 * bytes >= 0x80 first clamped to 0x7f, which codes 0, so that 0x8a is no LF) gives CR 1,
 * LF 2 and, when stuffing, the dot 4 (without stuffing nothing else is trouble: an LF
 * after an LF already is). The previous byte's code is the same vector moved up one lane
 * (vpermt2b, lane 0 from the block before), and doubled it lines up with the rules: bit 1
 * is LF here against CR before (must be equal), bit 2 is dot here and LF before (must not
 * both be set). One ternary-logic instruction evaluates both, and one test per two
 * blocks finds any trouble: six vector instructions per 64 bytes against about nine per
 * 32 in the AVX2 kernel. Kernels built on AVX-512 compares into mask registers (three or
 * four per block, and their moves to general registers) were no faster than AVX2 on
 * Zen 4 (docs/performance.md). */
SC_AVX512 static __m512i codes64(__m512i v, __m512i tlo, __m512i thi)
{
    return _mm512_permutex2var_epi8(tlo, _mm512_min_epu8(v, _mm512_set1_epi8(0x7f)), thi);
}

/* Nonzero bytes where in[j] is trouble, from the codes of the block and of the block
 * before it. */
SC_AVX512 static __m512i trouble64(__m512i c, __m512i before, __m512i up1)
{
    __m512i w = _mm512_permutex2var_epi8(before, up1, c);
    /* per bit: selected by 0x02 ? c ^ 2w : c & 2w */
    return _mm512_ternarylogic_epi32(c, _mm512_add_epi8(w, w), _mm512_set1_epi8(2), 0x68);
}

/* Codes by byte value below 0x80, with dot stuffing off [0] and on [1]. */
static const unsigned char stuff_codes[2][128] = {{[0x0a] = 2, [0x0d] = 1},
                                                  {[0x0a] = 2, [0x0d] = 1, [0x2e] = 4}};

/* vpermt2b indexes: lane 0 takes lane 63 of the block before, lane i lane i - 1. */
static const unsigned char up_one_lane[64] = {
    63,  64,  65,  66,  67,  68,  69,  70,  71,  72,  73,  74,  75,  76,  77,  78,
    79,  80,  81,  82,  83,  84,  85,  86,  87,  88,  89,  90,  91,  92,  93,  94,
    95,  96,  97,  98,  99,  100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110,
    111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126};

SC_AVX512 static size_t clean_avx512(const unsigned char *p, size_t n, char *q, size_t room,
                                     int dot_stuff)
{
    const unsigned char *tab = stuff_codes[dot_stuff != 0];
    const __m512i tlo = _mm512_loadu_si512((const void *)tab);
    const __m512i thi = _mm512_loadu_si512((const void *)(tab + 64));
    const __m512i up1 = _mm512_loadu_si512((const void *)up_one_lane);
    const size_t lim = n < room ? n : room;
    __m512i before = _mm512_set1_epi8((char)(p[-1] < 0x80 ? tab[p[-1]] : 0));
    size_t k = 0;
    for (; k + 128 <= lim; k += 128) {
        __m512i v0 = _mm512_loadu_si512((const void *)(p + k));
        __m512i v1 = _mm512_loadu_si512((const void *)(p + k + 64));
        __m512i c0 = codes64(v0, tlo, thi), c1 = codes64(v1, tlo, thi);
        __m512i t0 = trouble64(c0, before, up1), t1 = trouble64(c1, c0, up1);
        _mm512_storeu_si512((void *)(q + k), v0);
        _mm512_storeu_si512((void *)(q + k + 64), v1);
        __m512i any = _mm512_or_si512(t0, t1);
        if (_mm512_test_epi8_mask(any, any) != 0) {
            uint64_t m = _mm512_test_epi8_mask(t0, t0);
            if (m != 0)
                return k + (size_t)__builtin_ctzll(m);
            return k + 64 + (size_t)__builtin_ctzll(_mm512_test_epi8_mask(t1, t1));
        }
        before = c1;
    }
    if (k + 64 <= lim) {
        __m512i v0 = _mm512_loadu_si512((const void *)(p + k));
        __m512i t0 = trouble64(codes64(v0, tlo, thi), before, up1);
        _mm512_storeu_si512((void *)(q + k), v0);
        uint64_t m = _mm512_test_epi8_mask(t0, t0);
        if (m != 0)
            return k + (size_t)__builtin_ctzll(m);
        k += 64;
    }
    return k;
}
#endif

static int best_path(void)
{
#if defined(SC_STUFF_HAVE_AVX512)
    if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vbmi"))
        return SC_STUFF_PATH_AVX512;
#endif
#if defined(SC_STUFF_HAVE_AVX2)
    if (__builtin_cpu_supports("avx2"))
        return SC_STUFF_PATH_AVX2;
#endif
#if defined(__SSE2__)
    return SC_STUFF_PATH_SSE2;
#else
    return SC_STUFF_PATH_SCALAR;
#endif
}

/* Copies the verbatim part of in[*ip, len) and updates the state to match. Requires
 * !pending_cr. Within a call the state always equals what in[*ip - 1] implies (the
 * byte-wise path never stops right after a CR without pending_cr), so only the first
 * byte of a call is judged from the state. */
static void fast_path(sc_stuffer *s, const unsigned char *in, size_t len, size_t *ip,
                      char *out, size_t cap, size_t *op)
{
    size_t i = *ip, o = *op;
    const size_t start = i;
    if (s->path == SC_STUFF_PATH_SCALAR || len - i < 65 || cap - o < 65)
        return;
    if (i == 0) {
        unsigned char c = in[0];
        if (c == '\r' || c == '\n' || (c == '.' && s->at_line_start && s->dot_stuff))
            return;
        out[o++] = (char)c;
        i++;
    }
    size_t k = 0;
    switch (s->path) {
#if defined(SC_STUFF_HAVE_AVX512)
    case SC_STUFF_PATH_AVX512:
        k = clean_avx512(in + i, len - i, out + o, cap - o, s->dot_stuff);
        break;
#endif
#if defined(SC_STUFF_HAVE_AVX2)
    case SC_STUFF_PATH_AVX2:
        k = clean_avx2(in + i, len - i, out + o, cap - o, s->dot_stuff);
        break;
#endif
#if defined(__SSE2__)
    case SC_STUFF_PATH_SSE2:
        k = clean_sse2(in + i, len - i, out + o, cap - o, s->dot_stuff);
        break;
#endif
    default:
        break;
    }
    i += k;
    o += k;
    /* A CR copied last still owes its LF: hand it back to the byte-wise path. A clean
     * run never holds CR CR, so the byte before it is not a CR. */
    if (i > start && in[i - 1] == '\r') {
        i--;
        o--;
    }
    if (i > start)
        s->at_line_start = in[i - 1] == '\n';
    *ip = i;
    *op = o;
}

void sc_stuffer_init(sc_stuffer *s, int dot_stuff, int binary)
{
    s->at_line_start = 1; /* the body starts right after the DATA command's CRLF */
    s->pending_cr = 0;
    s->dot_stuff = dot_stuff ? 1 : 0;
    s->binary = binary ? 1 : 0;
    s->path = best_path();
}

size_t sc_stuff(sc_stuffer *s, const char *cin, size_t len, char *out, size_t cap,
                size_t *in_used)
{
    const unsigned char *in = (const unsigned char *)cin;
    size_t ip = 0, op = 0;
    if (s->binary) {
        size_t n = len < cap ? len : cap;
        if (n > 0)
            memcpy(out, in, n);
        *in_used = n;
        return n;
    }
    while (ip < len) {
        if (!s->pending_cr) {
            fast_path(s, in, len, &ip, out, cap, &op);
            if (ip == len)
                break;
        }
        unsigned char c = in[ip];
        if (s->pending_cr) {
            s->pending_cr = 0;
            if (c == '\n') { /* second half of a CRLF already written */
                ip++;
                continue;
            }
        }
        size_t room = cap - op;
        if (c == '\r' || c == '\n') {
            if (room < 2)
                break;
            out[op++] = '\r';
            out[op++] = '\n';
            ip++;
            s->pending_cr = c == '\r';
            s->at_line_start = 1;
            continue;
        }
        if (s->at_line_start && s->dot_stuff && c == '.') {
            if (room < 2)
                break;
            out[op++] = '.';
            out[op++] = '.';
            ip++;
            s->at_line_start = 0;
            continue;
        }
        size_t run = find_cr_or_lf(in + ip, len - ip, s->path);
        if (run > room)
            run = room;
        if (run == 0)
            break;
        memcpy(out + op, in + ip, run);
        op += run;
        ip += run;
        s->at_line_start = 0;
    }
    *in_used = ip;
    return op;
}

size_t sc_stuff_finish(sc_stuffer *s, char *out, size_t cap)
{
    if (cap < 5)
        return (size_t)-1;
    size_t op = 0;
    s->pending_cr = 0; /* its CRLF is already out */
    if (s->dot_stuff && !s->binary) {
        if (!s->at_line_start) {
            out[op++] = '\r';
            out[op++] = '\n';
        }
        out[op++] = '.';
        out[op++] = '\r';
        out[op++] = '\n';
    }
    s->at_line_start = 1;
    return op;
}
