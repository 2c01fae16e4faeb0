/*
 * Fused EM statistics for quadratic features (optional compiled kernel).
 *
 * The numpy path of gaussmix.em.estep streams every row chunk through five passes:
 * build the features phi(y) = [vech(y y^T), y, 1] of y = x - shift, one GEMM
 * theta @ phi for the logits of all components, a softmax over components,
 * and one GEMM phi @ resp^T for the M-step sums. Each pass reads and writes
 * (n_phi x rows) or (k x rows) buffers, so on small machines the iteration is
 * bound by memory traffic, not arithmetic. This kernel does the same
 * arithmetic a few rows at a time with every intermediate in L1 cache:
 *
 *     features of B rows -> logits (B x k) -> softmax -> moments += resp^T phi
 *
 * The formulas are exactly those of gaussmix.em.estep.chunk_statistics (same
 * feature order, same clipping of shifted logits at -700, same statistics),
 * only summed in another order. There is no loop over components in Python and
 * no Python at all here: the module is loaded with ctypes (which releases the
 * GIL), so gaussmix.kernels.threads runs blocks of rows on several cores.
 *
 * Built by setup.py as an optional extension: where no C compiler is found,
 * gaussmix uses the numpy path. On x86-64 Linux with GCC the hot function is
 * compiled for AVX-512, AVX2 and baseline x86-64 and the loader picks the best
 * one for the running CPU.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && !defined(GM_NO_CLONES)
#define GM_CLONES \
    __attribute__((flatten, target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define GM_CLONES
#endif

/* Inlined whatever the compiler's estimate: a constant argument (a tile's
 * width, a dimension) then unrolls the loops it bounds, and their arrays stay
 * in registers. */
#define GM_INLINE static inline __attribute__((always_inline))

/* Rows handled together: the features of GM_BLOCK rows (n_phi x GM_BLOCK) and
 * their logits stay in L1 for feature widths up to a few hundred. */
#define GM_BLOCK 8 /* gm_moments spells out these 8 rows */
/* One vector of GM_BLOCK doubles (GCC and Clang vector extensions). */
typedef double gm_vec __attribute__((vector_size(64), aligned(8)));
/* Lane masks of gm_vec comparisons (all ones where true). */
typedef int64_t gm_mask __attribute__((vector_size(64), aligned(8)));

#if defined(__clang__)
#define GM_SHUFFLE(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define GM_SHUFFLE(a, b, ...) __builtin_shuffle(a, b, (gm_mask){__VA_ARGS__})
#endif
#define GM_EVEN_LANES(a, b) GM_SHUFFLE(a, b, 0, 8, 2, 10, 4, 12, 6, 14)
#define GM_ODD_LANES(a, b) GM_SHUFFLE(a, b, 1, 9, 3, 11, 5, 13, 7, 15)
#define GM_LOW_PAIRS(a, b) GM_SHUFFLE(a, b, 0, 1, 8, 9, 4, 5, 12, 13)
#define GM_HIGH_PAIRS(a, b) GM_SHUFFLE(a, b, 2, 3, 10, 11, 6, 7, 14, 15)
#define GM_LOW_HALVES(a, b) GM_SHUFFLE(a, b, 0, 1, 2, 3, 8, 9, 10, 11)
#define GM_HIGH_HALVES(a, b) GM_SHUFFLE(a, b, 4, 5, 6, 7, 12, 13, 14, 15)

/* (a, b)[index] lane by lane, index a gm_mask of 0..15 known at run time
 * (GCC: one AVX-512 permutation where it runs) */
#if defined(__GNUC__) && !defined(__clang__)
#define GM_SHUFFLE_BY(a, b, index) __builtin_shuffle(a, b, index)
#else
static inline gm_vec gm_shuffle_by(gm_vec a, gm_vec b, gm_mask index)
{
    double table[16];
    gm_vec out;
    int lane;
    memcpy(table, &a, sizeof a);
    memcpy(table + 8, &b, sizeof b);
    for (lane = 0; lane < 8; ++lane)
        out[lane] = table[index[lane] & 15];
    return out;
}
#define GM_SHUFFLE_BY(a, b, index) gm_shuffle_by(a, b, index)
#endif

/* Shifted logits below this are clipped, as in gaussmix._gaussian.softmax_columns:
 * exp(-700) ~ 1e-304 is still a normal number. */
#define GM_EXP_FLOOR (-700.0)

/*
 * exp(x) for x in [GM_EXP_FLOOR, 0], written so that compilers vectorize it:
 * x = n ln2 + r with |r| <= ln2 / 2, exp(r) by its Taylor polynomial of degree
 * 13 (truncation error below 1e-17), and 2^n added to the exponent bits.
 * n is found by the 1.5 * 2^52 rounding trick; ln2 is split in two so that
 * n * ln2_hi is exact for |n| < 2^21.
 */
static inline double gm_exp_nonpositive(double x)
{
    const double log2e = 1.4426950408889634;
    const double ln2_hi = 0.6931471803691238;     /* 0x3fe62e42fee00000 */
    const double ln2_lo = 1.9082149292705877e-10; /* ln 2 - ln2_hi */
    const double shifter = 6755399441055744.0;    /* 1.5 * 2^52 */
    double t, kd, r, p;
    uint64_t kbits, pbits;

    x = x < GM_EXP_FLOOR ? GM_EXP_FLOOR : x;
    t = x * log2e;
    kd = t + shifter;
    memcpy(&kbits, &kd, sizeof kbits);
    kd -= shifter;
    r = x - kd * ln2_hi;
    r -= kd * ln2_lo;
    p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    /* The low bits of kbits hold n (two's complement); shifting by 52 drops
     * the shifter's bits and leaves n in the exponent field. */
    memcpy(&pbits, &p, sizeof pbits);
    pbits += kbits << 52;
    memcpy(&p, &pbits, sizeof p);
    return p;
}

/* a where mask, else b */
static inline gm_vec gm_select(gm_mask mask, gm_vec a, gm_vec b)
{
    return (gm_vec)(((gm_mask)a & mask) | ((gm_mask)b & ~mask));
}

/*
 * gm_exp_nonpositive on a vector, with half its multiply-adds: x = (16 q + m)
 * ln2 / 16 + r with |r| <= ln2 / 32, exp(r) by its Taylor polynomial of degree
 * 7 (truncation error below 2e-18), 2^(m / 16) from a table of sixteen in two
 * registers (one permutation), 2^q added to the exponent bits. Within 2 units
 * in the last place of the C library's exp (tested); the NaN that arithmetic
 * makes stays NaN (a NaN carrying a payload in its low bits, which no
 * arithmetic on finite rows and parameters makes, may not). For
 * 64-byte vectors (gm_wide): the table lookup is one AVX-512 permutation.
 * Where exponentials are a large part of a row's work (the softmax of few
 * features) this is 4-17 % of an E-step.
 */
static inline gm_vec gm_exp_nonpositive_vec(gm_vec x)
{
    const gm_vec low = {0x1.0000000000000p+0, 0x1.0b5586cf9890fp+0, 0x1.172b83c7d517bp+0,
                        0x1.2387a6e756238p+0, 0x1.306fe0a31b715p+0, 0x1.3dea64c123422p+0,
                        0x1.4bfdad5362a27p+0, 0x1.5ab07dd485429p+0};
    const gm_vec high = {0x1.6a09e667f3bcdp+0, 0x1.7a11473eb0187p+0, 0x1.8ace5422aa0dbp+0,
                         0x1.9c49182a3f090p+0, 0x1.ae89f995ad3adp+0, 0x1.c199bdd85529cp+0,
                         0x1.d5818dcfba487p+0, 0x1.ea4afa2a490dap+0};
    const double sixteen_log2e = 16.0 * 1.4426950408889634;
    const double ln2_hi = 0.6931471803691238 / 16.0; /* exact: a power-of-two division */
    const double ln2_lo = 1.9082149292705877e-10 / 16.0;
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52 */
    const gm_vec floor = (gm_vec){0.0} + GM_EXP_FLOOR;
    gm_vec kd, r, p;
    gm_mask kbits, index, scale;

    x = gm_select(x < floor, floor, x);
    kd = x * sixteen_log2e + shifter;
    memcpy(&kbits, &kd, sizeof kbits);
    kd -= shifter;
    r = x - kd * ln2_hi;
    r -= kd * ln2_lo;
    p = (gm_vec){0.0} + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    /* The low bits of kbits hold n = 16 q + m (two's complement above the
     * shifter's bits, which are multiples of 16): m = n & 15 picks the table
     * entry, and (kbits >> 4) << 52 leaves q = floor(n / 16) in the exponent
     * field. */
    index = kbits & 15;
    p *= GM_SHUFFLE_BY(low, high, index);
    scale = (kbits >> 4) << 52;
    return (gm_vec)((gm_mask)p + scale);
}

/*
 * log(x) for positive normal x (the softmax's sums, which lie in [1, k]),
 * written so that compilers vectorize it: x = 2^e m with m in [sqrt(1/2),
 * sqrt(2)), log m = 2 atanh(s) with s = (m - 1) / (m + 1), |s| <= 0.1716, by
 * its series to s^23 (truncation error below 1e-18), and e ln 2 with ln 2
 * split as in gm_exp_nonpositive. The exponent e is read from the bits with
 * the 2^52 trick, so no integer-to-double conversion is needed. Within a few
 * units in the last place of the C library's log (tested).
 */
/* ln m = 2 atanh(s) = 2 s (1 + s^2 / 3 + s^4 / 5 + ...), s = (m - 1) / (m + 1), for m
 * in [sqrt(1/2), sqrt(2)] (|s| < 0.172): sets P to the series' terms after the first,
 * (s^2 / 3 + ... + s^22 / 23), truncation below 1e-17. For double or gm_vec S2; P
 * must start as 1 / 23 of its type. Shared by gm_log_positive and gm_xd_log_det. */
#define GM_LOG_SERIES(P, S2)                                                                      \
    do {                                                                                          \
        P = P * (S2) + 1.0 / 21.0;                                                                \
        P = P * (S2) + 1.0 / 19.0;                                                                \
        P = P * (S2) + 1.0 / 17.0;                                                                \
        P = P * (S2) + 1.0 / 15.0;                                                                \
        P = P * (S2) + 1.0 / 13.0;                                                                \
        P = P * (S2) + 1.0 / 11.0;                                                                \
        P = P * (S2) + 1.0 / 9.0;                                                                 \
        P = P * (S2) + 1.0 / 7.0;                                                                 \
        P = P * (S2) + 1.0 / 5.0;                                                                 \
        P = P * (S2) + 1.0 / 3.0;                                                                 \
        P = P * (S2);                                                                             \
    } while (0)

static inline double gm_log_positive(double x)
{
    const double ln2_hi = 0.6931471803691238;
    const double ln2_lo = 1.9082149292705877e-10;
    const double two52_bias = 4503599627371519.0; /* 2^52 + 1023 */
    uint64_t bits, ebits, mbits;
    double e, m, s, s2, p;
    int big;

    memcpy(&bits, &x, sizeof bits);
    ebits = (bits >> 52) | UINT64_C(0x4330000000000000);
    memcpy(&e, &ebits, sizeof e);
    e -= two52_bias;
    mbits = (bits & UINT64_C(0x000fffffffffffff)) | UINT64_C(0x3ff0000000000000);
    memcpy(&m, &mbits, sizeof m);
    big = m > 1.4142135623730951;
    m = big ? 0.5 * m : m;
    e = big ? e + 1.0 : e;
    s = (m - 1.0) / (m + 1.0);
    s2 = s * s;
    p = 1.0 / 23.0;
    GM_LOG_SERIES(p, s2);
    return e * ln2_hi + (2.0 * s + (2.0 * s * p + e * ln2_lo));
}

/* Feature forms: full quadratic vech(y y^T), y, 1 (0); diagonal y * y, y, 1
 * (1); linear y, 1 (2: one covariance shared by all components, whose common
 * quadratic term cancels in the responsibilities, issue 27). */
#define GM_FULL 0
#define GM_DIAGONAL 1
#define GM_LINEAR 2

static inline int64_t gm_n_phi(int64_t d, int form)
{
    return form == GM_LINEAR ? d + 1 : form == GM_DIAGONAL ? 2 * d + 1 : d * (d + 1) / 2 + d + 1;
}

/* The features of a block from its shifted values y (feature-major, rows
 * [0, nb) filled; the rest of the block is zeroed here). */
static inline void gm_features_of_y(int64_t nb, int64_t d, double *phi, double *y, int diagonal)
{
    int64_t b, i, j, f = 0;
    for (b = nb; b < GM_BLOCK; ++b) /* a last, partial block: harmless zeros */
        for (i = 0; i < d; ++i)
            y[i * GM_BLOCK + b] = 0.0;
    /* Written with whole vectors: left to itself, GCC 12 vectorized the
     * products' loops across j and assembled each feature row with
     * permutations (15 % of a (200k, 16, 16) E-step; a vector multiply
     * per feature row is 3 %). */
    if (diagonal == GM_LINEAR) {
        /* no quadratic block */
    } else if (diagonal) {
        /* diag and spherical covariances: phi(y) = [y * y, y, 1] */
        for (i = 0; i < d; ++i, ++f) {
            const gm_vec yi = *(const gm_vec *)(y + i * GM_BLOCK);
            *(gm_vec *)(phi + f * GM_BLOCK) = yi * yi;
        }
    } else {
        for (i = 0; i < d; ++i) {
            const gm_vec yi = *(const gm_vec *)(y + i * GM_BLOCK);
            for (j = i; j < d; ++j, ++f)
                *(gm_vec *)(phi + f * GM_BLOCK) = yi * *(const gm_vec *)(y + j * GM_BLOCK);
        }
    }
    memcpy(phi + f * GM_BLOCK, y, sizeof(double) * (size_t)(d * GM_BLOCK));
    f += d;
    for (b = 0; b < GM_BLOCK; ++b)
        phi[f * GM_BLOCK + b] = 1.0;
}

/* Columns [c, c + 8) of eight rows (row b at rows[b]) minus their shifts,
 * stored column-major into y (column c + i at y + i * GM_BLOCK): one load per
 * row and the 8 x 8 transposition in registers, 24 shuffles in three rounds
 * (pairs of lanes, pairs of pairs, halves). Scalar stores read back as
 * vectors took 5 % of a (200k, 16, 16) E-step. For 64-byte vectors
 * (gm_wide). */
static inline void gm_columns8(const double *const *rows, int64_t c, const double *shift,
                               double *y)
{
    gm_vec r0, r1, r2, r3, r4, r5, r6, r7, t0, t1, t2, t3, t4, t5, t6, t7;
    gm_vec u0, u1, u2, u3, u4, u5, u6, u7, centre;
    memcpy(&r0, rows[0] + c, sizeof r0);
    memcpy(&r1, rows[1] + c, sizeof r1);
    memcpy(&r2, rows[2] + c, sizeof r2);
    memcpy(&r3, rows[3] + c, sizeof r3);
    memcpy(&r4, rows[4] + c, sizeof r4);
    memcpy(&r5, rows[5] + c, sizeof r5);
    memcpy(&r6, rows[6] + c, sizeof r6);
    memcpy(&r7, rows[7] + c, sizeof r7);
    memcpy(&centre, shift + c, sizeof centre);
    /* rows minus the shift first: the shift is one vector over columns */
    r0 -= centre, r1 -= centre, r2 -= centre, r3 -= centre;
    r4 -= centre, r5 -= centre, r6 -= centre, r7 -= centre;
    t0 = GM_EVEN_LANES(r0, r1), t1 = GM_ODD_LANES(r0, r1);
    t2 = GM_EVEN_LANES(r2, r3), t3 = GM_ODD_LANES(r2, r3);
    t4 = GM_EVEN_LANES(r4, r5), t5 = GM_ODD_LANES(r4, r5);
    t6 = GM_EVEN_LANES(r6, r7), t7 = GM_ODD_LANES(r6, r7);
    /* u0: columns 0 and 4 of rows 0-3; u1: 1 and 5; u2: 2 and 6; u3: 3, 7 */
    u0 = GM_LOW_PAIRS(t0, t2), u2 = GM_HIGH_PAIRS(t0, t2);
    u1 = GM_LOW_PAIRS(t1, t3), u3 = GM_HIGH_PAIRS(t1, t3);
    u4 = GM_LOW_PAIRS(t4, t6), u6 = GM_HIGH_PAIRS(t4, t6);
    u5 = GM_LOW_PAIRS(t5, t7), u7 = GM_HIGH_PAIRS(t5, t7);
    *(gm_vec *)(y + 0 * GM_BLOCK) = GM_LOW_HALVES(u0, u4);
    *(gm_vec *)(y + 4 * GM_BLOCK) = GM_HIGH_HALVES(u0, u4);
    *(gm_vec *)(y + 1 * GM_BLOCK) = GM_LOW_HALVES(u1, u5);
    *(gm_vec *)(y + 5 * GM_BLOCK) = GM_HIGH_HALVES(u1, u5);
    *(gm_vec *)(y + 2 * GM_BLOCK) = GM_LOW_HALVES(u2, u6);
    *(gm_vec *)(y + 6 * GM_BLOCK) = GM_HIGH_HALVES(u2, u6);
    *(gm_vec *)(y + 3 * GM_BLOCK) = GM_LOW_HALVES(u3, u7);
    *(gm_vec *)(y + 7 * GM_BLOCK) = GM_HIGH_HALVES(u3, u7);
}

/* The shifted columns y (column i at y + i * GM_BLOCK) of a whole block of
 * eight rows (row b at rows[b]): the columns col_index[0 .. d), or 0 .. d when
 * col_index is NULL, minus shift[0 .. d). Groups of eight contiguous columns
 * are transposed in registers (gm_columns8, where `wide`); each other column is
 * built in a register from the rows and stored whole. */
static inline void gm_block_columns(const double *const *rows, const int64_t *col_index,
                                    int64_t d, const double *shift, double *y, int wide)
{
    int64_t i = 0;
    if (col_index == NULL && wide)
        for (; i + 8 <= d; i += 8)
            gm_columns8(rows, i, shift, y + i * GM_BLOCK);
    for (; i < d; ++i) {
        const int64_t c = col_index != NULL ? col_index[i] : i;
        const gm_vec column = {rows[0][c], rows[1][c], rows[2][c], rows[3][c],
                               rows[4][c], rows[5][c], rows[6][c], rows[7][c]};
        const gm_vec centred = column - shift[i];
        memcpy(y + i * GM_BLOCK, &centred, sizeof centred);
    }
}

/* Quadratic features of rows [0, nb) of a block, feature-major:
 * phi[f * GM_BLOCK + b], in the order of gaussmix._gaussian.Features (full:
 * vech(y y^T), y, 1; diagonal: y * y, y, 1). */
static inline void gm_features(const void *x, int x_float32, int64_t row_stride, int64_t nb,
                               int64_t d, const double *shift, double *phi, double *y,
                               int diagonal, int wide)
{
    int64_t b, i;
    if (x_float32) {
        const float *xf = (const float *)x;
        for (b = 0; b < nb; ++b)
            for (i = 0; i < d; ++i)
                y[i * GM_BLOCK + b] = (double)xf[b * row_stride + i] - shift[i];
    } else if (nb == GM_BLOCK && (d <= 8 || wide)) {
        /* Each column of the block built in registers and stored whole:
         * eight scalar stores read back as one vector would stall the load
         * until the stores retire (store forwarding fails). That matters when
         * few features follow (200k rows, k = 5: d = 4 an iteration 5-12 %
         * faster, d = 8 10 %); from d = 16 on, where groups of eight columns
         * are not transposed (the narrow form), the stores have drained by
         * the time the features read them, and the strided loads cost more. */
        const double *xd = (const double *)x;
        const int64_t s = row_stride;
        const double *rows[GM_BLOCK] = {xd,         xd + s,     xd + 2 * s, xd + 3 * s,
                                        xd + 4 * s, xd + 5 * s, xd + 6 * s, xd + 7 * s};
        gm_block_columns(rows, NULL, d, shift, y, wide);
    } else {
        const double *xd = (const double *)x;
        for (b = 0; b < nb; ++b)
            for (i = 0; i < d; ++i)
                y[i * GM_BLOCK + b] = xd[b * row_stride + i] - shift[i];
    }
    gm_features_of_y(nb, d, phi, y, diagonal);
}

/* As gm_features for the rows row_index[0 .. nb) of X and, when col_index is
 * not NULL, only its columns col_index[0 .. d) (a pattern's observed columns):
 * the E-step of a subset of rows without copying them first. */
static inline void gm_features_gather(const void *X, int x_float32, int64_t row_stride,
                                      const int64_t *row_index, const int64_t *col_index,
                                      int64_t nb, int64_t d, const double *shift, double *phi,
                                      double *y, int diagonal, int wide)
{
    int64_t b, i;
    if (!x_float32 && nb == GM_BLOCK) { /* a whole block, as in gm_features */
        const double *rows[GM_BLOCK];
        for (b = 0; b < GM_BLOCK; ++b)
            rows[b] = (const double *)X + row_index[b] * row_stride;
        gm_block_columns(rows, col_index, d, shift, y, wide);
        gm_features_of_y(nb, d, phi, y, diagonal);
        return;
    }
    for (b = 0; b < nb; ++b) {
        const int64_t offset = row_index[b] * row_stride;
        if (x_float32) {
            const float *xf = (const float *)X + offset;
            for (i = 0; i < d; ++i)
                y[i * GM_BLOCK + b] =
                    (double)xf[col_index != NULL ? col_index[i] : i] - shift[i];
        } else {
            const double *xd = (const double *)X + offset;
            if (col_index != NULL)
                for (i = 0; i < d; ++i)
                    y[i * GM_BLOCK + b] = xd[col_index[i]] - shift[i];
            else
                for (i = 0; i < d; ++i)
                    y[i * GM_BLOCK + b] = xd[i] - shift[i];
        }
    }
    gm_features_of_y(nb, d, phi, y, diagonal);
}


/* Components are handled in tiles of GM_TILE = one vector of 8 doubles (GCC
 * and Clang vector extensions: one AVX-512 register, two AVX or four SSE2
 * registers elsewhere): the GM_BLOCK x GM_TILE accumulators then stay in
 * registers. The caller pads the number of components to a multiple of
 * GM_TILE (zero parameters, left out of the softmax). */
#define GM_TILE 8

/* Half a tile: four components (GM_NARROW), or half a block's rows, in a
 * 32-byte vector: one AVX2 register. */
#define GM_NARROW 4
typedef double gm_vec4 __attribute__((vector_size(32), aligned(8)));

int gm_wide_vectors(void);

/* 0: the kernels' register tiles follow the running CPU (gm_wide_vectors); 1:
 * the narrow forms, 2: the wide forms, whatever the CPU (for tests). */
static int gm_vector_policy = 0;
static int gm_wide_cached = -1;

/* Sets gm_vector_policy (tests run both forms on one machine). */
void gm_set_vector_policy(int policy)
{
    __atomic_store_n(&gm_vector_policy, policy, __ATOMIC_RELAXED);
}

/* Whether the wide forms run: arrays of 64-byte vectors as accumulators (the
 * logits' eight, the moments' eight responsibility vectors) and two blocks at
 * once. Where AVX-512 does not run a 64-byte vector is not a register, and
 * GCC keeps such arrays in memory, moving their lanes through general
 * registers: the AVX2 build of the EM statistics took 4.7x the AVX-512 time at
 * (200k, 16, 16), 2.6x numpy's path. The narrow forms hold 32-byte vectors. */
