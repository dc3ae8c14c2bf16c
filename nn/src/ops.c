/* ops.c — portable reference kernels (C + OpenBLAS) and the choice of the
 * kernel table; see ops.h. */
#include "ops.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#define IM2COL_TILE (1u << 19)    /* floats per im2col tile (2 MiB) */
/* Columns per item of the GEMMs that go through OpenBLAS: fixed, so that it
 * sees the same calls, and sums the same way, at any thread count. */
#define GEMM_COLS 256
#define ATTN_COLS 32

/* expf for |x| < 88 within ~1 ulp (Cephes polynomial), branch-free so that
 * loops over it vectorize. */
static inline float
fast_expf (float x)
{
  x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
  float n = x * 1.44269504f + 12582912.0f;      /* round (x / ln 2) */
  n -= 12582912.0f;
  float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  /* unsigned: a NaN argument must stay NaN without a signed-shift overflow */
  union { uint32_t i; float f; } scale = { ((uint32_t) (int32_t) n + 127u) << 23 };
  return p * scale.f;
}

/* erf within 5e-7 (Eigen's rational approximation on [-4, 4]). */
static inline float
fast_erff (float x)
{
  x = x < -4.0f ? -4.0f : x > 4.0f ? 4.0f : x;
  float x2 = x * x;
  float p = x2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
  p = p * x2 - 2.10102402082508e-06f;
  p = p * x2 - 5.69250639462346e-05f;
  p = p * x2 - 7.34990630326855e-04f;
  p = p * x2 - 2.95459980854025e-03f;
  p = p * x2 - 1.60960333262415e-02f;
  float q = x2 * -1.45660718464996e-05f - 2.13374055278905e-04f;
  q = q * x2 - 1.68282697438203e-03f;
  q = q * x2 - 7.37332916720468e-03f;
  q = q * x2 - 1.42647390514189e-02f;
  return x * p / q;
}

/* y = act(y + b) (+ res), the fused conv epilogue, one pass. */
static void
epilogue (float *y, int n, float b, rv_act act, const float *res)
{
#define EPILOGUE(expr) \
  if (res) \
    for (int i = 0; i < n; i++) { \
      float v = y[i] + b; \
      y[i] = (expr) + res[i]; \
    } \
  else \
    for (int i = 0; i < n; i++) { \
      float v = y[i] + b; \
      y[i] = (expr); \
    }
  switch (act) {
    case RV_ACT_NONE: EPILOGUE (v); break;
    case RV_ACT_RELU: EPILOGUE (v > 0.0f ? v : 0.0f); break;
    case RV_ACT_SILU: EPILOGUE (v / (1.0f + fast_expf (-v))); break;
    case RV_ACT_GELU:
      EPILOGUE (0.5f * v * (1.0f + fast_erff (v * (float) M_SQRT1_2)));
      break;
    case RV_ACT_SIGMOID: EPILOGUE (1.0f / (1.0f + fast_expf (-v))); break;
  }
#undef EPILOGUE
}

/* y = act(W x + b) (+ res) for the n columns of y from element start on; x
 * is K x n with row stride ldx. */
typedef struct {
  const rv_conv *cv;
  int kk, ldx, n;
  const float *x;
  rv_tensor y;
  size_t start;
  const rv_tensor *res;
} gemm_job;

/* Columns [item GEMM_COLS, + GEMM_COLS). OpenBLAS runs single-threaded under
 * our pool, so two thread pools never compete for the cores. */
static void
gemm_item (void *arg, int item, int slot)
{
  const gemm_job *g = arg;
  const int n0 = item * GEMM_COLS;
  const int n1 = g->n - n0 < GEMM_COLS ? g->n : n0 + GEMM_COLS;
  const rv_conv *cv = g->cv;
  (void) slot;
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, cv->cout, n1 - n0,
      g->kk, 1.0f, cv->w, g->kk, g->x + n0, g->ldx, 0.0f,
      g->y.d + g->start + n0, (int) g->y.cs);
  for (int c = 0; c < cv->cout; c++)
    epilogue (g->y.d + c * g->y.cs + g->start + n0, n1 - n0, cv->b[c], cv->act,
        g->res ? g->res->d + c * g->res->cs + g->start + n0 : NULL);
}

