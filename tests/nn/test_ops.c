/* Every kernel of nn/src/ops.c against a naive double-precision reference,
 * on odd sizes, every activation, residual and strided views, with 1 and 3
 * threads; the table kernels (convolutions, FFN, squeeze-excite, attention,
 * DFL, maxpool) once per table this CPU runs: portable, AVX2, AVX-512,
 * AVX-512 with BF16. The BF16 table's f32 kernels must give the AVX-512
 * ones' bits; its bf16 GEMMs are checked against the reference on
 * bf16-rounded weights and inputs (the products are exact in f32, so the
 * f32 tolerance holds). Prints the failing case. */
#include "ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
static unsigned rng = 1;
static const rv_kernels *kern;  /* the table under test */
static int bf16;                /* dense convs in bf16 */

/* x rounded to 8 significant bits, ties to even: bfloat16 */
static float
bf16_round (float x)
{
  int e;
  double m = frexp (x, &e);
  return (float) ldexp (nearbyint (ldexp (m, 8)), e - 8);
}

static float *
bf16_copy (const float *x, size_t n)
{
  float *y = malloc (n * sizeof *y);
  for (size_t i = 0; i < n; i++)
    y[i] = bf16_round (x[i]);
  return y;
}

/* The weights of cv packed in format as the context would (NULL for
 * RV_FORMAT_F32), set on cv. */
static rv_packed *
packed_in (rv_conv *cv, rv_format format)
{
  if (format == RV_FORMAT_F32)
    return NULL;
  rv_packed *p = malloc (sizeof *p);
  rv_packed_init (p, cv, format);
  cv->packed = p;
  return p;
}

/* The bf16 weights the context would give cv; NULL unless bf16. */
static rv_packed *
packed_bf16 (rv_conv *cv)
{
  return packed_in (cv, bf16 ? RV_FORMAT_BF16 : RV_FORMAT_F32);
}

static void
packed_free (rv_packed *p)
{
  if (p)
    rv_packed_clear (p);
  free (p);
}

/* The BF16 table's f32 kernels are the AVX-512 ones: a run of the table
 * the f32 cases must match bit for bit, or NULL. */
static const rv_kernels *
twin (void)
{
#if RV_HAVE_X86_KERNELS
  if (kern == &rv_kernels_avx512bf16 && !bf16)
    return &rv_kernels_avx512;
#endif
  return NULL;
}

static void
same_bits (const char *what, const float *got, const float *twin_got, size_t n)
{
  if (memcmp (got, twin_got, n * sizeof *got)) {
    printf ("FAIL %s: f32 result differs from the avx512 table's\n", what);
    failures++;
  }
}
static float
frand (float lo, float hi)
{
  rng = rng * 1664525u + 1013904223u;
  return lo + (hi - lo) * (float) (rng >> 8) / 16777216.0f;
}

static float *
rand_buf (size_t n, float lo, float hi)
{
  float *p = malloc (n * sizeof *p);
  for (size_t i = 0; i < n; i++)
    p[i] = frand (lo, hi);
  return p;
}

static double
act_ref (double v, rv_act act)
{
  switch (act) {
    case RV_ACT_SILU: return v / (1 + exp (-v));
    case RV_ACT_GELU: return 0.5 * v * (1 + erf (v / sqrt (2.0)));
    case RV_ACT_RELU: return v > 0 ? v : 0;
    case RV_ACT_SIGMOID: return 1 / (1 + exp (-v));
    default: return v;
  }
}

/* max |got - ref| <= tol * max(1, max |ref|) */
static void
check (const char *what, const float *got, size_t gstride, const double *ref,
    int c, size_t n, double tol)
{
  double err = 0, mag = 1;
  for (int i = 0; i < c; i++)
    for (size_t j = 0; j < n; j++) {
      double r = ref[i * n + j];
      err = fmax (err, fabs (got[i * gstride + j] - r));
      mag = fmax (mag, fabs (r));
    }
  if (!(err <= tol * mag)) {
    printf ("FAIL %s: max error %.3g (magnitude %.3g)\n", what, err, mag);
    failures++;
  }
}

