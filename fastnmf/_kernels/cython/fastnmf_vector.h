/* The vector helpers of fastnmf's Cython kernels (the families fastnmf/_kernels/cython/_*.pyx,
   which declare them in a `cdef extern from "fastnmf_vector.h"` block).

   Portable across GCC and clang: 256-bit vectors through the compilers' vector extension
   (`vector_size`), shuffles through FASTNMF_SHUFFLE.  The same C is compiled once for
   baseline x86-64 and once with -mavx2 (setup.py ISA_VARIANTS); elementwise IEEE arithmetic
   without FMA contraction (-ffp-contract=off), so both builds give the same numbers as the
   scalar loops of the numba kernels.  Included after Python.h (Py_ssize_t). */
#ifndef FASTNMF_VECTOR_H
#define FASTNMF_VECTOR_H
#include <string.h>
/* r[p] -= d * gp[p] for p < q, returning sum_p r[p] * g[p] (the new r) in 8 interleaved
   partials (p mod 8, every p) combined as
   ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)).  GCC's vector extension: two
   AVX2 registers per 8 entries in the avx2 build (two accumulators: the sum is not one long chain of
   additions), SSE2 pairs in the baseline build; elementwise IEEE arithmetic (no FMA
   contraction), so the same numbers as the scalar 8-partial loop of the numba kernel. */
typedef double fastnmf_v4d __attribute__((vector_size(32)));
typedef long long fastnmf_v4i __attribute__((vector_size(32)));
typedef float fastnmf_v4f __attribute__((vector_size(16)));
/* FASTNMF_SHUFFLE(a, b, i0, i1, i2, i3): lanes i0..i3 of the 8 lanes of a then b.
   clang and GCC >= 12 have __builtin_shufflevector; older GCC has only __builtin_shuffle
   with a mask vector.  Shuffles move values exactly: the same numbers either way. */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define FASTNMF_SHUFFLE(a, b, i0, i1, i2, i3) \
    __builtin_shufflevector((a), (b), i0, i1, i2, i3)
#elif defined(__GNUC__)
#define FASTNMF_SHUFFLE(a, b, i0, i1, i2, i3) \
    __builtin_shuffle((a), (b), (fastnmf_v4i){i0, i1, i2, i3})
#else
#error "fastnmf's vector kernels need GCC or clang vector extensions"
#endif
static inline double fastnmf_update_dot(double *r, const double *gp, const double *g,
                                        Py_ssize_t q, double d) {
    fastnmf_v4d sa = {0.0, 0.0, 0.0, 0.0}, sb = {0.0, 0.0, 0.0, 0.0};
    fastnmf_v4d dv = {d, d, d, d};
    Py_ssize_t p, q8 = q - q % 8;
    double tot;
    for (p = 0; p < q8; p += 8) {
        fastnmf_v4d ra, rb, gpa, gpb, ga, gb;
        memcpy(&ra, r + p, sizeof ra);
        memcpy(&rb, r + p + 4, sizeof rb);
        memcpy(&gpa, gp + p, sizeof gpa);
        memcpy(&gpb, gp + p + 4, sizeof gpb);
        ra = ra - dv * gpa;
        rb = rb - dv * gpb;
        memcpy(r + p, &ra, sizeof ra);
        memcpy(r + p + 4, &rb, sizeof rb);
        /* g read after r is written: with g = r this is sum r^2 (the sweeps' last pass) */
        memcpy(&ga, g + p, sizeof ga);
        memcpy(&gb, g + p + 4, sizeof gb);
        sa = sa + ra * ga;
        sb = sb + rb * gb;
    }
    for (; p < q; p++) {  /* the last p < 8 entries: into their partials too */
        double rp = r[p] - d * gp[p];
        r[p] = rp;
        if (p - q8 < 4) sa[p - q8] = sa[p - q8] + rp * g[p];
        else sb[p - q8 - 4] = sb[p - q8 - 4] + rp * g[p];
    }
    tot = ((sa[0] + sa[1]) + (sa[2] + sa[3])) + ((sb[0] + sb[1]) + (sb[2] + sb[3]));
    return tot;
}
/* Four rows of masked_hals_sweep side by side.  Scratch: one component's values of
   the four rows, row rr's entries p at rr * rs + p (rs: the group's longest row,
   rounded up to a multiple of 4; each row's entries zero-padded to a multiple of 4,
   padding adds exact zeros), so that the rows' entries come in blocks of 4-vectors.
   (Rows interleaved block by block were measured slower: each cache line was then
   written by two rows, far apart in time.)
   fastnmf_update_dot_rows4: for row rr (residuals R + rr * rs, the last step's values
   gp[rr], this component's g[rr], nb[rr] blocks) r -= d[rr] gp and lane rr of the
   result is sum r g of the new r, in partials p mod 8 (even blocks: 0-3, odd: 4-7)
   combined as ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)): fastnmf_update_dot's
   numbers.  The four rows' sums are independent chains that overlap, and their
   horizontal sums are done together by a transpose. */