static void
gemm_epilogue (const gemm_job *g, int nt)
{
  rv_pool_for ((g->n + GEMM_COLS - 1) / GEMM_COLS, gemm_item, (void *) g, nt);
}

static void
conv_1x1 (const rv_conv *cv, rv_tensor x, rv_tensor y, const rv_tensor *res,
    int nt)
{
  gemm_job g = { cv, cv->cin, (int) x.cs, y.h * y.w, x.d, y, 0, res };
  gemm_epilogue (&g, nt);
}

static int
im2col_rows (const rv_conv *cv, int h_out, int w_out)
{
  size_t per_row = (size_t) cv->cin * cv->k * cv->k * w_out;
  size_t rows = IM2COL_TILE / per_row;
  return rows < 1 ? 1 : rows > (size_t) h_out ? h_out : (int) rows;
}

static size_t
conv_scratch (const rv_conv *cv, int w_in, int h_out, int w_out, int nt)
{
  (void) w_in, (void) nt;
  if (cv->groups != 1 || (cv->k == 1 && cv->stride == 1))
    return 0;
  return (size_t) cv->cin * cv->k * cv->k * w_out * im2col_rows (cv, h_out, w_out);
}

/* Row r (input channel, ky, kx) of the im2col matrix of output rows
 * y0 .. y0 + nr. */
typedef struct {
  const rv_conv *cv;
  rv_tensor x, y;
  float *col;
  int y0, nr;
} im2col_job;

static void
im2col_item (void *arg, int r, int slot)
{
  const im2col_job *j = arg;
  const int k = j->cv->k, s = j->cv->stride, p = k / 2, w = j->y.w;
  const int ci = r / (k * k), ky = r / k % k, kx = r % k;
  const rv_tensor x = j->x;
  const float *src = x.d + ci * x.cs;
  float *dst = j->col + (size_t) r * j->nr * w;
  (void) slot;
  for (int oy = 0; oy < j->nr; oy++, dst += w) {
    int iy = (j->y0 + oy) * s - p + ky;
    if (iy < 0 || iy >= x.h) {
      memset (dst, 0, (size_t) w * sizeof *dst);
      continue;
    }
    const float *row = src + (size_t) iy * x.w;
    for (int ox = 0; ox < w; ox++) {
      int ix = ox * s - p + kx;
      dst[ox] = ix >= 0 && ix < x.w ? row[ix] : 0.0f;
    }
  }
}

/* Dense k x k conv: im2col of a band of output rows, then one GEMM writing
 * that band of every output channel in place (ldc = channel stride). */
static void
conv_im2col (const rv_conv *cv, rv_tensor x, rv_tensor y, const rv_tensor *res,
    float *col, int nt)
{
  const int kk = cv->cin * cv->k * cv->k, rows = im2col_rows (cv, y.h, y.w);
  for (int y0 = 0; y0 < y.h; y0 += rows) {
    int nr = y.h - y0 < rows ? y.h - y0 : rows, n = nr * y.w;
    im2col_job ij = { cv, x, y, col, y0, nr };
    rv_pool_for (kk, im2col_item, &ij, nt);
    gemm_job g = { cv, kk, n, n, col, y, (size_t) y0 * y.w, res };
    gemm_epilogue (&g, nt);
  }
}

/* A per-channel op's arguments. */
typedef struct {
  const rv_conv *cv;
  rv_tensor x, y;
  const rv_tensor *res;
} channel_job;

/* Depthwise 3x3, padding 1, stride 1 or 2, of channel c: per output row,
 * each tap adds over the range of columns where it lands inside the input. */
static void
dw3x3_item (void *arg, int c, int slot)
{
  const channel_job *j = arg;
  const rv_conv *cv = j->cv;
  const rv_tensor x = j->x, y = j->y, *res = j->res;
  const int s = cv->stride;
  (void) slot;
  const float *src = x.d + c * x.cs, *k = cv->w + c * 9;
  float *dst = y.d + c * y.cs;
  for (int oy = 0; oy < y.h; oy++) {
    float *o = dst + (size_t) oy * y.w;
    memset (o, 0, (size_t) y.w * sizeof *o);
    for (int ky = 0; ky < 3; ky++) {
      int iy = oy * s - 1 + ky;
      if (iy < 0 || iy >= x.h)
        continue;
      for (int kx = 0; kx < 3; kx++) {
        const float *in = src + (size_t) iy * x.w - 1 + kx, wv = k[ky * 3 + kx];
        int lo = kx == 0 ? 1 : 0, hi = x.w - kx < 0 ? -1 : (x.w - kx) / s;
        if (hi > y.w - 1)
          hi = y.w - 1;
        if (s == 1)
          for (int ox = lo; ox <= hi; ox++)
            o[ox] += wv * in[ox];
        else
          for (int ox = lo; ox <= hi; ox++)
            o[ox] += wv * in[ox * s];
      }
    }
    epilogue (o, y.w, cv->b[c], cv->act,
        res ? res->d + c * res->cs + (size_t) oy * y.w : NULL);
  }
}