static void
conv_case (int cin, int cout, int k, int s, int groups, int h, int w,
    rv_act act, int with_res, int extra_cs, int nt)
{
  int ho = (h - 1) / s + 1, wo = (w - 1) / s + 1, cpg = cin / groups,
      opg = cout / groups;
  float *x = rand_buf ((size_t) cin * h * w, -2, 2);
  float *wt = rand_buf ((size_t) cout * cpg * k * k, -1, 1);
  float *b = rand_buf (cout, -0.5f, 0.5f);
  float sc = 1.0f / sqrtf ((float) cpg * k * k);
  for (size_t i = 0; i < (size_t) cout * cpg * k * k; i++)
    wt[i] *= sc;
  /* what the reference multiplies */
  float *xr = bf16 ? bf16_copy (x, (size_t) cin * h * w) : x;
  float *wr = bf16 ? bf16_copy (wt, (size_t) cout * cpg * k * k) : wt;
  size_t cs = (size_t) ho * wo + extra_cs;
  float *y = rand_buf (cs * cout, -9, 9), *y2 = malloc (cs * cout * sizeof *y2);
  memcpy (y2, y, cs * cout * sizeof *y2);
  float *res = with_res ? rand_buf ((size_t) cout * ho * wo, -1, 1) : NULL;
  double *ref = malloc ((size_t) cout * ho * wo * sizeof *ref);
  for (int o = 0; o < cout; o++)
    for (int oy = 0; oy < ho; oy++)
      for (int ox = 0; ox < wo; ox++) {
        double acc = b[o];
        for (int ci = 0; ci < cpg; ci++)
          for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
              int iy = oy * s - k / 2 + ky, ix = ox * s - k / 2 + kx;
              if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                acc += (double) wr[((o * cpg + ci) * k + ky) * k + kx]
                    * xr[((size_t) (o / opg * cpg + ci) * h + iy) * w + ix];
            }
        size_t i = ((size_t) o * ho + oy) * wo + ox;
        ref[i] = act_ref (acc, act) + (res ? res[i] : 0);
      }
  rv_conv cv = { cin, cout, k, s, groups, act, wt, b, NULL };
  rv_tensor tx = { x, cin, h, w, (size_t) h * w, 0, 0 };
  rv_tensor ty = { y, cout, ho, wo, cs, 0, 0 };
  rv_tensor tr = { res, cout, ho, wo, (size_t) ho * wo, 0, 0 };
  /* f32 3x3 stride-1 convs both on rv_conv.w and in the Winograd form the
   * context gives them on tables that run it */
  const int forms = !bf16 && kern->winograd && rv_winograd_fits (&cv) ? 2 : 1;
  for (int f = 0; f < forms; f++) {
    rv_packed *packed = packed_in (&cv, bf16 ? RV_FORMAT_BF16
        : f ? RV_FORMAT_WINOGRAD : RV_FORMAT_F32);
    memcpy (y, y2, cs * cout * sizeof *y);
    size_t sf = kern->conv_scratch (&cv, w, ho, wo, nt);
    float *scratch = sf ? malloc (sf * sizeof *scratch) : NULL;
    kern->conv2d (&cv, tx, ty, res ? &tr : NULL, scratch, nt);
    char what[160];
    snprintf (what, sizeof what, "%s %s conv cin %d cout %d k %d s %d groups "
        "%d %dx%d act %d res %d cs+%d threads %d", kern->name, bf16 ? "bf16"
        : f ? "winograd" : "f32", cin, cout, k, s, groups, h, w, act,
        with_res, extra_cs, nt);
    check (what, y, cs, ref, cout, (size_t) ho * wo, 2e-5);
    for (int o = 0; o < cout; o++)      /* the gaps between channels stay as they were */
      if (memcmp (y + o * cs + ho * wo, y2 + o * cs + ho * wo,
              extra_cs * sizeof *y)) {
        printf ("FAIL %s: wrote past channel %d\n", what, o);
        failures++;
        break;
      }
    if (twin ()) {
      float *y3 = malloc (cs * cout * sizeof *y3);
      memcpy (y3, y2, cs * cout * sizeof *y3);
      ty.d = y3;
      twin ()->conv2d (&cv, tx, ty, res ? &tr : NULL, scratch, nt);
      ty.d = y;
      same_bits (what, y, y3, cs * cout);
      free (y3);
    }
    free (scratch);
    packed_free (packed);
    cv.packed = NULL;
  }
  if (bf16)
    free (xr), free (wr);
  free (x), free (wt), free (b), free (y), free (y2), free (res), free (ref);
}