#define FASTNMF_BLOCK_STEP(RR, B, ACC)                                              \
    do {                                                                            \
        fastnmf_v4d r_, x_, y_;                                                     \
        memcpy(&r_, R + (RR) * rs + (B) * 4, sizeof r_);                           \
        memcpy(&x_, gp##RR + (B) * 4, sizeof x_);                                   \
        memcpy(&y_, g##RR + (B) * 4, sizeof y_);                                    \
        r_ = r_ - dv##RR * x_;                                                      \
        memcpy(R + (RR) * rs + (B) * 4, &r_, sizeof r_);                           \
        ACC = ACC + r_ * y_;                                                        \
    } while (0)
/* both functions below: each row's even- and odd-block accumulators, and its step d
   in every lane */
#define FASTNMF_ROWS4_SETUP                                                         \
    fastnmf_v4d e0 = {0.0, 0.0, 0.0, 0.0}, e1 = e0, e2 = e0, e3 = e0;               \
    fastnmf_v4d o0 = e0, o1 = e0, o2 = e0, o3 = e0;                                 \
    fastnmf_v4d dv0 = FASTNMF_SHUFFLE(d, d, 0, 0, 0, 0);                                \
    fastnmf_v4d dv1 = FASTNMF_SHUFFLE(d, d, 1, 1, 1, 1);                                \
    fastnmf_v4d dv2 = FASTNMF_SHUFFLE(d, d, 2, 2, 2, 2);                                \
    fastnmf_v4d dv3 = FASTNMF_SHUFFLE(d, d, 3, 3, 3, 3);
#define FASTNMF_ROW_REST(RR)                                                        \
    for (b = n2; b + 1 < nb[RR]; b += 2) {                                          \
        FASTNMF_BLOCK_STEP(RR, b, e##RR); FASTNMF_BLOCK_STEP(RR, b + 1, o##RR);     \
    }                                                                               \
    if (b < nb[RR]) FASTNMF_BLOCK_STEP(RR, b, e##RR);
static inline fastnmf_v4d fastnmf_hsum4(fastnmf_v4d a, fastnmf_v4d b, fastnmf_v4d c,
                                        fastnmf_v4d d) {
    /* ((a0 + a1) + (a2 + a3), the same of b, c, d) */
    fastnmf_v4d u = FASTNMF_SHUFFLE(a, b, 0, 4, 2, 6)
                    + FASTNMF_SHUFFLE(a, b, 1, 5, 3, 7);
    fastnmf_v4d v = FASTNMF_SHUFFLE(c, d, 0, 4, 2, 6)
                    + FASTNMF_SHUFFLE(c, d, 1, 5, 3, 7);
    return FASTNMF_SHUFFLE(u, v, 0, 1, 4, 5)
           + FASTNMF_SHUFFLE(u, v, 2, 3, 6, 7);
}
static inline fastnmf_v4d fastnmf_update_dot_rows4(
        double *restrict R, Py_ssize_t rs, const double *gp0, const double *gp1,
        const double *gp2, const double *gp3, const double *g0, const double *g1,
        const double *g2, const double *g3, const Py_ssize_t *nb, fastnmf_v4d d) {
    FASTNMF_ROWS4_SETUP
    Py_ssize_t b, n2 = nb[0];
    if (nb[1] < n2) n2 = nb[1];
    if (nb[2] < n2) n2 = nb[2];
    if (nb[3] < n2) n2 = nb[3];
    n2 = n2 - n2 % 2;
    for (b = 0; b < n2; b += 2) {
        FASTNMF_BLOCK_STEP(0, b, e0); FASTNMF_BLOCK_STEP(1, b, e1);
        FASTNMF_BLOCK_STEP(2, b, e2); FASTNMF_BLOCK_STEP(3, b, e3);
        FASTNMF_BLOCK_STEP(0, b + 1, o0); FASTNMF_BLOCK_STEP(1, b + 1, o1);
        FASTNMF_BLOCK_STEP(2, b + 1, o2); FASTNMF_BLOCK_STEP(3, b + 1, o3);
    }
    FASTNMF_ROW_REST(0)
    FASTNMF_ROW_REST(1)
    FASTNMF_ROW_REST(2)
    FASTNMF_ROW_REST(3)
    return fastnmf_hsum4(e0, e1, e2, e3) + fastnmf_hsum4(o0, o1, o2, o3);
}
static inline fastnmf_v4d fastnmf_select(fastnmf_v4i mask, fastnmf_v4d a, fastnmf_v4d b) {
    /* a where mask (all ones), else b */
    return (fastnmf_v4d) (((fastnmf_v4i) a & mask) | ((fastnmf_v4i) b & ~mask));
}
/* fastnmf_square_rows4: lane rr = sum_p (R - d[rr] gp)_p^2 of row rr (R not
   written), in the partials and order of fastnmf_update_dot_rows4. */
#define FASTNMF_SQUARE_STEP(RR, B, ACC)                                             \
    do {                                                                            \
        fastnmf_v4d r_, x_;                                                         \
        memcpy(&r_, R + (RR) * rs + (B) * 4, sizeof r_);                           \
        memcpy(&x_, gp##RR + (B) * 4, sizeof x_);                                   \
        r_ = r_ - dv##RR * x_;                                                      \
        ACC = ACC + r_ * r_;                                                        \
    } while (0)
#define FASTNMF_SQUARE_REST(RR)                                                     \
    for (b = 0; b + 1 < nb[RR]; b += 2) {                                           \
        FASTNMF_SQUARE_STEP(RR, b, e##RR); FASTNMF_SQUARE_STEP(RR, b + 1, o##RR);   \
    }                                                                               \
    if (b < nb[RR]) FASTNMF_SQUARE_STEP(RR, b, e##RR);
static inline fastnmf_v4d fastnmf_square_rows4(
        const double *R, Py_ssize_t rs, const double *gp0, const double *gp1,
        const double *gp2, const double *gp3, const Py_ssize_t *nb, fastnmf_v4d d) {
    FASTNMF_ROWS4_SETUP
    Py_ssize_t b;
    FASTNMF_SQUARE_REST(0)
    FASTNMF_SQUARE_REST(1)
    FASTNMF_SQUARE_REST(2)
    FASTNMF_SQUARE_REST(3)
    return fastnmf_hsum4(e0, e1, e2, e3) + fastnmf_hsum4(o0, o1, o2, o3);
}
/* masked_hals_sweep for nr <= 4 rows in lockstep, the rows as the four lanes of the
   scalar step (each lane's arithmetic is that of its row alone, as in the numba
   kernel's scalar loop): for t in perm
       grad = (l1 + l2 w) - s;   viol += |(w == 0 ? min(grad, 0) : grad)|
       inv = 1 / (l2 + a[t]);  new = max(w - grad * inv, 0) rounded to T
       if inv < inf: w = new, d = new - w_old   else d = 0
   then the last step applied and sq = sum r^2.  G, R, nb: the scratch above (rs its
   row stride, cs = 4 rs a component's; every step's g is the next step's gp: a zero
   step leaves r unchanged whatever gp is); A[rr * k + t] = sum_p g_tp^2 of row rr
   (zeros for rows >= nr; overwritten with the reciprocals); w[rr] the factor rows
   (rows >= nr: not read or written).  Writes viol[rr] and sq[rr]. */
#define FASTNMF_MASKED_ROWS4(NAME, T, TV)                                                 \
static void NAME(const double *G, Py_ssize_t cs, Py_ssize_t rs, double *restrict R,     \
                 double *A, Py_ssize_t k, const Py_ssize_t *nb, T *const *w,            \
                 Py_ssize_t nr, double l1, double l2, const Py_ssize_t *perm,            \
                 Py_ssize_t n_perm, double *viol, double *sq) {                          \
    const fastnmf_v4d zero = {0.0, 0.0, 0.0, 0.0};                                      \
    const fastnmf_v4d l1v = {l1, l1, l1, l1}, l2v = {l2, l2, l2, l2};                   \
    const fastnmf_v4i absmask = {0x7fffffffffffffffLL, 0x7fffffffffffffffLL,             \
                                 0x7fffffffffffffffLL, 0x7fffffffffffffffLL};            \
    const fastnmf_v4d infv = {HUGE_VAL, HUGE_VAL, HUGE_VAL, HUGE_VAL};                  \
    fastnmf_v4d pend = zero, vio = zero, s, wt, grad, inv, nw, at;                      \
    fastnmf_v4i ok;                                                                     \
    const double *gp_, *g_;                                                             \
    Py_ssize_t u, t = 0, tp = 0, rr;                                                    \
    /* the reciprocal curvatures, off the steps' chain of dependent operations */     \
    for (u = 0; u < 4 * k; u++) A[u] = 1.0 / (l2 + A[u]);                               \
    for (u = 0; u < n_perm; u++) {                                                      \
        t = perm[u];                                                                    \
        gp_ = G + tp * cs;                                                              \
        g_ = G + t * cs;                                                                \
        s = fastnmf_update_dot_rows4(R, rs, gp_, gp_ + rs, gp_ + 2 * rs, gp_ + 3 * rs,  \
                                     g_, g_ + rs, g_ + 2 * rs, g_ + 3 * rs, nb, pend);   \
        wt = zero;                                                                      \
        for (rr = 0; rr < nr; rr++) wt[rr] = (double) w[rr][t];                         \
        grad = (l1v + l2v * wt) - s;                                                    \
        at = fastnmf_select((fastnmf_v4i) (grad > zero), zero, grad);                   \
        at = fastnmf_select((fastnmf_v4i) (wt == zero), at, grad);                      \
        vio = vio + (fastnmf_v4d) ((fastnmf_v4i) at & absmask);                         \
        inv = (fastnmf_v4d) {A[t], A[k + t], A[2 * k + t], A[3 * k + t]};               \
        nw = wt - grad * inv;                                                           \
        nw = fastnmf_select((fastnmf_v4i) (nw > zero), nw, zero);                       \
        nw = __builtin_convertvector(__builtin_convertvector(nw, TV), fastnmf_v4d);     \
        ok = (fastnmf_v4i) (inv != infv);                                               \
        nw = fastnmf_select(ok, nw, wt);                                                \
        pend = fastnmf_select(ok, nw - wt, zero);                                       \
        for (rr = 0; rr < nr; rr++) w[rr][t] = (T) nw[rr];                              \
        tp = t;                                                                         \
    }                                                                                   \
    gp_ = G + tp * cs;                                                                  \
    s = fastnmf_square_rows4(R, rs, gp_, gp_ + rs, gp_ + 2 * rs, gp_ + 3 * rs, nb, pend); \
    for (rr = 0; rr < 4; rr++) { viol[rr] = vio[rr]; sq[rr] = s[rr]; }                 \
}
typedef double fastnmf_v4d_d __attribute__((vector_size(32)));
FASTNMF_MASKED_ROWS4(fastnmf_masked_rows4_d, double, fastnmf_v4d_d)
FASTNMF_MASKED_ROWS4(fastnmf_masked_rows4_f, float, fastnmf_v4f)
static inline void fastnmf_prefetch(const void *ptr) { __builtin_prefetch(ptr, 0, 2); }
/* Four entries' rows b0..b3 of B (k values each), in float64:
     G[t * width + e] = b_e[t]                       (G points at the group's first entry)
     a[t] = (((a[t] + b0[t]^2) + b1[t]^2) + b2[t]^2) + b3[t]^2
     c[e] = sum_t w[t] b_e[t], t in order
   four components at a time: the four rows loaded as vectors, transposed in registers
   (the same numbers as the scalar loop, which does this one component at a time). */
#define FASTNMF_GATHER4(NAME, T, LOAD)                                                    \
static inline void NAME(const T *b0, const T *b1, const T *b2, const T *b3,            \
                        const T *w, Py_ssize_t k, double *G, Py_ssize_t width,         \
                        double *a, const T *x, Py_ssize_t nx, double *r) {             \
    fastnmf_v4d acc = {0.0, 0.0, 0.0, 0.0};                                            \
    Py_ssize_t t = 0;                                                                  \
    for (; t + 4 <= k; t += 4) {                                                       \
        fastnmf_v4d v0, v1, v2, v3, av, t0, t1, t2, t3, c0, c1, c2, c3;                \
        LOAD(v0, b0 + t); LOAD(v1, b1 + t); LOAD(v2, b2 + t); LOAD(v3, b3 + t);        \
        memcpy(&av, a + t, sizeof av);                                                 \
        av = av + v0 * v0; av = av + v1 * v1; av = av + v2 * v2; av = av + v3 * v3;    \
        memcpy(a + t, &av, sizeof av);                                                 \
        t0 = FASTNMF_SHUFFLE(v0, v1, 0, 4, 2, 6);                              \
        t1 = FASTNMF_SHUFFLE(v0, v1, 1, 5, 3, 7);                              \
        t2 = FASTNMF_SHUFFLE(v2, v3, 0, 4, 2, 6);                              \
        t3 = FASTNMF_SHUFFLE(v2, v3, 1, 5, 3, 7);                              \
        c0 = FASTNMF_SHUFFLE(t0, t2, 0, 1, 4, 5);                              \
        c1 = FASTNMF_SHUFFLE(t1, t3, 0, 1, 4, 5);                              \
        c2 = FASTNMF_SHUFFLE(t0, t2, 2, 3, 6, 7);                              \
        c3 = FASTNMF_SHUFFLE(t1, t3, 2, 3, 6, 7);                              \
        memcpy(G + t * width, &c0, sizeof c0);                                         \
        memcpy(G + (t + 1) * width, &c1, sizeof c1);                                   \
        memcpy(G + (t + 2) * width, &c2, sizeof c2);                                   \
        memcpy(G + (t + 3) * width, &c3, sizeof c3);                                   \
        {                                                                              \
            double w0 = w[t], w1 = w[t + 1], w2 = w[t + 2], w3 = w[t + 3];             \
            fastnmf_v4d x0 = {w0, w0, w0, w0}, x1 = {w1, w1, w1, w1};                  \
            fastnmf_v4d x2 = {w2, w2, w2, w2}, x3 = {w3, w3, w3, w3};                  \
            acc = acc + x0 * c0; acc = acc + x1 * c1;                                  \
            acc = acc + x2 * c2; acc = acc + x3 * c3;                                  \
        }                                                                              \
    }                                                                                  \
    for (; t < k; t++) {                                                               \
        double g0 = b0[t], g1 = b1[t], g2 = b2[t], g3 = b3[t], wt = w[t];             \
        fastnmf_v4d gv = {g0, g1, g2, g3}, wv = {wt, wt, wt, wt};                      \
        G[t * width] = g0; G[t * width + 1] = g1;                                      \
        G[t * width + 2] = g2; G[t * width + 3] = g3;                                  \
        a[t] = (((a[t] + g0 * g0) + g1 * g1) + g2 * g2) + g3 * g3;                     \
        acc = acc + wv * gv;                                                           \
    }                                                                                  \
    {                                                                                  \
        fastnmf_v4d xv = {0.0, 0.0, 0.0, 0.0};                                         \
        if (nx >= 4) LOAD(xv, x);                                                      \
        else for (t = 0; t < nx; t++) xv[t] = (double) x[t];                           \
        xv = xv - acc;                                                                 \
        memcpy(r, &xv, sizeof xv);                                                     \
    }                                                                                  \
}
#define FASTNMF_LOAD_D(V, PTR) memcpy(&(V), (PTR), sizeof(V))
#define FASTNMF_LOAD_F(V, PTR) do { fastnmf_v4f f_; memcpy(&f_, (PTR), sizeof f_);     \
                                    (V) = __builtin_convertvector(f_, fastnmf_v4d); } while (0)
FASTNMF_GATHER4(fastnmf_gather4_d, double, FASTNMF_LOAD_D)
FASTNMF_GATHER4(fastnmf_gather4_f, float, FASTNMF_LOAD_F)

/* CSR times a dense matrix, one row of X at a time, vectorized over the k columns of the
   dense factor.  Every output entry is the same chain of operations as the scalar loop,
   nonzeros in stored order, `acc = acc + data[p] * b[j]` (no FMA contraction), so the
   same numbers; what changes is where the values live.  The k columns are taken in chunks
   of up to FASTNMF_CSR_NV vectors of VW values, the chunk's vectors held in registers, and
   the last k mod VW columns one by one in the same pass: one pass over the row's nonzeros
   per chunk, so one pass for k below 36 (float64) or 72 (float32).  The number of vectors
   is a constant in each case of a switch, so that the compiler unrolls the loops over
   them and keeps them in registers.
   FASTNMF_CSR_GATHER: out[j] = sum_p data[p] * B[idx[p] * k + j], p = p0 .. p1 - 1
   (the sums in registers, B's rows loaded).
   FASTNMF_CSR_SCATTER: acc[idx[p] * k + j] += data[p] * a[j], p in order (a: one row of
   the dense factor, in registers; acc: the n x k accumulator, loaded and stored). */
typedef float fastnmf_v8f __attribute__((vector_size(32)));
#define FASTNMF_CSR_NV 8
#define FASTNMF_BCAST_D(x) ((fastnmf_v4d) {(x), (x), (x), (x)})
#define FASTNMF_BCAST_F(x) ((fastnmf_v8f) {(x), (x), (x), (x), (x), (x), (x), (x)})
/* the first r (<= VW) values at ptr as a vector (the rest zero), and back */
#define FASTNMF_CSR_ROW(NAME, T, V, VW, BCAST, I)                                          \
static inline __attribute__((always_inline)) void NAME##_gather_nv(                        \
        const T *data, const I *idx, Py_ssize_t p0, Py_ssize_t p1, const T *B,             \
        Py_ssize_t k, Py_ssize_t j, T *out, const int nv, Py_ssize_t r) {                  \
    V a[FASTNMF_CSR_NV], x;                                                                \
    T t[VW];                                                                               \
    Py_ssize_t p, l;                                                                       \
    int q;                                                                                 \
    for (q = 0; q < nv; q++) a[q] = (V) {0};                                               \
    for (l = 0; l < r; l++) t[l] = 0;                                                      \
    for (p = p0; p < p1; p++) {                                                            \
        const T *b = B + (Py_ssize_t) idx[p] * k + j;                                      \
        T dv = data[p];                                                                    \
        V d = BCAST(dv);                                                                   \
        for (q = 0; q < nv; q++) {                                                         \
            memcpy(&x, b + q * VW, sizeof x);                                              \
            a[q] = a[q] + d * x;                                                           \
        }                                                                                  \
        for (l = 0; l < r; l++) t[l] = t[l] + dv * b[nv * VW + l];                         \
    }                                                                                      \
    for (q = 0; q < nv; q++) memcpy(out + j + q * VW, &a[q], sizeof a[q]);                 \
    for (l = 0; l < r; l++) out[j + nv * VW + l] = t[l];                                   \
}                                                                                          \
static inline __attribute__((always_inline)) void NAME##_scatter_nv(                       \
        const T *data, const I *idx, Py_ssize_t p0, Py_ssize_t p1, const T *arow,          \
        Py_ssize_t k, Py_ssize_t j, T *acc, const int nv, Py_ssize_t r) {                  \
    V a[FASTNMF_CSR_NV], o;                                                                \
    const T *at = arow + j + nv * VW;                                                      \
    Py_ssize_t p, l;                                                                       \
    int q;                                                                                 \
    for (q = 0; q < nv; q++) memcpy(&a[q], arow + j + q * VW, sizeof a[q]);                \
    for (p = p0; p < p1; p++) {                                                            \
        T *c = acc + (Py_ssize_t) idx[p] * k + j;                                          \
        T dv = data[p];                                                                    \
        V d = BCAST(dv);                                                                   \
        for (q = 0; q < nv; q++) {                                                         \
            memcpy(&o, c + q * VW, sizeof o);                                              \
            o = o + d * a[q];                                                              \
            memcpy(c + q * VW, &o, sizeof o);                                              \
        }                                                                                  \
        for (l = 0; l < r; l++) c[nv * VW + l] = c[nv * VW + l] + dv * at[l];              \
    }                                                                                      \
}                                                                                          \
static inline void NAME##_gather(const T *data, const I *idx, Py_ssize_t p0,              \
                                 Py_ssize_t p1, const T *B, Py_ssize_t k, T *out) {        \
    Py_ssize_t j, w, r;                                                                    \
    for (j = 0; j < k; j += w) {                                                           \
        w = k - j < (FASTNMF_CSR_NV + 1) * VW ? k - j : FASTNMF_CSR_NV * VW;                     \
        r = w % VW;  /* after the chunk's full vectors, one by one */                     \
        switch ((int) (w / VW)) {                                                          \
        case 0: NAME##_gather_nv(data, idx, p0, p1, B, k, j, out, 0, r); break;            \
        case 1: NAME##_gather_nv(data, idx, p0, p1, B, k, j, out, 1, r); break;            \
        case 2: NAME##_gather_nv(data, idx, p0, p1, B, k, j, out, 2, r); break;            \
        case 3: NAME##_gather_nv(data, idx, p0, p1, B, k, j, out, 3, r); break;            \
        case 4: NAME##_gather_nv(data, idx, p0, p1, B, k, j, out, 4, r); break;            \
        case 5: NAME##_gather_nv(data, idx, p0, p1, B, k, j, out, 5, r); break;            \
        case 6: NAME##_gather_nv(data, idx, p0, p1, B, k, j, out, 6, r); break;            \
        case 7: NAME##_gather_nv(data, idx, p0, p1, B, k, j, out, 7, r); break;            \
        default: NAME##_gather_nv(data, idx, p0, p1, B, k, j, out, 8, r); break;           \
        }                                                                                  \
    }                                                                                      \
}                                                                                          \
static inline void NAME##_scatter(const T *data, const I *idx, Py_ssize_t p0,             \
                                  Py_ssize_t p1, const T *arow, Py_ssize_t k, T *acc) {    \
    Py_ssize_t j, w, r;                                                                    \
    for (j = 0; j < k; j += w) {                                                           \
        w = k - j < (FASTNMF_CSR_NV + 1) * VW ? k - j : FASTNMF_CSR_NV * VW;                     \
        r = w % VW;                                                                        \
        switch ((int) (w / VW)) {                                                          \
        case 0: NAME##_scatter_nv(data, idx, p0, p1, arow, k, j, acc, 0, r); break;        \
        case 1: NAME##_scatter_nv(data, idx, p0, p1, arow, k, j, acc, 1, r); break;        \
        case 2: NAME##_scatter_nv(data, idx, p0, p1, arow, k, j, acc, 2, r); break;        \
        case 3: NAME##_scatter_nv(data, idx, p0, p1, arow, k, j, acc, 3, r); break;        \
        case 4: NAME##_scatter_nv(data, idx, p0, p1, arow, k, j, acc, 4, r); break;        \
        case 5: NAME##_scatter_nv(data, idx, p0, p1, arow, k, j, acc, 5, r); break;        \
        case 6: NAME##_scatter_nv(data, idx, p0, p1, arow, k, j, acc, 6, r); break;        \
        case 7: NAME##_scatter_nv(data, idx, p0, p1, arow, k, j, acc, 7, r); break;        \
        default: NAME##_scatter_nv(data, idx, p0, p1, arow, k, j, acc, 8, r); break;       \
        }                                                                                  \
    }                                                                                      \
}
FASTNMF_CSR_ROW(fastnmf_csr_di, double, fastnmf_v4d, 4, FASTNMF_BCAST_D, int)
FASTNMF_CSR_ROW(fastnmf_csr_dl, double, fastnmf_v4d, 4, FASTNMF_BCAST_D, long long)
FASTNMF_CSR_ROW(fastnmf_csr_fi, float, fastnmf_v8f, 8, FASTNMF_BCAST_F, int)
FASTNMF_CSR_ROW(fastnmf_csr_fl, float, fastnmf_v8f, 8, FASTNMF_BCAST_F, long long)

#endif /* FASTNMF_VECTOR_H */