static void
conv_dw3x3 (const rv_conv *cv, rv_tensor x, rv_tensor y, const rv_tensor *res,
    int nt)
{
  channel_job j = { cv, x, y, res };
  rv_pool_for (y.c, dw3x3_item, &j, nt);
}

static void
conv2d (const rv_conv *cv, rv_tensor x, rv_tensor y, const rv_tensor *res,
    float *scratch, int nt)
{
  if (cv->groups != 1)
    conv_dw3x3 (cv, x, y, res, nt);
  else if (cv->k == 1 && cv->stride == 1)
    conv_1x1 (cv, x, y, res, nt);
  else
    conv_im2col (cv, x, y, res, scratch, nt);
}

static size_t
ffn_scratch (const rv_conv *c0, int n, int nt)
{
  (void) nt;
  return (size_t) c0->cout * n;
}

/* The hidden activation goes through the scratch. */
static void
ffn (const rv_conv *c0, const rv_conv *c1, rv_tensor x, rv_tensor y,
    float *scratch, int nt)
{
  rv_tensor h = { scratch, c0->cout, x.h, x.w, (size_t) x.h * x.w, 0, 0 };
  conv_1x1 (c0, x, h, NULL, nt);
  conv_1x1 (c1, h, y, &x, nt);
}

size_t
rv_bf16_weights_size (const rv_conv *cv)
{
  return (size_t) cv->cout * 2 * rv_bf16_row_pairs (cv);
}

void
rv_bf16_weights (const rv_conv *cv, uint16_t *dst)
{
  const int kk = cv->k * cv->k;
  for (int m = 0; m < cv->cout; m++)
    for (int c = 0; c < cv->cin; c += 2)
      for (int t = 0; t < kk; t++, dst += 2)
        for (int i = 0; i < 2; i++)
          dst[i] = c + i < cv->cin ? rv_bf16_round (cv->w[((size_t) m * cv->cin
                      + c + i) * kk + t]) : 0;
}

void
rv_winograd_weights (const rv_conv *cv, float *dst)
{
  static const double G[4][3] = { {1, 0, 0}, {0.5, 0.5, 0.5},
  {0.5, -0.5, 0.5}, {0, 0, 1}
  };
  for (int m = 0; m < cv->cout; m++)
    for (int c = 0; c < cv->cin; c++) {
      const float *g = cv->w + ((size_t) m * cv->cin + c) * 9;
      double gg[4][3];          /* G g */
      for (int i = 0; i < 4; i++)
        for (int x = 0; x < 3; x++)
          gg[i][x] = G[i][0] * g[x] + G[i][1] * g[3 + x] + G[i][2] * g[6 + x];
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
          dst[((size_t) (4 * i + j) * cv->cout + m) * cv->cin + c] =
              (float) (gg[i][0] * G[j][0] + gg[i][1] * G[j][1]
              + gg[i][2] * G[j][2]);
    }
}

bool
rv_packed_init (rv_packed *p, const rv_conv *cv, rv_format format)
{
  p->format = format;
  switch (format) {
    case RV_FORMAT_S8:
      return rv_s8_weights_init (&p->s8, cv->w, cv->cout,
          cv->cin * cv->k * cv->k);
    case RV_FORMAT_BF16:
      p->bf16 = malloc (rv_bf16_weights_size (cv) * sizeof *p->bf16);
      if (p->bf16)
        rv_bf16_weights (cv, p->bf16);
      return p->bf16 != NULL;
    case RV_FORMAT_WINOGRAD:
      if (!rv_winograd_fits (cv))
        break;
      p->winograd = malloc ((size_t) 16 * cv->cout * cv->cin
          * sizeof *p->winograd);
      if (p->winograd)
        rv_winograd_weights (cv, p->winograd);
      return p->winograd != NULL;
    case RV_FORMAT_F32:
      break;
  }
  p->format = RV_FORMAT_F32;
  return true;
}

