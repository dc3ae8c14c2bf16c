/* Model / context API on the upstream golden model: reference counting,
 * argument checks, outputs byte-identical at any thread count (also with
 * several contexts of different thread counts running at once on their own
 * threads, sharing the pool), arena re-planning, file vs memory loading, and
 * no allocation in the per-frame path (malloc is interposed and counted;
 * OpenBLAS's small-matrix kernels allocate inside the library, out of our
 * hands, and are counted apart).
 * Precision: BF16 takes effect exactly where the CPU has AVX512-BF16, INT8
 * where it has AVX512-VNNI or AVX-VNNI (and RV_FORCE_PORTABLE is not set);
 * each stays near F32 there and equal to it elsewhere, gives the same
 * bytes with 1, 2 and 3 threads, allocates nothing per frame; back in F32
 * the output has the bits it had before.
 *
 * usage: test-ctx MODEL.safetensors */
#include "repvit.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define COUNT_MALLOC 0          /* the sanitizer owns malloc */
#else
#define COUNT_MALLOC 1
#include <dlfcn.h>
extern void *__libc_malloc (size_t);
extern void *__libc_calloc (size_t, size_t);
extern void *__libc_realloc (void *, size_t);
extern void *__libc_memalign (size_t, size_t);
static atomic_int counting, n_allocs, n_blas_allocs;
static _Thread_local int in_count;     /* dladdr must not count itself */

static void
count (void *caller)
{
  Dl_info info;
  if (!atomic_load (&counting) || in_count)
    return;
  in_count = 1;
  if (dladdr (caller, &info) && info.dli_fname
      && strstr (info.dli_fname, "libopenblas"))
    atomic_fetch_add (&n_blas_allocs, 1);
  else
    atomic_fetch_add (&n_allocs, 1);
  in_count = 0;
}

void *
malloc (size_t n)
{
  count (__builtin_return_address (0));
  return __libc_malloc (n);
}

void *
calloc (size_t n, size_t m)
{
  count (__builtin_return_address (0));
  return __libc_calloc (n, m);
}

void *
realloc (void *p, size_t n)
{
  count (__builtin_return_address (0));
  return __libc_realloc (p, n);
}

void *
aligned_alloc (size_t a, size_t n)
{
  count (__builtin_return_address (0));
  return __libc_memalign (a, n);
}

int
posix_memalign (void **p, size_t a, size_t n)
{
  count (__builtin_return_address (0));
  *p = __libc_memalign (a, n);
  return *p ? 0 : 12;
}
#endif

static int failures;

#define CHECK(cond, ...) do { \
    if (!(cond)) { \
      printf ("FAIL %s:%d: ", __FILE__, __LINE__); \
      printf (__VA_ARGS__); \
      printf ("\n"); \
      failures++; \
    } \
  } while (0)

static void
fill_input (rv_ctx *ctx, int w, int h)
{
  float *in = rv_ctx_input (ctx);
  unsigned s = 7;
  for (size_t i = 0; i < (size_t) 3 * w * h; i++) {
    s = s * 1103515245u + 12345u;
    in[i] = (float) (s >> 8 & 0xffff) / 65535.0f;
  }
}

static float *
run (rv_ctx *ctx, int w, int h, int *n)
{
  char err[256];
  int rows, anchors;
  if (rv_ctx_set_input_size (ctx, w, h, err, sizeof err) != RV_OK) {
    CHECK (0, "set_input_size %dx%d: %s", w, h, err);
    return NULL;
  }
  fill_input (ctx, w, h);
  CHECK (rv_ctx_forward (ctx) == RV_OK, "forward");
  const float *out = rv_ctx_output (ctx, &rows, &anchors);
  *n = rows * anchors;
  CHECK (rows == 84 && anchors == (h / 8) * (w / 8) + (h / 16) * (w / 16)
      + (h / 32) * (w / 32), "output %d x %d at %dx%d", rows, anchors, w, h);
  float *copy = malloc ((size_t) *n * sizeof *copy);
  memcpy (copy, out, (size_t) *n * sizeof *copy);
  return copy;
}

#define CW 320                  /* the concurrent contexts' input */
#define CH 256

/* One of several contexts run at once, each on its own thread. */
typedef struct {
  rv_ctx *ctx;
  const float *expect;          /* the one-thread output */
  int n, frames, bad;            /* bad: frames failed or different */
} concurrent;