/* y = act(x) over a wide range: the exp / erf approximations. */
static void
activation_range (rv_act act)
{
  enum { N = 20001 };
  float *x = malloc (N * sizeof *x), *y = malloc (N * sizeof *y), one = 1, zero = 0;
  double *ref = malloc (N * sizeof *ref);
  for (int i = 0; i < N; i++) {
    x[i] = -100.0f + 200.0f * i / (N - 1);
    ref[i] = act_ref (x[i], act);
  }
  rv_conv cv = { 1, 1, 1, 1, 1, act, &one, &zero, NULL };
  float *scratch = malloc (kern->conv_scratch (&cv, N, 1, N, 2) * sizeof *scratch + 1);
  kern->conv2d (&cv, (rv_tensor) { x, 1, 1, N, N, 0, 0 },
      (rv_tensor) { y, 1, 1, N, N, 0, 0 }, NULL, scratch, 2);
  double err = 0;
  for (int i = 0; i < N; i++)
    err = fmax (err, fabs (y[i] - ref[i]) / fmax (1, fabs (ref[i])));
  if (!(err <= 2e-6)) {
    printf ("FAIL %s activation %d over [-100, 100]: relative error %.3g\n",
        kern->name, act, err);
    failures++;
  }
  free (x), free (y), free (ref), free (scratch);
}

static void
pool_upsample_case (int c, int h, int w, int nt)
{
  float *x = rand_buf ((size_t) c * h * w, -1, 1);
  float *y = malloc ((size_t) c * 4 * h * w * sizeof *y);
  double *ref = malloc ((size_t) c * 4 * h * w * sizeof *ref);
  for (int ch = 0; ch < c; ch++)
    for (int i = 0; i < h; i++)
      for (int j = 0; j < w; j++) {
        double m = -INFINITY;
        for (int di = -2; di <= 2; di++)
          for (int dj = -2; dj <= 2; dj++)
            if (i + di >= 0 && i + di < h && j + dj >= 0 && j + dj < w)
              m = fmax (m, x[((size_t) ch * h + i + di) * w + j + dj]);
        ref[((size_t) ch * h + i) * w + j] = m;
      }
  rv_tensor tx = { x, c, h, w, (size_t) h * w, 0, 0 };
  kern->maxpool5 (tx, (rv_tensor) { y, c, h, w, (size_t) h * w, 0, 0 }, nt);
  char what[96];
  snprintf (what, sizeof what, "%s maxpool5 %dx%dx%d threads %d", kern->name, c, h, w, nt);
  check (what, y, (size_t) h * w, ref, c, (size_t) h * w, 0);
  for (int ch = 0; ch < c; ch++)
    for (int i = 0; i < 2 * h; i++)
      for (int j = 0; j < 2 * w; j++)
        ref[((size_t) ch * 2 * h + i) * 2 * w + j] = x[((size_t) ch * h + i / 2) * w + j / 2];
  rv_upsample2 (tx, (rv_tensor) { y, c, 2 * h, 2 * w, (size_t) 4 * h * w, 0, 0 }, nt);
  snprintf (what, sizeof what, "upsample2 %dx%dx%d threads %d", c, h, w, nt);
  check (what, y, (size_t) 4 * h * w, ref, c, (size_t) 4 * h * w, 0);
  free (x), free (y), free (ref);
}

static void
se_case (int c, int r, int h, int w, int nt)
{
  int n = h * w;
  float *x = rand_buf ((size_t) c * n, -2, 2), *w1 = rand_buf ((size_t) r * c, -0.5f, 0.5f),
      *b1 = rand_buf (r, -0.5f, 0.5f), *w2 = rand_buf ((size_t) c * r, -0.5f, 0.5f),
      *b2 = rand_buf (c, -0.5f, 0.5f), *scratch = malloc ((size_t) (c + r) * sizeof (float));
  double *ref = malloc ((size_t) c * n * sizeof *ref), *mean = calloc (c, sizeof *mean),
      *hid = calloc (r, sizeof *hid);
  for (int i = 0; i < c; i++) {
    for (int j = 0; j < n; j++)
      mean[i] += x[(size_t) i * n + j] / n;
  }
  for (int j = 0; j < r; j++) {
    double v = b1[j];
    for (int i = 0; i < c; i++)
      v += (double) w1[(size_t) j * c + i] * mean[i];
    hid[j] = v > 0 ? v : 0;
  }
  for (int i = 0; i < c; i++) {
    double v = b2[i];
    for (int j = 0; j < r; j++)
      v += (double) w2[(size_t) i * r + j] * hid[j];
    for (int j = 0; j < n; j++)
      ref[(size_t) i * n + j] = x[(size_t) i * n + j] / (1 + exp (-v));
  }
  rv_se se = { c, r, w1, b1, w2, b2 };
  kern->squeeze_excite (&se, (rv_tensor) { x, c, h, w, (size_t) n, 0, 0 }, scratch, nt);
  char what[96];
  snprintf (what, sizeof what, "%s squeeze-excite c %d r %d %dx%d threads %d",
      kern->name, c, r, h, w, nt);
  check (what, x, (size_t) n, ref, c, (size_t) n, 1e-5);
  free (x), free (w1), free (b1), free (w2), free (b2), free (scratch), free (ref),
      free (mean), free (hid);
}