void
rv_packed_clear (rv_packed *p)
{
  switch (p->format) {
    case RV_FORMAT_S8:
      rv_s8_weights_clear (&p->s8);
      break;
    case RV_FORMAT_BF16:
      free (p->bf16);
      break;
    case RV_FORMAT_WINOGRAD:
      free (p->winograd);
      break;
    case RV_FORMAT_F32:
      break;
  }
}

void
rv_se_gate (const rv_se *se, float *scratch)
{
  float *mean = scratch, *hid = scratch + se->c;
  for (int r = 0; r < se->r; r++) {
    float v = se->b1[r];
    for (int c = 0; c < se->c; c++)
      v += se->w1[(size_t) r * se->c + c] * mean[c];
    hid[r] = v > 0.0f ? v : 0.0f;
  }
  for (int c = 0; c < se->c; c++) {
    float v = se->b2[c];
    for (int r = 0; r < se->r; r++)
      v += se->w2[(size_t) c * se->r + r] * hid[r];
    mean[c] = 1.0f / (1.0f + fast_expf (-v));
  }
}

void
rv_se_run (const rv_se *se, rv_tensor x, float *scratch, int nt,
    rv_pool_fn mean, rv_pool_fn scale)
{
  rv_se_job j = { x, scratch };
  rv_pool_for (se->c, mean, &j, nt);
  rv_se_gate (se, scratch);
  rv_pool_for (se->c, scale, &j, nt);
}

static void
se_mean_item (void *arg, int c, int slot)
{
  const rv_se_job *j = arg;
  const int n = j->x.h * j->x.w;
  double sum = 0;
  (void) slot;
  for (int i = 0; i < n; i++)
    sum += j->x.d[c * j->x.cs + i];
  j->gate[c] = (float) (sum / n);
}

static void
se_scale_item (void *arg, int c, int slot)
{
  const rv_se_job *j = arg;
  const int n = j->x.h * j->x.w;
  (void) slot;
  for (int i = 0; i < n; i++)
    j->x.d[c * j->x.cs + i] *= j->gate[c];
}

static void
squeeze_excite (const rv_se *se, rv_tensor x, float *scratch, int nt)
{
  rv_se_run (se, x, scratch, nt, se_mean_item, se_scale_item);
}

/* 5x5 max, stride 1, padding 2, separably: the column maxima of each output
 * row go to the output row, then the row maxima replace them in place (the
 * two values left of the current one are kept aside). Channels are shared
 * out. */
static void
maxpool5_item (void *arg, int c, int slot)
{
  const channel_job *j = arg;
  const rv_tensor x = j->x, y = j->y;
  const float *src = x.d + c * x.cs;
  (void) slot;
  for (int oy = 0; oy < x.h; oy++) {
    int y0 = oy < 2 ? 0 : oy - 2, y1 = oy + 2 < x.h ? oy + 2 : x.h - 1;
    float *d = y.d + c * y.cs + (size_t) oy * x.w;
    memcpy (d, src + (size_t) y0 * x.w, (size_t) x.w * sizeof *d);
    for (int iy = y0 + 1; iy <= y1; iy++)
      for (int ox = 0; ox < x.w; ox++)
        d[ox] = src[(size_t) iy * x.w + ox] > d[ox] ? src[(size_t) iy * x.w + ox] : d[ox];
    float left2 = -INFINITY, left1 = -INFINITY;
    for (int ox = 0; ox < x.w; ox++) {
      float v = d[ox], m = left2 > left1 ? left2 : left1;
      for (int ix = ox; ix <= ox + 2 && ix < x.w; ix++)
        m = d[ix] > m ? d[ix] : m;
      left2 = left1;
      left1 = v;
      d[ox] = m;
    }
  }
}

static void
maxpool5 (rv_tensor x, rv_tensor y, int nt)
{
  channel_job j = { NULL, x, y, NULL };
  rv_pool_for (x.c, maxpool5_item, &j, nt);
}

