/* model.c — architecture in code (spec sections 2, 3), weights from the file:
 * metadata checks, tensor lookups with exact shapes, BN folding, RepVGGDW
 * collapse. */
#include "model.h"
#include "error.h"
#include "json.h"
#include "weights.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Spec section 2: blocks (features.1 ...), "v" = stride 2, "S" = SE. */
static const struct rv_variant {
  const char *name;
  int widths[4];
  const char *blocks;
} variants[] = {
  { "m0_9", { 48, 96, 192, 384 },
      "S - - v- S - - v- S - S - S - S - S - S - S - - v- S -" },
  { "m1_0", { 56, 112, 224, 448 },
      "S - - v- S - - v- S - S - S - S - S - S - S - - v- S -" },
  { "m1_1", { 64, 128, 256, 512 },
      "S - - v- S - - v- S - S - S - S - S - S - - v- S -" },
  { "m1_5", { 64, 128, 256, 512 },
      "S - S - - v- S - S - - v- S - S - S - S - S - S - S - S - S - "
      "S - S - S - - v- S - S -" },
  { "m2_3", { 80, 160, 320, 640 },
      "S - S - S - - v- S - S - S - - v- S - S - S - S - S - S - S - "
      "S - S - S - S - S - S - S - S - S - S - - v- S -" },
};

/* Spec section 3: depth, width, max_channels. */
static const struct rv_scale {
  const char *name;
  int reps;                   /* round(2 * depth) */
  float width;
  int max_channels;
  bool c3k_forced;
} scales[] = {
  { "n", 1, 0.25f, 1024, false }, { "s", 1, 0.50f, 1024, false },
  { "m", 1, 1.00f, 512, true }, { "l", 2, 1.00f, 512, true },
  { "x", 2, 1.50f, 512, true },
};

static int
scale_ch (const struct rv_scale *s, int c)
{
  float v = (float) (c < s->max_channels ? c : s->max_channels) * s->width;
  return (int) ceilf (v / 8) * 8;
}

/* timm make_divisible(c / 4, 8) */
static int
se_width (int c)
{
  int r = (c / 4 + 4) / 8 * 8;
  return r < 8 ? 8 : r;
}

/* The model is built twice: dry, only checking names and shapes before any
 * tensor data is read, then over the data. */
typedef struct {
  rv_weights w;
  float eps;
  bool dry;                   /* no data yet: get() returns NULL */
  rv_status st;
  char *err;
  size_t es;
} rv_builder;

static void
format_shape (char *buf, size_t size, int ndim, const int64_t *shape)
{
  size_t n = (size_t) snprintf (buf, size, "[");
  for (int i = 0; i < ndim && n < size; i++)
    n += (size_t) snprintf (buf + n, size - n, "%s%lld", i ? ", " : "",
        (long long) shape[i]);
  if (n < size)
    snprintf (buf + n, size - n, "]");
}

/* The tensor called fmt... with exactly this shape, marked consumed; NULL
 * (and a sticky error) when missing or of another shape. */
static float *
get (rv_builder *b, int ndim, const int *dims, const char *fmt, ...)
{
  if (b->st)
    return NULL;
  char name[160];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (name, sizeof name, fmt, ap);
  va_end (ap);
  rv_tensor_entry *t = rv_weights_find (&b->w, name);
  if (!t) {
    b->st = rv_error (b->err, b->es, RV_ERR_TENSOR, "%s: missing tensor %s",
        b->w.path, name);
    return NULL;
  }
  bool same = t->ndim == ndim;
  for (int i = 0; same && i < ndim; i++)
    same = t->shape[i] == dims[i];
  if (!same) {
    char have[96], want[96];
    int64_t d[RV_MAX_DIMS];
    for (int i = 0; i < ndim; i++)
      d[i] = dims[i];
    format_shape (have, sizeof have, t->ndim, t->shape);
    format_shape (want, sizeof want, ndim, d);
    b->st = rv_error (b->err, b->es, RV_ERR_TENSOR, "%s: tensor %s has shape "
        "%s, expected %s", b->w.path, name, have, want);
    return NULL;
  }
  t->used = true;
  return b->dry ? NULL : t->data;
}