static inline int gm_wide(void)
{
    const int policy = __atomic_load_n(&gm_vector_policy, __ATOMIC_RELAXED);
    int wide;
    if (policy != 0)
        return policy == 2;
    wide = __atomic_load_n(&gm_wide_cached, __ATOMIC_RELAXED);
    if (wide < 0) {
        wide = gm_wide_vectors();
        __atomic_store_n(&gm_wide_cached, wide, __ATOMIC_RELAXED);
    }
    return wide;
}

/* The wide form's logits of the `width` components from j0 (GM_TILE, or
 * GM_NARROW for a last half tile): one accumulator per component, the block's
 * rows in its lanes. */
GM_INLINE void gm_logits_tile(const double *phi, const double *theta_t, int64_t n_phi,
                              int64_t kp, int64_t j0, int width, double *logits_t)
{
    gm_vec acc[GM_TILE];
    int64_t f;
    int t;
    for (t = 0; t < width; ++t)
        acc[t] = (gm_vec){0.0};
    for (f = 0; f < n_phi; ++f) {
        const gm_vec ph = *(const gm_vec *)(phi + f * GM_BLOCK);
        const double *th = theta_t + f * kp + j0;
        for (t = 0; t < width; ++t)
            acc[t] += th[t] * ph;
    }
    for (t = 0; t < width; ++t)
        *(gm_vec *)(logits_t + (j0 + t) * GM_BLOCK) = acc[t];
}

/* Component-major logits of a block, one lane per row:
 * logits_t[j * GM_BLOCK + b] = sum_f theta_t[f, j] phi[f, b] for j < kp. phi's
 * feature rows are vectors over the block's rows, so each term is one
 * multiply-add of a broadcast parameter with a feature vector, for eight
 * components at a time (eight independent accumulators); in the narrow form
 * four components, each accumulator two 32-byte halves of the block. */
static inline void gm_logits_t(const double *phi, const double *theta_t, int64_t n_phi,
                               int64_t kp, double *logits_t)
{
    int64_t j0, f, t;
    if (!gm_wide()) {
        for (j0 = 0; j0 < kp; j0 += GM_NARROW) {
            gm_vec4 lo[GM_NARROW], hi[GM_NARROW];
            for (t = 0; t < GM_NARROW; ++t)
                lo[t] = hi[t] = (gm_vec4){0.0};
            for (f = 0; f < n_phi; ++f) {
                /* (dereferenced, not memcpy'd: GCC 12 copies 32 bytes through
                 * the stack in two halves, and the load stalls on them) */
                const gm_vec4 pl = *(const gm_vec4 *)(phi + f * GM_BLOCK);
                const gm_vec4 ph = *(const gm_vec4 *)(phi + f * GM_BLOCK + GM_NARROW);
                const double *th = theta_t + f * kp + j0;
                for (t = 0; t < GM_NARROW; ++t) {
                    lo[t] += th[t] * pl;
                    hi[t] += th[t] * ph;
                }
            }
            for (t = 0; t < GM_NARROW; ++t) {
                *(gm_vec4 *)(logits_t + (j0 + t) * GM_BLOCK) = lo[t];
                *(gm_vec4 *)(logits_t + (j0 + t) * GM_BLOCK + GM_NARROW) = hi[t];
            }
        }
        return;
    }
    for (j0 = 0; j0 + GM_TILE <= kp; j0 += GM_TILE)
        gm_logits_tile(phi, theta_t, n_phi, kp, j0, GM_TILE, logits_t);
    if (j0 < kp) /* a last half tile (kp = 8 m + 4) */
        gm_logits_tile(phi, theta_t, n_phi, kp, j0, GM_NARROW, logits_t);
}

/* gm_moments for the four components [j0, j0 + 4): eight 32-byte
 * responsibility vectors (the narrow form's tile, and the wide form's last
 * half tile). */
static inline void gm_moments4(const double *phi, const double *weighted, int64_t n_phi,
                               int64_t kp, int64_t j0, double *moments_t)
{
    gm_vec4 resp[GM_BLOCK];
    int64_t f, b;
    for (b = 0; b < GM_BLOCK; ++b)
        resp[b] = *(const gm_vec4 *)(weighted + b * kp + j0);
    for (f = 0; f < n_phi; ++f) {
        double *mo = moments_t + f * kp + j0;
        const double *ph = phi + f * GM_BLOCK;
        gm_vec4 s0 = ph[0] * resp[0], s1 = ph[1] * resp[1];
        gm_vec4 s2 = ph[2] * resp[2], s3 = ph[3] * resp[3];
        s0 += ph[4] * resp[4];
        s1 += ph[5] * resp[5];
        s2 += ph[6] * resp[6];
        s3 += ph[7] * resp[7];
        *(gm_vec4 *)mo += (s0 + s1) + (s2 + s3);
    }
}

/* moments_t[f * kp + j] += sum_b phi[f, b] weighted[b * kp + j]; rows
 * b >= nb of weighted must be zero. */
static inline void gm_moments(const double *phi, const double *weighted, int64_t n_phi,
                              int64_t kp, double *moments_t)
{
    int64_t j0, f, b;
    if (!gm_wide()) {
        for (j0 = 0; j0 < kp; j0 += GM_NARROW)
            gm_moments4(phi, weighted, n_phi, kp, j0, moments_t);
        return;
    }
    for (j0 = 0; j0 + GM_TILE <= kp; j0 += GM_TILE) {
        gm_vec resp[GM_BLOCK];
        for (b = 0; b < GM_BLOCK; ++b)
            resp[b] = *(const gm_vec *)(weighted + b * kp + j0);
        for (f = 0; f < n_phi; ++f) {
            double *mo = moments_t + f * kp + j0;
            const double *ph = phi + f * GM_BLOCK;
            /* Four independent sums, so that consecutive FMAs do not wait
             * for each other. */
            gm_vec s0 = ph[0] * resp[0], s1 = ph[1] * resp[1];
            gm_vec s2 = ph[2] * resp[2], s3 = ph[3] * resp[3];
            s0 += ph[4] * resp[4];
            s1 += ph[5] * resp[5];
            s2 += ph[6] * resp[6];
            s3 += ph[7] * resp[7];
            *(gm_vec *)mo += (s0 + s1) + (s2 + s3);
        }
    }
    if (j0 < kp) /* a last half tile */
        gm_moments4(phi, weighted, n_phi, kp, j0, moments_t);
}

/* gm_logits_tile for two blocks at once: each parameter, broadcast once, meets
 * both blocks' feature vectors (half the parameter loads per multiply-add).
 * The last feature is the constant 1 of every form (gm_features_of_y): its
 * terms are additions (the same bits as the multiply-add by 1, and off the
 * multiply-add units, which bound this loop). */
GM_INLINE void gm_logits_tile2(const double *phi0, const double *phi1, const double *theta_t,
                               int64_t n_phi, int64_t kp, int64_t j0, int width,
                               double *logits0, double *logits1)
{
    gm_vec a0[GM_TILE], a1[GM_TILE];
    const double *constant = theta_t + (n_phi - 1) * kp + j0;
    int64_t f;
    int t;
    for (t = 0; t < width; ++t)
        a0[t] = a1[t] = (gm_vec){0.0};
    for (f = 0; f < n_phi - 1; ++f) {
        const gm_vec p0 = *(const gm_vec *)(phi0 + f * GM_BLOCK);
        const gm_vec p1 = *(const gm_vec *)(phi1 + f * GM_BLOCK);
        const double *th = theta_t + f * kp + j0;
        for (t = 0; t < width; ++t) {
            const double c = th[t];
            a0[t] += c * p0;
            a1[t] += c * p1;
        }
    }
    for (t = 0; t < width; ++t) {
        *(gm_vec *)(logits0 + (j0 + t) * GM_BLOCK) = a0[t] + constant[t];
        *(gm_vec *)(logits1 + (j0 + t) * GM_BLOCK) = a1[t] + constant[t];
    }
}

/* gm_logits_t for two blocks at once. */
static inline void gm_logits_t2(const double *phi0, const double *phi1, const double *theta_t,
                                int64_t n_phi, int64_t kp, double *logits0, double *logits1)
{
    int64_t j0;
    for (j0 = 0; j0 + GM_TILE <= kp; j0 += GM_TILE)
        gm_logits_tile2(phi0, phi1, theta_t, n_phi, kp, j0, GM_TILE, logits0, logits1);
    if (j0 < kp) /* a last half tile (kp = 8 m + 4) */
        gm_logits_tile2(phi0, phi1, theta_t, n_phi, kp, j0, GM_NARROW, logits0, logits1);
}

/* gm_moments of two blocks at once: one load and store of each moment tile
 * per sixteen rows. The last feature's row (the constant 1) is a sum of the
 * weighted responsibilities, added in the same order as the multiply-adds
 * would (the same bits). */
static inline void gm_moments2(const double *phi0, const double *phi1, const double *weighted0,
                               const double *weighted1, int64_t n_phi, int64_t kp,
                               double *moments_t)
{
    int64_t j0, f, b;
    for (j0 = 0; j0 + GM_TILE <= kp; j0 += GM_TILE) {
        gm_vec r0[GM_BLOCK], r1[GM_BLOCK];
        for (b = 0; b < GM_BLOCK; ++b) {
            r0[b] = *(const gm_vec *)(weighted0 + b * kp + j0);
            r1[b] = *(const gm_vec *)(weighted1 + b * kp + j0);
        }
        for (f = 0; f < n_phi - 1; ++f) {
            double *mo = moments_t + f * kp + j0;
            const double *p0 = phi0 + f * GM_BLOCK, *p1 = phi1 + f * GM_BLOCK;
            gm_vec s0 = p0[0] * r0[0], s1 = p0[1] * r0[1];
            gm_vec s2 = p0[2] * r0[2], s3 = p0[3] * r0[3];
            s0 += p0[4] * r0[4];
            s1 += p0[5] * r0[5];
            s2 += p0[6] * r0[6];
            s3 += p0[7] * r0[7];
            s0 += p1[0] * r1[0];
            s1 += p1[1] * r1[1];
            s2 += p1[2] * r1[2];
            s3 += p1[3] * r1[3];
            s0 += p1[4] * r1[4];
            s1 += p1[5] * r1[5];
            s2 += p1[6] * r1[6];
            s3 += p1[7] * r1[7];
            *(gm_vec *)mo += (s0 + s1) + (s2 + s3);
        }
        {
            double *mo = moments_t + (n_phi - 1) * kp + j0;
            gm_vec s0 = r0[0], s1 = r0[1], s2 = r0[2], s3 = r0[3];
            s0 += r0[4];
            s1 += r0[5];
            s2 += r0[6];
            s3 += r0[7];
            s0 += r1[0];
            s1 += r1[1];
            s2 += r1[2];
            s3 += r1[3];
            s0 += r1[4];
            s1 += r1[5];
            s2 += r1[6];
            s3 += r1[7];
            *(gm_vec *)mo += (s0 + s1) + (s2 + s3);
        }
    }
    if (j0 < kp) { /* a last half tile: each block as gm_moments takes it */
        gm_moments4(phi0, weighted0, n_phi, kp, j0, moments_t);
        gm_moments4(phi1, weighted1, n_phi, kp, j0, moments_t);
    }
}

/* In-place softmax over the k components of each row of a block of
 * component-major logits (logits_t[j * GM_BLOCK + b], from gm_logits_t); writes
 * log p(x_b) to log_norm[b] for all GM_BLOCK rows. Returns the number of rows
 * b < nb whose logits are not all usable (the largest is not finite, or one is
 * NaN).
 *
 * Rows are the lanes: the maximum, the exponentials, the sum and the logarithm
 * run across components with no horizontal step and no padding, so that all of
 * it vectorizes (with few features per row, as for diagonal covariances, the
 * softmax is a large part of a row's work). */
static inline int64_t gm_softmax_t(double *logits_t, int64_t k, int64_t nb, double *log_norm,
                                   int wide)
{
    double top[GM_BLOCK], total[GM_BLOCK], scale[GM_BLOCK];
    int usable[GM_BLOCK];
    int64_t b, j, lost = 0;
    for (b = 0; b < GM_BLOCK; ++b)
        top[b] = logits_t[b];
    for (j = 1; j < k; ++j)
        for (b = 0; b < GM_BLOCK; ++b) {
            const double v = logits_t[j * GM_BLOCK + b];
            top[b] = v > top[b] ? v : top[b];
        }
    for (b = 0; b < GM_BLOCK; ++b) {
        /* x - x == 0 exactly when x is finite */
        usable[b] = top[b] - top[b] == 0.0;
        top[b] = usable[b] ? top[b] : 0.0;
        total[b] = 0.0;
    }
    if (wide) {
        gm_vec largest, sum = {0.0};
        memcpy(&largest, top, sizeof largest);
        for (j = 0; j < k; ++j) {
            gm_vec *row = (gm_vec *)(logits_t + j * GM_BLOCK);
            const gm_vec e = gm_exp_nonpositive_vec(*row - largest);
            *row = e;
            sum += e;
        }
        memcpy(total, &sum, sizeof sum);
    } else {
        for (j = 0; j < k; ++j)
            for (b = 0; b < GM_BLOCK; ++b) {
                const double e = gm_exp_nonpositive(logits_t[j * GM_BLOCK + b] - top[b]);
                logits_t[j * GM_BLOCK + b] = e;
                total[b] += e;
            }
    }
    for (b = 0; b < GM_BLOCK; ++b) {
        /* a NaN logit that the maximum skipped makes the sum NaN */
        usable[b] = usable[b] && total[b] - total[b] == 0.0;
        scale[b] = 1.0 / total[b];
    }
    for (j = 0; j < k; ++j)
        for (b = 0; b < GM_BLOCK; ++b)
            logits_t[j * GM_BLOCK + b] *= scale[b];
    for (b = 0; b < GM_BLOCK; ++b)
        log_norm[b] = gm_log_positive(usable[b] ? total[b] : 1.0) + top[b];
    for (b = 0; b < nb; ++b)
        lost += !usable[b];
    return lost;
}

/*
 * Statistics of n rows of X (row-major, row_stride elements apart; float64, or
 * float32 when x_float32 is nonzero, computed in float64 all the same) under the
 * natural parameters theta_t (n_phi x kp: the transpose of
 * gaussmix._gaussian.natural_parameters, its k columns padded with zeros to kp, a
 * multiple of GM_NARROW: the wide form takes tiles of eight components and a
 * last half tile of four, so k = 1..4 computes four, not eight; k = 9 twelve).
 * Accumulates into the caller's arrays:
 *
 *   moments_t (n_phi x kp) += sum_i w_i r_ij phi(x_i - shift)   (padding stays 0)
 *   resp_sq   (k)          += sum_i w_i r_ij^2                  (when not NULL)
 *   totals[0] += sum_i w_i log p(x_i); totals[1] += sum_i w_i;
 *   totals[2] += sum_ij (r_ij - r'_ij)^2, r' under theta_prev_t (when not NULL)
 *
 * weights may be NULL (all ones). work must hold
 * GM_BLOCK * (2 n_phi + 2 d + 7 kp + 2) doubles. Returns the number of rows whose
 * logits overflowed (their statistics are meaningless; the caller redoes the
 * rows on its numpy path), or -1 for bad sizes.
 */
/* What follows a block's logits (in resp; the previous parameters' in
 * resp_prev, or NULL): the softmax, the change against the previous
 * parameters' responsibilities, the log-likelihood and weight sums, and
 * w_b r_bj in row-major order in weighted (for gm_moments). */
static inline int64_t gm_block_tail(double *resp, double *resp_prev, int64_t k,
                                    int64_t kp, int64_t nb, int64_t start,
                                    const double *weights, double *log_norm,
                                    double *log_norm_prev, double *resp_sq,
                                    double *resp_sq_lanes, double *weighted, double *log_lik,
                                    double *weight_sum, double *change, int wide)
{
    double row_weight[GM_BLOCK];
    int64_t lost = 0, b, j;
    lost += gm_softmax_t(resp, k, nb, log_norm, wide);
    if (resp_prev != NULL) {
        double lane_change[GM_BLOCK] = {0.0};
        gm_softmax_t(resp_prev, k, nb, log_norm_prev, wide);
        for (j = 0; j < k; ++j)
            for (b = 0; b < GM_BLOCK; ++b) {
                const double diff = resp[j * GM_BLOCK + b] - resp_prev[j * GM_BLOCK + b];
                lane_change[b] += diff * diff;
            }
        for (b = 0; b < nb; ++b)
            *change += lane_change[b];
    }
    for (b = 0; b < GM_BLOCK; ++b) {
        /* rows past the data weigh nothing */
        row_weight[b] = b >= nb ? 0.0 : weights != NULL ? weights[start + b] : 1.0;
        *log_lik += row_weight[b] == 0.0 ? 0.0 : row_weight[b] * log_norm[b];
        *weight_sum += row_weight[b];
    }
    /* w_b r_bj back to row-major for gm_moments, a tile of components at a
     * time built in a register from the lanes (see gm_features); the
     * padding components' responsibilities are zeroed first, so their
     * columns stay 0. */
    if (kp > k)
        memset(resp + k * GM_BLOCK, 0, sizeof(double) * (size_t)((kp - k) * GM_BLOCK));
    for (j = 0; j + GM_TILE <= kp; j += GM_TILE)
        for (b = 0; b < GM_BLOCK; ++b) {
            const double *r = resp + j * GM_BLOCK + b;
            const gm_vec tile = {r[0],
                                 r[GM_BLOCK],
                                 r[2 * GM_BLOCK],
                                 r[3 * GM_BLOCK],
                                 r[4 * GM_BLOCK],
                                 r[5 * GM_BLOCK],
                                 r[6 * GM_BLOCK],
                                 r[7 * GM_BLOCK]};
            const gm_vec rw = tile * row_weight[b];
            memcpy(weighted + b * kp + j, &rw, sizeof rw);
        }
    if (j < kp) /* a last half tile (kp = 8 m + 4) */
        for (b = 0; b < GM_BLOCK; ++b) {
            const double *r = resp + j * GM_BLOCK + b;
            const gm_vec4 tile = {r[0], r[GM_BLOCK], r[2 * GM_BLOCK], r[3 * GM_BLOCK]};
            *(gm_vec4 *)(weighted + b * kp + j) = tile * row_weight[b];
        }
    if (resp_sq != NULL) {
        const gm_vec lane_weight = {row_weight[0], row_weight[1], row_weight[2],
                                    row_weight[3], row_weight[4], row_weight[5],
                                    row_weight[6], row_weight[7]};
        for (j = 0; j < k; ++j) {
            gm_vec rt, sq;
            memcpy(&rt, resp + j * GM_BLOCK, sizeof rt);
            memcpy(&sq, resp_sq_lanes + j * GM_BLOCK, sizeof sq);
            sq += (lane_weight * rt) * rt;
            memcpy(resp_sq_lanes + j * GM_BLOCK, &sq, sizeof sq);
        }
    }
    return lost;
}

/* Asks for the first used_bytes of a row, a block pair's work ahead of its
 * features. */
static inline void gm_prefetch_row(const char *row, int64_t used_bytes)
{
    int64_t offset;
    for (offset = 0; offset < used_bytes; offset += 64)
        __builtin_prefetch(row + offset);
    __builtin_prefetch(row + used_bytes - 1);
}

/* gm_prefetch_row for `rows` rows row_bytes apart from first. Rows back to
 * back (gaps under a cache line) as one sweep; rows apart in a wider array
 * (columns sliced out of it) one at a time: a sweep there would fetch the
 * whole wider array (a slice of 8 of 1024 columns took 3x the contiguous
 * time). */
static inline void gm_prefetch_rows(const char *first, int64_t rows, int64_t row_bytes,
                                    int64_t used_bytes)
{
    int64_t b, offset;
    if (row_bytes - used_bytes < 64) {
        for (offset = 0; offset < rows * row_bytes; offset += 64)
            __builtin_prefetch(first + offset);
        return;
    }
    for (b = 0; b < rows; ++b)
        gm_prefetch_row(first + b * row_bytes, used_bytes);
}

static inline int64_t gm_em_statistics_impl(const void *X, int x_float32, int64_t n, int64_t d,
                                            int64_t row_stride, const double *shift,
                                            const double *theta_t, const double *theta_prev_t,
                                            const double *weights, int64_t k, int64_t kp,
                                            double *moments_t, double *resp_sq, double *totals,
                                            double *work, int diagonal,
                                            const int64_t *row_index, const int64_t *col_index)
{
    const int64_t n_phi = gm_n_phi(d, diagonal);
    double *phi = work;
    double *y = phi + n_phi * GM_BLOCK;
    double *resp = y + d * GM_BLOCK;
    double *resp_prev = resp + kp * GM_BLOCK;
    double *weighted = resp_prev + kp * GM_BLOCK;
    double *log_norm = weighted + kp * GM_BLOCK;
    double *log_norm_prev = log_norm + GM_BLOCK;
    double *resp_sq_lanes = log_norm_prev + GM_BLOCK; /* kp x GM_BLOCK */
    double log_lik = 0.0, weight_sum = 0.0, change = 0.0;
    int64_t start, lost = 0, b, j;
    /* Two blocks at once (gm_logits_t2, gm_moments2) where AVX-512 runs.
     * Interleaved A/B against one block at a time, one process, other
     * processes stopped: (200k, 16, 16) 0.93-0.94 of the time, one or two
     * threads; (1M, 16, 16) 0.93; (200k, 8, 16) 0.90; (200k, 4, 16)
     * 0.92. With 32-byte vectors the sixteen accumulators of 64 bytes do
     * not fit the registers: the AVX2 build took 3.2-3.7x the time of
     * one block at a time (single thread, d = 8 and 16). */
    const int pairs = gm_wide();
    double *phi1 = resp_sq_lanes + kp * GM_BLOCK; /* the second block's buffers */
    double *y1 = phi1 + n_phi * GM_BLOCK;
    double *resp1 = y1 + d * GM_BLOCK;
    double *weighted1 = resp1 + kp * GM_BLOCK;
    double *resp_prev1 = weighted1 + kp * GM_BLOCK;

    if (n < 0 || d < 1 || k < 1 || kp < k || kp % GM_NARROW != 0 || row_stride < d)
        return -1;
    memset(weighted, 0, sizeof(double) * (size_t)(kp * GM_BLOCK));
    memset(resp_sq_lanes, 0, sizeof(double) * (size_t)(kp * GM_BLOCK));
    for (start = 0; start < n;) {
        const int64_t nb = n - start < GM_BLOCK ? n - start : GM_BLOCK;
        const int two = pairs && n - start > GM_BLOCK;
        const int64_t rest = n - start - GM_BLOCK;
        const int64_t nb1 = two ? (rest < GM_BLOCK ? rest : GM_BLOCK) : 0;
        if (row_index != NULL) {
            if (!x_float32 && n - start >= 4 * GM_BLOCK) {
                /* the next two blocks' rows, as below (their first 256 bytes) */
                const int64_t width = col_index == NULL ? d : row_stride;
                const int64_t bytes = (width < 32 ? width : 32) * (int64_t)sizeof(double);
                for (b = 2 * GM_BLOCK; b < 4 * GM_BLOCK; ++b)
                    gm_prefetch_row(
                        (const char *)((const double *)X + row_index[start + b] * row_stride),
                        bytes);
            }
            gm_features_gather(X, x_float32, row_stride, row_index + start, col_index, nb, d,
                               shift, phi, y, diagonal, pairs);
            if (two)
                gm_features_gather(X, x_float32, row_stride, row_index + start + GM_BLOCK,
                                   col_index, nb1, d, shift, phi1, y1, diagonal, pairs);
        } else {
            const void *rows = x_float32
                                   ? (const void *)((const float *)X + start * row_stride)
                                   : (const void *)((const double *)X + start * row_stride);
            if (!x_float32 && n - start >= 4 * GM_BLOCK) {
                /* The next two blocks' rows, asked for a block pair's work
                 * ahead: the hardware prefetcher left the first loads of
                 * each block waiting on memory (5 % of a (200k, 16, 16)
                 * E-step). */
                const int64_t row_bytes = row_stride * (int64_t)sizeof(double);
                const char *next = (const char *)rows + 2 * GM_BLOCK * row_bytes;
                if (row_stride - d < 8) {
                    int64_t offset;
                    for (offset = 0; offset < 2 * GM_BLOCK * row_bytes; offset += 64)
                        __builtin_prefetch(next + offset);
                } else {
                    gm_prefetch_rows(next, 2 * GM_BLOCK, row_bytes, d * (int64_t)sizeof(double));
                }
            }
            gm_features(rows, x_float32, row_stride, nb, d, shift, phi, y, diagonal, pairs);
            if (two) {
                const int64_t s1 = start + GM_BLOCK;
                const void *rows1 = x_float32
                                       ? (const void *)((const float *)X + s1 * row_stride)
                                       : (const void *)((const double *)X + s1 * row_stride);
                gm_features(rows1, x_float32, row_stride, nb1, d, shift, phi1, y1, diagonal,
                            pairs);
            }
        }
        if (two) {
            gm_logits_t2(phi, phi1, theta_t, n_phi, kp, resp, resp1);
            if (theta_prev_t != NULL)
                gm_logits_t2(phi, phi1, theta_prev_t, n_phi, kp, resp_prev, resp_prev1);
        } else {
            gm_logits_t(phi, theta_t, n_phi, kp, resp);
            if (theta_prev_t != NULL)
                gm_logits_t(phi, theta_prev_t, n_phi, kp, resp_prev);
        }
        lost += gm_block_tail(resp, theta_prev_t != NULL ? resp_prev : NULL, k, kp, nb,
                              start, weights, log_norm, log_norm_prev, resp_sq,
                              resp_sq_lanes, weighted, &log_lik, &weight_sum, &change,
                              pairs);
        if (two) {
            lost += gm_block_tail(resp1, theta_prev_t != NULL ? resp_prev1 : NULL, k, kp,
                                  nb1, start + GM_BLOCK, weights, log_norm, log_norm_prev,
                                  resp_sq, resp_sq_lanes, weighted1, &log_lik,
                                  &weight_sum, &change, pairs);
            gm_moments2(phi, phi1, weighted, weighted1, n_phi, kp, moments_t);
            start += 2 * GM_BLOCK;
        } else {
            gm_moments(phi, weighted, n_phi, kp, moments_t);
            start += GM_BLOCK;
        }
    }
    if (resp_sq != NULL)
        for (j = 0; j < k; ++j)
            for (b = 0; b < GM_BLOCK; ++b)
                resp_sq[j] += resp_sq_lanes[j * GM_BLOCK + b];
    totals[0] += log_lik;
    totals[1] += weight_sum;
    totals[2] += change;
    return lost;
}