/* y = x + c1(act0(c0(x))) with 1x1 convs; y has a channel stride of its own.
 * In bf16 the hidden activation is rounded to bf16 too: where the kernel's
 * f32 value and the reference's may round to neighbouring bf16 values (the
 * reference within 1e-5 of a tie), the difference times the weight is
 * allowed on top of the tolerance. */
static void
ffn_case (int c, int hidden, int h, int w, rv_act act0, int nt)
{
  int n = h * w;
  size_t ys = (size_t) n + 5;
  float *x = rand_buf ((size_t) c * n, -2, 2), *y = rand_buf (ys * c, -9, 9);
  float *w0 = rand_buf ((size_t) hidden * c, -1, 1), *b0 = rand_buf (hidden, -0.5f, 0.5f);
  float *w1 = rand_buf ((size_t) c * hidden, -1, 1), *b1 = rand_buf (c, -0.5f, 0.5f);
  for (int i = 0; i < hidden * c; i++)
    w0[i] /= sqrtf ((float) c), w1[i] /= sqrtf ((float) hidden);
  float *xr = bf16 ? bf16_copy (x, (size_t) c * n) : x;
  float *w0r = bf16 ? bf16_copy (w0, (size_t) hidden * c) : w0;
  float *w1r = bf16 ? bf16_copy (w1, (size_t) c * hidden) : w1;
  double *hid = malloc ((size_t) hidden * n * sizeof *hid), *ref = malloc ((size_t) c * n * sizeof *ref);
  double *tie = calloc ((size_t) hidden * n, sizeof *tie);
  double *slack = malloc ((size_t) c * n * sizeof *slack);
  for (int o = 0; o < hidden; o++)
    for (int j = 0; j < n; j++) {
      double acc = b0[o];
      for (int i = 0; i < c; i++)
        acc += (double) w0r[(size_t) o * c + i] * xr[(size_t) i * n + j];
      double v = act_ref (acc, act0), d = 1e-5 * (1 + fabs (v));
      hid[(size_t) o * n + j] = bf16 ? bf16_round ((float) v) : v;
      if (bf16)
        tie[(size_t) o * n + j] = bf16_round ((float) (v + d)) - bf16_round ((float) (v - d));
    }
  for (int o = 0; o < c; o++)
    for (int j = 0; j < n; j++) {
      double acc = b1[o], sl = 0;
      for (int i = 0; i < hidden; i++) {
        acc += w1r[(size_t) o * hidden + i] * hid[(size_t) i * n + j];
        sl += fabs (w1r[(size_t) o * hidden + i]) * tie[(size_t) i * n + j];
      }
      ref[(size_t) o * n + j] = acc + x[(size_t) o * n + j];
      slack[(size_t) o * n + j] = sl;
    }
  rv_conv c0 = { c, hidden, 1, 1, 1, act0, w0, b0, NULL },
      c1 = { hidden, c, 1, 1, 1, RV_ACT_NONE, w1, b1, NULL };
  rv_packed *w16_0 = packed_bf16 (&c0), *w16_1 = packed_bf16 (&c1);
  float *y2 = malloc (ys * c * sizeof *y2);
  memcpy (y2, y, ys * c * sizeof *y2);
  float *scratch = malloc (kern->ffn_scratch (&c0, n, nt) * sizeof *scratch + 1);
  kern->ffn (&c0, &c1, (rv_tensor) { x, c, h, w, (size_t) n, 0, 0 },
      (rv_tensor) { y, c, h, w, ys, 0, 0 }, scratch, nt);
  char what[96];
  snprintf (what, sizeof what, "%s %s ffn c %d hidden %d %dx%d act %d threads %d",
      kern->name, bf16 ? "bf16" : "f32", c, hidden, h, w, act0, nt);
  for (size_t i = 0; i < (size_t) c * n; i++)   /* the reference moves by the slack */
    ref[i] += fmax (-slack[i], fmin (slack[i], y[i / n * ys + i % n] - ref[i]));
  check (what, y, ys, ref, c, (size_t) n, 2e-5);
  if (twin ()) {
    twin ()->ffn (&c0, &c1, (rv_tensor) { x, c, h, w, (size_t) n, 0, 0 },
        (rv_tensor) { y2, c, h, w, ys, 0, 0 }, scratch, nt);
    same_bits (what, y, y2, ys * c);
  }
  if (bf16)
    free (xr), free (w0r), free (w1r);
  free (x), free (y), free (y2), free (w0), free (b0), free (w1), free (b1), free (hid),
      free (ref), free (tie), free (slack), free (scratch), packed_free (w16_0), packed_free (w16_1);
}