/* w (cout x per_out) and bias (or 0) through BatchNorm(gamma, beta, mean,
 * var): the folded bias is stored over beta. False when dry or failed. */
static bool
fold_bn (rv_builder *b, const char *prefix, float *w, const float *bias,
    int cout, int per_out, float **bias_out)
{
  float *g = get (b, 1, &cout, "%s.bn.weight", prefix);
  float *beta = get (b, 1, &cout, "%s.bn.bias", prefix);
  float *mean = get (b, 1, &cout, "%s.bn.running_mean", prefix);
  float *var = get (b, 1, &cout, "%s.bn.running_var", prefix);
  if (b->st || b->dry)
    return false;
  for (int o = 0; o < cout; o++) {
    if (var[o] < 0) {
      b->st = rv_error (b->err, b->es, RV_ERR_VALUE, "%s: tensor "
          "%s.bn.running_var has a negative value", b->w.path, prefix);
      return false;
    }
    double s = g[o] / sqrt ((double) var[o] + b->eps);
    bool finite = true;
    for (int i = 0; i < per_out; i++) {
      float *x = &w[(size_t) o * per_out + i];
      *x = (float) (*x * s);
      finite = finite && isfinite (*x);
    }
    beta[o] = (float) (((bias ? bias[o] : 0.0) - mean[o]) * s + beta[o]);
    if (!finite || !isfinite (beta[o])) {
      b->st = rv_error (b->err, b->es, RV_ERR_VALUE, "%s: tensors %s.bn.* "
          "folded into the convolution give a non-finite %s in output "
          "channel %d (the values overflow a float)", b->w.path, prefix,
          finite ? "bias" : "weight", o);
      return false;
    }
  }
  *bias_out = beta;
  return true;
}

/* Conv2d_BN (RepViT, conv called "c") or ultralytics Conv ("conv"). */
static void
conv_bn (rv_builder *b, rv_conv *cv, const char *prefix, const char *conv,
    int cin, int cout, int k, int stride, int groups, rv_act act)
{
  *cv = (rv_conv) { cin, cout, k, stride, groups, act, NULL, NULL, NULL };
  float *w = get (b, 4, (int[]) { cout, cin / groups, k, k }, "%s.%s.weight",
      prefix, conv);
  float *bias;
  if (fold_bn (b, prefix, w, NULL, cout, cin / groups * k * k, &bias)) {
    cv->w = w;
    cv->b = bias;
  }
}

static void
conv_bias (rv_builder *b, rv_conv *cv, const char *prefix, int cin, int cout,
    rv_act act)
{
  *cv = (rv_conv) { cin, cout, 1, 1, 1, act, NULL, NULL, NULL };
  cv->w = get (b, 4, (int[]) { cout, cin, 1, 1 }, "%s.weight", prefix);
  cv->b = get (b, 1, &cout, "%s.bias", prefix);
}

/* bn(conv(x) + conv1(x) + x) as one depthwise 3x3 conv with bias. */
static void
repvggdw (rv_builder *b, rv_conv *cv, const char *prefix, int c)
{
  char name[128];
  snprintf (name, sizeof name, "%s.conv", prefix);
  conv_bn (b, cv, name, "c", c, c, 3, 1, c, RV_ACT_NONE);
  const float *w1 = get (b, 4, (int[]) { c, 1, 1, 1 }, "%s.conv1.weight", prefix);
  const float *b1 = get (b, 1, &c, "%s.conv1.bias", prefix);
  float *w = (float *) cv->w, *bias = (float *) cv->b;
  for (int o = 0; w && w1 && b1 && o < c; o++) {
    w[o * 9 + 4] += w1[o] + 1.0f;
    bias[o] += b1[o];
  }
  if (fold_bn (b, prefix, w, bias, c, 9, &bias))
    cv->b = bias;
}

static void
build_se (rv_builder *b, rv_se *se, const char *prefix, int c)
{
  int r = se_width (c);
  se->c = c;
  se->r = r;
  se->w1 = get (b, 4, (int[]) { r, c, 1, 1 }, "%s.fc1.weight", prefix);
  se->b1 = get (b, 1, &r, "%s.fc1.bias", prefix);
  se->w2 = get (b, 4, (int[]) { c, r, 1, 1 }, "%s.fc2.weight", prefix);
  se->b2 = get (b, 1, &c, "%s.fc2.bias", prefix);
}