/* Full quadratic features (covariance types "full" and "tied"). */
GM_CLONES
int64_t gm_em_statistics(const void *X, int x_float32, int64_t n, int64_t d, int64_t row_stride,
                         const double *shift, const double *theta_t,
                         const double *theta_prev_t, const double *weights, int64_t k,
                         int64_t kp, double *moments_t, double *resp_sq, double *totals,
                         double *work)
{
    return gm_em_statistics_impl(X, x_float32, n, d, row_stride, shift, theta_t, theta_prev_t,
                                 weights, k, kp, moments_t, resp_sq, totals, work, 0, NULL,
                                 NULL);
}

/* Diagonal features [y * y, y, 1] (covariance types "diag" and "spherical"),
 * n_phi = 2 d + 1; otherwise as gm_em_statistics. */
GM_CLONES
int64_t gm_em_statistics_diagonal(const void *X, int x_float32, int64_t n, int64_t d,
                                  int64_t row_stride, const double *shift,
                                  const double *theta_t, const double *theta_prev_t,
                                  const double *weights, int64_t k, int64_t kp,
                                  double *moments_t, double *resp_sq, double *totals,
                                  double *work)
{
    return gm_em_statistics_impl(X, x_float32, n, d, row_stride, shift, theta_t, theta_prev_t,
                                 weights, k, kp, moments_t, resp_sq, totals, work, 1, NULL,
                                 NULL);
}

/* Linear features [y, 1] (one shared covariance: logits b_j . y + c_j without
 * the quadratic term common to all components, which the caller adds to the
 * log-likelihood), n_phi = d + 1; otherwise as gm_em_statistics. */
GM_CLONES
int64_t gm_em_statistics_linear(const void *X, int x_float32, int64_t n, int64_t d,
                                int64_t row_stride, const double *shift, const double *theta_t,
                                const double *theta_prev_t, const double *weights, int64_t k,
                                int64_t kp, double *moments_t, double *resp_sq, double *totals,
                                double *work)
{
    return gm_em_statistics_impl(X, x_float32, n, d, row_stride, shift, theta_t, theta_prev_t,
                                 weights, k, kp, moments_t, resp_sq, totals, work, GM_LINEAR,
                                 NULL, NULL);
}

/* The statistics of the n rows row_index[0 .. n) of X (weights[i] belongs to
 * row row_index[i]) and, when col_index is not NULL, of their d columns
 * col_index[0 .. d) only; diagonal selects the features. Otherwise as
 * gm_em_statistics: the missing-data E-step sends its complete rows and each
 * frequent pattern's observed columns here without gathering them first. */
GM_CLONES
int64_t gm_em_statistics_gather(const void *X, int x_float32, int64_t n, int64_t d,
                                int64_t row_stride, const double *shift, const double *theta_t,
                                const double *theta_prev_t, const double *weights, int64_t k,
                                int64_t kp, double *moments_t, double *resp_sq, double *totals,
                                double *work, int diagonal, const int64_t *row_index,
                                const int64_t *col_index)
{
    if (row_index == NULL)
        return -1;
    return gm_em_statistics_impl(X, x_float32, n, d, row_stride, shift, theta_t, theta_prev_t,
                                 weights, k, kp, moments_t, resp_sq, totals, work,
                                 diagonal != 0, row_index, col_index);
}

/*
 * gm_em_statistics_gather for p frequent missing-data patterns with the same
 * number d of observed columns, in one call: pattern q takes the rows
 * row_index[starts[q] .. starts[q + 1]) (weights in the same order, or NULL),
 * its columns col_index[q * d .. (q + 1) * d), its shift shift[q * d ..] and
 * parameters theta_t[q * n_phi * kp ..] (theta_prev_t likewise, or NULL),
 * and accumulates into moments_t[q * n_phi * kp ..], resp_sq[q * k ..] (or
 * NULL) and totals[3 q ..]. One call where a call per pattern held the GIL
 * for its arguments and buffers (a frequent pattern has a few hundred rows).
 * Returns the sum of the patterns' results (nonzero: some rows overflowed or
 * sizes are bad, and the caller takes the patterns one at a time).
 */
GM_CLONES
int64_t gm_em_statistics_patterns(const void *X, int x_float32, int64_t p,
                                  const int64_t *starts, const int64_t *row_index,
                                  const int64_t *col_index, int64_t d, int64_t row_stride,
                                  const double *shift, const double *theta_t,
                                  const double *theta_prev_t, const double *weights,
                                  int64_t k, int64_t kp, double *moments_t, double *resp_sq,
                                  double *totals, double *work, int diagonal)
{
    const int64_t n_phi = gm_n_phi(d, diagonal != 0);
    int64_t q, lost = 0;
    if (p < 0 || row_index == NULL || col_index == NULL)
        return -1;
    for (q = 0; q < p; ++q) {
        const int64_t first = starts[q], size = starts[q + 1] - starts[q];
        const int64_t result = gm_em_statistics_impl(
            X, x_float32, size, d, row_stride, shift + q * d, theta_t + q * n_phi * kp,
            theta_prev_t != NULL ? theta_prev_t + q * n_phi * kp : NULL,
            weights != NULL ? weights + first : NULL, k, kp, moments_t + q * n_phi * kp,
            resp_sq != NULL ? resp_sq + q * k : NULL, totals + 3 * q, work, diagonal != 0,
            row_index + first, col_index + q * d);
        if (result < 0)
            return -1;
        lost += result;
    }
    return lost;
}

/*
 * float32 EM statistics for full quadratic features (issue 27): the same
 * arithmetic as gm_em_statistics with the features, the natural parameters,
 * the two products and the softmax's exponentials in float32, sixteen rows
 * per block (one float lane each), so that a vector instruction does twice
 * the work. What float32 cannot carry stays in float64: the logits are summed
 * in float32 over runs of GM_F32_RUN features and those partial sums in
 * float64; the largest logit of a row, the differences to it and the
 * logarithm of the exponentials' sum (the log-likelihood) are float64 (the
 * exponentials, at most k of them in [0, 1], and their sum are float32: a
 * relative error of a few 1e-7 in the sum, an absolute one of a few 1e-7 in a
 * row's log-likelihood, below what the float32 logits carry); the
 * log-likelihood and weight sums over rows are float64; the moments are summed
 * in float32 over GM_F32_FLUSH blocks and then added to float64 accumulators.
 * Rows are shifted in float64 before rounding, so y = x - shift keeps
 * float32's relative precision.
 */
#define GM_BLOCK32 16 /* rows per block: the lanes of a 64-byte float vector */
#define GM_TILE32 16  /* components per moment tile; kp is a multiple of it */
#define GM_F32_RUN 48 /* features summed in float32 before a float64 add */
#define GM_F32_FLUSH 4 /* blocks whose moments are summed in float32 */
typedef float gm_vecf __attribute__((vector_size(64), aligned(4)));

/* Differences to the largest logit below this have exponentials under 2e-38,
 * near float32's smallest normal number: they count as 0. */
#define GM_EXPF_FLOOR (-86.0f)
/* Lane masks of float comparisons (all ones where true). */
typedef int32_t gm_maskf __attribute__((vector_size(64), aligned(4)));

/*
 * exp(x) of sixteen floats x <= 0 (0 below GM_EXPF_FLOOR): x = n ln2 + r with
 * |r| <= ln2 / 2 (ln 2 split so that n * ln2_hi is exact), exp(r) by its
 * Taylor polynomial of degree 7 (truncation error below 1e-8, a tenth of
 * float32's precision; measured within one ulp of exp), and 2^n added to the
 * exponent bits (n >= -124 keeps the result normal); NaN gives NaN. Written on
 * vectors: a scalar version with a select is not vectorized by GCC 12.
 */
static inline gm_vecf gm_expf_nonpositive(gm_vecf x)
{
    const gm_maskf below = x < GM_EXPF_FLOOR;
    const gm_vecf lowest = {GM_EXPF_FLOOR, GM_EXPF_FLOOR, GM_EXPF_FLOOR, GM_EXPF_FLOOR,
                            GM_EXPF_FLOOR, GM_EXPF_FLOOR, GM_EXPF_FLOOR, GM_EXPF_FLOOR,
                            GM_EXPF_FLOOR, GM_EXPF_FLOOR, GM_EXPF_FLOOR, GM_EXPF_FLOOR,
                            GM_EXPF_FLOOR, GM_EXPF_FLOOR, GM_EXPF_FLOOR, GM_EXPF_FLOOR};
    const gm_vecf xc = (gm_vecf)(((gm_maskf)x & ~below) | ((gm_maskf)lowest & below));
    gm_vecf kf, r, p;
    gm_maskf kbits;

    kf = xc * 1.44269504f + 12582912.0f; /* 1.5 * 2^23 rounds to an integer */
    kbits = (gm_maskf)kf;
    kf -= 12582912.0f;
    r = xc - kf * 0.693359375f; /* ln2_hi = 355 / 512 */
    r -= kf * -2.12194440e-4f;  /* ln2_lo = ln 2 - ln2_hi */
    p = r * (1.0f / 5040.0f) + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* as in gm_exp_nonpositive: the low bits of kbits hold n; NaN stays NaN */
    return (gm_vecf)((((gm_maskf)p + (kbits << 23)) & ~below) | (x != x));
}

/* Halves of a float vector in float64, and back (the lanes' order kept).
 * Spelled element by element: GCC 12 turns these into one conversion each
 * (vcvtps2pd ymm -> zmm), but __builtin_convertvector of eight floats into
 * two halves of four with three shuffles. */
static inline gm_vec gm_low_double(gm_vecf v)
{
    return (gm_vec){v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
}
static inline gm_vec gm_high_double(gm_vecf v)
{
    return (gm_vec){v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15]};
}
static inline gm_vecf gm_to_float(gm_vec lo, gm_vec hi)
{
    return (gm_vecf){(float)lo[0], (float)lo[1], (float)lo[2], (float)lo[3],
                     (float)lo[4], (float)lo[5], (float)lo[6], (float)lo[7],
                     (float)hi[0], (float)hi[1], (float)hi[2], (float)hi[3],
                     (float)hi[4], (float)hi[5], (float)hi[6], (float)hi[7]};
}

/* Shifted values y (feature-major, y[i * GM_BLOCK32 + b]; rows past nb are
 * zero) and the full features phi[f * GM_BLOCK32 + b] of a block's rows. */
static inline void gm_features_f32(const void *x, int x_float32, int64_t row_stride, int64_t nb,
                                   int64_t d, const double *shift, float *phi, float *y)
{
    const int64_t s = row_stride;
    int64_t b, i, j, f = 0;
    /* Whole blocks: each column built in registers and stored whole (scalar
     * stores read back as one vector stall until they retire, see gm_features);
     * one loop per input type (no branch inside a loop over vectors). */
    if (nb == GM_BLOCK32 && x_float32) {
        for (i = 0; i < d; ++i) {
            const float *c = (const float *)x + i;
            const gm_vecf cf = {c[0],      c[s],      c[2 * s],  c[3 * s],
                                c[4 * s],  c[5 * s],  c[6 * s],  c[7 * s],
                                c[8 * s],  c[9 * s],  c[10 * s], c[11 * s],
                                c[12 * s], c[13 * s], c[14 * s], c[15 * s]};
            const gm_vecf y32 =
                gm_to_float(gm_low_double(cf) - shift[i], gm_high_double(cf) - shift[i]);
            memcpy(y + i * GM_BLOCK32, &y32, sizeof y32);
        }
    } else if (nb == GM_BLOCK32) {
        for (i = 0; i < d; ++i) {
            const double *c = (const double *)x + i, *c8 = c + 8 * s;
            const gm_vec lo = {c[0],     c[s],     c[2 * s], c[3 * s],
                               c[4 * s], c[5 * s], c[6 * s], c[7 * s]};
            const gm_vec hi = {c8[0],     c8[s],     c8[2 * s], c8[3 * s],
                               c8[4 * s], c8[5 * s], c8[6 * s], c8[7 * s]};
            const gm_vecf y32 = gm_to_float(lo - shift[i], hi - shift[i]);
            memcpy(y + i * GM_BLOCK32, &y32, sizeof y32);
        }
    } else if (x_float32) {
        const float *xf = (const float *)x;
        for (b = 0; b < nb; ++b)
            for (i = 0; i < d; ++i)
                y[i * GM_BLOCK32 + b] = (float)((double)xf[b * s + i] - shift[i]);
    } else {
        const double *xd = (const double *)x;
        for (b = 0; b < nb; ++b)
            for (i = 0; i < d; ++i)
                y[i * GM_BLOCK32 + b] = (float)(xd[b * s + i] - shift[i]);
    }
    for (b = nb; b < GM_BLOCK32; ++b)
        for (i = 0; i < d; ++i)
            y[i * GM_BLOCK32 + b] = 0.0f;
    for (i = 0; i < d; ++i) {
        gm_vecf yi;
        memcpy(&yi, y + i * GM_BLOCK32, sizeof yi);
        for (j = i; j < d; ++j, ++f) {
            gm_vecf yj, product;
            memcpy(&yj, y + j * GM_BLOCK32, sizeof yj);
            product = yi * yj;
            memcpy(phi + f * GM_BLOCK32, &product, sizeof product);
        }
    }
    memcpy(phi + f * GM_BLOCK32, y, sizeof(float) * (size_t)(d * GM_BLOCK32));
    f += d;
    for (b = 0; b < GM_BLOCK32; ++b)
        phi[f * GM_BLOCK32 + b] = 1.0f;
}

/* acc[t] = sum_{f0 <= f < f1} theta_t[f, j0 + t] phi[f, :], in float32. */
static inline void gm_logits_run(const float *phi, const float *theta_t, int64_t kp, int64_t j0,
                                 int64_t f0, int64_t f1, gm_vecf *acc)
{
    int64_t f, t;
    for (t = 0; t < GM_TILE; ++t)
        acc[t] = (gm_vecf){0.0f};
    for (f = f0; f < f1; ++f) {
        gm_vecf ph;
        const float *th = theta_t + f * kp + j0;
        memcpy(&ph, phi + f * GM_BLOCK32, sizeof ph);
        for (t = 0; t < GM_TILE; ++t)
            acc[t] += th[t] * ph;
    }
}

/* Logits of a block's 16 rows in float64, component-major:
 * logits[j * GM_BLOCK32 + b] = sum_f theta_t[f, j] phi[f, b] for j < kp, in
 * float32 over runs of GM_F32_RUN features and the runs' sums in float64.
 * (The first run is peeled: GCC 12's vectorizer miscompiled a loop over the
 * tile that added to the logits only after the first run.) */
static inline void gm_logits_f32(const float *phi, const float *theta_t, int64_t n_phi,
                                 int64_t kp, double *logits)
{
    int64_t j0, f0, t;
    gm_vecf acc[GM_TILE];
    for (j0 = 0; j0 < kp; j0 += GM_TILE) {
        double *out = logits + j0 * GM_BLOCK32;
        gm_logits_run(phi, theta_t, kp, j0, 0, GM_F32_RUN < n_phi ? GM_F32_RUN : n_phi, acc);
        for (t = 0; t < GM_TILE; ++t) {
            const gm_vec lo = gm_low_double(acc[t]), hi = gm_high_double(acc[t]);
            memcpy(out + t * GM_BLOCK32, &lo, sizeof lo);
            memcpy(out + t * GM_BLOCK32 + GM_BLOCK, &hi, sizeof hi);
        }
        for (f0 = GM_F32_RUN; f0 < n_phi; f0 += GM_F32_RUN) {
            gm_logits_run(phi, theta_t, kp, j0, f0,
                          f0 + GM_F32_RUN < n_phi ? f0 + GM_F32_RUN : n_phi, acc);
            for (t = 0; t < GM_TILE; ++t) {
                double *o = out + t * GM_BLOCK32;
                gm_vec lo, hi;
                memcpy(&lo, o, sizeof lo);
                memcpy(&hi, o + GM_BLOCK, sizeof hi);
                lo += gm_low_double(acc[t]);
                hi += gm_high_double(acc[t]);
                memcpy(o, &lo, sizeof lo);
                memcpy(o + GM_BLOCK, &hi, sizeof hi);
            }
        }
    }
}

/* Softmax over the k components of each of a block's 16 rows (the lanes), from
 * the float64 logits of gm_logits_f32: resp[j * GM_BLOCK32 + b] (float32)
 * = exp(l_jb - top_b) / total_b and log_norm[b] = log(total_b) + top_b, with
 * top_b, the differences l_jb - top_b and the logarithm in float64, the
 * exponentials and their sum total_b in float32. Returns the number of rows
 * b < nb whose logits are not all usable (as gm_softmax_t). */
static inline int64_t gm_softmax_f32(const double *logits, int64_t k, int64_t nb, float *resp,
                                     double *log_norm)
{
    double top_lanes[GM_BLOCK32], total_lanes[GM_BLOCK32];
    int64_t usable_lanes[GM_BLOCK32];
    gm_vec top_lo, top_hi, lo, hi, total_lo, total_hi;
    gm_vecf e, scale, total = {0.0f};
    gm_mask finite_lo, finite_hi;
    int64_t b, j, lost = 0;
    memcpy(&top_lo, logits, sizeof top_lo);
    memcpy(&top_hi, logits + GM_BLOCK, sizeof top_hi);
    for (j = 1; j < k; ++j) {
        memcpy(&lo, logits + j * GM_BLOCK32, sizeof lo);
        memcpy(&hi, logits + j * GM_BLOCK32 + GM_BLOCK, sizeof hi);
        top_lo = gm_select(lo > top_lo, lo, top_lo);
        top_hi = gm_select(hi > top_hi, hi, top_hi);
    }
    finite_lo = top_lo - top_lo == 0.0;
    finite_hi = top_hi - top_hi == 0.0;
    top_lo = gm_select(finite_lo, top_lo, (gm_vec){0.0});
    top_hi = gm_select(finite_hi, top_hi, (gm_vec){0.0});
    for (j = 0; j < k; ++j) {
        memcpy(&lo, logits + j * GM_BLOCK32, sizeof lo);
        memcpy(&hi, logits + j * GM_BLOCK32 + GM_BLOCK, sizeof hi);
        e = gm_expf_nonpositive(gm_to_float(lo - top_lo, hi - top_hi));
        memcpy(resp + j * GM_BLOCK32, &e, sizeof e);
        total += e;
    }
    scale = 1.0f / total;
    total_lo = gm_low_double(total);
    total_hi = gm_high_double(total);
    for (j = 0; j < k; ++j) {
        memcpy(&e, resp + j * GM_BLOCK32, sizeof e);
        e *= scale;
        memcpy(resp + j * GM_BLOCK32, &e, sizeof e);
    }
    /* a NaN logit that the maximum skipped makes the sum NaN */
    finite_lo &= total_lo - total_lo == 0.0;
    finite_hi &= total_hi - total_hi == 0.0;
    memcpy(top_lanes, &top_lo, sizeof top_lo);
    memcpy(top_lanes + GM_BLOCK, &top_hi, sizeof top_hi);
    memcpy(total_lanes, &total_lo, sizeof total_lo);
    memcpy(total_lanes + GM_BLOCK, &total_hi, sizeof total_hi);
    memcpy(usable_lanes, &finite_lo, sizeof finite_lo);
    memcpy(usable_lanes + GM_BLOCK, &finite_hi, sizeof finite_hi);
    for (b = 0; b < GM_BLOCK32; ++b)
        log_norm[b] = gm_log_positive(usable_lanes[b] ? total_lanes[b] : 1.0) + top_lanes[b];
    for (b = 0; b < nb; ++b)
        lost += !usable_lanes[b];
    return lost;
}

/* sum_b ph[b] resp[b] over a block's 16 rows, in four independent sums so that
 * consecutive multiply-adds do not wait for each other. */
static inline gm_vecf gm_weighted_sum(const float *ph, const gm_vecf *resp)
{
    gm_vecf s0 = ph[0] * resp[0], s1 = ph[1] * resp[1];
    gm_vecf s2 = ph[2] * resp[2], s3 = ph[3] * resp[3];
    int b;
    for (b = 4; b < GM_BLOCK32; b += 4) {
        s0 += ph[b] * resp[b];
        s1 += ph[b + 1] * resp[b + 1];
        s2 += ph[b + 2] * resp[b + 2];
        s3 += ph[b + 3] * resp[b + 3];
    }
    return (s0 + s1) + (s2 + s3);
}

/* moments32[f * kp + j] += sum_b phi[f, b] weighted[j * GM_BLOCK32 + b], in
 * float32; when flush, the sums are added to the float64 moments_t instead
 * and moments32 is zeroed. weighted is component-major (the softmax's layout):
 * each tile's rows are gathered into registers once per block. */
