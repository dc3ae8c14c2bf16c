/* ops.h — internal: the kernels. NCHW, batch 1, f32 (the dense convs also
 * in bf16, see rv_conv.w16). Each op is one function; nt is the most
 * threads its loops take from the pool (pool.h), and the number of slots
 * of per-thread scratch. The convolutions go through a table of kernels
 * chosen once for this CPU (ops.c: portable C + OpenBLAS; ops_simd.c:
 * AVX-512 with BF16, AVX-512, AVX2); RV_FORCE_PORTABLE=1 keeps the portable
 * one and RV_LOG=1 prints the choice. */
#ifndef RV_OPS_H
#define RV_OPS_H

#include "model.h"
#include "pool.h"

typedef struct {
  float *d;                   /* channel 0; NULL while measuring */
  int c, h, w;
  size_t cs;                  /* floats from one channel to the next */
  size_t off, bytes;          /* arena allocation; bytes = 0 for a view */
} rv_tensor;

typedef struct {
  const char *name;
  /* conv2d and ffn run convs that carry w16 in bf16 (AVX512-BF16) */
  bool bf16;
  /* Floats of scratch conv2d needs for an input of width w_in. */
  size_t (*conv_scratch) (const rv_conv *cv, int w_in, int h_out, int w_out,
      int nt);
  /* y = act(conv(x) + b) (+ res). y must not alias x or res. */
  void (*conv2d) (const rv_conv *cv, rv_tensor x, rv_tensor y,
      const rv_tensor *res, float *scratch, int nt);
  /* Floats of scratch ffn needs for n pixels. */
  size_t (*ffn_scratch) (const rv_conv *c0, int n, int nt);
  /* Residual FFN of two 1x1 convs: y = x + c1(c0(x)). */
  void (*ffn) (const rv_conv *c0, const rv_conv *c1, rv_tensor x, rv_tensor y,
      float *scratch, int nt);
  /* Squeeze-excite in place; scratch holds c + r floats. */
  void (*squeeze_excite) (const rv_se *se, rv_tensor x, float *scratch, int nt);
} rv_kernels;

extern const rv_kernels rv_kernels_portable;
#if defined(__x86_64__) || defined(__i386__)
#define RV_HAVE_X86_KERNELS 1
extern const rv_kernels rv_kernels_avx2, rv_kernels_avx512,
    rv_kernels_avx512bf16;
#endif
/* The table for this CPU, chosen on the first call. */
const rv_kernels *rv_kernels_active (void);

static inline size_t
rv_conv_scratch (const rv_conv *cv, int w_in, int h_out, int w_out, int nt)
{
  return rv_kernels_active ()->conv_scratch (cv, w_in, h_out, w_out, nt);
}

static inline void
rv_conv2d (const rv_conv *cv, rv_tensor x, rv_tensor y, const rv_tensor *res,
    float *scratch, int nt)
{
  rv_kernels_active ()->conv2d (cv, x, y, res, scratch, nt);
}

static inline size_t
rv_ffn_scratch (const rv_conv *c0, int n, int nt)
{
  return rv_kernels_active ()->ffn_scratch (c0, n, nt);
}

static inline void
rv_ffn (const rv_conv *c0, const rv_conv *c1, rv_tensor x, rv_tensor y,
    float *scratch, int nt)
{
  rv_kernels_active ()->ffn (c0, c1, x, y, scratch, nt);
}
static inline void
rv_squeeze_excite (const rv_se *se, rv_tensor x, float *scratch, int nt)
{
  rv_kernels_active ()->squeeze_excite (se, x, scratch, nt);
}

/* The bf16 weights of a dense conv: cout rows of K = cin k k rounded to
 * nearest even, each padded to an even length so that the kernels read K
 * pairs; rv_bf16_weights_size elements. */
size_t rv_bf16_weights_size (const rv_conv *cv);
void rv_bf16_weights (const rv_conv *cv, uint16_t *dst);
static inline uint16_t
rv_bf16_round (float f)
{
  union { float f; uint32_t u; } v = { f };
  return (uint16_t) ((v.u + 0x7fffu + (v.u >> 16 & 1)) >> 16);
}

/* Squeeze-excite from two per-channel loops: mean (rv_se_job *, c, slot)
 * puts channel c's mean into gate[c], then the gate is computed, then scale
 * multiplies channel c by gate[c]; scratch holds c + r floats. */
typedef struct {
  rv_tensor x;
  float *gate;
} rv_se_job;
void rv_se_run (const rv_se *se, rv_tensor x, float *scratch, int nt,
    rv_pool_fn mean, rv_pool_fn scale);
/* The squeeze-excite gate: scratch[0 .. c) holds the channel means on entry,
 * sigmoid(fc2(relu(fc1(means)))) on return; scratch holds c + r floats. */
void rv_se_gate (const rv_se *se, float *scratch);
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
