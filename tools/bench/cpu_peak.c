/* cpu_peak.c — see cpu_peak.h. */
#include "cpu_peak.h"

#include <cpuid.h>
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACC 12                  /* chains per kernel: >= latency x issue rate on Zen 4/5 and Intel */
#define ITERS 20000000L         /* loop trips per rep: ~35-70 ms per kernel and rep at peak */

/* One rep of a kernel: ITERS x ACC instructions; returns a value that depends on every
 * chain, so none of them is dead. */
typedef float (*kernel_fn) (long iters);

#define REPEAT12(S, ...) S (0, __VA_ARGS__) S (1, __VA_ARGS__) S (2, __VA_ARGS__) \
  S (3, __VA_ARGS__) S (4, __VA_ARGS__) S (5, __VA_ARGS__) S (6, __VA_ARGS__) \
  S (7, __VA_ARGS__) S (8, __VA_ARGS__) S (9, __VA_ARGS__) S (10, __VA_ARGS__) \
  S (11, __VA_ARGS__)
#define DECL(i, vec, set1) vec a##i = set1 (i);
#define STEP(i, op) op (a##i);
#define SUM(i, add) s = add (s, a##i);

/* A kernel: ACC accumulators of type vec from set1 (i), inputs declares the
 * operands x and y, op (a) is one step of chain a; add and total reduce. */
#define KERNEL(name, isa, vec, set1, inputs, op, add, total) \
  __attribute__((target (isa))) static float name (long iters) \
  { \
    REPEAT12 (DECL, vec, set1) \
    inputs; \
    for (long n = 0; n < iters; n++) { \
      REPEAT12 (STEP, op) \
    } \
    vec s = set1 (0); \
    REPEAT12 (SUM, add) \
    return total (s); \
  }

#define FMA256(a) a = _mm256_fmadd_ps (x, y, a)
KERNEL (fp32_fma_256, "avx2,fma", __m256, _mm256_set1_ps,
    __m256 x = _mm256_set1_ps (1e-7f); __m256 y = _mm256_set1_ps (0.5f),
    FMA256, _mm256_add_ps, _mm256_cvtss_f32)

#define FMA512(a) a = _mm512_fmadd_ps (x, y, a)
KERNEL (fp32_fma_512, "avx512f", __m512, _mm512_set1_ps,
    __m512 x = _mm512_set1_ps (1e-7f); __m512 y = _mm512_set1_ps (0.5f),
    FMA512, _mm512_add_ps, _mm512_reduce_add_ps)

#define BF16DOT(a) a = _mm512_dpbf16_ps (a, x, y)
#define BF16(v) _mm512_cvtne2ps_pbh (_mm512_set1_ps (v), _mm512_set1_ps (v))
KERNEL (bf16_dot_512, "avx512f,avx512bf16", __m512, _mm512_set1_ps,
    __m512bh x = BF16 (1e-4f); __m512bh y = BF16 (0.5f),
    BF16DOT, _mm512_add_ps, _mm512_reduce_add_ps)

/* int32 accumulators wrap: harmless, only the instruction count matters. The steps are
 * inline asm because GCC 12 copies (512-bit) or spills (256-bit) the accumulators of the
 * dpbusd builtins on every trip; "{vex}" picks the AVX-VNNI encoding. */
#define DPBUSD512(a) __asm__ ("vpdpbusd %2, %1, %0" : "+v" (a) : "v" (x), "v" (y))
#define TOTAL512(s) (float) _mm512_reduce_add_epi32 (s)
KERNEL (int8_vnni_512, "avx512f,avx512vnni", __m512i, _mm512_set1_epi32,
    __m512i x = _mm512_set1_epi8 (3); __m512i y = _mm512_set1_epi8 (-5),
    DPBUSD512, _mm512_add_epi32, TOTAL512)

#define DPBUSD256(a) __asm__ ("%{vex%} vpdpbusd %2, %1, %0" : "+x" (a) : "x" (x), "x" (y))
#define TOTAL256(s) (float) _mm256_extract_epi32 (s, 0)
KERNEL (int8_vnni_256, "avx2,avxvnni", __m256i, _mm256_set1_epi32,
    __m256i x = _mm256_set1_epi8 (3); __m256i y = _mm256_set1_epi8 (-5),
    DPBUSD256, _mm256_add_epi32, TOTAL256)

/* XCR0: which register state the OS saves on context switch (SDM vol. 1, 13.3). */
static uint64_t
xgetbv0 (void)
{
  uint32_t lo, hi;
  __asm__ volatile ("xgetbv":"=a" (lo), "=d" (hi):"c" (0));
  return ((uint64_t) hi << 32) | lo;
}