static void
build_backbone (rv_builder *b, rv_model *m, const struct rv_variant *v)
{
  char p[96];
  const int *wd = v->widths;
  conv_bn (b, &m->stem[0], "model.0.features.0.0", "c", 3, wd[0] / 2, 3, 2, 1,
      RV_ACT_GELU);
  conv_bn (b, &m->stem[1], "model.0.features.0.2", "c", wd[0] / 2, wd[0], 3, 2,
      1, RV_ACT_NONE);
  int stage = 0, n = 0;
  for (const char *s = v->blocks; *s; s++)
    if (*s == 'S' || *s == '-')
      n++;
  m->n_blocks = 0;
  if (!m->blocks)
    m->blocks = calloc ((size_t) n, sizeof *m->blocks);
  if (!m->blocks) {
    b->st = rv_error (b->err, b->es, RV_ERR_NOMEM, "%s: out of memory",
        b->w.path);
    return;
  }
  for (const char *s = v->blocks; *s; s++) {
    if (*s == ' ' || *s == 'v')
      continue;
    rv_block *bl = &m->blocks[m->n_blocks++];
    int i = m->n_blocks, c = wd[stage];
    bl->stride = s > v->blocks && s[-1] == 'v' ? 2 : 1;
    bl->has_se = *s == 'S';
    if (bl->stride == 2) {
      /* the last block of the previous stage is a tap (P3, P4) */
      if (stage >= 1)
        m->taps[stage - 1] = m->n_blocks - 2;
      stage++;
      snprintf (p, sizeof p, "model.0.features.%d.token_mixer.0", i);
      conv_bn (b, &bl->mixer, p, "c", c, c, 3, 2, c, RV_ACT_NONE);
      snprintf (p, sizeof p, "model.0.features.%d.token_mixer.2", i);
      conv_bn (b, &bl->proj, p, "c", c, wd[stage], 1, 1, 1, RV_ACT_NONE);
    } else {
      snprintf (p, sizeof p, "model.0.features.%d.token_mixer.0", i);
      repvggdw (b, &bl->mixer, p, c);
    }
    if (bl->has_se) {
      snprintf (p, sizeof p, "model.0.features.%d.token_mixer.1", i);
      build_se (b, &bl->se, p, c);
    }
    c = wd[stage];
    snprintf (p, sizeof p, "model.0.features.%d.channel_mixer.m.0", i);
    conv_bn (b, &bl->ffn0, p, "c", c, 2 * c, 1, 1, 1, RV_ACT_GELU);
    snprintf (p, sizeof p, "model.0.features.%d.channel_mixer.m.2", i);
    conv_bn (b, &bl->ffn1, p, "c", 2 * c, c, 1, 1, 1, RV_ACT_NONE);
  }
  m->taps[2] = m->n_blocks - 1;
}

static void
build_bottleneck (rv_builder *b, rv_bottleneck *bn, const char *prefix,
    int c, int hidden)
{
  char p[128];
  snprintf (p, sizeof p, "%s.cv1", prefix);
  conv_bn (b, &bn->cv1, p, "conv", c, hidden, 3, 1, 1, RV_ACT_SILU);
  snprintf (p, sizeof p, "%s.cv2", prefix);
  conv_bn (b, &bn->cv2, p, "conv", hidden, c, 3, 1, 1, RV_ACT_SILU);
}