/* Nearest 2x, one channel an item. */
static void
upsample2_item (void *arg, int c, int slot)
{
  const channel_job *j = arg;
  const rv_tensor x = j->x, y = j->y;
  (void) slot;
  for (int iy = 0; iy < x.h; iy++) {
    const float *src = x.d + c * x.cs + (size_t) iy * x.w;
    float *d0 = y.d + c * y.cs + (size_t) 2 * iy * y.w, *d1 = d0 + y.w;
    for (int ix = 0; ix < x.w; ix++)
      d0[2 * ix] = d0[2 * ix + 1] = src[ix];
    memcpy (d1, d0, (size_t) y.w * sizeof *d1);
  }
}

void
rv_upsample2 (rv_tensor x, rv_tensor y, int nt)
{
  channel_job j = { NULL, x, y, NULL };
  rv_pool_for (x.c, upsample2_item, &j, nt);
}

/* One head of the attention: q, k, v rows of n pixels (stride ld). */
typedef struct {
  const rv_kernels *kn;
  const float *q, *k, *v;
  int ld, n, kd, hd, ldy;
  float scale, *scores, *y;
} attn_job;

static void
attn_cols (const attn_job *j, int item, int *n0, int *n1)
{
  *n0 = item * ATTN_COLS;
  *n1 = j->n - *n0 < ATTN_COLS ? j->n : *n0 + ATTN_COLS;
}

/* scores[:, n0:n1] = q^T k[:, n0:n1] */
static void
attn_scores_item (void *arg, int item, int slot)
{
  const attn_job *j = arg;
  int n0, n1;
  (void) slot;
  attn_cols (j, item, &n0, &n1);
  cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, j->n, n1 - n0, j->kd,
      j->scale, j->q, j->ld, j->k + n0, j->ld, 0.0f, j->scores + n0, j->n);
}

static void
softmax_rows (float *rows, int n, int len, size_t ld)
{
  for (int i = 0; i < n; i++) {
    float *row = rows + i * ld, m = -INFINITY, sum = 0;
    for (int c = 0; c < len; c++)
      m = row[c] > m ? row[c] : m;
    for (int c = 0; c < len; c++)
      sum += row[c] = fast_expf (row[c] - m);
    for (int c = 0; c < len; c++)
      row[c] /= sum;
  }
}

/* Rows n0 .. n1 of the scores to A = softmax, then
 * y[:, n0:n1] += v A[n0:n1, :]^T (the rows need every column of the scores:
 * a second loop). */
static void
attn_output_item (void *arg, int item, int slot)
{
  const attn_job *j = arg;
  const int n = j->n;
  int n0, n1;
  (void) slot;
  attn_cols (j, item, &n0, &n1);
  j->kn->softmax_rows (j->scores + (size_t) n0 * n, n1 - n0, n, (size_t) n);
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, j->hd, n1 - n0, n,
      1.0f, j->v, j->ld, j->scores + (size_t) n0 * n, n, 1.0f, j->y + n0,
      j->ldy);
}

static size_t
attention_scores_floats (int n)
{
  return rv_line_floats ((size_t) n * n);
}

size_t
rv_attention_scratch (const rv_kernels *kn, const rv_psa *p, int h, int w,
    int nt)
{
  return attention_scores_floats (h * w) + kn->conv_scratch (&p->pe, w, h, w,
      nt);
}

void
rv_attention (const rv_kernels *kn, const rv_psa *p, rv_tensor qkv,
    rv_tensor y, float *scratch, int nt)
{
  const int n = y.h * y.w, kd = p->key_dim, hd = p->head_dim;
  float *scores = scratch, *pe_scratch = scratch + attention_scores_floats (n);
  const int items = (n + ATTN_COLS - 1) / ATTN_COLS;
  for (int h = 0; h < p->heads; h++) {
    const float *q = qkv.d + (size_t) h * (2 * kd + hd) * qkv.cs;
    const float *k = q + kd * qkv.cs, *v = k + kd * qkv.cs;
    rv_tensor vh = { (float *) v, hd, y.h, y.w, qkv.cs, 0, 0 };
    rv_tensor yh = { y.d + (size_t) h * hd * y.cs, hd, y.h, y.w, y.cs, 0, 0 };
    rv_conv pe = p->pe;         /* this head's channels of the depthwise pe */
    pe.cin = pe.cout = pe.groups = hd;
    pe.w += (size_t) h * hd * 9;
    pe.b += (size_t) h * hd;
    kn->conv2d (&pe, vh, yh, NULL, pe_scratch, nt);
    attn_job j = { kn, q, k, v, (int) qkv.cs, n, kd, hd, (int) y.cs,
      1.0f / sqrtf ((float) kd), scores, yh.d };
    rv_pool_for (items, attn_scores_item, &j, nt);
    rv_pool_for (items, attn_output_item, &j, nt);
  }
}

