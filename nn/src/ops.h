/* ops.h — internal: the kernels. NCHW, batch 1, f32 activations. Each op is
 * one function; nt is the most threads its loops take from the pool
 * (pool.h), and the number of slots of per-thread scratch. The dense convs'
 * weights are read from rv_conv.w in f32, else from a packed block with a
 * format (rv_packed: bf16, int8, and f32 Winograd for the 3x3 stride-1
 * convs where the table runs it) owned by the context. The convolutions go through a table of kernels
 * chosen once for this CPU (ops.c: portable C + OpenBLAS; ops_simd.c:
 * AVX-512 with BF16, AVX-512, AVX2), and the int8 ones through the
 * micro-kernels of gemm_s8.h (rv_s8_conv2d); the context keeps the tables it
 * runs on. RV_FORCE_PORTABLE=1 keeps the portable table (and no int8),
 * RV_S8_KERNELS=avx-vnni the 256-bit int8 one, RV_LOG=1 prints the choice. */
#ifndef RV_OPS_H
#define RV_OPS_H

#include "conv_s8.h"
#include "isa.h"
#include "model.h"
#include "pool.h"

typedef struct {
  float *d;                   /* channel 0; NULL while measuring */
  int c, h, w;
  size_t cs;                  /* floats from one channel to the next */
  size_t off, bytes;          /* arena allocation; bytes = 0 for a view */
} rv_tensor;

/* A DFL box decode of one level: box (64 x h x w logits) into rows 0..3 of
 * out, (4 + nc) x anchors, columns a0 ... (cx, cy, w, h in input pixels). */
typedef struct {
  rv_tensor box;
  float stride, *out;
  int anchors, a0;
} rv_dfl_job;

typedef struct {
  const char *name;
  /* conv2d and ffn run convs packed in RV_FORMAT_BF16 (AVX512-BF16) */
  bool bf16;
  /* conv2d runs f32 convs packed in RV_FORMAT_WINOGRAD */
  bool winograd;
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
  /* Row `item` of anchors of a DFL decode (arg: rv_dfl_job), a pool item. */
  rv_pool_fn dfl_row;
  /* Each of n rows of len floats (ld apart) to its softmax, in place; runs
   * inside a pool item. */
  void (*softmax_rows) (float *rows, int n, int len, size_t ld);
  /* 5x5 max, stride 1, padding 2 (padding never wins); y must not alias x. */
  void (*maxpool5) (rv_tensor x, rv_tensor y, int nt);
} rv_kernels;

extern const rv_kernels rv_kernels_portable;
#if RV_HAVE_X86_KERNELS
extern const rv_kernels rv_kernels_avx2, rv_kernels_avx512,
    rv_kernels_avx512bf16;
#endif
/* The f32 / bf16 table for this CPU, chosen on the first call. */
const rv_kernels *rv_kernels_active (void);
/* The int8 micro-kernels for this CPU, or NULL: none (int8 runs f32). */
const rv_s8_kernels *rv_s8_kernels_active (void);

/* int8 dense conv y = act(conv(x) + b) (+ res) on cv->packed->s8: x
 * quantized to u8 per tensor from its own range (conv_s8.h), GEMM in int32
 * with the f32 epilogue in its tiles. Bytes of scratch it needs, and the
 * conv; every loop is shared out on the pool and the result does not depend
 * on nt. */
size_t rv_s8_conv_scratch (const rv_s8_kernels *s8, const rv_conv *cv,
    int h_in, int w_in, int h_out, int w_out, int nt);
void rv_s8_conv2d (const rv_s8_kernels *s8, const rv_conv *cv, rv_tensor x,
    rv_tensor y, const rv_tensor *res, void *scratch, int nt);
/* Test hook, NULL unless a test driver linking this library sets it
 * (tests/golden/int8-layers-driver.c): the forward pass calls it on its own
 * thread after each int8 conv with the conv, its f32 input and its output
 * (activation and residual applied). */