static void
attention_case (int heads, int kd, int hd, int h, int w, int nt)
{
  int n = h * w, c = heads * hd, rows = heads * (2 * kd + hd);
  float *qkv = rand_buf ((size_t) rows * n, -1.5f, 1.5f);
  float *pw = rand_buf ((size_t) c * 9, -0.3f, 0.3f), *pb = rand_buf (c, -0.2f, 0.2f);
  float *y = malloc ((size_t) c * n * sizeof *y), *scratch;
  double *ref = calloc ((size_t) c * n, sizeof *ref), *a = malloc ((size_t) n * sizeof *a);
  for (int hh = 0; hh < heads; hh++) {
    const float *q = qkv + (size_t) hh * (2 * kd + hd) * n, *k = q + (size_t) kd * n,
        *v = k + (size_t) kd * n;
    for (int i = 0; i < n; i++) {
      double m = -INFINITY, sum = 0;
      for (int j = 0; j < n; j++) {
        double s = 0;
        for (int d = 0; d < kd; d++)
          s += (double) q[(size_t) d * n + i] * k[(size_t) d * n + j];
        a[j] = s / sqrt ((double) kd);
        m = fmax (m, a[j]);
      }
      for (int j = 0; j < n; j++)
        sum += a[j] = exp (a[j] - m);
      for (int d = 0; d < hd; d++) {
        double o = 0;
        for (int j = 0; j < n; j++)
          o += (double) v[(size_t) d * n + j] * a[j] / sum;
        ref[((size_t) hh * hd + d) * n + i] = o;
      }
    }
    for (int d = 0; d < hd; d++) {      /* + pe(v), depthwise 3x3 */
      int ch = hh * hd + d;
      for (int oy = 0; oy < h; oy++)
        for (int ox = 0; ox < w; ox++) {
          double acc = pb[ch];
          for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++) {
              int iy = oy - 1 + ky, ix = ox - 1 + kx;
              if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                acc += (double) pw[ch * 9 + ky * 3 + kx] * v[(size_t) d * n + iy * w + ix];
            }
          ref[(size_t) ch * n + oy * w + ox] += acc;
        }
    }
  }
  rv_psa p = { .heads = heads, .key_dim = kd, .head_dim = hd,
    .pe = { c, c, 3, 1, c, RV_ACT_NONE, pw, pb } };
  scratch = malloc (rv_attention_scratch (kern, &p, h, w, nt) * sizeof *scratch);
  rv_attention (kern, &p, (rv_tensor) { qkv, rows, h, w, (size_t) n, 0, 0 },
      (rv_tensor) { y, c, h, w, (size_t) n, 0, 0 }, scratch, nt);
  char what[128];
  snprintf (what, sizeof what, "%s attention heads %d kd %d hd %d %dx%d threads %d",
      kern->name, heads, kd, hd, h, w, nt);
  check (what, y, (size_t) n, ref, c, (size_t) n, 2e-5);
  free (qkv), free (pw), free (pb), free (y), free (scratch), free (ref), free (a);
}

