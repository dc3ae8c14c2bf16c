/* gemm_s8.h — internal: int8 GEMM micro-kernels, u8 activations x s8
 * weights with int32 accumulation (gemm_s8.c, one table per VNNI flavour).
 *
 * A tile computes, for up to mr output channels m and nr columns n,
 *   c[m][n] = act (scale[m] * (sum_k w[m][k] x[k][n] - corr[m]) + bias[m])
 *       (+ res[m][n])
 * where x holds u8 activations with zero point zx (real = sx (x - zx)) and w
 * s8 weights (real = sw[m] w); the caller sets scale[m] = sx sw[m] and
 * corr[m] = zx sum_k w[m][k]. The int32 sums are exact while
 * K <= 65793 (2^31 / (255 * 128)). */
#ifndef RV_GEMM_S8_H
#define RV_GEMM_S8_H

#include "isa.h"
#include "model.h"

#include <stddef.h>
#include <stdint.h>

#define RV_S8_MR_MAX 8

typedef struct {
  /* weight rows of 4 kq bytes (K rounded up to quads, zero past K); rows past
   * the last output channel may repeat it */
  const int8_t *a[RV_S8_MR_MAX];
  /* output rows at the tile's first column; NULL past the last channel */
  float *c[RV_S8_MR_MAX];
  const float *res[RV_S8_MR_MAX];   /* residual rows likewise, or NULL */
  float scale[RV_S8_MR_MAX], bias[RV_S8_MR_MAX];
  int32_t corr[RV_S8_MR_MAX];
  rv_act act;
} rv_s8_tile;

/* u8 activations, cin planes of h x w, as the input of a k x k conv
 * (stride, padding k / 2, output width wo); zx is the code of 0. */
typedef struct {
  const uint8_t *x;
  int cin, h, w, k, stride, zx, wo;
} rv_u8_image;

/* Bytes the im2col packing may read (and ignore) before and after the
 * image's planes. */
#define RV_S8_IMAGE_SLACK 64
/* The largest kernel the im2col packing takes (the network's: 1 and 3). */
#define RV_S8_IM2COL_K_MAX 3

typedef struct {
  const char *name;
  int mr, nr;                 /* channels and columns of one tile */
  /* Columns [n0, n0 + n) of a K x N u8 matrix (row stride xs bytes) into
   * panels of kq = (K + 3) / 4 rows of nr words, one per nr columns: word j of
   * row q holds x[4q + i][j] in byte i, zero past K and past n. */
  void (*pack) (const uint8_t *x, size_t xs, int K, int n0, int n,
      uint32_t *bp);
  /* The same of the im2col matrix of im (K = cin k k rows, taps outside
   * the image hold zx), gathered from the image without writing the matrix;
   * im->k <= RV_S8_IM2COL_K_MAX, im->stride <= 2 (the network's), and
   * im->x needs RV_S8_IMAGE_SLACK bytes of memory on either side. */
  void (*pack_im2col) (const rv_u8_image *im, int K, int n0, int n,
      uint32_t *bp);
  /* The tile of one panel bp (kq x nr words); stores the first n columns. */
  void (*tile) (const rv_s8_tile *t, int kq, const uint32_t *bp, int n);
  /* *lo = min (0, x[i]), *hi = max (0, x[i]) over n floats (NaN ignored). */
  void (*range) (const float *x, size_t n, float *lo, float *hi);
  /* q[i] = x[i] * inv rounded to nearest even, plus zero, clamped to
   * 0..255 (NaN to 0). */
  void (*quantize) (const float *x, size_t n, float inv, int zero, uint8_t *q);
  /* pack of quantize's rows, from the floats x (rows xs floats apart) */
  void (*quantize_pack) (const float *x, size_t xs, int K, int n0, int n,
      float inv, int zero, uint32_t *bp);
} rv_s8_kernels;

#if RV_HAVE_X86_KERNELS
extern const rv_s8_kernels rv_s8_avx512vnni, rv_s8_avxvnni;
#endif

#endif