static void
build_c3k2 (rv_builder *b, rv_c3k2 *x, int layer, int cin, int cout, int n,
    bool c3k)
{
  char p[96];
  int c = cout / 2;
  x->c = c;
  x->n = n;
  x->c3k = c3k;
  snprintf (p, sizeof p, "model.%d.cv1", layer);
  conv_bn (b, &x->cv1, p, "conv", cin, 2 * c, 1, 1, 1, RV_ACT_SILU);
  snprintf (p, sizeof p, "model.%d.cv2", layer);
  conv_bn (b, &x->cv2, p, "conv", (2 + n) * c, cout, 1, 1, 1, RV_ACT_SILU);
  for (int j = 0; j < n; j++) {
    if (!c3k) {
      snprintf (p, sizeof p, "model.%d.m.%d", layer, j);
      build_bottleneck (b, &x->m[j], p, c, c / 2);
      continue;
    }
    rv_c3k *k = &x->k[j];
    const char *names[3] = { "cv1", "cv2", "cv3" };
    rv_conv *convs[3] = { &k->cv1, &k->cv2, &k->cv3 };
    for (int i = 0; i < 3; i++) {
      snprintf (p, sizeof p, "model.%d.m.%d.%s", layer, j, names[i]);
      conv_bn (b, convs[i], p, "conv", c, i < 2 ? c / 2 : c, 1, 1, 1,
          RV_ACT_SILU);
    }
    for (int i = 0; i < 2; i++) {
      snprintf (p, sizeof p, "model.%d.m.%d.m.%d", layer, j, i);
      build_bottleneck (b, &k->m[i], p, c / 2, c / 2);
    }
  }
}

static void
build_c2psa (rv_builder *b, rv_c2psa *x, int c, int n)
{
  char p[96];
  int h = c / 2;
  x->n = n;
  conv_bn (b, &x->cv1, "model.2.cv1", "conv", c, 2 * h, 1, 1, 1, RV_ACT_SILU);
  conv_bn (b, &x->cv2, "model.2.cv2", "conv", 2 * h, c, 1, 1, 1, RV_ACT_SILU);
  for (int j = 0; j < n; j++) {
    rv_psa *a = &x->m[j];
    a->heads = h / 64 > 0 ? h / 64 : 1;
    a->head_dim = h / a->heads;
    a->key_dim = a->head_dim / 2;
    snprintf (p, sizeof p, "model.2.m.%d.attn.qkv", j);
    conv_bn (b, &a->qkv, p, "conv", h, h + 2 * a->heads * a->key_dim, 1, 1, 1,
        RV_ACT_NONE);
    snprintf (p, sizeof p, "model.2.m.%d.attn.pe", j);
    conv_bn (b, &a->pe, p, "conv", h, h, 3, 1, h, RV_ACT_NONE);
    snprintf (p, sizeof p, "model.2.m.%d.attn.proj", j);
    conv_bn (b, &a->proj, p, "conv", h, h, 1, 1, 1, RV_ACT_NONE);
    snprintf (p, sizeof p, "model.2.m.%d.ffn.0", j);
    conv_bn (b, &a->ffn0, p, "conv", h, 2 * h, 1, 1, 1, RV_ACT_SILU);
    snprintf (p, sizeof p, "model.2.m.%d.ffn.1", j);
    conv_bn (b, &a->ffn1, p, "conv", 2 * h, h, 1, 1, 1, RV_ACT_NONE);
  }
}

static void
build_detect (rv_builder *b, rv_model *m, const int ch[3])
{
  char p[96];
  int nc = m->nc, c2 = ch[0] / 4 > 64 ? ch[0] / 4 : 64;
  int c3 = ch[0] > (nc < 100 ? nc : 100) ? ch[0] : (nc < 100 ? nc : 100);
  for (int i = 0; i < 3; i++) {
    rv_detect_level *d = &m->det[i];
    snprintf (p, sizeof p, "model.15.cv2.%d.0", i);
    conv_bn (b, &d->box[0], p, "conv", ch[i], c2, 3, 1, 1, RV_ACT_SILU);
    snprintf (p, sizeof p, "model.15.cv2.%d.1", i);
    conv_bn (b, &d->box[1], p, "conv", c2, c2, 3, 1, 1, RV_ACT_SILU);
    snprintf (p, sizeof p, "model.15.cv2.%d.2", i);
    conv_bias (b, &d->box[2], p, c2, 64, RV_ACT_NONE);
    snprintf (p, sizeof p, "model.15.cv3.%d.0.0", i);
    conv_bn (b, &d->cls[0], p, "conv", ch[i], ch[i], 3, 1, ch[i], RV_ACT_SILU);
    snprintf (p, sizeof p, "model.15.cv3.%d.0.1", i);
    conv_bn (b, &d->cls[1], p, "conv", ch[i], c3, 1, 1, 1, RV_ACT_SILU);
    snprintf (p, sizeof p, "model.15.cv3.%d.1.0", i);
    conv_bn (b, &d->cls[2], p, "conv", c3, c3, 3, 1, c3, RV_ACT_SILU);
    snprintf (p, sizeof p, "model.15.cv3.%d.1.1", i);
    conv_bn (b, &d->cls[3], p, "conv", c3, c3, 1, 1, 1, RV_ACT_SILU);
    snprintf (p, sizeof p, "model.15.cv3.%d.2", i);
    conv_bias (b, &d->cls[4], p, c3, nc, RV_ACT_SIGMOID);
  }
  int n16 = 16;
  const float *dfl = get (b, 4, (int[]) { 1, n16, 1, 1 }, "model.15.dfl.conv.weight");
  for (int i = 0; dfl && i < n16; i++)
    if (dfl[i] != (float) i) {
      b->st = rv_error (b->err, b->es, RV_ERR_VALUE, "%s: tensor "
          "model.15.dfl.conv.weight must be 0 .. 15 (element %d is %g)",
          b->w.path, i, (double) dfl[i]);
      return;
    }
}

