/* ops.h — internal: the kernels. NCHW, batch 1, f32. Each op is one function;
 * nt is the number of threads for our loops (OpenBLAS is set per forward). */
#ifndef RV_OPS_H
#define RV_OPS_H

#include "model.h"

typedef struct {
  float *d;                   /* channel 0; NULL while measuring */
  int c, h, w;
  size_t cs;                  /* floats from one channel to the next */
  size_t off, bytes;          /* arena allocation; bytes = 0 for a view */
} rv_tensor;

/* Floats of scratch rv_conv2d needs for this output size (im2col tile). */
size_t rv_conv_scratch (const rv_conv *cv, int h_out, int w_out);
/* y = act(conv(x) + b) (+ res): 1x1 as one GEMM, k x k as im2col tiles +
 * GEMM, depthwise 3x3 direct. y must not alias x or res. */
void rv_conv2d (const rv_conv *cv, rv_tensor x, rv_tensor y,
    const rv_tensor *res, float *scratch, int nt);
/* In place; scratch holds c + r floats. */
void rv_squeeze_excite (const rv_se *se, rv_tensor x, float *scratch, int nt);
/* 5x5, stride 1, padding 2 (padding never wins). */
void rv_maxpool5 (rv_tensor x, rv_tensor y, int nt);
/* Nearest-neighbour x2. */
void rv_upsample2 (rv_tensor x, rv_tensor y, int nt);
/* PSA attention on the qkv conv output: y = v A^T + pe(v) with
 * A = softmax(q^T k * key_dim^-0.5); scores holds N x N floats. */
void rv_attention (const rv_psa *p, rv_tensor qkv, rv_tensor y, float *scores,
    int nt);
/* DFL box decode of one level (64 x h x w logits) into rows 0..3 of out
 * (4 + nc) x anchors, columns a0 ... (cx, cy, w, h in input pixels). */
void rv_dfl_decode (rv_tensor box, float stride, float *out, int anchors,
    int a0, int nt);

#endif
