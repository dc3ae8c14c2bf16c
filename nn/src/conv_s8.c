/* conv_s8.c — int8 dense convolutions: quantization and the tile loop over
 * the kernels of gemm_s8.c (see conv_s8.h), and the threaded conv of the
 * context (rv_s8_conv2d, ops.h). */
#include "conv_s8.h"
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 64
#define CHUNK_BYTES (256 << 10)   /* panels per thread: ~ L2 / 4 */

bool
rv_s8_weights_init (rv_s8_weights *qw, const float *w, int cout, int K)
{
  const int k4 = (K + 3) / 4 * 4;
  qw->cout = cout;
  qw->K = K;
  qw->q = calloc ((size_t) cout * k4, 1);
  qw->scale = malloc (sizeof (float) * cout);
  qw->sum = malloc (sizeof (int32_t) * cout);
  if (!qw->q || !qw->scale || !qw->sum) {
    rv_s8_weights_clear (qw);
    return false;
  }
  for (int m = 0; m < cout; m++) {
    const float *row = w + (size_t) m * K;
    float amax = 0.0f;
    for (int k = 0; k < K; k++)   /* fmaxf is a libm call without -ffast-math */
      amax = fabsf (row[k]) > amax ? fabsf (row[k]) : amax;
    float s = amax > 0.0f ? amax / 127.0f : 1.0f, inv = 1.0f / s;
    int32_t sum = 0;
    for (int k = 0; k < K; k++) {
      long v = lrintf (row[k] * inv);   /* nearest even, the default mode */
      v = v < -127 ? -127 : v > 127 ? 127 : v;
      qw->q[(size_t) m * k4 + k] = (int8_t) v;
      sum += (int32_t) v;
    }
    qw->scale[m] = s;
    qw->sum[m] = sum;
  }
  return true;
}

void
rv_s8_weights_clear (rv_s8_weights *qw)
{
  free (qw->q);
  free (qw->scale);
  free (qw->sum);
  qw->q = NULL;
  qw->scale = NULL;
  qw->sum = NULL;
}

void
rv_u8_params (const rv_s8_kernels *kn, const float *x, size_t n,
    float *scale, int *zero)
{
  float lo, hi;
  kn->range (x, n, &lo, &hi);
  rv_u8_params_of_range (lo, hi, scale, zero);
}

void
rv_u8_params_of_range (float lo, float hi, float *scale, int *zero)
{
  *scale = hi > lo ? (hi - lo) / 255.0f : 1.0f;
  long z = lrintf (-lo / *scale);
  *zero = (int) (z < 0 ? 0 : z > 255 ? 255 : z);
}

void
rv_quantize_u8 (const rv_s8_kernels *kn, const float *x, size_t n,
    float scale, int zero, uint8_t *q)
{
  kn->quantize (x, n, 1.0f / scale, zero, q);
}

/* Columns [n0, n0 + n) of row r (channel, ky, kx) of the im2col matrix. */
static void
im2col_row (const rv_u8_image *im, int r, int n0, int n, uint8_t *dst)
{
  const int k = im->k, stride = im->stride, w = im->w, wo = im->wo;
  const int pad = k / 2, ky = r / k % k, kx = r % k, zx = im->zx;
  const uint8_t *src = im->x + (size_t) (r / (k * k)) * im->h * w;
  for (int j = 0; j < n;) {
    const int q = n0 + j, oy = q / wo, ox = q % wo;
    const int run = wo - ox < n - j ? wo - ox : n - j;  /* to the row's end */
    const int iy = oy * stride + ky - pad;
    uint8_t *d = dst + j;
    j += run;
    if (iy < 0 || iy >= im->h) {
      memset (d, zx, (size_t) run);
      continue;
    }
    /* ix = (ox + i) stride + kx - pad is inside the row for i in [lo, hi) */
    const uint8_t *row = src + (size_t) iy * w;
    const int b = ox * stride + kx - pad;
    int lo = 0, hi = run;
    while (lo < run && b + lo * stride < 0)
      lo++;
    while (hi > lo && b + (hi - 1) * stride >= w)
      hi--;
    memset (d, zx, (size_t) lo);
    if (stride == 1)
      memcpy (d + lo, row + b + lo, (size_t) (hi - lo));
    else if (stride == 2)         /* a constant stride vectorizes */
      for (int i = lo; i < hi; i++)
        d[i] = row[b + 2 * i];
    else
      for (int i = lo; i < hi; i++)
        d[i] = row[b + i * stride];
    memset (d + hi, zx, (size_t) (run - hi));
  }
}