static void
build (rv_builder *b, rv_model *m, const struct rv_variant *v,
    const struct rv_scale *s)
{
  build_backbone (b, m, v);
  int c5 = v->widths[3], c4 = v->widths[2], c3 = v->widths[1];
  int ch1024 = scale_ch (s, 1024), ch512 = scale_ch (s, 512),
      ch256 = scale_ch (s, 256);
  conv_bn (b, &m->sppf[0], "model.1.cv1", "conv", c5, c5 / 2, 1, 1, 1,
      RV_ACT_SILU);
  conv_bn (b, &m->sppf[1], "model.1.cv2", "conv", c5 / 2 * 4, ch1024, 1, 1, 1,
      RV_ACT_SILU);
  build_c2psa (b, &m->c2psa, ch1024, s->reps);
  build_c3k2 (b, &m->c3k2[0], 5, ch1024 + c4, ch512, s->reps, s->c3k_forced);
  build_c3k2 (b, &m->c3k2[1], 8, ch512 + c3, ch256, s->reps, s->c3k_forced);
  conv_bn (b, &m->down[0], "model.9", "conv", ch256, ch256, 3, 2, 1,
      RV_ACT_SILU);
  build_c3k2 (b, &m->c3k2[2], 11, ch256 + ch512, ch512, s->reps,
      s->c3k_forced);
  conv_bn (b, &m->down[1], "model.12", "conv", ch512, ch512, 3, 2, 1,
      RV_ACT_SILU);
  build_c3k2 (b, &m->c3k2[3], 14, ch512 + ch1024, ch1024, s->reps, true);
  build_detect (b, m, (int[]) { ch256, ch512, ch1024 });
}

/* ---- metadata --------------------------------------------------------- */

static bool
parse_int (const char *s, long lo, long hi, int *out)
{
  char *end;
  errno = 0;
  long v = strtol (s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi || s[0] == ' ' || s[0] == '+')
    return false;
  *out = (int) v;
  return true;
}

/* The highest backbone block any tensor names: a block with a tensor
 * missing still counts, so the builder names that tensor. */
static int
count_blocks (const rv_weights *w)
{
  static const char prefix[] = "model.0.features.";
  int n = 0;
  for (size_t i = 0; i < w->n_tensors; i++) {
    const char *name = w->tensors[i].name;
    if (strncmp (name, prefix, sizeof prefix - 1))
      continue;
    char *end;
    long k = strtol (name + sizeof prefix - 1, &end, 10);
    if (*end == '.' && k > n && k < 10000)
      n = (int) k;
  }
  return n;
}

/* Variant, scale and nc must agree with the tensors before any shape check,
 * so that a wrong field is reported as such. */