static pthread_barrier_t start_counting, stop_counting;

static void *
concurrent_frames (void *arg)
{
  concurrent *c = arg;
  int rows, anchors;
  c->bad = rv_ctx_forward (c->ctx) != RV_OK;      /* warm-up */
  pthread_barrier_wait (&start_counting);
  for (int f = 0; f < c->frames; f++) {
    fill_input (c->ctx, CW, CH);
    c->bad += rv_ctx_forward (c->ctx) != RV_OK
        || memcmp (rv_ctx_output (c->ctx, &rows, &anchors), c->expect,
        (size_t) c->n * sizeof *c->expect);
  }
  pthread_barrier_wait (&stop_counting);
  return NULL;
}

/* Contexts with 1, 2, 3 and the default (0) threads, each on its own thread
 * at once: every frame gives the bytes of c1's (one thread), and none
 * allocates once the pool is up. CW x CH: the attention (10x8 pixels)
 * takes several items. */
static void
check_concurrent (rv_model *model, rv_ctx *c1)
{
  int n;
  float *expect = run (c1, CW, CH, &n);
  if (!expect)
    return;
  enum { N = 4 };
  static const int threads[N] = { 1, 2, 3, 0 };
  concurrent c[N];
  pthread_t t[N];
  char err[256];
  pthread_barrier_init (&start_counting, NULL, N + 1);
  pthread_barrier_init (&stop_counting, NULL, N + 1);
  for (int i = 0; i < N; i++) {
    c[i] = (concurrent) { NULL, expect, n, 8, 0 };
    CHECK (rv_ctx_init (model, threads[i], &c[i].ctx, err, sizeof err) == RV_OK
        && rv_ctx_set_input_size (c[i].ctx, CW, CH, err, sizeof err) == RV_OK,
        "context %d: %s", i, err);
    fill_input (c[i].ctx, CW, CH);
    pthread_create (&t[i], NULL, concurrent_frames, &c[i]);
  }
  pthread_barrier_wait (&start_counting);
#if COUNT_MALLOC
  n_allocs = 0;
  counting = 1;
#endif
  pthread_barrier_wait (&stop_counting);
#if COUNT_MALLOC
  counting = 0;
  CHECK (n_allocs == 0, "%d allocations in %d concurrent forwards", n_allocs,
      N * c[0].frames);
#endif
  for (int i = 0; i < N; i++) {
    pthread_join (t[i], NULL);
    CHECK (c[i].bad == 0, "%d threads, run beside %d other contexts: %d of "
        "%d forwards failed or differ from one thread's", threads[i], N - 1,
        c[i].bad, c[i].frames);
    rv_ctx_free (c[i].ctx);
  }
  pthread_barrier_destroy (&start_counting);
  pthread_barrier_destroy (&stop_counting);
  free (expect);
}

static float
max_diff (const float *a, const float *b, int n)
{
  float d = 0;
  for (int i = 0; i < n; i++)
    d = fabsf (a[i] - b[i]) > d ? fabsf (a[i] - b[i]) : d;
  return d;
}

/* Precision p (named name) on c, from F32 with the output o1 (n floats at
 * 160x128): in effect exactly when supported; then near f32, the same at 1,
 * 2 and 3 threads, no allocation per frame. Leaves c at one thread. */
