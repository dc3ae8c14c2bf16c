/* graph.c — the fixed forward pass (spec sections 2, 3) over one planned
 * arena, and the per-run context.
 *
 * The forward code allocates and frees its tensors as it goes. Planning runs
 * it once without an arena ("measure": no kernel runs, offsets and the peak
 * are recorded); every frame replays the same deterministic sequence of
 * first-fit allocations over the arena, so the per-frame path never calls
 * malloc. Concatenations are buffers whose producers write their channel
 * slice in place.
 *
 * In BF16 and INT8 precision the context holds the dense convs' weights
 * packed in that format (rv_packed), and in F32 the 3x3 stride-1 ones in
 * Winograd form where its kernel table runs that; listed in the order the
 * forward pass visits those convs (the same deterministic order the arena
 * relies on); each conv runs on a copy of its rv_conv pointing at its
 * block. An int8 conv quantizes its whole input tensor, so the residual
 * FFN's hidden tensor is materialized in INT8 rather than fused. */
#include "error.h"
#include "model.h"
#include "ops.h"
#include "post.h"

#include <assert.h>
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 64
#define MAX_FREE 64

typedef struct {
  size_t off, size;
} rv_span;

typedef struct {
  const rv_model *m;
  int in_w, in_h, anchors, nt;
  char *base;                 /* arena; NULL while measuring */
  size_t cap;                 /* arena size */
  size_t top, peak;           /* end of the used region, its maximum */
  rv_span free[MAX_FREE];     /* holes below top, sorted by offset */
  int n_free;
  double macs;
  rv_tensor input, output, post;
  const rv_kernels *kn;
  const rv_s8_kernels *s8;    /* INT8: the int8 micro-kernels */
  const rv_packed *packed;    /* packed weights per dense conv, or NULL: f32 */
  const rv_conv **visit;      /* if set, receives the dense convs */
  int n_dense;                /* dense convs visited so far */
} rv_graph;

struct rv_ctx {
  rv_model *model;
  int nt;
  int in_w, in_h, anchors;
  char *arena;
  size_t arena_size;
  float *input, *output;
  void *post;
  rv_precision precision;     /* effective */
  const rv_kernels *kn;       /* chosen at init */
  const rv_s8_kernels *s8;    /* INT8 */
  rv_packed *packed;          /* per dense conv, or NULL: all f32 */
  int n_packed;
};

/* ---- arena ------------------------------------------------------------ */