static rv_status
check_metadata (rv_builder *b, rv_model *m, const struct rv_variant *v,
    const struct rv_scale *s)
{
  const rv_weights *w = &b->w;
  const char *p = w->path;
  char *err = b->err;
  size_t es = b->es;
  const rv_tensor_entry *t = rv_weights_find (w, "model.15.cv3.0.2.bias");
  if (t && t->ndim == 1 && t->shape[0] != m->nc)
    return rv_error (err, es, RV_ERR_METADATA, "%s: metadata nc is %d but "
        "tensor model.15.cv3.0.2.bias has %lld classes", p, m->nc,
        (long long) t->shape[0]);
  t = rv_weights_find (w, "model.0.features.0.2.c.weight");
  int nb = count_blocks (w), want = 0;
  for (const char *c = v->blocks; *c; c++)
    want += *c == 'S' || *c == '-';
  if ((t && t->ndim >= 1 && t->shape[0] != v->widths[0]) || nb != want)
    return rv_error (err, es, RV_ERR_METADATA, "%s: metadata variant %s does "
        "not match the tensors (%d backbone blocks, stem width %lld; %s has "
        "%d, %d)", p, v->name, nb, t && t->ndim ? (long long) t->shape[0] : -1LL,
        v->name, want, v->widths[0]);
  t = rv_weights_find (w, "model.1.cv2.conv.weight");
  bool reps2 = rv_weights_find (w, "model.2.m.1.attn.qkv.conv.weight");
  bool c3k = rv_weights_find (w, "model.5.m.0.cv3.conv.weight");
  if ((t && t->ndim >= 1 && t->shape[0] != scale_ch (s, 1024))
      || reps2 != (s->reps == 2) || c3k != s->c3k_forced)
    return rv_error (err, es, RV_ERR_METADATA, "%s: metadata scale %s does "
        "not match the tensors (model.1.cv2 width %lld, %d repeats, C3k %s; "
        "%s has %d, %d, %s)", p, s->name,
        t && t->ndim ? (long long) t->shape[0] : -1LL, reps2 ? 2 : 1,
        c3k ? "everywhere" : "in model.14 only", s->name, scale_ch (s, 1024),
        s->reps, s->c3k_forced ? "everywhere" : "in model.14 only");
  return RV_OK;
}

/* The checked JSON list of class names: counts its strings into *n and,
 * given names (room for *n pointers and then len bytes, which the decoded
 * strings never outgrow), fills it. False if an item is no string. */
static bool
read_names (const char *text, size_t len, char **names, size_t *n)
{
  json_reader rd;
  char *next = names ? (char *) (names + *n) : NULL;   /* past the pointers */
  json_init (&rd, text, len);
  bool ok = json_eat (&rd, '[');
  for (*n = 0; ok && json_next (&rd); (*n)++) {
    if (names)
      names[*n] = next;
    ok = json_string (&rd, names ? &next : NULL);
  }
  return ok;
}

/* A class name shows in captions, JSON and GStreamer structures: text on
 * one line, no C0 or C1 control characters (JSON made it valid UTF-8). */
static bool
name_ok (const char *s)
{
  const unsigned char *u = (const unsigned char *) s;
  for (; *u; u++)
    if (*u < 0x20 || *u == 0x7f || (*u == 0xc2 && u[1] >= 0x80 && u[1] < 0xa0))
      return false;
  return *s != '\0';
}