static inline void gm_moments_f32(const float *phi, const float *weighted, int64_t n_phi,
                                  int64_t kp, float *moments32, double *moments_t, int flush)
{
    int64_t j0, f, b;
    for (j0 = 0; j0 < kp; j0 += GM_TILE32) {
        gm_vecf resp[GM_BLOCK32];
        for (b = 0; b < GM_BLOCK32; ++b) {
            const float *w = weighted + j0 * GM_BLOCK32 + b;
            resp[b] = (gm_vecf){w[0],
                                w[GM_BLOCK32],
                                w[2 * GM_BLOCK32],
                                w[3 * GM_BLOCK32],
                                w[4 * GM_BLOCK32],
                                w[5 * GM_BLOCK32],
                                w[6 * GM_BLOCK32],
                                w[7 * GM_BLOCK32],
                                w[8 * GM_BLOCK32],
                                w[9 * GM_BLOCK32],
                                w[10 * GM_BLOCK32],
                                w[11 * GM_BLOCK32],
                                w[12 * GM_BLOCK32],
                                w[13 * GM_BLOCK32],
                                w[14 * GM_BLOCK32],
                                w[15 * GM_BLOCK32]};
        }
        if (!flush)
            for (f = 0; f < n_phi; ++f) {
                float *mo = moments32 + f * kp + j0;
                gm_vecf m;
                memcpy(&m, mo, sizeof m);
                m += gm_weighted_sum(phi + f * GM_BLOCK32, resp);
                memcpy(mo, &m, sizeof m);
            }
        else /* the last block of a run: into the float64 moments */
            for (f = 0; f < n_phi; ++f) {
                float *mo = moments32 + f * kp + j0;
                double *out = moments_t + f * kp + j0;
                const gm_vecf zero = {0.0f};
                gm_vecf m;
                gm_vec lo, hi;
                memcpy(&m, mo, sizeof m);
                m += gm_weighted_sum(phi + f * GM_BLOCK32, resp);
                memcpy(&lo, out, sizeof lo);
                memcpy(&hi, out + GM_BLOCK, sizeof hi);
                lo += gm_low_double(m);
                hi += gm_high_double(m);
                memcpy(out, &lo, sizeof lo);
                memcpy(out + GM_BLOCK, &hi, sizeof hi);
                memcpy(mo, &zero, sizeof zero);
            }
    }
}

/*
 * As gm_em_statistics (full features) with float32 arithmetic where
 * described above. theta_t and theta_prev_t are float32 (n_phi x kp), kp a
 * multiple of GM_TILE32. work32 must hold GM_BLOCK32 (n_phi + d + 2 kp)
 * + n_phi kp floats, work64 GM_BLOCK32 (2 kp + 2) doubles.
 */
GM_CLONES
int64_t gm_em_statistics_f32(const void *X, int x_float32, int64_t n, int64_t d,
                             int64_t row_stride, const double *shift, const float *theta_t,
                             const float *theta_prev_t, const double *weights, int64_t k,
                             int64_t kp, double *moments_t, double *resp_sq, double *totals,
                             float *work32, double *work64)
{
    const int64_t n_phi = d * (d + 1) / 2 + d + 1;
    float *phi = work32;
    float *y = phi + n_phi * GM_BLOCK32;
    float *resp = y + d * GM_BLOCK32; /* kp x GM_BLOCK32, component-major */
    float *resp_prev = resp + kp * GM_BLOCK32;
    float *moments32 = resp_prev + kp * GM_BLOCK32;
    double *logits = work64; /* kp x GM_BLOCK32 */
    double *resp_sq_lanes = logits + kp * GM_BLOCK32;
    double log_norm[GM_BLOCK32], log_norm_prev[GM_BLOCK32], row_weight[GM_BLOCK32];
    double log_lik_lanes[GM_BLOCK32] = {0.0}, weight_lanes[GM_BLOCK32] = {0.0};
    gm_vecf lane_weight;
    gm_vec w_lo, w_hi;
    double log_lik = 0.0, weight_sum = 0.0, change = 0.0;
    int64_t start, lost = 0, b, j, block;

    if (n < 0 || d < 1 || k < 1 || kp < k || kp % GM_TILE32 != 0 || row_stride < d)
        return -1;
    /* the padding components weigh nothing */
    memset(resp, 0, sizeof(float) * (size_t)(kp * GM_BLOCK32));
    memset(moments32, 0, sizeof(float) * (size_t)(n_phi * kp));
    memset(resp_sq_lanes, 0, sizeof(double) * (size_t)(kp * GM_BLOCK32));
    for (start = 0, block = 0; start < n; start += GM_BLOCK32, ++block) {
        const int64_t nb = n - start < GM_BLOCK32 ? n - start : GM_BLOCK32;
        const void *rows = x_float32 ? (const void *)((const float *)X + start * row_stride)
                                     : (const void *)((const double *)X + start * row_stride);
        if (n - start >= 2 * GM_BLOCK32) {
            /* the next block's rows (see gm_em_statistics_impl) */
            const int64_t size = x_float32 ? (int64_t)sizeof(float) : (int64_t)sizeof(double);
            gm_prefetch_rows((const char *)rows + GM_BLOCK32 * row_stride * size, GM_BLOCK32,
                             row_stride * size, d * size);
        }
        gm_features_f32(rows, x_float32, row_stride, nb, d, shift, phi, y);
        gm_logits_f32(phi, theta_t, n_phi, kp, logits);
        lost += gm_softmax_f32(logits, k, nb, resp, log_norm);
        if (theta_prev_t != NULL) {
            float lane_change[GM_BLOCK32] = {0.0f};
            gm_logits_f32(phi, theta_prev_t, n_phi, kp, logits);
            gm_softmax_f32(logits, k, nb, resp_prev, log_norm_prev);
            for (j = 0; j < k; ++j)
                for (b = 0; b < GM_BLOCK32; ++b) {
                    const float diff = resp[j * GM_BLOCK32 + b] - resp_prev[j * GM_BLOCK32 + b];
                    lane_change[b] += diff * diff;
                }
            for (b = 0; b < nb; ++b)
                change += (double)lane_change[b];
        }
        if (nb == GM_BLOCK32 && weights != NULL)
            memcpy(row_weight, weights + start, sizeof row_weight);
        else
            for (b = 0; b < GM_BLOCK32; ++b) /* rows past the data weigh nothing */
                row_weight[b] = b >= nb ? 0.0 : weights != NULL ? weights[start + b] : 1.0;
        for (b = 0; b < GM_BLOCK32; ++b) {
            log_lik_lanes[b] += row_weight[b] == 0.0 ? 0.0 : row_weight[b] * log_norm[b];
            weight_lanes[b] += row_weight[b];
        }
        memcpy(&w_lo, row_weight, sizeof w_lo);
        memcpy(&w_hi, row_weight + GM_BLOCK, sizeof w_hi);
        lane_weight = gm_to_float(w_lo, w_hi);
        /* sum w_b r_jb^2, then w_b r_jb in place (separate loops: no branch
         * inside a loop over vectors) */
        if (resp_sq != NULL)
            for (j = 0; j < k; ++j) {
                double *sq = resp_sq_lanes + j * GM_BLOCK32;
                gm_vecf r;
                gm_vec lo, hi;
                memcpy(&r, resp + j * GM_BLOCK32, sizeof r);
                r *= lane_weight * r;
                memcpy(&lo, sq, sizeof lo);
                memcpy(&hi, sq + GM_BLOCK, sizeof hi);
                lo += gm_low_double(r);
                hi += gm_high_double(r);
                memcpy(sq, &lo, sizeof lo);
                memcpy(sq + GM_BLOCK, &hi, sizeof hi);
            }
        for (j = 0; j < k; ++j) {
            float *rj = resp + j * GM_BLOCK32;
            gm_vecf r;
            memcpy(&r, rj, sizeof r);
            r *= lane_weight;
            memcpy(rj, &r, sizeof r);
        }
        gm_moments_f32(phi, resp, n_phi, kp, moments32, moments_t,
                       block % GM_F32_FLUSH == GM_F32_FLUSH - 1);
    }
    if (block % GM_F32_FLUSH != 0) /* the last blocks' float32 sums */
        for (j = 0; j < n_phi * kp; ++j)
            moments_t[j] += (double)moments32[j];
    for (b = 0; b < GM_BLOCK32; ++b) {
        log_lik += log_lik_lanes[b];
        weight_sum += weight_lanes[b];
    }
    if (resp_sq != NULL)
        for (j = 0; j < k; ++j)
            for (b = 0; b < GM_BLOCK32; ++b)
                resp_sq[j] += resp_sq_lanes[j * GM_BLOCK32 + b];
    totals[0] += log_lik;
    totals[1] += weight_sum;
    totals[2] += change;
    return lost;
}

/* Whether the AVX-512 clone of the kernels runs on this CPU. The float32
 * kernel is faster than the float64 one at every width there; elsewhere
 * (AVX2: 0.89x at d = 4, 1.12x at d = 8, 1.48x at d = 16, kernel alone) the
 * caller keeps the float64 kernel for narrow rows. */
int gm_wide_vectors(void)
{
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && !defined(GM_NO_CLONES)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512cd");
#else
    return 0;
#endif
}

/* The float32 softmax's exponential of n values x <= 0 (0 below
 * GM_EXPF_FLOOR), sixteen at a time as the kernel computes it; for tests. */
GM_CLONES
void gm_expf_array(const float *x, int64_t n, float *out)
{
    int64_t i, b;
    for (i = 0; i < n; i += GM_BLOCK32) {
        const int64_t m = n - i < GM_BLOCK32 ? n - i : GM_BLOCK32;
        float lanes[GM_BLOCK32] = {0.0f};
        gm_vecf v;
        for (b = 0; b < m; ++b)
            lanes[b] = x[i + b];
        memcpy(&v, lanes, sizeof v);
        v = gm_expf_nonpositive(v);
        memcpy(lanes, &v, sizeof v);
        for (b = 0; b < m; ++b)
            out[i + b] = lanes[b];
    }
}

/* Rows per super-block of the centred kernel: GM_CENTRED_SUB blocks of
 * GM_BLOCK rows share one pass over each component's moment accumulators. */
#define GM_CENTRED_SUB 8

/* Component-major logits of one block under components given about their own
 * means: logit_j = consts_j - |W_j (x - mu_j)|^2 / 2 with W_j lower triangular
 * (W_j = L_j^-1, Sigma_j = L_j L_j^T; row-major d x d) or, when diagonal,
 * logit_j = consts_j - sum_i p_ji (x_i - mu_ji)^2 / 2 (precisions p, k x d).
 * y holds the block's rows feature-major (y[i * GM_BLOCK + b] = x_bi). */
static inline void gm_centred_logits(const double *y, int64_t d, int64_t k, const double *means,
                                     const double *factors, const double *consts, int diagonal,
                                     double *c, double *logits_t)
{
    int64_t j, a, i;
    for (j = 0; j < k; ++j) {
        const double *mu = means + j * d;
        gm_vec maha = (gm_vec){0.0};
        for (i = 0; i < d; ++i)
            *(gm_vec *)(c + i * GM_BLOCK) = *(const gm_vec *)(y + i * GM_BLOCK) - mu[i];
        if (diagonal) {
            const double *p = factors + j * d;
            for (i = 0; i < d; ++i) {
                const gm_vec ci = *(const gm_vec *)(c + i * GM_BLOCK);
                maha += p[i] * (ci * ci);
            }
        } else {
            const double *w = factors + j * d * d;
            for (a = 0; a < d; ++a) {
                const double *wa = w + a * d;
                gm_vec even = (gm_vec){0.0}, odd = (gm_vec){0.0};
                for (i = 0; i + 1 <= a; i += 2) {
                    even += wa[i] * *(const gm_vec *)(c + i * GM_BLOCK);
                    odd += wa[i + 1] * *(const gm_vec *)(c + (i + 1) * GM_BLOCK);
                }
                if (i <= a)
                    even += wa[i] * *(const gm_vec *)(c + i * GM_BLOCK);
                even += odd;
                maha += even * even;
            }
        }
        *(gm_vec *)(logits_t + j * GM_BLOCK) = consts[j] - 0.5 * maha;
    }
}

/*
 * Statistics of n rows of X about each component's own mean (the precise
 * path of gaussmix.em.estep: components so far apart, relative to their
 * spread, that moments about one shared point would lose their precision):
 *
 *   moments (k x n_phi) += sum_i w_i r_ij [q(x_i - mu_j), x_i - mu_j, 1],
 *
 * q = vech(c c^T) in numpy's triu order (diagonal: c * c), the responsibilities
 * r from the logits of gm_centred_logits (means: k x d; factors, consts as
 * there). With previous parameters (prev_*, else NULL) totals[2] gets
 * sum (r - r')^2. totals: [0] += sum w log p(x), [1] += sum w,
 * [2] += change, [3] += -sum w r ln r. resp_sq (k, or NULL) += sum w r^2.
 * Rows are read directly (no shift), so that x - mu_j is exact to rounding.
 * work holds GM_BLOCK (GM_CENTRED_SUB (3 d + k) + d + 3 k + 4) + GM_BLOCK k n_phi
 * doubles. Returns the number of rows whose logits were not usable (the caller
 * redoes the rows on its numpy path), or -1 for bad sizes.
 */
GM_CLONES
int64_t gm_centred_statistics(const void *X, int x_float32, int64_t n, int64_t d,
                              int64_t row_stride, const double *means, const double *factors,
                              const double *consts, const double *prev_means,
                              const double *prev_factors, const double *prev_consts,
                              const double *weights, int64_t k, int diagonal, double *moments,
                              double *resp_sq, double *totals, double *work)
{
    const int64_t q = diagonal ? d : d * (d + 1) / 2;
    const int64_t n_phi = q + d + 1;
    const int64_t super_rows = GM_BLOCK * GM_CENTRED_SUB;
    double *ys = work;                                  /* SUB x d x 8 */
    double *rs = ys + GM_CENTRED_SUB * d * GM_BLOCK;    /* SUB x k x 8: w r */
    double *cs = rs + GM_CENTRED_SUB * k * GM_BLOCK;    /* SUB x d x 8 */
    double *rc = cs + GM_CENTRED_SUB * d * GM_BLOCK;    /* SUB x d x 8 */
    double *c = rc + GM_CENTRED_SUB * d * GM_BLOCK;     /* d x 8 */
    double *logits = c + d * GM_BLOCK;                  /* k x 8 */
    double *prev = logits + k * GM_BLOCK;               /* k x 8 */
    double *sq_lanes = prev + k * GM_BLOCK;             /* k x 8 */
    double *log_norm = sq_lanes + k * GM_BLOCK;         /* 8 */
    double *log_norm_prev = log_norm + GM_BLOCK;        /* 8 */
    double *row_weight = log_norm_prev + GM_BLOCK;      /* 8 */
    double *lane_totals = row_weight + GM_BLOCK;        /* 8: entropy lanes */
    double *acc = lane_totals + GM_BLOCK;               /* k x n_phi x 8 */
    double log_lik = 0.0, weight_sum = 0.0, change = 0.0;
    int64_t start, lost = 0, j, b, i, a, s, f;

    if (n < 0 || d < 1 || k < 1 || row_stride < d)
        return -1;
    memset(sq_lanes, 0, sizeof(double) * (size_t)(k * GM_BLOCK));
    memset(lane_totals, 0, sizeof(double) * GM_BLOCK);
    memset(acc, 0, sizeof(double) * (size_t)(k * n_phi * GM_BLOCK));
    for (start = 0; start < n; start += super_rows) {
        const int64_t rows = n - start < super_rows ? n - start : super_rows;
        const int64_t n_sub = (rows + GM_BLOCK - 1) / GM_BLOCK;
        /* Responsibilities of every block of the super-block. */
        for (s = 0; s < n_sub; ++s) {
            const int64_t first = start + s * GM_BLOCK;
            const int64_t nb = n - first < GM_BLOCK ? n - first : GM_BLOCK;
            double *y = ys + s * d * GM_BLOCK, *r = rs + s * k * GM_BLOCK;
            double top[GM_BLOCK];
            for (b = 0; b < GM_BLOCK; ++b)
                for (i = 0; i < d; ++i) {
                    double v = 0.0;
                    if (b < nb)
                        v = x_float32 ? (double)((const float *)X)[(first + b) * row_stride + i]
                                      : ((const double *)X)[(first + b) * row_stride + i];
                    y[i * GM_BLOCK + b] = v;
                }
            gm_centred_logits(y, d, k, means, factors, consts, diagonal, c, logits);
            /* the clipped logits the softmax will use, for the entropy */
            for (b = 0; b < GM_BLOCK; ++b)
                top[b] = logits[b];
            for (j = 1; j < k; ++j)
                for (b = 0; b < GM_BLOCK; ++b) {
                    const double v = logits[j * GM_BLOCK + b];
                    top[b] = v > top[b] ? v : top[b];
                }
            memcpy(r, logits, sizeof(double) * (size_t)(k * GM_BLOCK));
            lost += gm_softmax_t(r, k, nb, log_norm, gm_wide());
            /* Lanes past the data hold zeros, whose logits may overflow to NaN
             * far out (|W mu| ~ 1e308): they must contribute exact zeros. */
            for (j = 0; j < k; ++j)
                for (b = nb; b < GM_BLOCK; ++b)
                    r[j * GM_BLOCK + b] = 0.0;
            for (b = 0; b < GM_BLOCK; ++b) {
                row_weight[b] = b >= nb ? 0.0 : weights != NULL ? weights[first + b] : 1.0;
                log_lik += row_weight[b] == 0.0 ? 0.0 : row_weight[b] * log_norm[b];
                weight_sum += row_weight[b];
            }
            if (prev_means != NULL) {
                gm_centred_logits(y, d, k, prev_means, prev_factors, prev_consts, diagonal, c,
                                  prev);
                gm_softmax_t(prev, k, nb, log_norm_prev, gm_wide());
                for (j = 0; j < k; ++j)
                    for (b = 0; b < nb; ++b) {
                        const double diff = r[j * GM_BLOCK + b] - prev[j * GM_BLOCK + b];
                        change += diff * diff;
                    }
            }
            {
                const gm_vec w = *(const gm_vec *)row_weight;
                const gm_vec floor_ = *(const gm_vec *)top + GM_EXP_FLOOR;
                gm_vec expected = (gm_vec){0.0};
                for (j = 0; j < k; ++j) {
                    gm_vec *rj = (gm_vec *)(r + j * GM_BLOCK);
                    const double *lj = logits + j * GM_BLOCK;
                    gm_vec clipped;
                    for (b = 0; b < GM_BLOCK; ++b)
                        clipped[b] = lj[b] > floor_[b] ? lj[b] : floor_[b];
                    expected += *rj * clipped;
                    if (resp_sq != NULL)
                        *(gm_vec *)(sq_lanes + j * GM_BLOCK) += w * (*rj * *rj);
                    *rj = w * *rj;
                }
                /* -sum_j r ln r = log p - sum_j r_j logit_j (sum_j r_j = 1) */
                for (b = 0; b < nb; ++b)
                    lane_totals[b] += row_weight[b] == 0.0
                                          ? 0.0
                                          : row_weight[b] * (log_norm[b] - expected[b]);
            }
        }
        /* Moments about each mean: one pass over a component's accumulators
         * per super-block. Rows past the data have weight 0. */
        for (j = 0; j < k; ++j) {
            const double *mu = means + j * d;
            double *aj = acc + j * n_phi * GM_BLOCK;
            gm_vec total = (gm_vec){0.0};
            for (s = 0; s < n_sub; ++s) {
                const gm_vec rj = *(const gm_vec *)(rs + (s * k + j) * GM_BLOCK);
                for (i = 0; i < d; ++i) {
                    const gm_vec ci =
                        *(const gm_vec *)(ys + (s * d + i) * GM_BLOCK) - mu[i];
                    *(gm_vec *)(cs + (s * d + i) * GM_BLOCK) = ci;
                    *(gm_vec *)(rc + (s * d + i) * GM_BLOCK) = rj * ci;
                }
                total += rj;
            }
            f = 0;
            for (a = 0; a < d; ++a) {
                const int64_t last = diagonal ? a : d - 1;
                int64_t bb;
                for (bb = a; bb <= last; ++bb, ++f) {
                    gm_vec sum = (gm_vec){0.0};
                    for (s = 0; s < n_sub; ++s)
                        sum += *(const gm_vec *)(rc + (s * d + a) * GM_BLOCK) *
                               *(const gm_vec *)(cs + (s * d + bb) * GM_BLOCK);
                    *(gm_vec *)(aj + f * GM_BLOCK) += sum;
                }
            }
            for (a = 0; a < d; ++a, ++f) {
                gm_vec sum = (gm_vec){0.0};
                for (s = 0; s < n_sub; ++s)
                    sum += *(const gm_vec *)(rc + (s * d + a) * GM_BLOCK);
                *(gm_vec *)(aj + f * GM_BLOCK) += sum;
            }
            *(gm_vec *)(aj + f * GM_BLOCK) += total;
        }
    }
    for (j = 0; j < k; ++j) {
        for (f = 0; f < n_phi; ++f) {
            const double *lanes = acc + (j * n_phi + f) * GM_BLOCK;
            double sum = 0.0;
            for (b = 0; b < GM_BLOCK; ++b)
                sum += lanes[b];
            moments[j * n_phi + f] += sum;
        }
        if (resp_sq != NULL)
            for (b = 0; b < GM_BLOCK; ++b)
                resp_sq[j] += sq_lanes[j * GM_BLOCK + b];
    }
    totals[0] += log_lik;
    totals[1] += weight_sum;
    totals[2] += change;
    for (b = 0; b < GM_BLOCK; ++b)
        totals[3] += lane_totals[b];
    return lost;
}

/* Posterior weights at or below the softmax's exp(-700) floor are zero in
 * exact arithmetic (as in gaussmix._gaussian.predict_conditional). */
#define GM_NEGLIGIBLE_WEIGHT 1e-300

/*
 * Gaussian mixture regression of m query rows, fused: for GM_BLOCK rows at a
 * time (the vector lanes) the quadratic features of y = x - shift, the logits
 * of the inputs' marginal mixture (theta_t: n_phi x kp, as for
 * gm_em_statistics), the softmax, then each row's mean and covariance by the
 * law of total covariance,
 *
 *   mean = sum_j w_j u_j,   cov = sum_j w_j (C_j + d_j d_j^T),   d_j = u_j - mean,
 *
 * u_j = A_j y + b_j from coef_t as in gm_predict_means ((k d_out) x (d_in + 1)),
 * C_j = cond_cov (k x d_out x d_out, symmetric). Any d_out.
 *
 * Precision: the component means are taken relative to the component of
 * largest weight in each row, e_j = u_j - u_r (e_r = 0 exactly, also when u_r
 * is huge), and d_j = e_j - sum_l w_l e_l, so that a row dominated by one
 * component far from the others (|u| ~ 1e150) keeps its small spread instead
 * of losing it in the rounding of the huge common part. Components of weight
 * 0 (below GM_NEGLIGIBLE_WEIGHT) are left out. cov is exactly symmetric.
 * Writes mean (m x d_out) and cov (m x d_out x d_out); X as in
 * gm_em_statistics (d = d_in columns). work holds
 * GM_BLOCK (n_phi + d_in + kp + 1 + k d_out + 2 d_out + 1) doubles. Returns the
 * number of rows whose logits overflowed (the caller redoes them on its numpy
 * path, which handles |x| beyond the square root of the largest double), or
 * -1 for bad sizes.
 */