static void
check_precision (rv_ctx *c, rv_precision p, const char *name, int supported,
    const float *o1, int n, const rv_frame *frame, const rv_post_params *pp)
{
  char err[256];
  int n2, nd;
  rv_detection dets[300];
  CHECK (rv_ctx_set_precision (c, p, err, sizeof err) == RV_OK,
      "set %s: %s", name, err);
  CHECK (rv_ctx_get_precision (c) == (supported ? p : RV_PRECISION_F32),
      "precision in effect %d, CPU %s the %s instructions",
      (int) rv_ctx_get_precision (c), supported ? "with" : "without", name);
  printf ("%s %s\n", name, supported ? "in effect" : "falls back to f32 here");
  float *ob = run (c, 160, 128, &n2);
  int boxes = 4 * n / 84;
  if (ob && n2 == n) {
    /* Only changed or not: this random-weight model on a noise input is
     * chaotic (in f32, 1e-3 of input noise moves boxes by 100 px); the
     * golden tests hold bf16 and int8 to the reference on calibrated
     * models, test-int8 int8 to f32 on the shipped model. */
    float db = max_diff (o1, ob, boxes), ds = max_diff (o1 + boxes, ob + boxes, n - boxes);
    int sane = 1;
    for (int i = 0; i < n; i++)
      sane &= isfinite (ob[i]) && (i < boxes || (ob[i] >= 0 && ob[i] <= 1));
    printf ("%s vs f32: boxes %g px, scores %g\n", name, db, ds);
    CHECK (supported ? sane && (db > 0 || ds > 0) : db == 0 && ds == 0,
        "%s vs f32 output: boxes %g px, scores %g, finite and in range %d",
        name, db, ds, sane);
  }
#if COUNT_MALLOC
  n_allocs = 0;
  counting = 1;
#endif
  rv_status s1 = rv_ctx_forward (c);
  rv_status s3 = rv_ctx_detect (c, frame, pp, dets, 300, &nd);
#if COUNT_MALLOC
  counting = 0;
  CHECK (n_allocs == 0, "%d allocations in the %s per-frame path", n_allocs,
      name);
#endif
  CHECK (s1 == RV_OK && s3 == RV_OK, "%s per-frame calls", name);
  for (int t = 2; t <= 3; t++) {
    rv_ctx_set_threads (c, t);  /* re-planned with this precision's scratch */
    float *ot = run (c, 160, 128, &n2);
    CHECK (ob && ot && !memcmp (ob, ot, (size_t) n * sizeof *ob),
        "%s with 1 and %d threads differs", name, t);
    free (ot);
  }
  rv_ctx_set_threads (c, 1);
  free (ob);
}