/* DFL box decode of one row of anchors. */
static void
dfl_row (void *arg, int row, int slot)
{
  const rv_dfl_job *j = arg;
  const rv_tensor box = j->box;
  const float stride = j->stride;
  (void) slot;
  for (int i = row * box.w; i < (row + 1) * box.w; i++) {
    float d[4];
    for (int side = 0; side < 4; side++) {
      const float *l = box.d + (size_t) side * 16 * box.cs + i;
      float m = -INFINITY, sum = 0, acc = 0;
      for (int b = 0; b < 16; b++)
        m = l[b * box.cs] > m ? l[b * box.cs] : m;
      for (int b = 0; b < 16; b++) {
        float e = fast_expf (l[b * box.cs] - m);
        sum += e;
        acc += (float) b * e;
      }
      d[side] = acc / sum;
    }
    float ax = (float) (i % box.w) + 0.5f, ay = (float) (i / box.w) + 0.5f;
    float x1 = ax - d[0], y1 = ay - d[1], x2 = ax + d[2], y2 = ay + d[3];
    float *o = j->out + j->a0 + i;
    o[0] = (x1 + x2) * 0.5f * stride;
    o[(size_t) j->anchors] = (y1 + y2) * 0.5f * stride;
    o[(size_t) 2 * j->anchors] = (x2 - x1) * stride;
    o[(size_t) 3 * j->anchors] = (y2 - y1) * stride;
  }
}

void
rv_dfl_decode (const rv_kernels *kn, rv_tensor box, float stride, float *out,
    int anchors, int a0, int nt)
{
  rv_dfl_job j = { box, stride, out, anchors, a0 };
  rv_pool_for (box.h, kn->dfl_row, &j, nt);
}

/* ---- kernel table --------------------------------------------------------- */

const rv_kernels rv_kernels_portable = {
  .name = "portable", .conv_scratch = conv_scratch, .conv2d = conv2d,
  .ffn_scratch = ffn_scratch, .ffn = ffn, .squeeze_excite = squeeze_excite,
  .dfl_row = dfl_row, .softmax_rows = softmax_rows,
  .maxpool5 = maxpool5,
};

static const rv_kernels *active;
static const rv_s8_kernels *active_s8;

static bool
env_set (const char *v)
{
  return v && *v && *v != '0';
}

static void
choose_kernels (void)
{
  const char *s8 = getenv ("RV_S8_KERNELS");
  const bool force = env_set (getenv ("RV_FORCE_PORTABLE"));
  active = &rv_kernels_portable;
#if RV_HAVE_X86_KERNELS
  __builtin_cpu_init ();
  if (force)
    ;
  else if (__builtin_cpu_supports ("avx512bf16")
      && __builtin_cpu_supports ("avx512bw"))
    active = &rv_kernels_avx512bf16;
  else if (__builtin_cpu_supports ("avx512f"))
    active = &rv_kernels_avx512;
  else if (__builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma"))
    active = &rv_kernels_avx2;
  /* RV_S8_KERNELS=avx-vnni: the 256-bit table where both run (tests) */
  bool want_256 = s8 && !strcmp (s8, rv_s8_avxvnni.name);
  if (force)
    ;
  else if (__builtin_cpu_supports ("avx512vnni") && !want_256)
    active_s8 = &rv_s8_avx512vnni;
  else if (__builtin_cpu_supports ("avxvnni"))
    active_s8 = &rv_s8_avxvnni;
#else
  (void) force, (void) s8;
#endif
  if (env_set (getenv ("RV_LOG")))
    fprintf (stderr, "repvit: %s kernels, int8: %s\n", active->name,
        active_s8 ? active_s8->name : "none");
}

static once_flag chosen = ONCE_FLAG_INIT;

const rv_kernels *
rv_kernels_active (void)
{
  call_once (&chosen, choose_kernels);
  return active;
}

const rv_s8_kernels *
rv_s8_kernels_active (void)
{
  call_once (&chosen, choose_kernels);
  return active_s8;
}