typedef void (*rv_s8_conv_hook) (const rv_s8_kernels *s8, const rv_conv *cv,
    rv_tensor x, rv_tensor y);
extern rv_s8_conv_hook rv_s8_conv_observer;

/* n floats rounded up to whole 64-byte lines: the parts of a scratch
 * buffer (per pool slot, per purpose) each start on a line of their own. */
static inline size_t
rv_line_floats (size_t n)
{
  return (n + 15) & ~(size_t) 15;
}

/* A dense conv's weights as its kernels read them. */
typedef enum {
  RV_FORMAT_F32,              /* rv_conv.w itself, no block */
  RV_FORMAT_BF16,             /* rv_bf16_weights: rows of pairs */
  RV_FORMAT_S8,               /* symmetric int8 per output channel */
  RV_FORMAT_WINOGRAD          /* 3x3 stride 1: rv_winograd_weights */
} rv_format;

struct rv_packed {
  rv_format format;
  union {
    uint16_t *bf16;
    rv_s8_weights s8;
    float *winograd;
  };
};

/* Packs cv's weights in format, or returns false (out of memory). A conv
 * that RV_FORMAT_WINOGRAD does not fit (rv_winograd_fits) stays
 * RV_FORMAT_F32. */
bool rv_packed_init (rv_packed *p, const rv_conv *cv, rv_format format);
void rv_packed_clear (rv_packed *p);

/* Winograd F(2x2, 3x3) (Lavin and Gray, 2016): each 2x2 output tile is
 * A^T [sum over input channels of U (.) V] A, with U = G g G^T the 4x4
 * transform of a 3x3 filter and V = B^T d B that of the tile's 4x4 input
 * window d: 16 products per tile and channel pair instead of 36. The f32
 * weights U of cv: for each of the 16 positions xi = 4 i + j, a cout x cin
 * matrix, 16 cout cin floats. */
static inline bool
rv_winograd_fits (const rv_conv *cv)
{
  return cv->k == 3 && cv->stride == 1 && cv->groups == 1;
}
void rv_winograd_weights (const rv_conv *cv, float *dst);

/* cv's Winograd weights, or NULL when it runs on rv_conv.w or another
 * format. */
static inline const float *
rv_conv_winograd (const rv_conv *cv)
{
  return cv->packed && cv->packed->format == RV_FORMAT_WINOGRAD
      ? cv->packed->winograd : NULL;
}

/* cv's bf16 weights, or NULL when it runs in f32. */
static inline const uint16_t *
rv_conv_bf16 (const rv_conv *cv)
{
  return cv->packed && cv->packed->format == RV_FORMAT_BF16
      ? cv->packed->bf16 : NULL;
}

/* The bf16 weights of a dense conv, rounded to nearest even: cout rows of
 * rv_bf16_row_pairs pairs, the pair of channels (2 cp, 2 cp + 1) of each tap
 * in the order (cp, ky, kx), a missing odd channel zero (the kernels read
 * the input as pairs of channels); rv_bf16_weights_size elements. */
static inline int
rv_bf16_row_pairs (const rv_conv *cv)
{
  return (cv->cin + 1) / 2 * cv->k * cv->k;
}
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
/* Nearest-neighbour x2. */
void rv_upsample2 (rv_tensor x, rv_tensor y, int nt);
/* PSA attention on the qkv conv output: y = v A^T + pe(v) with
 * A = softmax(q^T k * key_dim^-0.5), pe and the softmax from kn; scratch
 * holds rv_attention_scratch floats (the N x N scores, then pe's). */
size_t rv_attention_scratch (const rv_kernels *kn, const rv_psa *p, int h,
    int w, int nt);
void rv_attention (const rv_kernels *kn, const rv_psa *p, rv_tensor qkv,
    rv_tensor y, float *scratch, int nt);
/* rv_dfl_job's decode, a row of anchors per kn->dfl_row item. */
void rv_dfl_decode (const rv_kernels *kn, rv_tensor box, float stride,
    float *out, int anchors, int a0, int nt);

#endif