static size_t
arena_alloc (rv_graph *g, size_t bytes)
{
  bytes = (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
  for (int i = 0; i < g->n_free; i++) {
    rv_span *s = &g->free[i];
    if (s->size < bytes)
      continue;
    size_t off = s->off;
    s->off += bytes;
    s->size -= bytes;
    if (!s->size)
      memmove (s, s + 1, (size_t) (--g->n_free - i) * sizeof *s);
    return off;
  }
  size_t off = g->top;
  g->top += bytes;
  if (g->top > g->peak)
    g->peak = g->top;
  return off;
}

static void
arena_release (rv_graph *g, size_t off, size_t bytes)
{
  bytes = (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
  int i = 0;
  while (i < g->n_free && g->free[i].off < off)
    i++;
  if (i > 0 && g->free[i - 1].off + g->free[i - 1].size == off) {
    g->free[--i].size += bytes;
  } else {
    if (g->n_free == MAX_FREE)    /* leaked; deterministic, so still replayable */
      return;
    memmove (&g->free[i + 1], &g->free[i],
        (size_t) (g->n_free++ - i) * sizeof g->free[0]);
    g->free[i] = (rv_span) { off, bytes };
  }
  if (i + 1 < g->n_free && g->free[i].off + g->free[i].size == g->free[i + 1].off) {
    g->free[i].size += g->free[i + 1].size;
    memmove (&g->free[i + 1], &g->free[i + 2],
        (size_t) (--g->n_free - i - 1) * sizeof g->free[0]);
  }
  if (g->free[i].off + g->free[i].size == g->top) {
    g->top = g->free[i].off;
    g->n_free--;
  }
}

static rv_tensor
t_new (rv_graph *g, int c, int h, int w)
{
  size_t bytes = (size_t) c * h * w * sizeof (float);
  size_t off = arena_alloc (g, bytes);
  return (rv_tensor) { g->base ? (float *) (g->base + off) : NULL, c, h, w,
    (size_t) h * w, off, bytes };
}

/* Kernel scratch of n floats (sized in size_t: it grows with threads). */
static rv_tensor
t_scratch (rv_graph *g, size_t n)
{
  size_t bytes = n * sizeof (float);
  size_t off = arena_alloc (g, bytes);
  return (rv_tensor) { g->base ? (float *) (g->base + off) : NULL, 1, 1, 0,
    0, off, bytes };
}

static void
t_free (rv_graph *g, rv_tensor *t)
{
  if (t->bytes)
    arena_release (g, t->off, t->bytes);
  t->bytes = 0;
}

static rv_tensor
slice (rv_tensor t, int c0, int c)
{
  return (rv_tensor) { t.d ? t.d + c0 * t.cs : NULL, c, t.h, t.w, t.cs, 0, 0 };
}

/* ---- layers ----------------------------------------------------------- */

rv_s8_conv_hook rv_s8_conv_observer;

/* cv as it runs at the graph's precision: a packed dense conv is a copy in
 * *tmp pointing at its block. */
static const rv_conv *
at_precision (rv_graph *g, const rv_conv *cv, rv_conv *tmp)
{
  if (cv->groups != 1)
    return cv;
  int i = g->n_dense++;
  if (g->visit)
    g->visit[i] = cv;
  if (!g->packed)
    return cv;
  *tmp = *cv;
  tmp->packed = &g->packed[i];
  return tmp;
}

static void
conv (rv_graph *g, const rv_conv *cv, rv_tensor x, rv_tensor y,
    const rv_tensor *res)
{
  rv_conv c;
  cv = at_precision (g, cv, &c);
  assert (x.c == cv->cin && y.c == cv->cout);
  assert (y.h == (x.h - 1) / cv->stride + 1 && y.w == (x.w - 1) / cv->stride + 1);
  const bool s8 = cv->packed && cv->packed->format == RV_FORMAT_S8;
  size_t sf = s8 ? (rv_s8_conv_scratch (g->s8, cv, x.h, x.w, y.h, y.w, g->nt)
      + sizeof (float) - 1) / sizeof (float)
      : g->kn->conv_scratch (cv, x.w, y.h, y.w, g->nt);
  rv_tensor s = sf ? t_scratch (g, sf) : (rv_tensor) { 0 };
  g->macs += (double) cv->cout * (cv->cin / cv->groups) * cv->k * cv->k
      * y.h * y.w;
  if (g->base && s8) {
    rv_s8_conv2d (g->s8, cv, x, y, res, s.d, g->nt);
    if (rv_s8_conv_observer)
      rv_s8_conv_observer (g->s8, cv, x, y);
  } else if (g->base)
    g->kn->conv2d (cv, x, y, res, s.d, g->nt);
  t_free (g, &s);
}

static rv_tensor
conv_new (rv_graph *g, const rv_conv *cv, rv_tensor x)
{
  rv_tensor y = t_new (g, cv->cout, (x.h - 1) / cv->stride + 1,
      (x.w - 1) / cv->stride + 1);
  conv (g, cv, x, y, NULL);
  return y;
}

/* y = x + c1(c0(x)), 1x1 convs */
static void
ffn (rv_graph *g, const rv_conv *c0, const rv_conv *c1, rv_tensor x,
    rv_tensor y)
{
  if (g->s8) {                  /* c1 quantizes the whole hidden tensor */
    rv_tensor h = t_new (g, c0->cout, x.h, x.w);
    conv (g, c0, x, h, NULL);
    conv (g, c1, h, y, &x);
    t_free (g, &h);
    return;
  }
  rv_conv t0, t1;
  c0 = at_precision (g, c0, &t0);
  c1 = at_precision (g, c1, &t1);
  rv_tensor s = t_scratch (g, g->kn->ffn_scratch (c0, x.h * x.w, g->nt));
  g->macs += (double) (c0->cout * c0->cin + c1->cout * c1->cin) * x.h * x.w;
  if (g->base)
    g->kn->ffn (c0, c1, x, y, s.d, g->nt);
  t_free (g, &s);
}

static rv_tensor
block (rv_graph *g, const rv_block *b, rv_tensor x, const rv_tensor *dst)
{
  rv_tensor t = conv_new (g, &b->mixer, x);
  if (b->has_se) {
    rv_tensor s = t_new (g, 1, 1, b->se.c + b->se.r);
    g->macs += 2.0 * b->se.c * b->se.r;
    if (g->base)
      g->kn->squeeze_excite (&b->se, t, s.d, g->nt);
    t_free (g, &s);
  }
  if (b->stride == 2) {
    rv_tensor u = conv_new (g, &b->proj, t);
    t_free (g, &t);
    t = u;
  }
  rv_tensor y = dst ? *dst : t_new (g, t.c, t.h, t.w);
  ffn (g, &b->ffn0, &b->ffn1, t, y);
  t_free (g, &t);
  return y;
}

static void
bottleneck (rv_graph *g, const rv_bottleneck *b, rv_tensor x, rv_tensor y)
{
  rv_tensor t = conv_new (g, &b->cv1, x);
  conv (g, &b->cv2, t, y, &x);
  t_free (g, &t);
}

static void
c3k (rv_graph *g, const rv_c3k *k, rv_tensor x, rv_tensor y)
{
  int h = k->cv1.cout;
  rv_tensor cat = t_new (g, 2 * h, x.h, x.w);
  conv (g, &k->cv2, x, slice (cat, h, h), NULL);
  rv_tensor a = conv_new (g, &k->cv1, x);
  rv_tensor b = t_new (g, h, x.h, x.w);
  bottleneck (g, &k->m[0], a, b);
  t_free (g, &a);
  bottleneck (g, &k->m[1], b, slice (cat, 0, h));
  t_free (g, &b);
  conv (g, &k->cv3, cat, y, NULL);
  t_free (g, &cat);
}

static void
c3k2 (rv_graph *g, const rv_c3k2 *k, rv_tensor x, rv_tensor y)
{
  int c = k->c;
  rv_tensor cat = t_new (g, (2 + k->n) * c, x.h, x.w);
  conv (g, &k->cv1, x, slice (cat, 0, 2 * c), NULL);
  for (int j = 0; j < k->n; j++) {
    rv_tensor in = slice (cat, (1 + j) * c, c), out = slice (cat, (2 + j) * c, c);
    if (k->c3k)
      c3k (g, &k->k[j], in, out);
    else
      bottleneck (g, &k->m[j], in, out);
  }
  conv (g, &k->cv2, cat, y, NULL);
  t_free (g, &cat);
}

/* x = x + proj(attn(x)); x = x + ffn(x), in place. */
static void
psa_block (rv_graph *g, const rv_psa *a, rv_tensor x)
{
  int n = x.h * x.w;
  rv_tensor qkv = conv_new (g, &a->qkv, x);
  rv_tensor at = t_new (g, x.c, x.h, x.w);
  rv_tensor s = t_scratch (g, rv_attention_scratch (g->kn, a, x.h, x.w,
          g->nt));
  g->macs += (double) x.c * 9 * n;      /* pe */
  if (g->base)
    rv_attention (g->kn, a, qkv, at, s.d, g->nt);
  t_free (g, &s);
  t_free (g, &qkv);
  rv_tensor x1 = t_new (g, x.c, x.h, x.w);
  conv (g, &a->proj, at, x1, &x);
  t_free (g, &at);
  ffn (g, &a->ffn0, &a->ffn1, x1, x);
  t_free (g, &x1);
}

static void
c2psa (rv_graph *g, const rv_c2psa *p, rv_tensor x, rv_tensor y)
{
  int h = p->cv1.cout / 2;
  rv_tensor cat = t_new (g, 2 * h, x.h, x.w);
  conv (g, &p->cv1, x, cat, NULL);
  for (int j = 0; j < p->n; j++)
    psa_block (g, &p->m[j], slice (cat, h, h));
  conv (g, &p->cv2, cat, y, NULL);
  t_free (g, &cat);
}

static void
detect_level (rv_graph *g, const rv_detect_level *d, rv_tensor x, float stride,
    int a0)
{
  rv_tensor t = x;
  for (int i = 0; i < 3; i++) {
    rv_tensor u = conv_new (g, &d->box[i], t);
    if (i)
      t_free (g, &t);
    t = u;
  }
  if (g->base)
    rv_dfl_decode (g->kn, t, stride, g->output.d, g->anchors, a0, g->nt);
  t_free (g, &t);
  t = x;
  for (int i = 0; i < 4; i++) {
    rv_tensor u = conv_new (g, &d->cls[i], t);
    if (i)
      t_free (g, &t);
    t = u;
  }
  /* sigmoid class scores straight into the output rows 4 .. */
  rv_tensor cls = { g->base ? g->output.d + 4 * (size_t) g->anchors + a0 : NULL,
    g->m->nc, x.h, x.w, (size_t) g->anchors, 0, 0 };
  conv (g, &d->cls[4], t, cls, NULL);
  t_free (g, &t);
}

static void
forward (rv_graph *g)
{
  const rv_model *m = g->m;
  const int h = g->in_h, w = g->in_w;
  g->anchors = (h / 8) * (w / 8) + (h / 16) * (w / 16) + (h / 32) * (w / 32);
  g->input = t_new (g, 3, h, w);
  g->output = t_new (g, 4 + m->nc, 1, g->anchors);
  g->post = t_scratch (g, (rv_post_scratch_size (g->anchors) + 3) / 4);

  /* backbone; P3 and P4 land in the neck's concatenations */
  const int c2 = m->c2psa.cv2.cout, c5 = m->c3k2[0].cv2.cout,
      c9 = m->down[0].cout, c12 = m->down[1].cout;
  rv_tensor x = conv_new (g, &m->stem[0], g->input);
  rv_tensor y = conv_new (g, &m->stem[1], x);
  t_free (g, &x);
  x = y;
  rv_tensor cat7 = { 0 }, cat4 = { 0 };
  for (int i = 0; i < m->n_blocks; i++) {
    const rv_block *b = &m->blocks[i];
    int c = b->ffn1.cout, bh = x.h / b->stride, bw = x.w / b->stride;
    rv_tensor dst, *pdst = NULL;
    if (i == m->taps[0]) {
      cat7 = t_new (g, c5 + c, bh, bw);       /* [up(model.5), P3] */
      dst = slice (cat7, c5, c);
      pdst = &dst;
    } else if (i == m->taps[1]) {
      cat4 = t_new (g, c2 + c, bh, bw);       /* [up(model.2), P4] */
      dst = slice (cat4, c2, c);
      pdst = &dst;
    }
    y = block (g, b, x, pdst);
    t_free (g, &x);
    x = y;
  }

  /* model.1 SPPF */
  int a = m->sppf[0].cout;
  rv_tensor cat = t_new (g, 4 * a, x.h, x.w);
  conv (g, &m->sppf[0], x, slice (cat, 0, a), NULL);
  t_free (g, &x);
  for (int i = 0; i < 3; i++)
    if (g->base)
      g->kn->maxpool5 (slice (cat, i * a, a), slice (cat, (i + 1) * a, a), g->nt);
  rv_tensor sppf = conv_new (g, &m->sppf[1], cat);
  t_free (g, &cat);

  /* model.2 .. 14 */
  rv_tensor cat13 = t_new (g, c12 + c2, sppf.h, sppf.w);     /* [model.12, model.2] */
  rv_tensor p2 = slice (cat13, c12, c2);
  c2psa (g, &m->c2psa, sppf, p2);
  t_free (g, &sppf);
  if (g->base)
    rv_upsample2 (p2, slice (cat4, 0, c2), g->nt);
  rv_tensor cat10 = t_new (g, c9 + c5, cat4.h, cat4.w);      /* [model.9, model.5] */
  rv_tensor p5 = slice (cat10, c9, c5);
  c3k2 (g, &m->c3k2[0], cat4, p5);
  t_free (g, &cat4);
  if (g->base)
    rv_upsample2 (p5, slice (cat7, 0, c5), g->nt);
  rv_tensor out3 = t_new (g, m->c3k2[1].cv2.cout, cat7.h, cat7.w);
  c3k2 (g, &m->c3k2[1], cat7, out3);
  t_free (g, &cat7);
  conv (g, &m->down[0], out3, slice (cat10, 0, c9), NULL);
  rv_tensor out4 = t_new (g, m->c3k2[2].cv2.cout, cat10.h, cat10.w);
  c3k2 (g, &m->c3k2[2], cat10, out4);
  t_free (g, &cat10);
  conv (g, &m->down[1], out4, slice (cat13, 0, c12), NULL);
  rv_tensor out5 = t_new (g, m->c3k2[3].cv2.cout, cat13.h, cat13.w);
  c3k2 (g, &m->c3k2[3], cat13, out5);
  t_free (g, &cat13);

  /* model.15 Detect */
  rv_tensor outs[3] = { out3, out4, out5 };
  for (int i = 0, a0 = 0; i < 3; a0 += outs[i].h * outs[i].w, i++)
    detect_level (g, &m->det[i], outs[i], (float) (8 << i), a0);
  for (int i = 0; i < 3; i++)
    t_free (g, &outs[i]);
}

double
rv_graph_macs (const rv_model *m, int w, int h)
{
  if (!m || w <= 0 || h <= 0 || w % 32 || h % 32)
    return 0;
  rv_graph g = { .m = m, .in_w = w, .in_h = h, .nt = 1,
    .kn = rv_kernels_active () };
  forward (&g);
  return g.macs;
}

/* ---- context ---------------------------------------------------------- */

static void
free_packed (rv_packed *packed, int n)
{
  for (int i = 0; packed && i < n; i++)
    rv_packed_clear (&packed[i]);
  free (packed);
}

/* Every dense conv's weights packed in format, in visit order; no blocks
 * (NULL) for RV_FORMAT_F32. */
static rv_status
make_packed (const rv_ctx *ctx, rv_format format, rv_packed **out, int *n_out,
    char *err, size_t err_size)
{
  if (format == RV_FORMAT_F32) {
    *out = NULL;
    *n_out = 0;
    return RV_OK;
  }
  rv_graph g = { .m = ctx->model, .in_w = 32, .in_h = 32, .nt = 1,
    .kn = ctx->kn };
  forward (&g);                 /* counts them */
  const int n = g.n_dense;
  const rv_conv **convs = malloc ((size_t) n * sizeof *convs);
  rv_packed *packed = calloc ((size_t) n, sizeof *packed);
  int done = 0;
  if (convs && packed) {
    g = (rv_graph) { .m = ctx->model, .in_w = 32, .in_h = 32, .nt = 1,
      .kn = ctx->kn, .visit = convs };
    forward (&g);
    while (done < n && rv_packed_init (&packed[done], convs[done], format))
      done++;
  }
  free (convs);
  if (done < n) {
    free_packed (packed, done);
    return rv_error (err, err_size, RV_ERR_NOMEM, "precision %s: cannot "
        "allocate the packed weights", format == RV_FORMAT_S8 ? "int8"
        : format == RV_FORMAT_BF16 ? "bf16" : "f32");
  }
  *out = packed;
  *n_out = n;
  return RV_OK;
}

/* The format of the dense convs' weights in precision p on the context's
 * kernel table; RV_FORMAT_F32: no blocks. */
static rv_format
precision_format (const rv_ctx *ctx, rv_precision p)
{
  return p == RV_PRECISION_INT8 ? RV_FORMAT_S8 : p == RV_PRECISION_BF16
      ? RV_FORMAT_BF16 : ctx->kn->winograd ? RV_FORMAT_WINOGRAD : RV_FORMAT_F32;
}

rv_status
rv_ctx_init (rv_model *model, int n_threads, rv_ctx **out, char *err,
    size_t err_size)
{
  if (!model || !out)
    return rv_error (err, err_size, RV_ERR_ARG, "rv_ctx_init: invalid argument");
  rv_ctx *ctx = calloc (1, sizeof *ctx);
  if (!ctx)
    return rv_error (err, err_size, RV_ERR_NOMEM, "out of memory");
  ctx->model = rv_model_ref (model);
  ctx->kn = rv_kernels_active ();
  rv_ctx_set_threads (ctx, n_threads);
  rv_status st = make_packed (ctx, precision_format (ctx, RV_PRECISION_F32),
      &ctx->packed, &ctx->n_packed, err, err_size);
  if (st) {
    rv_ctx_free (ctx);
    return st;
  }
  *out = ctx;
  return RV_OK;
}

void
rv_ctx_free (rv_ctx *ctx)
{
  if (!ctx)
    return;
  free (ctx->arena);
  free_packed (ctx->packed, ctx->n_packed);
  rv_model_free (ctx->model);
  free (ctx);
}

void
rv_ctx_set_threads (rv_ctx *ctx, int n_threads)
{
  /* the pool hands out what is free, never more than its size: the
   * per-thread scratch need not be planned for more */
  if (n_threads <= 0 || n_threads > rv_pool_cpus ())
    n_threads = rv_pool_cpus ();
  int old = ctx->nt, w = ctx->in_w, h = ctx->in_h;
  ctx->nt = n_threads;
  if (ctx->arena && n_threads != old) {   /* the kernels' scratch depends on nt */
    ctx->in_w = 0;
    if (rv_ctx_set_input_size (ctx, w, h, NULL, 0) != RV_OK) {
      ctx->nt = old;            /* the current arena still fits the old count */
      ctx->in_w = w;
    }
  }
}

rv_status
rv_ctx_set_precision (rv_ctx *ctx, rv_precision precision, char *err,
    size_t err_size)
{
  if (!ctx || (precision != RV_PRECISION_F32 && precision != RV_PRECISION_BF16
          && precision != RV_PRECISION_INT8))
    return rv_error (err, err_size, RV_ERR_ARG, "precision %d: must be "
        "RV_PRECISION_F32, RV_PRECISION_BF16 or RV_PRECISION_INT8",
        (int) precision);
  const rv_s8_kernels *s8 = precision == RV_PRECISION_INT8
      ? rv_s8_kernels_active () : NULL;
  if ((precision == RV_PRECISION_BF16 && !ctx->kn->bf16)
      || (precision == RV_PRECISION_INT8 && !s8))
    precision = RV_PRECISION_F32;       /* no AVX512-BF16 / VNNI on this CPU */
  if (precision == ctx->precision)
    return RV_OK;
  rv_packed *old = ctx->packed;
  const rv_s8_kernels *old_s8 = ctx->s8;
  int old_n = ctx->n_packed;
  ctx->packed = NULL;
  ctx->n_packed = 0;
  ctx->s8 = s8;
  rv_status st = make_packed (ctx, precision_format (ctx, precision),
      &ctx->packed, &ctx->n_packed, err, err_size);
  if (!st && ctx->arena) {      /* the kernels' scratch depends on it */
    int w = ctx->in_w;
    ctx->in_w = 0;
    st = rv_ctx_set_input_size (ctx, w, ctx->in_h, err, err_size);
    if (st)
      ctx->in_w = w;
  }
  if (st) {                     /* the current arena fits the old precision */
    free_packed (ctx->packed, ctx->n_packed);
    ctx->packed = old;
    ctx->n_packed = old_n;
    ctx->s8 = old_s8;
    return st;
  }
  free_packed (old, old_n);
  ctx->precision = precision;
  return RV_OK;
}

rv_precision
rv_ctx_get_precision (const rv_ctx *ctx)
{
  return ctx->precision;
}

rv_status
rv_ctx_set_input_size (rv_ctx *ctx, int in_w, int in_h, char *err,
    size_t err_size)
{
  if (!ctx || in_w <= 0 || in_h <= 0 || in_w % 32 || in_h % 32
      || in_w > RV_MAX_INPUT_SIZE || in_h > RV_MAX_INPUT_SIZE)
    return rv_error (err, err_size, RV_ERR_ARG, "input size %dx%d: width and "
        "height must be positive multiples of 32 up to %d", in_w, in_h,
        RV_MAX_INPUT_SIZE);
  if (ctx->arena && ctx->in_w == in_w && ctx->in_h == in_h)
    return RV_OK;
  rv_graph g = { .m = ctx->model, .in_w = in_w, .in_h = in_h, .nt = ctx->nt,
    .kn = ctx->kn, .s8 = ctx->s8, .packed = ctx->packed };
  forward (&g);
  char *arena = aligned_alloc (ARENA_ALIGN, g.peak);
  if (!arena)
    return rv_error (err, err_size, RV_ERR_NOMEM, "input size %dx%d: cannot "
        "allocate the %zu-byte arena", in_w, in_h, g.peak);
  free (ctx->arena);
  ctx->arena = arena;
  ctx->arena_size = g.peak;
  ctx->in_w = in_w;
  ctx->in_h = in_h;
  ctx->anchors = g.anchors;
  ctx->input = (float *) (arena + g.input.off);
  ctx->output = (float *) (arena + g.output.off);
  ctx->post = arena + g.post.off;
  memset (ctx->input, 0, g.input.bytes);
  return RV_OK;
}

void
rv_ctx_get_input_size (const rv_ctx *ctx, int *in_w, int *in_h)
{
  *in_w = ctx->in_w;
  *in_h = ctx->in_h;
}

float *
rv_ctx_input (rv_ctx *ctx)
{
  return ctx->input;
}

rv_status
rv_ctx_forward (rv_ctx *ctx)
{
  if (!ctx || !ctx->arena)
    return RV_ERR_ARG;
  openblas_set_num_threads (1);  /* our pool splits the GEMMs */
  rv_graph g = { .m = ctx->model, .in_w = ctx->in_w, .in_h = ctx->in_h,
    .nt = ctx->nt, .base = ctx->arena, .cap = ctx->arena_size,
    .kn = ctx->kn, .s8 = ctx->s8, .packed = ctx->packed };
  rv_pool_forward_begin ();
  forward (&g);
  rv_pool_forward_end ();
  /* the replay follows the plan exactly */
  assert (g.peak == g.cap);
  return RV_OK;
}

const float *
rv_ctx_output (const rv_ctx *ctx, int *rows, int *anchors)
{
  if (rows)
    *rows = 4 + ctx->model->nc;
  if (anchors)
    *anchors = ctx->anchors;
  return ctx->output;
}

rv_status
rv_ctx_postprocess (rv_ctx *ctx, const rv_letterbox *lb,
    const rv_post_params *params, rv_detection *dets, int max_dets,
    int *n_dets)
{
  if (!ctx || !ctx->arena || !lb || !params || (!dets && max_dets > 0)
      || max_dets < 0 || !n_dets)
    return RV_ERR_ARG;
  *n_dets = rv_postprocess_raw (ctx->output, ctx->model->nc, ctx->anchors, lb,
      params, dets, max_dets, ctx->post);
  return RV_OK;
}

rv_status
rv_ctx_detect (rv_ctx *ctx, const rv_frame *frame,
    const rv_post_params *params, rv_detection *dets, int max_dets,
    int *n_dets)
{
  if (!ctx || !ctx->arena || !frame)
    return RV_ERR_ARG;
  rv_letterbox lb;
  rv_letterbox_geometry (frame->width, frame->height, ctx->in_w, ctx->in_h, &lb);
  rv_status st = rv_letterbox_frame (frame, &lb, ctx->input);
  if (!st)
    st = rv_ctx_forward (ctx);
  if (!st)
    st = rv_ctx_postprocess (ctx, &lb, params, dets, max_dets, n_dets);
  return st;
}