GM_CLONES
int64_t gm_predict_moments(const void *X, int x_float32, int64_t m, int64_t d_in,
                           int64_t row_stride, const double *shift, const double *theta_t,
                           int64_t k, int64_t kp, const double *coef_t, const double *cond_cov,
                           int64_t d_out, double *mean, double *cov, double *work)
{
    const int64_t n_phi = d_in * (d_in + 1) / 2 + d_in + 1;
    const int64_t d_lin = d_in + 1;
    double *phi = work;
    double *y = phi + n_phi * GM_BLOCK;
    double *weights_t = y + d_in * GM_BLOCK; /* kp x GM_BLOCK: component-major */
    double *log_norm = weights_t + kp * GM_BLOCK;
    double *dev = log_norm + GM_BLOCK;        /* k x d_out x GM_BLOCK: u, then e, then d */
    double *ref_u = dev + k * d_out * GM_BLOCK; /* d_out x GM_BLOCK */
    double *mean_dev = ref_u + d_out * GM_BLOCK; /* d_out x GM_BLOCK */
    double *ref = mean_dev + d_out * GM_BLOCK;   /* GM_BLOCK: heaviest component */
    int64_t start, lost = 0;

    if (m < 0 || d_in < 1 || k < 1 || kp < k || kp % GM_TILE != 0 || row_stride < d_in ||
        d_out < 1)
        return -1;
    for (start = 0; start < m; start += GM_BLOCK) {
        const int64_t nb = m - start < GM_BLOCK ? m - start : GM_BLOCK;
        const void *rows = x_float32 ? (const void *)((const float *)X + start * row_stride)
                                     : (const void *)((const double *)X + start * row_stride);
        double top[GM_BLOCK];
        int64_t a, bb, b, i, j;
        gm_features(rows, x_float32, row_stride, nb, d_in, shift, phi, y, 0, gm_wide());
        gm_logits_t(phi, theta_t, n_phi, kp, weights_t);
        lost += gm_softmax_t(weights_t, k, nb, log_norm, gm_wide());
        for (j = 0; j < k; ++j)
            for (b = 0; b < GM_BLOCK; ++b) {
                const double w = weights_t[j * GM_BLOCK + b];
                weights_t[j * GM_BLOCK + b] = w < GM_NEGLIGIBLE_WEIGHT ? 0.0 : w;
            }
        /* u_ja for all components and outputs */
        for (j = 0; j < k; ++j)
            for (a = 0; a < d_out; ++a) {
                const double *c = coef_t + (j * d_out + a) * d_lin;
                gm_vec even = (gm_vec){0.0}, odd = (gm_vec){0.0};
                for (i = 0; i + 1 < d_in; i += 2) {
                    even += c[i] * *(const gm_vec *)(y + i * GM_BLOCK);
                    odd += c[i + 1] * *(const gm_vec *)(y + (i + 1) * GM_BLOCK);
                }
                if (i < d_in)
                    even += c[i] * *(const gm_vec *)(y + i * GM_BLOCK);
                *(gm_vec *)(dev + (j * d_out + a) * GM_BLOCK) = even + odd + c[d_in];
            }
        /* the heaviest component of each row (the first of equal weights) */
        for (b = 0; b < GM_BLOCK; ++b) {
            top[b] = weights_t[b];
            ref[b] = 0.0;
        }
        for (j = 1; j < k; ++j)
            for (b = 0; b < GM_BLOCK; ++b) {
                const double w = weights_t[j * GM_BLOCK + b];
                const int take = w > top[b];
                top[b] = take ? w : top[b];
                ref[b] = take ? (double)j : ref[b];
            }
        for (a = 0; a < d_out; ++a)
            for (b = 0; b < GM_BLOCK; ++b)
                ref_u[a * GM_BLOCK + b] = dev[(((int64_t)ref[b]) * d_out + a) * GM_BLOCK + b];
        /* e_j = u_j - u_r (exactly 0 for r), and sum_j w_j e_j */
        for (a = 0; a < d_out; ++a)
            for (b = 0; b < GM_BLOCK; ++b)
                mean_dev[a * GM_BLOCK + b] = 0.0;
        for (j = 0; j < k; ++j)
            for (a = 0; a < d_out; ++a) {
                double *e = dev + (j * d_out + a) * GM_BLOCK;
                const double *w = weights_t + j * GM_BLOCK;
                /* arithmetic first, then selects: conditional arithmetic
                 * would not be vectorized (it could trap) */
                for (b = 0; b < GM_BLOCK; ++b) {
                    const double diff = e[b] - ref_u[a * GM_BLOCK + b];
                    double term;
                    e[b] = ref[b] == (double)j ? 0.0 : diff;
                    term = w[b] * e[b];
                    mean_dev[a * GM_BLOCK + b] += w[b] == 0.0 ? 0.0 : term;
                }
            }
        for (a = 0; a < d_out; ++a)
            for (b = 0; b < nb; ++b)
                mean[(start + b) * d_out + a] =
                    ref_u[a * GM_BLOCK + b] + mean_dev[a * GM_BLOCK + b];
        /* d_j = e_j - mean_dev, then the covariance's upper triangle */
        for (j = 0; j < k; ++j)
            for (a = 0; a < d_out; ++a) {
                gm_vec *e = (gm_vec *)(dev + (j * d_out + a) * GM_BLOCK);
                *e -= *(const gm_vec *)(mean_dev + a * GM_BLOCK);
            }
        for (a = 0; a < d_out; ++a)
            for (bb = a; bb < d_out; ++bb) {
                gm_vec acc = (gm_vec){0.0};
                for (j = 0; j < k; ++j) {
                    const gm_vec da = *(const gm_vec *)(dev + (j * d_out + a) * GM_BLOCK);
                    const gm_vec db = *(const gm_vec *)(dev + (j * d_out + bb) * GM_BLOCK);
                    const gm_vec w = *(const gm_vec *)(weights_t + j * GM_BLOCK);
                    const double c = cond_cov[(j * d_out + a) * d_out + bb];
                    const gm_vec term = w * (c + da * db);
                    /* weight-0 components add exact zeros (their deviations may be huge) */
                    acc += (gm_vec)((gm_mask)term & (gm_mask)(w != 0.0));
                }
                for (b = 0; b < nb; ++b) {
                    double *out = cov + (start + b) * d_out * d_out;
                    out[a * d_out + bb] = out[bb * d_out + a] = acc[b];
                }
            }
    }
    return lost;
}

/*
 * Means of the conditional mixture p(y | x) of m query rows, fused:
 *
 *   mean_a = sum_j w_j (b_ja + sum_i A_jai y_i),   y = x - shift,
 *
 * with w the posterior component weights (features, logits and softmax as in
 * gm_predict_moments) and coef_t ((k d_out) x (d_in + 1)) holding row (j d_out + a)
 * = [A_ja1 .. A_ja,d_in, b_ja]: the regression coefficients of output a of
 * component j about the shifted inputs, offset last. Rows are the vector lanes
 * (GM_BLOCK = GM_TILE rows at a time), so every output dimension and component
 * costs d_in + 1 multiply-adds per row with no padding, whatever d_out is.
 * Writes mean (m x d_out). work holds GM_BLOCK (n_phi + d_in + kp + 1)
 * doubles. Returns the number of rows whose logits overflowed (the caller
 * redoes them on its numpy path), or -1 for bad sizes.
 */
GM_CLONES
int64_t gm_predict_means(const void *X, int x_float32, int64_t m, int64_t d_in,
                         int64_t row_stride, const double *shift, const double *theta_t,
                         int64_t k, int64_t kp, const double *coef_t, int64_t d_out,
                         double *mean, double *work)
{
    const int64_t n_phi = d_in * (d_in + 1) / 2 + d_in + 1;
    const int64_t d_lin = d_in + 1;
    double *phi = work;
    double *y = phi + n_phi * GM_BLOCK;
    double *weights_t = y + d_in * GM_BLOCK; /* kp x GM_BLOCK: component-major */
    double *log_norm = weights_t + kp * GM_BLOCK;
    int64_t start, lost = 0;

    if (m < 0 || d_in < 1 || k < 1 || kp < k || kp % GM_TILE != 0 || row_stride < d_in ||
        d_out < 1)
        return -1;
    for (start = 0; start < m; start += GM_BLOCK) {
        const int64_t nb = m - start < GM_BLOCK ? m - start : GM_BLOCK;
        const void *rows = x_float32 ? (const void *)((const float *)X + start * row_stride)
                                     : (const void *)((const double *)X + start * row_stride);
        int64_t a, b, i, j;
        gm_features(rows, x_float32, row_stride, nb, d_in, shift, phi, y, 0, gm_wide());
        gm_logits_t(phi, theta_t, n_phi, kp, weights_t);
        lost += gm_softmax_t(weights_t, k, nb, log_norm, gm_wide());
        for (j = 0; j < k; ++j)
            for (b = 0; b < GM_BLOCK; ++b) {
                const double w = weights_t[j * GM_BLOCK + b];
                weights_t[j * GM_BLOCK + b] = w < GM_NEGLIGIBLE_WEIGHT ? 0.0 : w;
            }
        for (a = 0; a < d_out; ++a) {
            gm_vec acc = (gm_vec){0.0};
            for (j = 0; j < k; ++j) {
                const double *c = coef_t + (j * d_out + a) * d_lin;
                gm_vec even = (gm_vec){0.0}, odd = (gm_vec){0.0};
                for (i = 0; i + 1 < d_in; i += 2) {
                    even += c[i] * *(const gm_vec *)(y + i * GM_BLOCK);
                    odd += c[i + 1] * *(const gm_vec *)(y + (i + 1) * GM_BLOCK);
                }
                if (i < d_in)
                    even += c[i] * *(const gm_vec *)(y + i * GM_BLOCK);
                acc += *(const gm_vec *)(weights_t + j * GM_BLOCK) * (even + odd + c[d_in]);
            }
            for (b = 0; b < nb; ++b)
                mean[(start + b) * d_out + a] = acc[b];
        }
    }
    return lost;
}

/* (L L^T)^-1 (c x c, symmetric, into out) of a lower Cholesky factor L (c x c,
 * row-major); M: c x c scratch, left holding L^-1. */
static void gm_inverse_from_cholesky(const double *L, int64_t c, double *M, double *out)
{
    int64_t i, j, t;
    for (i = 0; i < c; ++i) {
        const double inv_diag = 1.0 / L[i * c + i];
        M[i * c + i] = inv_diag;
        for (j = 0; j < i; ++j) {
            double v = 0.0;
            for (t = j; t < i; ++t)
                v += L[i * c + t] * M[t * c + j];
            M[i * c + j] = -v * inv_diag;
        }
    }
    for (i = 0; i < c; ++i)
        for (j = 0; j <= i; ++j) {
            double v = 0.0;
            for (t = i; t < c; ++t)
                v += M[t * c + i] * M[t * c + j];
            out[i * c + j] = out[j * c + i] = v;
        }
}

/*
 * Inverses and log-determinants of n small SPD matrices (n x c x c, row-major;
 * the missing-data E-step's P_mm blocks, one per pattern and component):
 * Cholesky A = L L^T with each pivot floored at tiny + 1e-15 |A_jj| (as
 * gaussmix._missing.spd_inverse: a principal block of a positive definite
 * precision is positive definite, the floor only guards rounding), then
 * A^-1 = L^-T L^-1. work holds 2 c c doubles. A C loop per matrix: the
 * numpy version's vectorized steps hold the GIL, this one does not.
 */
void gm_spd_inverse(const double *A, int64_t n, int64_t c, double *inverse, double *log_det,
                    double *work)
{
    double *L = work, *M = work + c * c; /* M = L^-1 */
    const double tiny = 2.2250738585072014e-308;
    int64_t m, i, j, t;
    for (m = 0; m < n; ++m) {
        const double *a = A + m * c * c;
        double ld = 0.0;
        for (j = 0; j < c; ++j) {
            double pivot = a[j * c + j], floor_;
            for (t = 0; t < j; ++t)
                pivot -= L[j * c + t] * L[j * c + t];
            floor_ = tiny + 1e-15 * fabs(a[j * c + j]);
            /* NaN stays NaN, as in the numpy version */
            pivot = sqrt(!(pivot <= floor_) ? pivot : floor_);
            L[j * c + j] = pivot;
            ld += 2.0 * log(pivot);
            for (i = j + 1; i < c; ++i) {
                double v = a[i * c + j];
                for (t = 0; t < j; ++t)
                    v -= L[i * c + t] * L[j * c + t];
                L[i * c + j] = v / pivot;
            }
        }
        gm_inverse_from_cholesky(L, c, M, inverse + m * c * c);
        log_det[m] = ld;
    }
}

/* Exposed for the tests of the exponential. */
GM_CLONES
void gm_log_array(const double *x, int64_t n, double *out)
{
    int64_t i;
    for (i = 0; i < n; ++i)
        out[i] = gm_log_positive(x[i]);
}

/* The softmax's exponential: gm_exp_nonpositive_vec where the wide forms run
 * (gm_wide), gm_exp_nonpositive elsewhere. */
GM_CLONES
void gm_exp_array(const double *x, int64_t n, double *out)
{
    int64_t i = 0;
    if (gm_wide()) {
        for (; i < n; i += GM_BLOCK) {
            gm_vec v = {0.0};
            const int64_t m = n - i < GM_BLOCK ? n - i : GM_BLOCK;
            memcpy(&v, x + i, sizeof(double) * (size_t)m);
            v = gm_exp_nonpositive_vec(v);
            memcpy(out + i, &v, sizeof(double) * (size_t)m);
        }
    }
    for (; i < n; ++i)
        out[i] = gm_exp_nonpositive(x[i]);
}

/*
 * k-means as scikit-learn's KMeans computes it (issue 27), so that the
 * estimators' default start gives the same labels without its cost. Rows are
 * centred on the fly, y = x - mean (scikit-learn subtracts the data's mean
 * before it clusters); every distance is written in scikit-learn's form and
 * order of operations:
 *
 *   Lloyd:      ||c_j||^2 + (-2 y.c_j), nearest = the first smallest;
 *   k-means++:  max((-2 y.c + ||c||^2) + ||y||^2, 0).
 *
 * Only the order of the sums in the dot products differs (scikit-learn uses
 * BLAS), which moves a label only for a row within rounding of two centres.
 * Eight rows at a time, one per vector lane, as in the EM kernel.
 */

/* yt[a * GM_BLOCK + b] = X[i0 + b, a] - mean[a] for the nb rows of a block;
 * the other lanes are zero. norm[b] = sum_a yt[a, b]^2. */
static inline void gm_kmeans_rows(const double *X, int64_t i0, int64_t nb, int64_t d,
                                  const double *mean, double *yt, double *norm)
{
    int64_t a, b;
    gm_vec sum = (gm_vec){0.0};
    if (nb == GM_BLOCK && d <= 16) {
        /* each column built in a register and stored whole (see gm_features:
         * scalar stores read back as a vector stall the load) */
        const double *x = X + i0 * d;
        for (a = 0; a < d; ++a) {
            const double *c = x + a;
            const gm_vec column = {c[0],     c[d],     c[2 * d], c[3 * d],
                                   c[4 * d], c[5 * d], c[6 * d], c[7 * d]};
            const gm_vec centred = column - mean[a];
            memcpy(yt + a * GM_BLOCK, &centred, sizeof centred);
        }
    } else {
        /* row by row (contiguous reads), each into its lane */
        for (b = 0; b < nb; ++b) {
            const double *x = X + (i0 + b) * d;
            for (a = 0; a < d; ++a)
                yt[a * GM_BLOCK + b] = x[a] - mean[a];
        }
        for (; b < GM_BLOCK; ++b)
            for (a = 0; a < d; ++a)
                yt[a * GM_BLOCK + b] = 0.0;
    }
    for (a = 0; a < d; ++a) {
        gm_vec column;
        memcpy(&column, yt + a * GM_BLOCK, sizeof column);
        sum += column * column;
    }
    memcpy(norm, &sum, sizeof sum);
}

/* Labels of n rows by their nearest centre; with sums != NULL also the
 * weighted sums of each centre's rows (y w) and weights. centres_t is the
 * (d, kp) transpose of the centres, padded with zero columns to kp, a
 * multiple of GM_TILE; norms has kp entries. Returns how many labels
 * changed. work holds GM_BLOCK (d + kp + 1) doubles. */
GM_CLONES
int64_t gm_kmeans_assign(const double *X, int64_t n, int64_t d, const double *mean,
                         const double *w, const double *centres_t, const double *norms,
                         int64_t k, int64_t kp, int32_t *labels, double *sums,
                         double *weight_sums, double *work)
{
    double *yt = work, *dots = work + GM_BLOCK * d, *norm = dots + GM_BLOCK * kp;
    double best_distance[GM_BLOCK];
    int32_t best[GM_BLOCK];
    int64_t i0, j, a, b, changed = 0;
    for (i0 = 0; i0 < n; i0 += GM_BLOCK) {
        const int64_t nb = n - i0 < GM_BLOCK ? n - i0 : GM_BLOCK;
        gm_kmeans_rows(X, i0, nb, d, mean, yt, norm);
        gm_logits_t(yt, centres_t, d, kp, dots);
        for (b = 0; b < GM_BLOCK; ++b) {
            best_distance[b] = norms[0] + -2.0 * dots[b];
            best[b] = 0;
        }
        for (j = 1; j < k; ++j)
            for (b = 0; b < GM_BLOCK; ++b) {
                const double distance = norms[j] + -2.0 * dots[j * GM_BLOCK + b];
                const int closer = distance < best_distance[b];
                best_distance[b] = closer ? distance : best_distance[b];
                best[b] = closer ? (int32_t)j : best[b];
            }
        for (b = 0; b < nb; ++b) {
            int32_t *label = labels + i0 + b;
            changed += *label != best[b];
            *label = best[b];
        }
        if (sums != NULL)
            for (b = 0; b < nb; ++b) {
                const double wi = w != NULL ? w[i0 + b] : 1.0;
                double *s = sums + (int64_t)best[b] * d;
                weight_sums[best[b]] += wi;
                for (a = 0; a < d; ++a)
                    s[a] += yt[a * GM_BLOCK + b] * wi;
            }
    }
    return changed;
}

/* k-means++ local trials: for each of the t candidate centres (cands_t: their
 * (d, tp) transpose about the mean, padded with zero columns to tp, a multiple
 * of GM_TILE), with squared norms cand_norms, adds the potential
 * sum_i w_i min(closest_i, dist(y_i, c)) over the n rows to pots[c].
 * work holds GM_BLOCK (d + 2 tp + 1) doubles. */
GM_CLONES
void gm_kmeans_trials(const double *X, int64_t n, int64_t d, const double *mean,
                      const double *w, const double *cands_t, const double *cand_norms,
                      int64_t t, int64_t tp, const double *closest, double *pots, double *work)
{
    double *yt = work, *dots = work + GM_BLOCK * d, *norm = dots + GM_BLOCK * tp;
    double *lane_pots = norm + GM_BLOCK; /* t x GM_BLOCK */
    int64_t i0, c, b;
    memset(lane_pots, 0, sizeof(double) * (size_t)(t * GM_BLOCK));
    for (i0 = 0; i0 < n; i0 += GM_BLOCK) {
        const int64_t nb = n - i0 < GM_BLOCK ? n - i0 : GM_BLOCK;
        gm_vec lane_w = (gm_vec){0.0}, near = (gm_vec){0.0}, row_norm;
        gm_kmeans_rows(X, i0, nb, d, mean, yt, norm);
        gm_logits_t(yt, cands_t, d, tp, dots);
        /* lanes filled in registers (scalar stores read back as vectors stall) */
        for (b = 0; b < nb; ++b) {
            lane_w[b] = w != NULL ? w[i0 + b] : 1.0;
            near[b] = closest[i0 + b];
        }
        memcpy(&row_norm, norm, sizeof row_norm);
        for (c = 0; c < t; ++c) {
            gm_vec dot, distance, sum;
            memcpy(&dot, dots + c * GM_BLOCK, sizeof dot);
            distance = (-2.0 * dot + cand_norms[c]) + row_norm;
            for (b = 0; b < GM_BLOCK; ++b) {
                const double dist = distance[b] > 0.0 ? distance[b] : 0.0;
                distance[b] = near[b] < dist ? near[b] : dist;
            }
            /* summed in lanes across blocks (a sum over the block's lanes
             * made one chain of dependent additions per row) */
            memcpy(&sum, lane_pots + c * GM_BLOCK, sizeof sum);
            sum += lane_w * distance;
            memcpy(lane_pots + c * GM_BLOCK, &sum, sizeof sum);
        }
    }
    for (c = 0; c < t; ++c)
        for (b = 0; b < GM_BLOCK; ++b)
            pots[c] += lane_pots[c * GM_BLOCK + b];
}

/* One sequential pass of k-means++: with centre != NULL, closest_i becomes
 * min(closest_i, dist(y_i, centre)); then the running sum of w_i closest_i
 * (numpy's cumsum, in the same order) is searched for the t sorted targets:
 * found[s] = the first row whose running sum reaches targets[s] (numpy's
 * searchsorted, side "left"), n where none does. Returns the total; with a
 * centre, adds sum_i ||y_i||^2 to *norm_sum (unless NULL). work holds
 * GM_BLOCK (d + 1) doubles. */
GM_CLONES
double gm_kmeans_take(const double *X, int64_t n, int64_t d, const double *mean,
                      const double *w, const double *centre, double centre_norm,
                      double *closest, const double *targets, int64_t t, int64_t *found,
                      double *norm_sum, double *work)
{
    double *yt = work, *norm = work + GM_BLOCK * d, running = 0.0;
    int64_t i0, a, b, i = 0, s = 0;
    if (centre != NULL) {
        gm_vec norms = (gm_vec){0.0};
        for (i0 = 0; i0 < n; i0 += GM_BLOCK) {
            const int64_t nb = n - i0 < GM_BLOCK ? n - i0 : GM_BLOCK;
            gm_vec dot = (gm_vec){0.0}, near, distance, column;
            gm_kmeans_rows(X, i0, nb, d, mean, yt, norm);
            for (a = 0; a < d; ++a) {
                memcpy(&column, yt + a * GM_BLOCK, sizeof column);
                dot += column * centre[a];
            }
            memcpy(&near, norm, sizeof near);
            norms += near; /* padded lanes hold zeros */
            distance = (-2.0 * dot + centre_norm) + near;
            for (b = 0; b < nb; ++b) {
                const double dist = distance[b] > 0.0 ? distance[b] : 0.0;
                closest[i0 + b] = closest[i0 + b] < dist ? closest[i0 + b] : dist;
            }
        }
        if (norm_sum != NULL)
            for (b = 0; b < GM_BLOCK; ++b)
                *norm_sum += norms[b];
    }
    /* The running sum, in numpy's cumsum order, one row at a time: searched
     * while targets remain, then summed alone (a loop that also tests the
     * spent targets ran 7x slower in the AVX-512 clone). */
    if (w == NULL) {
        for (; i < n && s < t; ++i) {
            running += closest[i];
            while (s < t && running >= targets[s])
                found[s++] = i;
        }
        for (; i < n; ++i)
            running += closest[i];
    } else {
        for (; i < n && s < t; ++i) {
            running += w[i] * closest[i];
            while (s < t && running >= targets[s])
                found[s++] = i;
        }
        for (; i < n; ++i)
            running += w[i] * closest[i];
    }
    while (s < t)
        found[s++] = n;
    return running;
}

/* Moments of hard labels (issue 27: the statistics of a k-means start): for
 * each row, y = x - centres[label] and moments[label] += w [vech(y y^T) or
 * y * y when diagonal, y, 1], the layout of gaussmix.em.stats.Statistics.
 * Rows are read once; nothing per row is stored. work holds d doubles. */
