/* conv_s8.h — internal: int8 dense convolutions on the kernels of
 * gemm_s8.h. Weights: symmetric s8 per output channel; activations: u8 with
 * a per-tensor scale and zero point taken from each input's min and max
 * (dynamic). Rounding as PyTorch's fake quantization: nearest-even of
 * x * (1 / scale). These are the single-threaded steps; the context runs
 * them threaded through rv_s8_conv2d (ops.h). */
#ifndef RV_CONV_S8_H
#define RV_CONV_S8_H

#include "gemm_s8.h"

#include <stdbool.h>

/* The weights of one dense conv, cout x K (K = cin k k), quantized. */
typedef struct {
  int cout, K;
  int8_t *q;                  /* cout rows of 4 kq bytes, zero past K */
  float *scale;               /* max |w| / 127 per row; 1 for a zero row */
  int32_t *sum;               /* sum of each row of q */
} rv_s8_weights;

bool rv_s8_weights_init (rv_s8_weights *qw, const float *w, int cout, int K);
void rv_s8_weights_clear (rv_s8_weights *qw);

/* u8 scale and zero point for [min(x), max(x)] widened to hold 0 (zero
 * padding and ReLU zeros stay exact); a zero tensor gets scale 1. */
void rv_u8_params (const rv_s8_kernels *kn, const float *x, size_t n,
    float *scale, int *zero);
/* The same from the range [lo, hi] (lo <= 0 <= hi). */
void rv_u8_params_of_range (float lo, float hi, float *scale, int *zero);
void rv_quantize_u8 (const rv_s8_kernels *kn, const float *x, size_t n,
    float scale, int zero, uint8_t *q);

/* The im2col matrix of a k x k conv (stride, padding k / 2) of the u8
 * activations x (cin x h x w, zero point zx): K = cin k k rows, in the
 * order of the weights (channel, ky, kx), of ho x wo columns; taps outside
 * the image hold zx, the code of 0. */
void rv_s8_im2col (const uint8_t *x, int cin, int h, int w, int k, int stride,
    int zx, int ho, int wo, uint8_t *col);

/* y = act (W x + bias) (+ res) for N columns (a 1x1 conv, or a k x k conv
 * on im2col'ed columns): x the K x N u8 activations (scale sx, zero point
 * zx) packed by kn->pack into rv_s8_panel_words (kn, K, N) words; y cout
 * rows of N floats at a stride of ys floats, res (or NULL) likewise at rs. */
size_t rv_s8_panel_words (const rv_s8_kernels *kn, int K, int N);
void rv_s8_gemm (const rv_s8_kernels *kn, const rv_s8_weights *qw,
    const float *bias, rv_act act, const uint32_t *panels, int N, float sx,
    int zx, float *y, size_t ys, const float *res, size_t rs);

#endif