void
cpu_probe (cpu_info * c)
{
  unsigned a, b, cx, d, max;
  memset (c, 0, sizeof *c);
  __cpuid (0, max, b, cx, d);
  memcpy (c->vendor, &b, 4);
  memcpy (c->vendor + 4, &d, 4);
  memcpy (c->vendor + 8, &cx, 4);
  __cpuid (1, a, b, cx, d);
  /* displayed family/model as the kernel computes them for /proc/cpuinfo */
  unsigned fam = (a >> 8) & 0xf, mod = (a >> 4) & 0xf;
  c->family = fam == 0xf ? fam + ((a >> 20) & 0xff) : fam;
  c->model = fam >= 6 ? mod | ((a >> 12) & 0xf0) : mod;
  int fma = (cx >> 12) & 1, osxsave = (cx >> 27) & 1, avx = (cx >> 28) & 1;
  uint64_t xcr0 = osxsave ? xgetbv0 () : 0;
  int ymm_os = (xcr0 & 0x6) == 0x6, zmm_os = (xcr0 & 0xe6) == 0xe6;
  if (max >= 7) {
    unsigned sub;
    __cpuid_count (7, 0, sub, b, cx, d);
    c->avx2_fma = avx && fma && ymm_os && ((b >> 5) & 1);
    c->avx512f = zmm_os && ((b >> 16) & 1);
    c->avx512vnni = c->avx512f && ((cx >> 11) & 1);
    if (sub >= 1) {
      __cpuid_count (7, 1, a, b, cx, d);
      c->avxvnni = c->avx2_fma && ((a >> 4) & 1);
      c->avx512bf16 = c->avx512f && ((a >> 5) & 1);
    }
  }
  __cpuid (0x80000000, max, b, cx, d);
  if (max >= 0x80000004) {
    for (unsigned i = 0; i < 3; i++) {
      __cpuid (0x80000002 + i, a, b, cx, d);
      unsigned r[4] = { a, b, cx, d };
      memcpy (c->name + 16 * i, r, 16);
    }
    /* the brand string is padded with spaces on some CPUs */
    char *s = c->name;
    while (*s == ' ')
      s++;
    memmove (c->name, s, strlen (s) + 1);
    for (size_t n = strlen (c->name); n > 0 && c->name[n - 1] == ' '; n--)
      c->name[n - 1] = '\0';
  }
}

double
thread_cpu_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}


void
cpu_print (const cpu_info * c)
{
  printf ("cpu vendor=%s family=%u model=%u name=\"%s\"\n", c->vendor,
      c->family, c->model, c->name);
}

static const struct
{
  const char *name, *needs;
  kernel_fn fn;
  double ops;                   /* per instruction: 2 x multiply-adds */
} kernels[PEAK_KINDS] = {
  [PEAK_FP32_FMA_256] = {"fp32-fma-256", "AVX2+FMA", fp32_fma_256, 2 * 8},
  [PEAK_FP32_FMA_512] = {"fp32-fma-512", "AVX-512F", fp32_fma_512, 2 * 16},
  [PEAK_BF16_DOT_512] = {"bf16-dot-512", "AVX512-BF16", bf16_dot_512, 2 * 32},
  [PEAK_INT8_VNNI_512] = {"int8-vnni-512", "AVX512-VNNI", int8_vnni_512, 2 * 64},
  [PEAK_INT8_VNNI_256] = {"int8-vnni-256", "AVX-VNNI", int8_vnni_256, 2 * 32},
};

const char *
peak_name (peak_kind k)
{
  return kernels[k].name;
}

const char *
peak_needs (peak_kind k)
{
  return kernels[k].needs;
}

int
peak_present (const cpu_info * c, peak_kind k)
{
  const int present[PEAK_KINDS] = { c->avx2_fma, c->avx512f, c->avx512bf16,
    c->avx512vnni, c->avxvnni
  };
  return present[k];
}

double
peak_measure (const cpu_info * c, peak_kind k, int reps, double *best)
{
  *best = 0.0;
  if (!peak_present (c, k) || reps < 1)
    return 0.0;
  double *gops = malloc (sizeof (double) * reps);
  if (!gops)
    return 0.0;
  volatile float sink = kernels[k].fn (ITERS / 8);      /* warm-up: clocks, licence levels */
  for (int r = 0; r < reps; r++) {
    double t = thread_cpu_s ();
    sink = kernels[k].fn (ITERS);
    gops[r] = kernels[k].ops * ACC * ITERS / (thread_cpu_s () - t) / 1e9;
  }
  (void) sink;
  qsort (gops, reps, sizeof gops[0], cmp_double);
  double median = gops[reps / 2];
  *best = gops[reps - 1];
  free (gops);
  return median;
}