int
main (int argc, char **argv)
{
  if (argc != 2)
    return 2;
  char err[512];
  rv_model *model, *mem_model;
  rv_ctx *c1, *c3, *cm;

  CHECK (rv_model_load ("/nonexistent.safetensors", &model, err, sizeof err)
      == RV_ERR_IO && model == NULL, "missing file: %s", err);
  if (rv_model_load (argv[1], &model, err, sizeof err) != RV_OK) {
    printf ("FAIL load: %s\n", err);
    return 1;
  }
  FILE *f = fopen (argv[1], "rb");
  fseek (f, 0, SEEK_END);
  size_t size = (size_t) ftell (f);
  void *bytes = malloc (size);
  fseek (f, 0, SEEK_SET);
  CHECK (fread (bytes, 1, size, f) == size, "read");
  fclose (f);
  CHECK (rv_model_load_memory (bytes, size, &mem_model, err, sizeof err) == RV_OK,
      "load_memory: %s", err);
  rv_model *none;
  CHECK (rv_model_load_memory (bytes, 100, &none, err, sizeof err) != RV_OK
      && !none && strstr (err, "<memory>"), "truncated memory image: %s", err);
  free (bytes);

  CHECK (rv_ctx_init (model, 1, &c1, err, sizeof err) == RV_OK, "init");
  CHECK (rv_ctx_init (model, 3, &c3, err, sizeof err) == RV_OK, "init");
  CHECK (rv_ctx_init (mem_model, 1, &cm, err, sizeof err) == RV_OK, "init");
  rv_model_free (mem_model);    /* the contexts hold their references */

  CHECK (rv_ctx_forward (c1) == RV_ERR_ARG, "forward before set_input_size");
  static const int bad[][2] = { { 0, 0 }, { 100, 96 }, { 96, 100 }, { -32, 32 },
    { 8192, 32 } };
  for (int i = 0; i < 5; i++)
    CHECK (rv_ctx_set_input_size (c1, bad[i][0], bad[i][1], err, sizeof err)
        == RV_ERR_ARG && strstr (err, "multiples of 32"), "size %dx%d: %s",
        bad[i][0], bad[i][1], err);

  int n, n3, nm, n2;
  float *o1 = run (c1, 160, 128, &n), *o3 = run (c3, 160, 128, &n3),
      *om = run (cm, 160, 128, &nm);
  CHECK (o1 && o3 && om && n == n3 && n == nm, "outputs");
  if (o1 && o3 && om) {
    int boxes = 4 * n / 84;
    CHECK (!memcmp (o1, o3, (size_t) n * sizeof *o1), "1 vs 3 threads: "
        "boxes differ by %g, class scores by %g", max_diff (o1, o3, boxes),
        max_diff (o1 + boxes, o3 + boxes, n - boxes));
    CHECK (!memcmp (o1, om, (size_t) n * sizeof *o1),
        "file and memory models differ");
  }
  /* re-planning for another size and back gives the same numbers */
  free (run (c1, 32, 64, &n2));
  free (run (c1, 640, 384, &n2));
  float *again = run (c1, 160, 128, &n2);
  CHECK (again && n2 == n && !memcmp (again, o1, (size_t) n * sizeof *o1),
      "output after re-planning differs");
  int w, h;
  rv_ctx_get_input_size (c1, &w, &h);
  CHECK (w == 160 && h == 128, "input size %dx%d", w, h);

  /* per frame: forward, postprocess, detect must not allocate */
  uint8_t *rgb = malloc ((size_t) 300 * 200 * 3);
  for (size_t i = 0; i < (size_t) 300 * 200 * 3; i++)
    rgb[i] = (uint8_t) (i * 7);
  rv_frame frame = { RV_FMT_RGB, 300, 200, { rgb }, { 300 * 3 }, 0 };
  rv_post_params pp = rv_post_params_default ();
  pp.conf_threshold = 0.01f;
  rv_detection dets[300];
  int nd = -1;
  rv_letterbox lb;
  rv_letterbox_geometry (300, 200, 160, 128, &lb);
  CHECK (rv_ctx_detect (c1, &frame, &pp, dets, 300, &nd) == RV_OK && nd >= 0,
      "detect (warm-up)");
#if COUNT_MALLOC
  counting = 1;
#endif
  rv_status s1 = rv_ctx_forward (c1);
  rv_status s2 = rv_ctx_postprocess (c1, &lb, &pp, dets, 300, &nd);
  rv_status s3 = rv_ctx_detect (c1, &frame, &pp, dets, 300, &nd);
#if COUNT_MALLOC
  counting = 0;
  CHECK (n_allocs == 0, "%d allocations in the per-frame path", n_allocs);
  printf ("per-frame allocations: %d (inside OpenBLAS: %d)\n", n_allocs,
      n_blas_allocs);
#endif
  CHECK (s1 == RV_OK && s2 == RV_OK && s3 == RV_OK, "per-frame calls");
  CHECK (rv_ctx_postprocess (c1, NULL, &pp, dets, 300, &nd) == RV_ERR_ARG,
      "postprocess without letterbox");

  /* precision */
  CHECK (rv_ctx_get_precision (c1) == RV_PRECISION_F32, "default precision");
  CHECK (rv_ctx_set_precision (c1, (rv_precision) 7, err, sizeof err)
      == RV_ERR_ARG && strstr (err, "precision 7"), "bad precision: %s", err);
  const char *force = getenv ("RV_FORCE_PORTABLE");
  int bf16 = 0, int8 = 0;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init ();
  int portable = force && *force && *force != '0';
  bf16 = __builtin_cpu_supports ("avx512bf16") && __builtin_cpu_supports ("avx512bw")
      && !portable;
  int8 = (__builtin_cpu_supports ("avx512vnni") || __builtin_cpu_supports ("avxvnni"))
      && !portable;
#else
  (void) force;
#endif
  check_precision (c1, RV_PRECISION_BF16, "bf16", bf16, o1, n, &frame, &pp);
  check_precision (c1, RV_PRECISION_INT8, "int8", int8, o1, n, &frame, &pp);
  CHECK (rv_ctx_set_precision (c1, RV_PRECISION_F32, err, sizeof err) == RV_OK
      && rv_ctx_get_precision (c1) == RV_PRECISION_F32, "back to f32: %s", err);
  float *of = run (c1, 160, 128, &n2);
  CHECK (of && n2 == n && !memcmp (of, o1, (size_t) n * sizeof *o1),
      "f32 output after bf16 and int8 differs from the first f32 output");

  check_concurrent (model, c1);
  rv_model_free (model);
  free (rgb), free (o1), free (o3), free (om), free (again), free (of);
  rv_ctx_free (c1);
  rv_ctx_free (c3);
  rv_ctx_free (cm);
  printf ("%s\n", failures ? "FAILED" : "ok");
  return failures != 0;
}