static void
dfl_case (int h, int w, int nt)
{
  int n = h * w, anchors = n + 7, a0 = 5;
  float *box = rand_buf ((size_t) 64 * n, -4, 4), *out = calloc ((size_t) 4 * anchors, sizeof (float));
  double *ref = malloc ((size_t) 4 * n * sizeof *ref);
  for (int i = 0; i < n; i++) {
    double d[4];
    for (int s = 0; s < 4; s++) {
      double m = -INFINITY, sum = 0, acc = 0;
      for (int b = 0; b < 16; b++)
        m = fmax (m, box[(size_t) (s * 16 + b) * n + i]);
      for (int b = 0; b < 16; b++) {
        double e = exp (box[(size_t) (s * 16 + b) * n + i] - m);
        sum += e;
        acc += b * e;
      }
      d[s] = acc / sum;
    }
    double ax = i % w + 0.5, ay = i / w + 0.5;
    ref[i] = (ax + (d[2] - d[0]) / 2) * 16;
    ref[n + i] = (ay + (d[3] - d[1]) / 2) * 16;
    ref[2 * n + i] = (d[0] + d[2]) * 16;
    ref[3 * n + i] = (d[1] + d[3]) * 16;
  }
  rv_dfl_decode (kern, (rv_tensor) { box, 64, h, w, (size_t) n, 0, 0 }, 16, out, anchors, a0, nt);
  char what[64];
  snprintf (what, sizeof what, "%s dfl decode %dx%d threads %d", kern->name, h, w, nt);
  check (what, out + a0, (size_t) anchors, ref, 4, (size_t) n, 2e-6);
  free (box), free (out), free (ref);
}

/* The dense convs and FFNs (GEMMs): odd K (a half-empty bf16 pair), odd
 * widths (tails of tiles), odd hidden widths. */
static void
gemm_cases (const rv_act *acts, int t)
{
  for (int a = 0; a < 5; a++) {
    conv_case (24, 40, 1, 1, 1, 13, 17, acts[a], a % 2, 0, t);
    conv_case (5, 7, 3, 1, 1, 9, 11, acts[a], a % 2, 0, t);      /* im2col */
    conv_case (6, 8, 3, 2, 1, 9, 11, acts[a], 0, 0, t);
    conv_case (19, 3, 1, 1, 1, 7, 101, acts[a], a % 2, 0, t);    /* SIMD tails */
  }
  conv_case (16, 12, 1, 1, 1, 5, 6, RV_ACT_SIGMOID, 0, 37, t);   /* strided output */
  conv_case (64, 24, 3, 1, 1, 40, 128, RV_ACT_SILU, 1, 0, t);    /* im2col tiles */
  conv_case (3, 8, 3, 2, 1, 64, 64, RV_ACT_GELU, 0, 0, t);       /* stem */
  conv_case (96, 200, 1, 1, 1, 20, 20, RV_ACT_SILU, 1, 0, t);    /* channel split */
  conv_case (256, 128, 1, 1, 1, 3, 5, RV_ACT_SILU, 0, 0, t);     /* cout / 3 < MR multiple */
  conv_case (4, 6, 3, 1, 1, 1, 1, RV_ACT_SILU, 0, 0, t);         /* 1x1 image */
  conv_case (7, 9, 3, 1, 1, 5, 53, RV_ACT_SILU, 1, 0, t);        /* runs across rows */
  conv_case (5, 9, 3, 2, 1, 7, 99, RV_ACT_SILU, 1, 0, t);        /* stride 2, odd width */
  conv_case (6, 10, 3, 1, 1, 11, 3, RV_ACT_GELU, 1, 5, t);       /* grid rows < a vector */
  conv_case (9, 12, 3, 2, 1, 2, 5, RV_ACT_SILU, 1, 3, t);        /* stride 2, 2 rows */
  conv_case (8, 12, 1, 2, 1, 9, 13, RV_ACT_RELU, 1, 0, t);       /* 1x1 stride 2 */
  conv_case (40, 16, 3, 2, 1, 160, 161, RV_ACT_NONE, 0, 0, t);   /* several bands */
  conv_case (64, 13, 3, 1, 1, 41, 161, RV_ACT_GELU, 1, 2, t);    /* Winograd bands */
  conv_case (520, 7, 3, 1, 1, 5, 6, RV_ACT_SILU, 0, 0, t);       /* K blocks */
  ffn_case (16, 32, 9, 13, RV_ACT_GELU, t);
  ffn_case (40, 80, 20, 21, RV_ACT_SILU, t);
  ffn_case (8, 16, 1, 3, RV_ACT_GELU, t);
  ffn_case (7, 13, 5, 9, RV_ACT_GELU, t);
}