static rv_status
load_metadata (rv_builder *b, rv_model *m, const struct rv_variant **v,
    const struct rv_scale **s)
{
  const rv_weights *w = &b->w;
  const char *p = w->path;
  char *err = b->err;
  size_t es = b->es;
  if (!w->has_meta)
    return rv_error (err, es, RV_ERR_METADATA, "%s: missing __metadata__ "
        "(arch, variant, scale, nc, names)", p);
  static const char *required[] = { "arch", "variant", "scale", "nc", "names" };
  for (size_t i = 0; i < 5; i++)
    if (!rv_weights_meta (w, required[i]))
      return rv_error (err, es, RV_ERR_METADATA, "%s: missing metadata %s", p,
          required[i]);
  char e[RV_ESC_SIZE];
  const char *arch = rv_weights_meta (w, "arch");
  if (strcmp (arch, "repvit-yolo11"))
    return rv_error (err, es, RV_ERR_METADATA, "%s: metadata arch is '%s', "
        "expected 'repvit-yolo11'", p, rv_escape (e, arch));
  const char *var = rv_weights_meta (w, "variant"), *sc = rv_weights_meta (w, "scale");
  *v = NULL;
  *s = NULL;
  for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
    if (!strcmp (var, variants[i].name))
      *v = &variants[i];
  for (size_t i = 0; i < sizeof scales / sizeof scales[0]; i++)
    if (!strcmp (sc, scales[i].name))
      *s = &scales[i];
  if (!*v)
    return rv_error (err, es, RV_ERR_METADATA, "%s: metadata variant '%s' "
        "is not one of m0_9, m1_0, m1_1, m1_5, m2_3", p, rv_escape (e, var));
  if (!*s)
    return rv_error (err, es, RV_ERR_METADATA, "%s: metadata scale '%s' "
        "is not one of n, s, m, l, x", p, rv_escape (e, sc));
  snprintf (m->variant, sizeof m->variant, "%s", var);
  snprintf (m->scale, sizeof m->scale, "%s", sc);
  if (!parse_int (rv_weights_meta (w, "nc"), 1, 100000, &m->nc))
    return rv_error (err, es, RV_ERR_METADATA, "%s: metadata nc '%s' is not "
        "an integer in 1 .. 100000", p, rv_escape (e, rv_weights_meta (w, "nc")));
  /* the training size is the default network input: the same limit */
  const char *imgsz = rv_weights_meta (w, "imgsz");
  m->imgsz = 640;
  if (imgsz && (!parse_int (imgsz, 32, RV_MAX_INPUT_SIZE, &m->imgsz)
          || m->imgsz % 32))
    return rv_error (err, es, RV_ERR_METADATA, "%s: metadata imgsz '%s' is "
        "not a multiple of 32 in 32 .. %d (the largest network input)", p,
        rv_escape (e, imgsz), RV_MAX_INPUT_SIZE);
  /* checked as the float the folding adds, not as the double written */
  const char *eps = rv_weights_meta (w, "bn_eps");
  b->eps = 1e-3f;
  if (eps) {
    char *end;
    float f = strtof (eps, &end);
    if (end == eps || *end || !(f > 0 && f < 1))
      return rv_error (err, es, RV_ERR_METADATA, "%s: metadata bn_eps '%s' "
          "is not a number in (0, 1) as a float", p, rv_escape (e, eps));
    b->eps = f;
  }
  m->bn_eps = b->eps;

  const char *names = rv_weights_meta (w, "names");
  size_t len = strlen (names), n;
  char jerr[160];
  if (!json_check (names, len, jerr, sizeof jerr))
    return rv_error (err, es, RV_ERR_METADATA, "%s: metadata names is not "
        "valid JSON: %s", p, jerr);
  if (!read_names (names, len, NULL, &n))
    return rv_error (err, es, RV_ERR_METADATA, "%s: metadata names must be a "
        "JSON list of strings", p);
  if (n != (size_t) m->nc)
    return rv_error (err, es, RV_ERR_METADATA, "%s: metadata names has %zu "
        "entries but nc is %d", p, n, m->nc);
  if (!(m->names = malloc (n * sizeof *m->names + len)))
    return rv_error (err, es, RV_ERR_NOMEM, "%s: out of memory", p);
  read_names (names, len, m->names, &n);
  for (size_t i = 0; i < n; i++)
    if (!name_ok (m->names[i]))
      return rv_error (err, es, RV_ERR_METADATA, "%s: metadata names: class "
          "%zu, %s, is empty or has a control character", p, i,
          rv_escape (e, m->names[i]));
  return check_metadata (b, m, *v, *s);
}

/* ---- public ----------------------------------------------------------- */

/* Header, metadata, then every name and shape against the architecture, and
 * only then the data: refusing a file costs about its header's size. */