void
rv_s8_im2col (const uint8_t *x, int cin, int h, int w, int k, int stride,
    int zx, int ho, int wo, uint8_t *col)
{
  const rv_u8_image im = { x, cin, h, w, k, stride, zx, wo };
  const size_t n = (size_t) ho * wo;
  for (int r = 0; r < cin * k * k; r++)
    im2col_row (&im, r, 0, (int) n, col + r * n);
}

size_t
rv_s8_panel_words (const rv_s8_kernels *kn, int K, int N)
{
  return (size_t) (N + kn->nr - 1) / kn->nr * kn->nr * ((K + 3) / 4);
}

/* The tiles of output channels [mb, mb + mr) and min (mr, m1 - mb). */
static void
gemm_block (const rv_s8_kernels *kn, const rv_s8_weights *qw,
    const float *bias, rv_act act, const uint32_t *panels, int mb, int m1,
    int N, float sx, int zx, float *y, size_t ys, const float *res, size_t rs)
{
  const int kq = (qw->K + 3) / 4;
  rv_s8_tile t = { .act = act };
  for (int r = 0; r < kn->mr; r++) {
    int m = mb + r < m1 ? mb + r : m1 - 1;
    t.a[r] = qw->q + (size_t) m * kq * 4;
    t.scale[r] = sx * qw->scale[m];
    t.bias[r] = bias[m];
    t.corr[r] = zx * qw->sum[m];
  }
  for (int p = 0; p < N; p += kn->nr) {
    for (int r = 0; r < kn->mr; r++) {
      const bool row = mb + r < m1;
      t.c[r] = row ? y + (size_t) (mb + r) * ys + p : NULL;
      t.res[r] = row && res ? res + (size_t) (mb + r) * rs + p : NULL;
    }
    kn->tile (&t, kq, panels + (size_t) p * kq, N - p < kn->nr ? N - p : kn->nr);
  }
}

void
rv_s8_gemm (const rv_s8_kernels *kn, const rv_s8_weights *qw,
    const float *bias, rv_act act, const uint32_t *panels, int N, float sx,
    int zx, float *y, size_t ys, const float *res, size_t rs)
{
  for (int mb = 0; mb < qw->cout; mb += kn->mr)
    gemm_block (kn, qw, bias, act, panels, mb, qw->cout, N, sx, zx, y, ys,
        res, rs);
}

/* ---- the threaded conv -------------------------------------------------- */

/* A 1x1 stride-1 conv quantizes its chunks of columns straight into their
 * panels; the others quantize the whole input first, then gather the
 * chunks' im2col panels from it. */
static bool
direct (const rv_conv *cv)
{
  return cv->k == 1 && cv->stride == 1;
}

static size_t
aligned (size_t bytes)
{
  return (bytes + ALIGN - 1) / ALIGN * ALIGN;
}

/* The conv's column chunk (a multiple of nr) and the bytes of its panels,
 * one slot of the pool. */
static int
chunk_cols (const rv_s8_kernels *kn, const rv_conv *cv, int N, int nt,
    size_t *slot_bytes)
{
  const size_t per_col = (size_t) (cv->cin * cv->k * cv->k + 3) / 4 * 4;
  int nc = (int) (CHUNK_BYTES / per_col) / kn->nr * kn->nr;
  int fair = (N + 4 * nt - 1) / (4 * nt);   /* a few chunks per thread */
  fair = (fair + kn->nr - 1) / kn->nr * kn->nr;
  nc = nc > fair ? fair : nc < kn->nr ? kn->nr : nc;
  *slot_bytes = aligned (per_col * nc);
  return nc;
}

/* The bytes of the u8 input unless direct: the planes between the im2col
 * packing's slack. */
static size_t
input_bytes (const rv_conv *cv, int h, int w)
{
  return direct (cv) ? 0 : aligned (RV_S8_IMAGE_SLACK
      + (size_t) cv->cin * h * w + RV_S8_IMAGE_SLACK);
}

/* Scratch: the u8 input, each input channel's range, then a slot each. */
size_t
rv_s8_conv_scratch (const rv_s8_kernels *s8, const rv_conv *cv, int h_in,
    int w_in, int h_out, int w_out, int nt)
{
  size_t slot;
  chunk_cols (s8, cv, h_out * w_out, nt, &slot);
  return input_bytes (cv, h_in, w_in) + aligned (2 * sizeof (float) * cv->cin)
      + slot * nt;
}