GM_CLONES
void gm_label_moments(const double *X, int64_t n, int64_t d, const int32_t *labels,
                      const double *centres, const double *w, int diagonal, double *moments,
                      double *work)
{
    const int64_t n_quad = diagonal ? d : d * (d + 1) / 2;
    const int64_t n_phi = n_quad + d + 1;
    double *y = work;
    int64_t i, a, b;
    for (i = 0; i < n; ++i) {
        const double *x = X + i * d, *c = centres + (int64_t)labels[i] * d;
        const double wi = w != NULL ? w[i] : 1.0;
        double *m = moments + (int64_t)labels[i] * n_phi, *q = m;
        for (a = 0; a < d; ++a)
            y[a] = x[a] - c[a];
        if (diagonal) {
            for (a = 0; a < d; ++a)
                q[a] += wi * y[a] * y[a];
        } else {
            for (a = 0; a < d; ++a) {
                const double wy = wi * y[a];
                for (b = a; b < d; ++b)
                    *q++ += wy * y[b];
            }
        }
        for (a = 0; a < d; ++a)
            m[n_quad + a] += wi * y[a];
        m[n_phi - 1] += wi;
    }
}

static struct PyModuleDef gm_module = {
    PyModuleDef_HEAD_INIT, "_fused",
    "Compiled EM kernels of gaussmix; called through ctypes (see gaussmix.kernels.compiled).", -1,
    NULL, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__fused(void)
{
    return PyModule_Create(&gm_module);
}

/*
 * Expected EM statistics of rows that each miss c entries (issue 14), blocks of
 * GM_MISSING_BLOCK rows, all k components, in the precision form of
 * gaussmix._missing.PrecisionForm: with y0 = x - shift (zeros where missing),
 * u = P_j y0, g = u_m - (P_j c_j)_m and h = P_mm^-1 g (the row's pattern's
 * inverse, from the caller),
 *
 *   logit_j = const_j - (y0.u - 2 y0.(P_j c_j) - g.h + log|P_mm|) / 2,
 *   x_hat_m - shift_m = -h,   Cov[x_m | x_o, j] = P_mm^-1,
 *
 * const_j = log prior_j - ((d - c) ln 2pi + log|Sigma_j| + c_j.P_j c_j) / 2.
 * The moments are those of gaussmix.em.estep.missing_unit_statistics (about
 * the shift, vech or diagonal layout), plus sum r^2, sum w log p, sum w and
 * -sum w r ln r in totals[0..2]. Returns the number of rows whose logits or
 * conditional means were not finite (they are left out; the caller then
 * redoes the block on its numpy path), or -1 for bad sizes (more than
 * GM_MISSING_MAX_C missing entries included). prec is
 * (k, d, dp): each row padded with zeros to dp = d rounded up to GM_TILE.
 */
/* Rows of gm_missing_statistics handled together: each component's
 * second-moment accumulator is then read once per block instead of once per
 * row. */
#define GM_MISSING_BLOCK 64
/* Most missing entries per row the lanes form of the logits keeps in registers;
 * the caller sends rows missing more to its numpy path. */
#define GM_MISSING_MAX_C 16

GM_CLONES
int64_t gm_missing_statistics(const double *X, int64_t n, int64_t d, int64_t row_stride,
                              const int64_t *missing, int64_t c, const int64_t *pattern,
                              const double *inverses, const double *log_dets,
                              const double *shift, const double *prec,
                              const double *prec_centred, const double *consts,
                              const double *weights, int64_t k, int diagonal,
                              double *moments, double *resp_sq, double *totals, double *work)
{
    const int64_t B = GM_MISSING_BLOCK;
    const int64_t n_quad = diagonal ? d : d * (d + 1) / 2;
    const int64_t n_phi = n_quad + d + 1;
    const int64_t cw = c > 0 ? c : 1;
    const int64_t dp = (d + GM_TILE - 1) / GM_TILE * GM_TILE;
    double *restrict y = work;                /* B * d */
    double *restrict h = y + B * d;           /* B * k * cw */
    double *restrict logits = h + B * k * cw; /* B * k, then the responsibilities */
    double *restrict wrow = logits + B * k;   /* B: w_i, 0 for rows left out */
    double *restrict Y = wrow + B;            /* B * dp: completed rows of one component */
    double *restrict WY = Y + B * dp;         /* B * dp: the same times w_i r_ij */
    double *restrict dense = WY + B * dp;     /* k * d * dp full second moments */
    double *restrict expo = dense + k * d * dp; /* k: one row's exponentials */
    /* The logits take the components in the vector lanes (kp of them, zero
     * parameters past k): quad = y0' P_j y0 from the row's products y_a y_b
     * (a <= b) against Q_j (P_j, off-diagonal entries doubled), and only the
     * c rows of P_j y0 that g needs. Layouts (entry, lane), made once per call. */
    const int64_t kp = (k + GM_TILE - 1) / GM_TILE * GM_TILE;
    const int64_t n_pairs = d * (d + 1) / 2;
    double *restrict Ql = expo + k;            /* n_pairs * kp */
    double *restrict Pl = Ql + n_pairs * kp;   /* d * d * kp */
    double *restrict Pcl = Pl + d * d * kp;    /* d * kp */
    double *restrict cl = Pcl + d * kp;        /* kp */
    double *restrict Al = cl + kp;             /* cw * cw * kp: the row's P_mm^-1 */
    double *restrict ldl = Al + cw * cw * kp;  /* kp: the row's log|P_mm| */
    double *restrict pairs = ldl + kp;         /* n_pairs: y_a y_b */
    double *restrict hl = pairs + n_pairs;     /* cw * GM_TILE: h of one tile */
    double *restrict ll = hl + cw * GM_TILE;   /* GM_TILE: logits of one tile */
    double log_lik = 0.0, weight_sum = 0.0, entropy = 0.0;
    int64_t start, i, j, a, b, t, v, lost = 0, cached = -1;

    if (n < 0 || d < 1 || k < 1 || c < 0 || c >= d || c > GM_MISSING_MAX_C || row_stride < d)
        return -1;
    for (j = 0; j < kp; ++j) {
        int64_t q = 0;
        for (a = 0; a < d; ++a) {
            for (b = a; b < d; ++b, ++q)
                Ql[q * kp + j] = j < k ? prec[j * d * dp + a * dp + b] * (a == b ? 1.0 : 2.0) : 0.0;
            for (b = 0; b < d; ++b)
                Pl[(a * d + b) * kp + j] = j < k ? prec[j * d * dp + a * dp + b] : 0.0;
            Pcl[a * kp + j] = j < k ? prec_centred[j * d + a] : 0.0;
        }
        cl[j] = j < k ? consts[j] : 0.0;
    }
    for (start = 0; start < n; start += B) {
        const int64_t nb = n - start < B ? n - start : B;
        for (i = 0; i < nb; ++i) {
            const double *xi = X + (start + i) * row_stride;
            const int64_t *mi = missing + (start + i) * c;
            double *yi = y + i * d;
            for (a = 0; a < d; ++a)
                yi[a] = xi[a] - shift[a];
            for (t = 0; t < c; ++t)
                yi[mi[t]] = 0.0;
        }
        /* logits: row by row, GM_TILE components at a time in the lanes */
        for (i = 0; i < nb; ++i) {
            const double *yi = y + i * d;
            const int64_t *mi = missing + (start + i) * c;
            const int64_t p = pattern[start + i];
            int64_t q = 0, j0;
            for (a = 0; a < d; ++a)
                for (b = a; b < d; ++b, ++q)
                    pairs[q] = yi[a] * yi[b];
            if (p != cached) { /* rows come sorted by pattern */
                for (j = 0; j < kp; ++j) {
                    for (t = 0; t < c * c; ++t)
                        Al[t * kp + j] = j < k ? inverses[(p * k + j) * c * c + t] : 0.0;
                    ldl[j] = j < k ? log_dets[p * k + j] : 0.0;
                }
                cached = p;
            }
            for (j0 = 0; j0 < kp; j0 += GM_TILE) {
                gm_vec q0 = {0.0}, q1 = {0.0}, q2 = {0.0}, q3 = {0.0}, lin = {0.0}, gh = {0.0};
                gm_vec g[GM_MISSING_MAX_C], hv, logit, tmp;
                for (q = 0; q + 4 <= n_pairs; q += 4) {
                    gm_vec w0, w1, w2, w3;
                    memcpy(&w0, Ql + q * kp + j0, sizeof w0);
                    memcpy(&w1, Ql + (q + 1) * kp + j0, sizeof w1);
                    memcpy(&w2, Ql + (q + 2) * kp + j0, sizeof w2);
                    memcpy(&w3, Ql + (q + 3) * kp + j0, sizeof w3);
                    q0 += pairs[q] * w0;
                    q1 += pairs[q + 1] * w1;
                    q2 += pairs[q + 2] * w2;
                    q3 += pairs[q + 3] * w3;
                }
                for (; q < n_pairs; ++q) {
                    memcpy(&tmp, Ql + q * kp + j0, sizeof tmp);
                    q0 += pairs[q] * tmp;
                }
                for (a = 0; a < d; ++a) {
                    memcpy(&tmp, Pcl + a * kp + j0, sizeof tmp);
                    lin += yi[a] * tmp;
                }
                for (t = 0; t < c; ++t) {
                    gm_vec acc0 = {0.0}, acc1 = {0.0};
                    const double *row = Pl + mi[t] * d * kp + j0;
                    for (b = 0; b + 1 < d; b += 2) {
                        gm_vec r0, r1;
                        memcpy(&r0, row + b * kp, sizeof r0);
                        memcpy(&r1, row + (b + 1) * kp, sizeof r1);
                        acc0 += yi[b] * r0;
                        acc1 += yi[b + 1] * r1;
                    }
                    if (b < d) {
                        memcpy(&tmp, row + b * kp, sizeof tmp);
                        acc0 += yi[b] * tmp;
                    }
                    memcpy(&tmp, Pcl + mi[t] * kp + j0, sizeof tmp);
                    g[t] = acc0 + acc1 - tmp;
                }
                for (t = 0; t < c; ++t) {
                    gm_vec sum = {0.0};
                    for (v = 0; v < c; ++v) {
                        memcpy(&tmp, Al + (t * c + v) * kp + j0, sizeof tmp);
                        sum += tmp * g[v];
                    }
                    gh += g[t] * sum;
                    memcpy(hl + t * GM_TILE, &sum, sizeof sum);
                }
                memcpy(&hv, ldl + j0, sizeof hv);
                memcpy(&tmp, cl + j0, sizeof tmp);
                logit = tmp - 0.5 * (((q0 + q1) + (q2 + q3)) - 2.0 * lin - gh + hv);
                memcpy(ll, &logit, sizeof logit);
                for (j = j0; j < k && j < j0 + GM_TILE; ++j) {
                    logits[i * k + j] = ll[j - j0];
                    for (t = 0; t < c; ++t)
                        h[(i * k + j) * cw + t] = hl[t * GM_TILE + (j - j0)];
                }
            }
        }
        /* softmax, likelihood, entropy per row */
        for (i = 0; i < nb; ++i) {
            double *li = logits + i * k;
            const double w = weights != NULL ? weights[start + i] : 1.0;
            double top = -INFINITY, total = 0.0, log_total;
            int finite = 1;
            for (j = 0; j < k; ++j)
                if (li[j] > top)
                    top = li[j];
            for (j = 0; j < k * cw; ++j)
                if (!isfinite(h[i * k * cw + j]))
                    finite = 0;
            if (!isfinite(top) || !finite) {
                ++lost;
                wrow[i] = 0.0;
                for (j = 0; j < k; ++j)
                    li[j] = 0.0;
                continue;
            }
            /* the kernel's vectorizable exponential (shifted logits are <= 0),
             * once per component: r = e / total, ln r = logit - ln total */
            for (j = 0; j < k; ++j) {
                li[j] -= top;
                /* below the floor (a zero prior's -inf included) exactly 0, as
                 * libm's exp underflows, rather than the floor's exp */
                expo[j] = li[j] > GM_EXP_FLOOR ? gm_exp_nonpositive(li[j]) : 0.0;
            }
            for (j = 0; j < k; ++j)
                total += expo[j];
            log_total = gm_log_positive(total);
            log_lik += w * (top + log_total);
            weight_sum += w;
            wrow[i] = w;
            for (j = 0; j < k; ++j) {
                const double log_r = li[j] - log_total;
                const double r = expo[j] / total;
                if (r > 0.0)
                    entropy -= w * r * log_r;
                if (resp_sq != NULL)
                    resp_sq[j] += w * r * r;
                li[j] = r;
            }
        }
        /* moments: component by component over the block's rows; the second
         * moments as a small GEMM (d x nb) (nb x dp) with register accumulators */
        for (j = 0; j < k; ++j) {
            double *M = moments + j * n_phi;
            double *restrict Dj = dense + j * d * dp;
            for (i = 0; i < nb; ++i) {
                const double wr = wrow[i] * logits[i * k + j];
                const double *yi = y + i * d;
                const int64_t *mi = missing + (start + i) * c;
                const int64_t p = pattern[start + i];
                const double *Ainv = inverses + (p * k + j) * c * c;
                const double *hij = h + (i * k + j) * cw;
                double *restrict Yi = Y + i * dp, *restrict WYi = WY + i * dp;
                for (a = 0; a < d; ++a)
                    Yi[a] = yi[a];
                for (a = d; a < dp; ++a)
                    Yi[a] = 0.0;
                for (t = 0; t < c; ++t)
                    Yi[mi[t]] = -hij[t];
                for (a = 0; a < dp; ++a)
                    WYi[a] = wr * Yi[a];
                if (wr == 0.0)
                    continue;
                if (diagonal) {
                    for (a = 0; a < d; ++a)
                        M[a] += WYi[a] * Yi[a];
                    for (t = 0; t < c; ++t)
                        M[mi[t]] += wr * Ainv[t * c + t];
                } else {
                    for (t = 0; t < c; ++t)
                        for (v = 0; v < c; ++v)
                            Dj[mi[t] * dp + mi[v]] += wr * Ainv[t * c + v];
                }
                for (a = 0; a < d; ++a)
                    M[n_quad + a] += WYi[a];
                M[n_phi - 1] += wr;
            }
            if (!diagonal) {
                int64_t a0;
                /* four output rows at a time: four independent FMA chains */
                for (a = 0; a + 4 <= d; a += 4)
                    for (a0 = 0; a0 < dp; a0 += GM_TILE) {
                        gm_vec acc0, acc1, acc2, acc3;
                        memcpy(&acc0, Dj + a * dp + a0, sizeof acc0);
                        memcpy(&acc1, Dj + (a + 1) * dp + a0, sizeof acc1);
                        memcpy(&acc2, Dj + (a + 2) * dp + a0, sizeof acc2);
                        memcpy(&acc3, Dj + (a + 3) * dp + a0, sizeof acc3);
                        for (i = 0; i < nb; ++i) {
                            const double *wy = WY + i * dp + a;
                            gm_vec row;
                            memcpy(&row, Y + i * dp + a0, sizeof row);
                            acc0 += wy[0] * row;
                            acc1 += wy[1] * row;
                            acc2 += wy[2] * row;
                            acc3 += wy[3] * row;
                        }
                        memcpy(Dj + a * dp + a0, &acc0, sizeof acc0);
                        memcpy(Dj + (a + 1) * dp + a0, &acc1, sizeof acc1);
                        memcpy(Dj + (a + 2) * dp + a0, &acc2, sizeof acc2);
                        memcpy(Dj + (a + 3) * dp + a0, &acc3, sizeof acc3);
                    }
                for (; a < d; ++a)
                    for (a0 = 0; a0 < dp; a0 += GM_TILE) {
                        gm_vec acc;
                        memcpy(&acc, Dj + a * dp + a0, sizeof acc);
                        for (i = 0; i < nb; ++i) {
                            gm_vec row;
                            memcpy(&row, Y + i * dp + a0, sizeof row);
                            acc += WY[i * dp + a] * row;
                        }
                        memcpy(Dj + a * dp + a0, &acc, sizeof acc);
                    }
            }
        }
    }
    if (!diagonal)
        for (j = 0; j < k; ++j) {
            double *M = moments + j * n_phi;
            const double *Dj = dense + j * d * dp;
            int64_t f = 0;
            for (a = 0; a < d; ++a)
                for (b = a; b < d; ++b)
                    M[f++] += Dj[a * dp + b];
        }
    totals[0] += log_lik;
    totals[1] += weight_sum;
    totals[2] += entropy;
    return lost;
}

/*
 * Extreme deconvolution (issue 23): the E-step of rows measured with known
 * Gaussian noise of covariance S_i (gaussmix.em.noisy, gaussmix._deconvolution).
 * For row i and component j (mean mu_j, deconvolved covariance V_j) with
 * T = V_j + S_i, T = L D L^T (unit lower L), v = L^-1 (x_i - mu_j) and
 * u = T^-1 (x_i - mu_j):
 *
 *   logit_ij = log pi_j - (d ln 2pi + log|T| + v.D^-1 v) / 2,
 *   b_ij - mu_j = V_j u,   B_ij = V_j - V_j T^-1 V_j,
 *
 * so that the M-step's sums about each mean are
 *
 *   sum_i w r (b - mu)               = V_j U_j,           U_j = sum_i w r u,
 *   sum_i w r (B + (b-mu)(b-mu)^T)   = N_j V_j - V_j M_j V_j,
 *                                      M_j = sum_i w r (T^-1 - u u^T).
 *
 * The kernel accumulates M_j (packed, upper triangle row by row as
 * numpy.triu_indices), U_j and N_j = sum_i w r: nothing per row and component
 * is kept beyond one block. The caller multiplies by V_j. Rows are the vector
 * lanes (GM_BLOCK = 8 rows: one AVX-512 register), so the k small
 * factorizations of a block run as element-wise operations on 8 matrices at
 * once; the softmax is gm_softmax_t's (same clipping as the EM kernel).
 * LDL^T needs one division per column and no square root, and log|T| is
 * summed as exponents and mantissas (exact bit operations), so that one
 * logarithm per row and component remains.
 */

/* Columns between renormalizations of the mantissa product (each factor is
 * in [1, 2), so 2^GM_XD_RENORM stays finite). */
#define GM_XD_RENORM 512

/*
 * log|T| of a factorization from its pivots, by their bits: the exponent
 * fields are summed as integers and the mantissas (in [1, 2)) multiplied,
 * renormalized every GM_XD_RENORM pivots. The same bits flag the lanes: a
 * pivot with the sign bit set sets it in *signs (pivot < 0), one whose
 * exponent field is 0 (zero, subnormal) or 2047 (inf, NaN) sets bits above
 * 0x7ff in *flags ((field + 1) | (field - 1)). Integer vector operations
 * only (comparisons of 512-bit vectors would be split lane by lane).
 */
typedef struct {
    gm_mask field_sum;
    gm_vec mant;
} gm_xd_det;

/* The scratch of one component's factorization for d <= GM_XD_SMALL, kept in
 * local arrays: with d a constant (one instance per d) the loops unroll and
 * the arrays can live in registers. */
#define GM_XD_SMALL 8
#define GM_XD_SMALL_Q (GM_XD_SMALL * (GM_XD_SMALL + 1) / 2)
#define GM_XD_INLINE GM_INLINE
/* Loops of the factorization unrolled completely when d is a constant. */
#if defined(__GNUC__) && !defined(__clang__)
#define GM_XD_UNROLL _Pragma("GCC unroll 8")
#else
#define GM_XD_UNROLL
#endif

GM_XD_INLINE void gm_xd_pivot(gm_xd_det *det, gm_vec t, int64_t c, gm_mask *signs,
                              gm_mask *flags)
{
    const int64_t mantissa = 0x000fffffffffffff, one = 0x3ff0000000000000;
    const gm_mask bits = (gm_mask)t;
    const gm_mask field = (bits >> 52) & 0x7ff;
    *signs |= bits;
    *flags |= (field + 1) | (field - 1);
    det->field_sum += field;
    det->mant *= (gm_vec)((bits & mantissa) | one);
    if (c % GM_XD_RENORM == GM_XD_RENORM - 1) {
        const gm_mask mbits = (gm_mask)det->mant;
        det->field_sum += ((mbits >> 52) & 0x7ff) - 1023;
        det->mant = (gm_vec)((mbits & mantissa) | one);
    }
}

/*
 * log|T| = log(mantissa product) + (sum of exponent fields - 1023 d) ln 2,
 * the logarithm as gm_log_positive's (x = 2^e m with m in [sqrt(1/2),
 * sqrt(2)), 2 atanh((m - 1) / (m + 1)) by its series to s^23), written on
 * whole vectors: the reduction of m by integer operations (adding
 * 1 - sqrt(1/2) to the bits carries into the exponent exactly when m >=
 * sqrt(2)), so nothing is split lane by lane.
 */
GM_XD_INLINE gm_vec gm_xd_log_det(const gm_xd_det *det, int64_t d)
{
    const double ln2_hi = 0.6931471803691238; /* as gm_log_positive */
    const double ln2_lo = 1.9082149292705877e-10;
    const int64_t shift = 0x3ff0000000000000 - 0x3fe6a09e667f3bcd;
    const gm_mask bits = (gm_mask)det->mant + shift;
    /* exponent of the reduced mantissa product plus the pivots' fields, less
     * the biases; as a double by the 2^52 trick (the sum is below 2^51) */
    const gm_mask total = ((bits >> 52) & 0x7ff) + det->field_sum - 1023 * (d + 1);
    const gm_vec e = (gm_vec)((total + ((int64_t)1 << 51)) | 0x4330000000000000) -
                     6755399441055744.0; /* 2^52 + 2^51 */
    const gm_vec m = (gm_vec)((bits & 0x000fffffffffffff) + 0x3fe6a09e667f3bcd);
    const gm_vec s = (m - 1.0) / (m + 1.0), s2 = s * s;
    gm_vec p = (gm_vec){0.0} + 1.0 / 23.0;
    GM_LOG_SERIES(p, s2);
    return e * ln2_hi + (2.0 * s + (2.0 * s * p + e * ln2_lo));
}

/*
 * One component for the 8 rows of a block. xl: d lanes of x; sl: the noise,
 * q = d(d+1)/2 lanes (lower triangle packed row by row, index r(r+1)/2 + c)
 * when variances == 0, else d lanes of variances; V: the component's lower
 * triangle packed the same way. Writes the logits (without log pi_j) to
 * *logit and, when out is not NULL, T^-1 - u u^T (q lanes, upper triangle
 * row by row) then u (d lanes) to out. Scratch: L (q), H (q), inv (d),
 * wrow (d), v (d). The pivots' bits flag lanes in *signs_out and *flags_out
 * (gm_xd_pivot).
 */
GM_XD_INLINE void gm_xd_component(const gm_vec *xl, const gm_vec *sl, int variances,
                                  const int64_t d, const double *mu, const double *V,
                                  gm_vec *L, gm_vec *H, gm_vec *inv, gm_vec *wrow, gm_vec *v,
                                  gm_vec *logit, gm_vec *out, gm_mask *signs_out,
                                  gm_mask *flags_out)
{
    const double log_2pi = 1.8378770664093453;
    gm_xd_det det = {(gm_mask){0}, (gm_vec){0.0} + 1.0};
    gm_vec quad = (gm_vec){0.0};
    gm_mask signs = *signs_out, flags = *flags_out;
    int64_t r, c, q, b;
    GM_XD_UNROLL
    for (c = 0; c < d; ++c) {
        const int64_t cc = c * (c + 1) / 2;
        gm_vec t = V[cc + c] + (variances ? sl[c] : sl[cc + c]);
        GM_XD_UNROLL
        for (q = 0; q < c; ++q) {
            wrow[q] = L[cc + q] * L[q * (q + 1) / 2 + q];
            t -= L[cc + q] * wrow[q];
        }
        gm_xd_pivot(&det, t, c, &signs, &flags);
        L[cc + c] = t;
        inv[c] = 1.0 / t;
        GM_XD_UNROLL
        for (r = c + 1; r < d; ++r) {
            const int64_t rr = r * (r + 1) / 2;
            const double vrc = V[rr + c]; /* a broadcast, not 0.0 + V in scalar */
            gm_vec s = variances ? (gm_vec){vrc, vrc, vrc, vrc, vrc, vrc, vrc, vrc}
                                 : vrc + sl[rr + c];
            GM_XD_UNROLL
            for (q = 0; q < c; ++q)
                s -= L[rr + q] * wrow[q];
            L[rr + c] = s * inv[c];
        }
    }
    *signs_out = signs;
    *flags_out = flags;
    /* v = L^-1 (x - mu), quad = v' D^-1 v */
    GM_XD_UNROLL
    for (r = 0; r < d; ++r) {
        const int64_t rr = r * (r + 1) / 2;
        gm_vec a = xl[r] - mu[r];
        GM_XD_UNROLL
        for (c = 0; c < r; ++c)
            a -= L[rr + c] * v[c];
        v[r] = a;
        quad += a * a * inv[r];
    }
    *logit = -0.5 * ((gm_vec){0.0} + (double)d * log_2pi + gm_xd_log_det(&det, d) + quad);
    if (out == NULL)
        return;
    {
        gm_vec *u = out + d * (d + 1) / 2;
        int64_t a, f = 0;
        /* u = L^-T D^-1 v */
        GM_XD_UNROLL
        for (r = d - 1; r >= 0; --r) {
            gm_vec s = v[r] * inv[r];
            GM_XD_UNROLL
            for (c = r + 1; c < d; ++c)
                s -= L[c * (c + 1) / 2 + r] * u[c];
            u[r] = s;
        }
        /* H = G = L^-1 (unit lower), row by row:
         * G[r][c] = -L[r][c] - sum_{c<q<r} L[r][q] G[q][c]. */
        GM_XD_UNROLL
        for (r = 0; r < d; ++r) {
            const int64_t rr = r * (r + 1) / 2;
            GM_XD_UNROLL
            for (c = 0; c < r; ++c) {
                gm_vec s = -L[rr + c];
                GM_XD_UNROLL
                for (q = c + 1; q < r; ++q)
                    s -= L[rr + q] * H[q * (q + 1) / 2 + c];
                H[rr + c] = s;
            }
            H[rr + r] = (gm_vec){0.0} + 1.0;
        }
        /* T^-1[a][b] = sum_{q >= b} G[q][a] G[q][b] / D_q, a <= b. */
        GM_XD_UNROLL
        for (q = 0; q < d; ++q) {
            const int64_t qq = q * (q + 1) / 2;
            GM_XD_UNROLL
            for (c = 0; c <= q; ++c)
                L[qq + c] = H[qq + c] * inv[q]; /* L is not needed any more: D^-1 G */
        }
        GM_XD_UNROLL
        for (a = 0; a < d; ++a)
            GM_XD_UNROLL
            for (b = a; b < d; ++b, ++f) {
                gm_vec s = (gm_vec){0.0};
                GM_XD_UNROLL
                for (q = b; q < d; ++q)
                    s += L[q * (q + 1) / 2 + a] * H[q * (q + 1) / 2 + b];
                out[f] = s - u[a] * u[b];
            }
    }
}

/* The element-wise form: diagonal noise (variances) and diagonal V (its
 * diagonal d values): T^-1 - u u^T is diagonal (d lanes in out, then u). */
GM_XD_INLINE void gm_xd_component_diagonal(const gm_vec *xl, const gm_vec *sl, const int64_t d,
                                           const double *mu, const double *V, gm_vec *logit,
                                           gm_vec *out, gm_mask *signs_out,
                                           gm_mask *flags_out)
{
    const double log_2pi = 1.8378770664093453;
    gm_xd_det det = {(gm_mask){0}, (gm_vec){0.0} + 1.0};
    gm_vec quad = (gm_vec){0.0};
    gm_mask signs = *signs_out, flags = *flags_out;
    int64_t a;
    GM_XD_UNROLL
    for (a = 0; a < d; ++a) {
        const gm_vec t = V[a] + sl[a];
        const gm_vec inv = 1.0 / t;
        const gm_vec diff = xl[a] - mu[a];
        const gm_vec u = diff * inv;
        gm_xd_pivot(&det, t, a, &signs, &flags);
        quad += diff * u;
        if (out != NULL) {
            out[a] = inv - u * u;
            out[d + a] = u;
        }
    }
    *signs_out = signs;
    *flags_out = flags;
    *logit = -0.5 * ((gm_vec){0.0} + (double)d * log_2pi + gm_xd_log_det(&det, d) + quad);
}

/* Blocks whose values are summed into the accumulators at once: each
 * accumulator is loaded and stored once per GM_XD_GROUP blocks (the stores of
 * 512-bit vectors are what the E-step waits for most, after the multiply-adds). */
#define GM_XD_GROUP 4

/* The lanes' maximum of a and b (b where a is NaN, as the lane loops it replaces). */
GM_XD_INLINE gm_vec gm_xd_max(gm_vec a, gm_vec b)
{
    const gm_mask greater = a > b;
    return (gm_vec)(((gm_mask)a & greater) | ((gm_mask)b & ~greater));
}

/* acc (width + 1 lanes) += sum_{g < m} wr[g * k] * out[g * stride] (width lanes
 * each), the weights' sum in the last lane: the values of m blocks (slots g of
 * the caller's ring, stride lanes apart) with their weights (k lanes apart). */
GM_XD_INLINE void gm_xd_accumulate(gm_vec *acc, const gm_vec *wr, int64_t k, const gm_vec *out,
                                   int64_t stride, int64_t m, const int64_t width)
{
    int64_t f, g;
    if (m == GM_XD_GROUP) {
        /* a full ring: two partial sums per accumulator, one load and store */
        gm_vec w[GM_XD_GROUP], even, odd;
        GM_XD_UNROLL
        for (g = 0; g < GM_XD_GROUP; ++g)
            w[g] = wr[g * k];
        GM_XD_UNROLL
        for (f = 0; f < width; ++f) {
            even = w[0] * out[f];
            odd = w[1] * out[stride + f];
            GM_XD_UNROLL
            for (g = 2; g < GM_XD_GROUP; g += 2) {
                even += w[g] * out[g * stride + f];
                odd += w[g + 1] * out[(g + 1) * stride + f];
            }
            acc[f] += even + odd;
        }
        even = w[0];
        odd = w[1];
        GM_XD_UNROLL
        for (g = 2; g < GM_XD_GROUP; g += 2) {
            even += w[g];
            odd += w[g + 1];
        }
        acc[width] += even + odd;
        return;
    }
    for (g = 0; g < m; ++g) {
        GM_XD_UNROLL
        for (f = 0; f < width; ++f)
            acc[f] += wr[g * k] * out[g * stride + f];
        acc[width] += wr[g * k];
    }
}

/*
 * Logits of the k components for one block (log pi_j included). When out_all
 * is not NULL, each component's T^-1 - u u^T and u go to out_all (k x width
 * lanes, width = p + d: the block's slot of the ring buf) and, when n_prev > 0,
 * the values of the previous n_prev blocks (ring slots 0 .. n_prev - 1 of buf,
 * k x width lanes each) are first added to acc (k x (width + 1) lanes) with
 * their weights wr_prev (slot after slot, k lanes each: w r): the sums of
 * blocks are taken while the next one factorizes, where the loads and stores
 * wait for no division. Inlined once per small d (a constant there).
 */
GM_XD_INLINE void gm_xd_logits_d(const gm_vec *xl, const gm_vec *sl, int form, const int64_t d,
                                 int64_t k, const double *means, const double *covs,
                                 const double *log_priors, gm_vec *scratch, gm_vec *logits,
                                 gm_vec *out_all, const gm_vec *buf, const gm_vec *wr_prev,
                                 int64_t n_prev, gm_vec *acc, gm_mask *signs, gm_mask *flags)
{
    const int64_t q = d * (d + 1) / 2;
    int64_t j;
    for (j = 0; j < k; ++j) {
        if (form == 2) {
            const int64_t width = 2 * d;
            gm_vec *out = out_all == NULL ? NULL : out_all + j * GM_XD_GROUP * width;
            if (n_prev > 0)
                gm_xd_accumulate(acc + j * (width + 1), wr_prev + j, k,
                                 buf + j * GM_XD_GROUP * width, width, n_prev, width);
            gm_xd_component_diagonal(xl, sl, d, means + j * d, covs + j * d, logits + j, out,
                                     signs, flags);
        } else {
            const int64_t width = q + d;
            gm_vec *out = out_all == NULL ? NULL : out_all + j * GM_XD_GROUP * width;
            if (n_prev > 0)
                gm_xd_accumulate(acc + j * (width + 1), wr_prev + j, k,
                                 buf + j * GM_XD_GROUP * width, width, n_prev, width);
            if (d <= GM_XD_SMALL) {
                gm_vec L[GM_XD_SMALL_Q], H[GM_XD_SMALL_Q], inv[GM_XD_SMALL];
                gm_vec wrow[GM_XD_SMALL], v[GM_XD_SMALL];
                gm_xd_component(xl, sl, form, d, means + j * d, covs + j * q, L, H, inv, wrow,
                                v, logits + j, out, signs, flags);
            } else {
                gm_xd_component(xl, sl, form, d, means + j * d, covs + j * q, scratch,
                                scratch + q, scratch + 2 * q, scratch + 2 * q + d,
                                scratch + 2 * q + 2 * d, logits + j, out, signs, flags);
            }
        }
        logits[j] += log_priors[j];
    }
}

static inline void gm_xd_logits(const gm_vec *xl, const gm_vec *sl, int form, int64_t d,
                                int64_t k, const double *means, const double *covs,
                                const double *log_priors, gm_vec *scratch, gm_vec *logits,
                                gm_vec *out_all, const gm_vec *buf, const gm_vec *wr_prev,
                                int64_t n_prev, gm_vec *acc, gm_mask *signs, gm_mask *flags)
{
#define GM_XD_CASE(D)                                                                          \
    case D:                                                                                    \
        gm_xd_logits_d(xl, sl, form, D, k, means, covs, log_priors, scratch, logits, out_all, \
                       buf, wr_prev, n_prev, acc, signs, flags);                               \
        break;
    switch (d) {
        GM_XD_CASE(1)
        GM_XD_CASE(2)
        GM_XD_CASE(3)
        GM_XD_CASE(4)
        GM_XD_CASE(5)
        GM_XD_CASE(6)
        GM_XD_CASE(7)
        GM_XD_CASE(8)
    default:
        gm_xd_logits_d(xl, sl, form, d, k, means, covs, log_priors, scratch, logits, out_all,
                       buf, wr_prev, n_prev, acc, signs, flags);
    }
#undef GM_XD_CASE
}

/* GCC schedules the statistics' (flattened) code before register allocation,
 * with the register pressure in view: the factorizations' chains then overlap
 * more of the other work (about 5 % of a block's time, measured with GCC 12 on
 * AMD Zen 4). Other compilers: as usual. */
#if defined(__GNUC__) && !defined(__clang__)
#define GM_XD_SCHEDULE __attribute__((optimize("schedule-insns", "sched-pressure")))
#else
#define GM_XD_SCHEDULE
#endif

/*
 * The statistics of n rows (X: row-major, row_stride doubles apart) under the
 * components (means k x d; covs: k x q lower triangles packed row by row, or
 * k x d diagonals when form == 2; log_priors k, -inf for a zero prior).
 * noise: form 0, n x d x d matrices (lower triangle read); form 1, n x d
 * variances; form 2, n x d variances with diagonal components. With width
 * p = q (forms 0, 1) or d (form 2), accumulates into the caller's arrays:
 *
 *   moments (k x (p + d + 1)) += [M_j, U_j, N_j]     (see above)
 *   resp_sq (k)  += sum_i w r^2                       (when not NULL)
 *   totals[0] += sum_i w log p(x_i); totals[1] += sum_i w;
 *   totals[2] += sum_ij (r - r')^2 under prev_* (when prev_means is not NULL);
 *   totals[3] += -sum_i w sum_j r ln r (from the clipped logits, as
 *   gm_centred_statistics).
 *
 * weights may be NULL (all ones). work holds GM_BLOCK (3 q + 4 d +
 * k (2 p + 2 d + 6) + (GM_XD_GROUP - 1) k (p + d + 1) + 4) + 8 doubles.
 * Returns the number of rows that the kernel could not take (logits not
 * usable, or a pivot that is zero, subnormal, inf or NaN: the caller redoes
 * them on its numpy path, which raises its error where V_j + S_i is
 * singular), -2 as soon as a pivot is negative (V_j + S_i not positive
 * definite; the sums are then incomplete and the caller's numpy path raises
 * the error), or -1 for bad sizes.
 */
GM_CLONES GM_XD_SCHEDULE
int64_t gm_xd_statistics(const double *X, int64_t n, int64_t d, int64_t row_stride,
                         const double *noise, int form, const double *means, const double *covs,
                         const double *log_priors, const double *prev_means,
                         const double *prev_covs, const double *prev_log_priors,
                         const double *weights, int64_t k, double *moments, double *resp_sq,
                         double *totals, double *work)
{
    const int64_t q = d * (d + 1) / 2;
    const int64_t p = form == 2 ? d : q;
    const int64_t width = p + d, n_acc = p + d + 1;
    const int64_t n_noise = form == 0 ? q : d;
    gm_vec *base = (gm_vec *)(work + ((8 - (((uintptr_t)work / sizeof(double)) & 7)) & 7));
    gm_vec *xl = base;                     /* d */
    gm_vec *sl = xl + d;                   /* q or d */
    gm_vec *scratch = sl + q;              /* 2 q + 3 d */
    gm_vec *buf = scratch + 2 * q + 3 * d; /* k x GM_XD_GROUP x width: a ring per component */
    gm_vec *logits = buf + GM_XD_GROUP * k * width; /* k */
    gm_vec *r = logits + k;                     /* k */
    gm_vec *prev = r + k;                       /* k */
    gm_vec *sq_lanes = prev + k;                /* k */
    gm_vec *wr = sq_lanes + k;                  /* GM_XD_GROUP x k: w r of the ring's blocks */
    gm_vec *acc = wr + GM_XD_GROUP * k;         /* k x n_acc */
    gm_vec *misc = acc + k * n_acc;        /* 4 */
    double *log_norm = (double *)misc, *log_norm_prev = (double *)(misc + 1);
    double *row_weight = (double *)(misc + 2), *lane_totals = (double *)(misc + 3);
    double log_lik = 0.0, weight_sum = 0.0, change = 0.0;
    int64_t start, lost = 0, j, b, i, f, pass;

    if (n < 0 || d < 1 || k < 1 || row_stride < d || form < 0 || form > 2)
        return -1;
    memset(sq_lanes, 0, sizeof(gm_vec) * (size_t)k);
    memset(acc, 0, sizeof(gm_vec) * (size_t)(k * n_acc));
    memset(lane_totals, 0, sizeof(double) * GM_BLOCK);
    for (start = 0; start < n; start += GM_BLOCK) {
        const int64_t nb = n - start < GM_BLOCK ? n - start : GM_BLOCK;
        /* this block's slot of the ring; a full ring is summed as the block
         * in slot 0 factorizes */
        const int64_t slot = (start / GM_BLOCK) % GM_XD_GROUP;
        const int64_t n_prev = slot == 0 && start > 0 ? GM_XD_GROUP : 0;
        gm_mask signs = (gm_mask){0}, flags = (gm_mask){0};
        /* Lanes past the data repeat the block's first row (so that their
         * factorizations are those of a real row) with weight 0. */
        for (b = 0; b < GM_BLOCK; ++b) {
            const int64_t row = start + (b < nb ? b : 0);
            const double *x = X + row * row_stride;
            for (i = 0; i < d; ++i)
                xl[i][b] = x[i];
            if (form == 0) {
                const double *s = noise + row * d * d;
                int64_t c;
                for (i = 0, f = 0; i < d; ++i)
                    for (c = 0; c <= i; ++c, ++f)
                        sl[f][b] = s[i * d + c];
            } else {
                for (i = 0; i < n_noise; ++i)
                    sl[i][b] = noise[row * d + i];
            }
            row_weight[b] = b >= nb ? 0.0 : weights != NULL ? weights[row] : 1.0;
        }
        /* One call site for both parameter sets, so that the factorization's
         * code is inlined once per d (the previous ones: densities only). */
        for (pass = 0; pass < (prev_means != NULL ? 2 : 1); ++pass)
            gm_xd_logits(xl, sl, form, d, k, pass ? prev_means : means, pass ? prev_covs : covs,
                         pass ? prev_log_priors : log_priors, scratch, pass ? prev : logits,
                         pass ? NULL : buf + slot * width, buf, wr, pass ? 0 : n_prev, acc,
                         &signs, &flags);
        for (b = 0; b < nb; ++b)
            if (signs[b] < 0)
                return -2;
        memcpy(r, logits, sizeof(gm_vec) * (size_t)k);
        lost += gm_softmax_t((double *)r, k, nb, log_norm, gm_wide());
        for (b = 0; b < nb; ++b)
            lost += (flags[b] & ~(int64_t)0x7ff) != 0;
        for (j = 0; j < k; ++j)
            for (b = nb; b < GM_BLOCK; ++b)
                r[j][b] = 0.0;
        for (b = 0; b < GM_BLOCK; ++b) {
            log_lik += row_weight[b] == 0.0 ? 0.0 : row_weight[b] * log_norm[b];
            weight_sum += row_weight[b];
        }
        if (prev_means != NULL) {
            gm_softmax_t((double *)prev, k, nb, log_norm_prev, gm_wide());
            for (j = 0; j < k; ++j)
                for (b = 0; b < nb; ++b) {
                    const double diff = r[j][b] - prev[j][b];
                    change += diff * diff;
                }
        }
        {
            const gm_vec w = *(const gm_vec *)row_weight;
            gm_vec top = logits[0], expected = (gm_vec){0.0};
            for (j = 1; j < k; ++j)
                top = gm_xd_max(logits[j], top);
            top += GM_EXP_FLOOR;
            for (j = 0; j < k; ++j) {
                expected += r[j] * gm_xd_max(logits[j], top);
                if (resp_sq != NULL)
                    sq_lanes[j] += w * (r[j] * r[j]);
                /* added to acc with this block's slot of buf when the ring is
                 * full, as the next block factorizes (gm_xd_logits), or after
                 * the last block */
                wr[slot * k + j] = w * r[j];
            }
            /* -sum_j r ln r = log p - sum_j r_j logit_j (sum_j r_j = 1) */
            for (b = 0; b < nb; ++b)
                lane_totals[b] +=
                    row_weight[b] == 0.0 ? 0.0 : row_weight[b] * (log_norm[b] - expected[b]);
        }
    }
    if (n > 0) {
        /* the ring's last blocks: slots 0 .. (number of blocks - 1) mod GM_XD_GROUP */
        const int64_t filled = ((n - 1) / GM_BLOCK) % GM_XD_GROUP + 1;
        for (j = 0; j < k; ++j)
            gm_xd_accumulate(acc + j * n_acc, wr + j, k, buf + j * GM_XD_GROUP * width, width,
                             filled, width);
    }
    for (j = 0; j < k; ++j) {
        for (f = 0; f < n_acc; ++f) {
            double sum = 0.0;
            for (b = 0; b < GM_BLOCK; ++b)
                sum += acc[j * n_acc + f][b];
            moments[j * n_acc + f] += sum;
        }
        if (resp_sq != NULL)
            for (b = 0; b < GM_BLOCK; ++b)
                resp_sq[j] += sq_lanes[j][b];
    }
    totals[0] += log_lik;
    totals[1] += weight_sum;
    totals[2] += change;
    for (b = 0; b < GM_BLOCK; ++b)
        totals[3] += lane_totals[b];
    return lost;
}

/*
 * Responsibilities of many small EM runs over the same rows at once (the
 * dense EM of gaussmix.em.dense: a model search's n_init starts of one
 * candidate on a few thousand rows, where numpy's per-call cost was most of
 * an iteration). `runs` runs of k components each, G = runs * k components in
 * all, component g = b * k + j of run b:
 *
 *   logit_g(y) = constants[g] - |L_g^-1 (y - offsets[g])|^2 / 2
 *
 * with inverse[g] = L_g^-1 (d x d, lower triangular: only its lower triangle
 * is read) and y the rows, given as their columns (d x n, row-major: the
 * transpose of the caller's centred rows, offsets the means less the same
 * shift, so the whitened distances are as precise as the means are). For each run and row, the
 * softmax over the run's k components gives
 *
 *   resp[g * n + i]  = w_i r_ig   (G x n, component-major; unless resp is NULL)
 *   log_lik[b]      += w_i log sum_j exp(logit_bj(y_i))
 *   lost[b]         += 1 where that sum is not finite (an infinite or NaN
 *                      logit: the caller redoes the run another way; its
 *                      responsibilities for the row are then 0)
 *
 * weights may be NULL (all ones). work holds GM_BLOCK * (G + 2 d + runs) doubles,
 * 64-byte aligned. Eight rows a block, one per vector lane. Returns 0, or -1
 * for bad sizes. A run's numbers do not depend on the other runs.
 */

/* ln x of positive normal x, as gm_log_positive on a vector (the reduction of
 * gm_xd_log_det: m in [sqrt(1/2), sqrt(2)) from the bits). */
static inline gm_vec gm_log_positive_vec(gm_vec x)
{
    const double ln2_hi = 0.6931471803691238; /* as gm_log_positive */
    const double ln2_lo = 1.9082149292705877e-10;
    const gm_mask bits = (gm_mask)x + (0x3ff0000000000000 - 0x3fe6a09e667f3bcd);
    const gm_mask field = ((bits >> 52) & 0x7ff) - 1023;
    const gm_vec e = (gm_vec)((field + ((int64_t)1 << 51)) | 0x4330000000000000) -
                     6755399441055744.0; /* 2^52 + 2^51 */
    const gm_vec m = (gm_vec)((bits & 0x000fffffffffffff) + 0x3fe6a09e667f3bcd);
    const gm_vec s = (m - 1.0) / (m + 1.0), s2 = s * s;
    gm_vec p = (gm_vec){0.0} + 1.0 / 23.0;
    GM_LOG_SERIES(p, s2);
    return e * ln2_hi + (2.0 * s + (2.0 * s * p + e * ln2_lo));
}

#if defined(__GNUC__) && !defined(__clang__)
#define GM_DENSE_UNROLL _Pragma("GCC unroll 12")
#else
#define GM_DENSE_UNROLL
#endif

/* gm_dense_responsibilities for d features, a constant where it is small (the
 * loops unroll and the differences stay in registers). */
GM_INLINE void gm_dense_blocks(const double *columns, int64_t n, const int64_t d,
                               const double *restrict inverse, const double *restrict offsets,
                               const double *restrict constants, int64_t runs, int64_t k,
                               const double *weights, double *resp, double *log_lik,
                               int64_t *lost, gm_vec *restrict work, int wide)
{
    const int64_t G = runs * k;
    gm_vec *logits = work;          /* G vectors */
    gm_vec *yt = logits + G;        /* d vectors: the block's columns */
    gm_vec *diff = yt + d;          /* d vectors: y - offset */
    gm_vec *sums = diff + d;        /* runs vectors: the lanes' log-likelihoods */
    int64_t start, b, g, i, j, lane;
    for (b = 0; b < runs; ++b)
        sums[b] = (gm_vec){0.0};
    for (start = 0; start < n; start += GM_BLOCK) {
        const int64_t nb = n - start < GM_BLOCK ? n - start : GM_BLOCK;
        gm_vec w = {0.0};
        if (nb == GM_BLOCK) {
            for (j = 0; j < d; ++j)
                memcpy(yt + j, columns + j * n + start, sizeof(gm_vec));
            if (weights != NULL)
                memcpy(&w, weights + start, sizeof w);
            else
                w += 1.0;
        } else {
            for (j = 0; j < d; ++j) {
                yt[j] = (gm_vec){0.0};
                memcpy(yt + j, columns + j * n + start, sizeof(double) * (size_t)nb);
            }
            for (lane = 0; lane < nb; ++lane)
                w[lane] = weights != NULL ? weights[start + lane] : 1.0;
        }
        for (g = 0; g < G; ++g) {
            const double *L = inverse + g * d * d, *c = offsets + g * d;
            gm_vec distance = {0.0};
            GM_DENSE_UNROLL
            for (j = 0; j < d; ++j)
                diff[j] = yt[j] - c[j];
            GM_DENSE_UNROLL
            for (i = 0; i < d; ++i) {
                gm_vec z = L[i * d] * diff[0];
                GM_DENSE_UNROLL
                for (j = 1; j <= i; ++j)
                    z += L[i * d + j] * diff[j];
                distance += z * z;
            }
            logits[g] = constants[g] - 0.5 * distance;
        }
        for (b = 0; b < runs; ++b) {
            gm_vec *run = logits + b * k;
            gm_vec top = run[0], sum = {0.0}, scale;
            gm_mask finite, usable;
            for (j = 1; j < k; ++j)
                top = gm_select(run[j] > top, run[j], top);
            /* x - x == 0 exactly when x is finite */
            finite = top - top == 0.0;
            top = gm_select(finite, top, (gm_vec){0.0});
            for (j = 0; j < k; ++j) {
                const gm_vec shifted = run[j] - top;
                gm_vec e;
                if (wide) {
                    e = gm_exp_nonpositive_vec(shifted);
                } else {
                    for (lane = 0; lane < GM_BLOCK; ++lane)
                        e[lane] = gm_exp_nonpositive(shifted[lane]);
                }
                run[j] = e;
                sum += e;
            }
            /* a NaN logit that the maximum skipped makes the sum NaN; the
             * sum is at least 1 (the largest term) where it is usable */
            usable = finite & (sum - sum == 0.0);
            sum = gm_select(usable, sum, (gm_vec){0.0} + 1.0);
            scale = gm_select(usable, w / sum, (gm_vec){0.0});
            sums[b] += gm_select(usable, w * (gm_log_positive_vec(sum) + top), (gm_vec){0.0});
            for (lane = 0; lane < nb; ++lane)
                lost[b] += !usable[lane];
            for (j = 0; resp != NULL && j < k; ++j) {
                /* NaN * 0 would stay NaN: a lost row's responsibilities are 0 */
                const gm_vec r = gm_select(usable, run[j] * scale, (gm_vec){0.0});
                double *out = resp + (b * k + j) * n + start;
                if (nb == GM_BLOCK)
                    memcpy(out, &r, sizeof r); /* one unaligned vector store */
                else
                    memcpy(out, &r, sizeof(double) * (size_t)nb);
            }
        }
    }
    for (b = 0; b < runs; ++b)
        for (lane = 0; lane < GM_BLOCK; ++lane)
            log_lik[b] += sums[b][lane];
}

GM_CLONES
int64_t gm_dense_responsibilities(const double *columns, int64_t n, int64_t d,
                                  const double *inverse,
                                  const double *offsets, const double *constants, int64_t runs,
                                  int64_t k, const double *weights, double *resp,
                                  double *log_lik, int64_t *lost, double *work)
{
    const int wide = gm_wide();
    if (n < 0 || d < 1 || k < 1 || runs < 0)
        return -1;
    switch (d) {
#define GM_DENSE_CASE(D)                                                                     \
    case D:                                                                                  \
        gm_dense_blocks(columns, n, D, inverse, offsets, constants, runs, k, weights, resp, log_lik, \
                        lost, (gm_vec *)work, wide);                                         \
        break;
        GM_DENSE_CASE(1)
        GM_DENSE_CASE(2)
        GM_DENSE_CASE(3)
        GM_DENSE_CASE(4)
        GM_DENSE_CASE(5)
        GM_DENSE_CASE(6)
        GM_DENSE_CASE(7)
        GM_DENSE_CASE(8)
        GM_DENSE_CASE(9)
        GM_DENSE_CASE(10)
        GM_DENSE_CASE(11)
        GM_DENSE_CASE(12)
#undef GM_DENSE_CASE
    default:
        gm_dense_blocks(columns, n, d, inverse, offsets, constants, runs, k, weights, resp, log_lik,
                        lost, (gm_vec *)work, wide);
    }
    return 0;
}

/*
 * One cyclic sweep of exact plane rotations for the shared orientation D of B
 * problems (mclust's EVE and VVE M-step; gaussmix.covariance.ellipsoidal's
 * orientation_sweep has the method and is the numpy path): minimizes
 * g(D) = sum_m tr(W_m D M_m D^T) one plane at a time, the pairs of columns
 * (first[p], second[p]) in their order (rounds of disjoint pairs one after the
 * other, as numpy takes each round at once: disjoint planes do not interact).
 * scatter (B x k x d x d), inverse_diagonals (B x k x d: the diagonals of M_m),
 * orientation (B x d x d, row-major, columns the axes) updated in place. work
 * holds 2 d doubles. numpy's path made about 25 calls a round, d - 1 rounds a
 * sweep, for a few hundred multiply-adds each.
 */
void gm_orientation_sweep(const double *scatter, const double *inverse_diagonals,
                          double *orientation, int64_t B, int64_t k, int64_t d,
                          const int64_t *first, const int64_t *second, int64_t pairs,
                          double *work)
{
    double *u = work, *v = work + d;
    int64_t b, p, m, r, s;
    for (b = 0; b < B; ++b) {
        double *D = orientation + b * d * d;
        for (p = 0; p < pairs; ++p) {
            const int64_t i = first[p], j = second[p];
            double along = 0.0, across = 0.0, angle, cs, sn;
            for (m = 0; m < k; ++m) {
                const double *W = scatter + (b * k + m) * d * d;
                const double *M = inverse_diagonals + (b * k + m) * d;
                const double gap = M[i] - M[j];
                double a = 0.0, c = 0.0, e = 0.0;
                /* u = W d_i, v = W d_j; a = d_i'u, e = d_j'v, c = d_i'v */
                for (r = 0; r < d; ++r) {
                    double ur = 0.0, vr = 0.0;
                    for (s = 0; s < d; ++s) {
                        ur += W[r * d + s] * D[s * d + i];
                        vr += W[r * d + s] * D[s * d + j];
                    }
                    u[r] = ur;
                    v[r] = vr;
                }
                for (r = 0; r < d; ++r) {
                    a += D[r * d + i] * u[r];
                    e += D[r * d + j] * v[r];
                    c += D[r * d + i] * v[r];
                }
                across += gap * c;
                along += gap * (a - e);
            }
            angle = 0.5 * atan2(-across, -0.5 * along);
            cs = cos(angle);
            sn = sin(angle);
            for (r = 0; r < d; ++r) {
                const double left = D[r * d + i], right = D[r * d + j];
                D[r * d + i] = cs * left + sn * right;
                D[r * d + j] = cs * right - sn * left;
            }
        }
    }
}

/*
 * The volumes lambda_k and the shape a (prod a = 1) of B problems minimizing
 * sum_k n_k d ln lambda_k + sum_j values_kj / (lambda_k a_j): the M-step of
 * mclust's VEI (values: the scatter's diagonals) and VEV (its eigenvalues),
 * the alternating updates of gaussmix.covariance.axis_aligned's
 * variable_volume_equal_shape (the method and the numpy path, which made about
 * fifteen calls an iteration), each problem to its own convergence: stops
 * where the objective changes by at most tol * max(|F|, n d) or is not finite,
 * or after max_iter iterations. values (B x k x d), nk (B x k), start (B x d:
 * a shape to start from, or NULL: the pooled values); volumes (B x k) and
 * shape (B x d) out. floor and tiny: the M-steps' FLOOR and the smallest
 * double (volumes below floor times a problem's largest are raised to it).
 */
static inline void gm_unit_determinant(double *a, int64_t d, double tiny)
{
    double mean_log = 0.0, g;
    int64_t j;
    for (j = 0; j < d; ++j)
        mean_log += log(a[j] > tiny ? a[j] : tiny);
    g = exp(mean_log / (double)d);
    for (j = 0; j < d; ++j)
        a[j] /= g;
}

static inline void gm_floored(double *v, int64_t k, double floor_, double tiny)
{
    double top = v[0], low;
    int64_t m;
    for (m = 1; m < k; ++m)
        top = v[m] > top ? v[m] : top;
    low = floor_ * top > tiny ? floor_ * top : tiny;
    for (m = 0; m < k; ++m)
        v[m] = v[m] > low ? v[m] : low;
}

void gm_volume_shape(const double *values, const double *nk, int64_t B, int64_t k, int64_t d,
                     double tol, int64_t max_iter, const double *start, double floor_,
                     double tiny, double *volumes, double *shape)
{
    int64_t b, m, j, it;
    for (b = 0; b < B; ++b) {
        const double *V = values + b * k * d, *n = nk + b * k;
        double *lam = volumes + b * k, *a = shape + b * d;
        double previous = INFINITY, scale = 0.0;
        for (m = 0; m < k; ++m)
            scale += n[m];
        scale *= (double)d;
        for (j = 0; j < d; ++j) {
            double p = 0.0;
            if (start != NULL) {
                p = start[b * d + j] > tiny ? start[b * d + j] : tiny;
            } else {
                for (m = 0; m < k; ++m)
                    p += V[m * d + j];
            }
            a[j] = p;
        }
        gm_unit_determinant(a, d, tiny);
        for (it = 0; it < max_iter; ++it) {
            double current = 0.0, quad = 0.0, size;
            for (m = 0; m < k; ++m) {
                double s = 0.0;
                for (j = 0; j < d; ++j)
                    s += V[m * d + j] / a[j];
                lam[m] = s / ((double)d * n[m]);
            }
            gm_floored(lam, k, floor_, tiny);
            for (j = 0; j < d; ++j) {
                double s = 0.0;
                for (m = 0; m < k; ++m)
                    s += V[m * d + j] / lam[m];
                a[j] = s;
            }
            gm_unit_determinant(a, d, tiny);
            for (m = 0; m < k; ++m) {
                double s = 0.0;
                current += n[m] * log(lam[m]);
                for (j = 0; j < d; ++j)
                    s += V[m * d + j] / a[j] / lam[m];
                quad += s;
            }
            current = (double)d * current + quad;
            size = fabs(current) > scale ? fabs(current) : scale;
            if (!(current - current == 0.0) || fabs(previous - current) <= tol * size)
                break;
            previous = current;
        }
        for (m = 0; m < k; ++m) {
            double s = 0.0;
            for (j = 0; j < d; ++j)
                s += V[m * d + j] / a[j];
            lam[m] = s / ((double)d * n[m]);
        }
        gm_floored(lam, k, floor_, tiny);
    }
}

/* ---------------------------------------------------------------------------
 * Model-based hierarchical agglomeration by the VVV classification criterion
 * (gaussmix.em.agglomerative._VVVMerges, which has the numpy path and the
 * text): a cluster's term is n log det(S / n) with S = W + (beta tr(W) / n +
 * alpha omega) I, W its scatter about its mean; merging clusters a and b
 * costs the merged cluster's term less theirs.
 */

/* The lower Cholesky factor L (d x d, row-major) of S + ridge I (S symmetric,
 * d x d) and its log-determinant; the ratio of its largest pivot to its smallest
 * into spread. 0, or -1 where it is not positive definite. */
static int gm_cholesky_log_det(const double *S, int64_t d, double ridge, double *L,
                               double *log_det, double *spread)
{
    int64_t i, j, l;
    double sum = 0.0, product = 1.0, low = INFINITY, high = 0.0;
    for (i = 0; i < d; ++i) {
        for (j = 0; j <= i; ++j) {
            double s = S[i * d + j] + (i == j ? ridge : 0.0);
            for (l = 0; l < j; ++l)
                s -= L[i * d + l] * L[j * d + l];
            if (i == j) {
                if (!(s > 0.0))
                    return -1;
                L[i * d + i] = sqrt(s);
                low = s < low ? s : low;
                high = s > high ? s : high;
                /* the pivots' product while it stays well inside the normal
                 * range: one log a pivot took most of the time */
                const double next = product * s;
                if (next > 1e-250 && next < 1e250) {
                    product = next;
                } else {
                    sum += log(product) + log(s);
                    product = 1.0;
                }
            } else {
                L[i * d + j] = s / L[j * d + j];
            }
        }
    }
    *log_det = sum + log(product);
    *spread = high / low;
    return 0;
}

/* n log det(S / n) of a scatter W (d x d, row-major) of weight n; -inf where
 * S is singular (numpy's slogdet gives -inf there too). chol: d x d scratch. */
static double gm_vvv_term(const double *W, double n, int64_t d, double omega, double alpha,
                          double beta, double *chol)
{
    int64_t i;
    double trace = 0.0, log_det, spread;
    for (i = 0; i < d; ++i)
        trace += W[i * d + i];
    if (gm_cholesky_log_det(W, d, beta * trace / n + alpha * omega, chol, &log_det, &spread))
        return -INFINITY;
    return n * (log_det - (double)d * log(n));
}

/* The criterion's change when clusters a and b merge. merged: d x d scratch. */
static double gm_vvv_merge_cost(int64_t a, int64_t b, int64_t d, const double *count,
                                const double *means, const double *scatter, const double *cost,
                                double omega, double alpha, double beta, double *merged,
                                double *chol)
{
    const double na = count[a], nb = count[b], total = na + nb, c = na * nb / total;
    const double *ma = means + a * d, *mb = means + b * d;
    const double *Wa = scatter + a * d * d, *Wb = scatter + b * d * d;
    int64_t i, j;
    for (i = 0; i < d; ++i) {
        const double di = mb[i] - ma[i];
        for (j = 0; j < d; ++j)
            merged[i * d + j] = Wb[i * d + j] + Wa[i * d + j] + c * (di * (mb[j] - ma[j]));
    }
    return gm_vvv_term(merged, total, d, omega, alpha, beta, chol) - cost[a] - cost[b];
}

/* The index of the smallest of v[0..m) as numpy's argmin takes it: the first
 * on ties, and the first NaN where there is one (a NaN cost, of a cluster
 * whose term is -inf, is cheapest in numpy's loop too). */
static int64_t gm_vvv_argmin(const double *v, int64_t m)
{
    int64_t o, at = 0;
    double low = v[0];
    for (o = 1; o < m && low == low; ++o)
        if (v[o] < low || v[o] != v[o]) {
            low = v[o];
            at = o;
        }
    return at;
}

/* The cheapest partner of row r of the pair costs (gm_vvv_argmin); best[r]
 * and partner[r]. */
static void gm_vvv_cheapest(const double *pair, int64_t m, int64_t r, double *best,
                            int64_t *partner)
{
    const int64_t at = gm_vvv_argmin(pair + r * m, m);
    best[r] = pair[r * m + at];
    partner[r] = at;
}

/*
 * The first n_merges merges of m clusters, cheapest first: merges[2 t] the
 * kept (lower) id, merges[2 t + 1] the absorbed one. count (m), means (m x d),
 * scatter (m x d x d) and cost (m, each cluster's term) describe the clusters
 * and are updated in place as they merge. work: m * m + 3 m + 2 d * d
 * doubles; partner: m int64. Returns 0, or -1 for bad sizes.
 */
int64_t gm_vvv_merges(int64_t m, int64_t d, double *count, double *means, double *scatter,
                      double *cost, double omega, double alpha, double beta, int64_t n_merges,
                      int64_t *merges, double *work, int64_t *partner)
{
    double *pair = work, *best = pair + m * m, *row = best + m, *active = row + m;
    double *merged = active + m, *chol = merged + d * d;
    int64_t a, b, t, o;
    if (m < 1 || d < 1 || n_merges < 0 || n_merges > m - 1)
        return -1;
    for (a = 0; a < m; ++a)
        active[a] = 1.0;
    for (a = 0; a < m; ++a) {
        pair[a * m + a] = INFINITY;
        for (b = a + 1; b < m; ++b)
            pair[a * m + b] = pair[b * m + a] = gm_vvv_merge_cost(
                a, b, d, count, means, scatter, cost, omega, alpha, beta, merged, chol);
    }
    for (a = 0; a < m; ++a)
        gm_vvv_cheapest(pair, m, a, best, partner);
    for (t = 0; t < n_merges; ++t) {
        int64_t i = gm_vvv_argmin(best, m), j, lo, hi;
        double ni, nj, c;
        j = partner[i];
        lo = i < j ? i : j;
        hi = i < j ? j : i;
        i = lo;
        j = hi;
        merges[2 * t] = i;
        merges[2 * t + 1] = j;
        ni = count[i];
        nj = count[j];
        c = ni * nj / (ni + nj);
        {
            double *Wi = scatter + i * d * d, *mi = means + i * d;
            const double *Wj = scatter + j * d * d, *mj = means + j * d;
            int64_t r, s;
            for (r = 0; r < d; ++r)
                for (s = 0; s < d; ++s)
                    Wi[r * d + s] += Wj[r * d + s] + c * ((mj[r] - mi[r]) * (mj[s] - mi[s]));
            for (r = 0; r < d; ++r)
                mi[r] += (nj / (ni + nj)) * (mj[r] - mi[r]);
        }
        count[i] = ni + nj;
        cost[i] = gm_vvv_term(scatter + i * d * d, count[i], d, omega, alpha, beta, chol);
        active[j] = 0.0;
        for (o = 0; o < m; ++o)
            pair[j * m + o] = pair[o * m + j] = INFINITY;
        best[j] = INFINITY;
        for (o = 0; o < m; ++o)
            row[o] = active[o] != 0.0 && o != i
                         ? gm_vvv_merge_cost(i, o, d, count, means, scatter, cost, omega,
                                             alpha, beta, merged, chol)
                         : INFINITY;
        for (o = 0; o < m; ++o)
            pair[i * m + o] = pair[o * m + i] = row[o];
        gm_vvv_cheapest(pair, m, i, best, partner);
        for (o = 0; o < m; ++o) {
            if (o == i || o == j || active[o] == 0.0)
                continue;
            if (partner[o] == i || partner[o] == j)
                gm_vvv_cheapest(pair, m, o, best, partner);
        }
        for (o = 0; o < m; ++o)
            if (row[o] < best[o]) {
                best[o] = row[o];
                partner[o] = i;
            }
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * VEE's M-step (gaussmix.covariance.ellipsoidal.EqualShapeOrientation, which
 * has the numpy path and the method): Sigma_k = lambda_k C, det(C) = 1, by
 * alternating lambda_k = tr(W_k C^-1) / (d n_k) (floored) and C = the unit-
 * determinant scaling of sum_k W_k / lambda_k, each problem to its own
 * convergence, as numpy's loop stops.
 */

/* tr(W_m C^-1) of the k scatters W (k x d x d) with a symmetric inverse. */
static void gm_vee_traces(const double *W, int64_t k, int64_t d, const double *inverse,
                          double *traces)
{
    int64_t m, i;
    for (m = 0; m < k; ++m) {
        double s = 0.0;
        for (i = 0; i < d * d; ++i)
            s += W[m * d * d + i] * inverse[i];
        traces[m] = s;
    }
}

/* Scale S (d x d) to its symmetric part of determinant 1 in place, its inverse
 * into inverse; -1 where it is not positive definite or so ill-conditioned
 * (Cholesky pivots more than 1e10 apart) that numpy's loop should take the
 * problem: on a component 1e8 from the rest (tests/test_dense_em.py) this
 * loop's inverse and LAPACK's rounded apart, and EM at k = 1 ran to n_iter
 * instead of 3 iterations. */
static int gm_vee_unit(double *S, int64_t d, double *inverse, double *L, double *scratch)
{
    int64_t i, j;
    double log_det, spread, root;
    for (i = 0; i < d; ++i)
        for (j = 0; j < i; ++j)
            S[i * d + j] = S[j * d + i] = 0.5 * (S[i * d + j] + S[j * d + i]);
    if (gm_cholesky_log_det(S, d, 0.0, L, &log_det, &spread) != 0 || !(spread <= 1e10))
        return -1;
    root = exp(log_det / (double)d);
    for (i = 0; i < d * d; ++i)
        S[i] /= root;
    gm_inverse_from_cholesky(L, d, scratch, inverse);
    for (i = 0; i < d * d; ++i)
        inverse[i] *= root;
    return 0;
}

/*
 * B problems: scatter (B x k x d x d), nk (B x k); shape (B x d x d) holds each
 * problem's start (the pooled or warm matrix, any positive scale) and receives
 * the unit-determinant C; volumes (B x k) the floored lambda_k. work: 3 d d + k
 * doubles. Returns 0, or the number of problems whose matrices were not positive
 * definite or whose objective was not finite (the caller redoes the batch).
 */
int64_t gm_vee_shape(const double *scatter, const double *nk, int64_t B, int64_t k, int64_t d,
                     double tol, int64_t max_iter, double floor_, double tiny, double *shape,
                     double *volumes, double *work)
{
    double *inverse = work, *L = inverse + d * d, *scratch = L + d * d, *traces = scratch + d * d;
    int64_t b, m, i, it, failed = 0;
    for (b = 0; b < B; ++b) {
        const double *W = scatter + b * k * d * d, *n = nk + b * k;
        double *C = shape + b * d * d, *lam = volumes + b * k;
        double last = INFINITY, scale = 0.0;
        for (m = 0; m < k; ++m)
            scale += n[m];
        scale *= (double)d;
        if (gm_vee_unit(C, d, inverse, L, scratch) != 0) {
            ++failed;
            continue;
        }
        gm_vee_traces(W, k, d, inverse, traces);
        for (it = 0; it < max_iter; ++it) {
            double current = 0.0, size;
            for (m = 0; m < k; ++m)
                lam[m] = traces[m] / ((double)d * n[m]);
            gm_floored(lam, k, floor_, tiny);
            for (i = 0; i < d * d; ++i) {
                double s = 0.0;
                for (m = 0; m < k; ++m)
                    s += W[m * d * d + i] / lam[m];
                C[i] = s;
            }
            if (gm_vee_unit(C, d, inverse, L, scratch) != 0) {
                ++failed;
                break;
            }
            gm_vee_traces(W, k, d, inverse, traces);
            for (m = 0; m < k; ++m)
                current += (double)d * n[m] * log(lam[m]) + traces[m] / lam[m];
            if (!(current - current == 0.0)) {
                ++failed;
                break;
            }
            size = fabs(current) > scale ? fabs(current) : scale;
            if (fabs(last - current) <= tol * size)
                break;
            last = current;
        }
        for (m = 0; m < k; ++m)
            lam[m] = traces[m] / ((double)d * n[m]);
        gm_floored(lam, k, floor_, tiny);
    }
    return failed;
}