static rv_status
load (const char *path, const rv_source *src, rv_model **out, char *err,
    size_t es)
{
  *out = NULL;
  rv_model *m = calloc (1, sizeof *m);
  if (!m)
    return rv_error (err, es, RV_ERR_NOMEM, "%s: out of memory", path);
  atomic_init (&m->refs, 1);
  rv_builder b = { .err = err, .es = es, .dry = true };
  const struct rv_variant *v = NULL;
  const struct rv_scale *s = NULL;
  char n[RV_ESC_SIZE];
  b.st = rv_weights_parse (&b.w, path, src, err, es);
  if (!b.st)
    b.st = load_metadata (&b, m, &v, &s);
  if (!b.st)
    build (&b, m, v, s);
  for (size_t i = 0; !b.st && i < b.w.n_tensors; i++)
    if (!b.w.tensors[i].used)
      b.st = rv_error (err, es, RV_ERR_TENSOR, "%s: unexpected tensor %s",
          path, rv_escape (n, b.w.tensors[i].name));
  if (!b.st)
    b.st = rv_weights_load_data (&b.w, src, err, es);
  b.dry = false;
  if (!b.st)
    build (&b, m, v, s);
  if (b.st) {
    rv_weights_free (&b.w);
    rv_model_free (m);
    return b.st;
  }
  m->n_params = b.w.n_elements;
  m->weights = b.w.data;      /* the folded weights live on in the model */
  b.w.data = NULL;
  rv_weights_free (&b.w);
  *out = m;
  return RV_OK;
}

rv_status
rv_model_load_memory (const void *data, size_t size, rv_model **out,
    char *err, size_t err_size)
{
  if (!out || (!data && size))
    return rv_error (err, err_size, RV_ERR_ARG, "<memory>: invalid argument");
  rv_source src = { data ? data : (const void *) "", -1, size };
  return load ("<memory>", &src, out, err, err_size);
}

static const char *
file_kind (mode_t mode)
{
  return S_ISDIR (mode) ? "a directory" : S_ISFIFO (mode) ? "a FIFO"
      : S_ISCHR (mode) ? "a character device" : S_ISBLK (mode)
      ? "a block device" : S_ISSOCK (mode) ? "a socket" : "not a regular file";
}

rv_status
rv_model_load (const char *path, rv_model **out, char *err, size_t err_size)
{
  if (!path || !out)
    return rv_error (err, err_size, RV_ERR_ARG, "invalid argument");
  *out = NULL;
  /* O_NONBLOCK: opening a FIFO must not wait for a writer; the type is
   * checked on the descriptor before anything is read from it */
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  struct stat sb, after;
  if (fd < 0 || fstat (fd, &sb) < 0) {
    rv_status st = rv_error (err, err_size, RV_ERR_IO, "%s: cannot open: %s",
        path, strerror (errno));
    if (fd >= 0)
      close (fd);
    return st;
  }
  if (!S_ISREG (sb.st_mode)) {
    close (fd);
    return rv_error (err, err_size, RV_ERR_IO, "%s: is %s, not a regular "
        "file", path, file_kind (sb.st_mode));
  }
  /* read with pread, not mapped: a writer truncating the file then makes
   * a short read (an error), not SIGBUS */
  rv_source src = { NULL, fd, (uint64_t) sb.st_size };
  rv_status st = load (path, &src, out, err, err_size);
  if (!st && (fstat (fd, &after) < 0 || after.st_size != sb.st_size
          || after.st_mtim.tv_sec != sb.st_mtim.tv_sec
          || after.st_mtim.tv_nsec != sb.st_mtim.tv_nsec)) {
    rv_model_free (*out);
    *out = NULL;
    st = rv_error (err, err_size, RV_ERR_IO, "%s: the file changed while it "
        "was being read (replaced or rewritten meanwhile?)", path);
  }
  close (fd);
  return st;
}

rv_model *
rv_model_ref (rv_model *model)
{
  if (model)
    atomic_fetch_add (&model->refs, 1);
  return model;
}

void
rv_model_free (rv_model *m)
{
  if (!m || atomic_fetch_sub (&m->refs, 1) != 1)
    return;
  free (m->names);             /* one block with the strings */
  free (m->blocks);
  free (m->weights);
  free (m);
}

const char *
rv_model_variant (const rv_model *model)
{
  return model->variant;
}

const char *
rv_model_scale (const rv_model *model)
{
  return model->scale;
}

int
rv_model_num_classes (const rv_model *model)
{
  return model->nc;
}

const char *
rv_model_class_name (const rv_model *model, int class_id)
{
  return class_id >= 0 && class_id < model->nc ? model->names[class_id] : NULL;
}

int
rv_model_imgsz (const rv_model *model)
{
  return model->imgsz;
}

uint64_t
rv_model_num_params (const rv_model *model)
{
  return model->n_params;
}

double
rv_model_macs (const rv_model *model, int w, int h)
{
  return rv_graph_macs (model, w, h);
}