typedef struct {
  const rv_s8_kernels *s8;
  const rv_conv *cv;
  rv_tensor x, y;
  const rv_tensor *res;
  uint8_t *xq;                /* x as u8, cin x (h w), unless direct */
  float *range;               /* lo, hi per input channel */
  uint8_t *slots;
  size_t slot_bytes;
  float sx;                   /* the u8 input's scale and zero point */
  int zx;
  int N, nc, parts;
} s8_job;

static void
range_item (void *arg, int c, int slot)
{
  const s8_job *j = arg;
  (void) slot;
  j->s8->range (j->x.d + c * j->x.cs, (size_t) j->x.h * j->x.w,
      &j->range[2 * c], &j->range[2 * c + 1]);
}

static void
quantize_item (void *arg, int c, int slot)
{
  const s8_job *j = arg;
  const size_t n = (size_t) j->x.h * j->x.w;
  (void) slot;
  rv_quantize_u8 (j->s8, j->x.d + c * j->x.cs, n, j->sx, j->zx, j->xq + c * n);
}

/* Columns [n0, n0 + n) of part of the output channels: their panels, then
 * the tiles. */
static void
gemm_item (void *arg, int item, int slot)
{
  const s8_job *j = arg;
  const rv_conv *cv = j->cv;
  const rv_s8_kernels *s8 = j->s8;
  const int K = cv->cin * cv->k * cv->k, n0 = item / j->parts * j->nc;
  const int n = j->N - n0 < j->nc ? j->N - n0 : j->nc;
  const int mp = ((cv->cout + j->parts - 1) / j->parts + s8->mr - 1) / s8->mr
      * s8->mr;
  const int m0 = item % j->parts * mp, m1 = m0 + mp < cv->cout ? m0 + mp : cv->cout;
  if (m0 >= m1)
    return;
  uint32_t *bp = (uint32_t *) (j->slots + j->slot_bytes * slot);
  if (direct (cv))
    s8->quantize_pack (j->x.d, j->x.cs, K, n0, n, 1.0f / j->sx, j->zx, bp);
  else {
    const rv_u8_image im = { j->xq, cv->cin, j->x.h, j->x.w, cv->k,
      cv->stride, j->zx, j->y.w };
    s8->pack_im2col (&im, K, n0, n, bp);
  }
  for (int mb = m0; mb < m1; mb += s8->mr)
    gemm_block (s8, &cv->packed->s8, cv->b, cv->act, bp, mb, m1, n, j->sx,
        j->zx, j->y.d + n0, j->y.cs, j->res ? j->res->d + n0 : NULL,
        j->res ? j->res->cs : 0);
}

void
rv_s8_conv2d (const rv_s8_kernels *s8, const rv_conv *cv, rv_tensor x,
    rv_tensor y, const rv_tensor *res, void *scratch, int nt)
{
  const int N = y.h * y.w;
  size_t slot_bytes;
  const int nc = chunk_cols (s8, cv, N, nt, &slot_bytes), chunks = (N + nc - 1) / nc;
  /* with too few chunks to go round, the channels are parted as well */
  const int parts = nt > 1 && chunks < 2 * nt && cv->cout >= 4 * s8->mr
      ? (2 * nt + chunks - 1) / chunks : 1;
  uint8_t *xq = (uint8_t *) scratch + RV_S8_IMAGE_SLACK;
  float *range = (float *) ((uint8_t *) scratch + input_bytes (cv, x.h, x.w));
  s8_job j = { s8, cv, x, y, res, xq, range,
    (uint8_t *) range + aligned (2 * sizeof (float) * x.c), slot_bytes,
    0.0f, 0, N, nc, parts };
  /* the tensor's range from its channels': min and max are exact, so the
   * same at any thread count */
  rv_pool_for (x.c, range_item, &j, nt);
  float lo = 0.0f, hi = 0.0f;
  for (int c = 0; c < x.c; c++) {
    lo = range[2 * c] < lo ? range[2 * c] : lo;
    hi = range[2 * c + 1] > hi ? range[2 * c + 1] : hi;
  }
  rv_u8_params_of_range (lo, hi, &j.sx, &j.zx);
  if (!direct (cv))
    rv_pool_for (x.c, quantize_item, &j, nt);
  rv_pool_for (chunks * parts, gemm_item, &j, nt);
}