/* The table kernels: convolutions, FFN, squeeze-excite. */
static void
table_cases (const rv_act *acts)
{
  for (int t = 1; t <= 3; t += 2) {
    gemm_cases (acts, t);
    for (int a = 0; a < 5; a++) {
      conv_case (9, 9, 3, 1, 9, 7, 9, acts[a], a % 2, 0, t);       /* depthwise */
      conv_case (9, 9, 3, 2, 9, 7, 10, acts[a], 0, 0, t);
      conv_case (21, 21, 3, 1, 21, 9, 37, acts[a], a % 2, 0, t);   /* SIMD tails */
    }
    conv_case (6, 6, 3, 1, 6, 13, 53, RV_ACT_SILU, 1, 7, t);       /* row tails */
    conv_case (5, 5, 3, 2, 5, 11, 67, RV_ACT_SILU, 1, 3, t);
    conv_case (3, 3, 3, 1, 3, 17, 16, RV_ACT_NONE, 0, 5, t);       /* whole vectors */
    conv_case (3, 3, 3, 2, 3, 9, 32, RV_ACT_NONE, 1, 0, t);
    conv_case (4, 4, 3, 1, 4, 1, 1, RV_ACT_NONE, 1, 0, t);         /* 1x1 image */
    conv_case (4, 4, 3, 2, 4, 1, 2, RV_ACT_NONE, 0, 0, t);
    conv_case (4, 4, 3, 2, 4, 2, 3, RV_ACT_NONE, 0, 0, t);
    conv_case (2, 2, 3, 1, 2, 150, 203, RV_ACT_SILU, 1, 0, t);     /* several bands */
    conv_case (2, 2, 3, 2, 2, 123, 330, RV_ACT_NONE, 1, 0, t);
    se_case (48, 16, 5, 7, t);
    se_case (24, 8, 9, 17, t);
    attention_case (2, 8, 16, 5, 6, t);
    attention_case (1, 32, 64, 4, 4, t);
    dfl_case (5, 7, t);
    dfl_case (3, 37, t);        /* vector tails */
    pool_upsample_case (3, 1, 1, t);
    pool_upsample_case (5, 3, 4, t);
    pool_upsample_case (4, 7, 9, t);
    pool_upsample_case (2, 6, 37, t);
  }
  for (int a = 1; a < 5; a++)
    activation_range (acts[a]);
}

int
main (void)
{
  static const rv_act acts[] = { RV_ACT_NONE, RV_ACT_SILU, RV_ACT_GELU,
    RV_ACT_RELU, RV_ACT_SIGMOID };
  kern = &rv_kernels_portable;
  table_cases (acts);
#if RV_HAVE_X86_KERNELS
  __builtin_cpu_init ();
  if (__builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma")) {
    kern = &rv_kernels_avx2;
    table_cases (acts);
  } else {
    printf ("no AVX2 here: its kernels are not tested\n");
  }
  if (__builtin_cpu_supports ("avx512f")) {
    kern = &rv_kernels_avx512;
    table_cases (acts);
  } else {
    printf ("no AVX-512 here: its kernels are not tested\n");
  }
  int has_bf16 = __builtin_cpu_supports ("avx512bf16")
      && __builtin_cpu_supports ("avx512bw");
  if (has_bf16) {
    kern = &rv_kernels_avx512bf16;
    table_cases (acts);
    bf16 = 1;
    for (int t = 1; t <= 3; t += 2)
      gemm_cases (acts, t);
    bf16 = 0;
  } else {
    printf ("no AVX512-BF16 here: its kernels are not tested; contexts stay "
        "f32 (test-ctx checks it)\n");
  }
  const char *force = getenv ("RV_FORCE_PORTABLE");
  if (!(force && *force && *force != '0') && rv_kernels_active ()->bf16 != has_bf16) {
    printf ("FAIL the %s table was chosen on a CPU %s AVX512-BF16\n",
        rv_kernels_active ()->name, has_bf16 ? "with" : "without");
    failures++;
  }
#endif
  printf ("%s\n", failures ? "some kernels FAILED" : "all kernels match");
  return failures != 0;
}
