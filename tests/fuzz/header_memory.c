/* The loader's peak heap while it rejects hostile headers of ~2 MB stays
 * within 4 x the header length + 64 KiB: nothing it allocates grows with what
 * a header claims before that is checked. Each case also must fail with its
 * own message, so that it reaches the check it aims at.
 *
 * Heap in use is tracked during rv_model_load_memory only: by interposing
 * malloc (usable sizes), or under AddressSanitizer, which owns malloc, by its
 * allocation hooks. A realloc counts as a new block before the old one goes.
 * Valgrind replaces malloc in the program too: there the peaks go unmeasured
 * (said so on each line) and memcheck checks the rejections instead.
 *
 * usage: test-header-memory */
#include "repvit.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef __has_feature
#define __has_feature(x) 0
#endif

static int counting, tracked;
static long long live, peak;

static void
grow (size_t n)
{
  if (counting && (live += (long long) n) > peak)
    peak = live;
}

static void
shrink (size_t n)
{
  if (counting)
    live -= (long long) n;
}

#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
extern int __sanitizer_install_malloc_and_free_hooks (void (*) (const volatile
        void *, size_t), void (*) (const volatile void *));
extern size_t __sanitizer_get_allocated_size (const volatile void *);

static void
malloc_hook (const volatile void *p, size_t n)
{
  (void) p;
  grow (n);
}

static void
free_hook (const volatile void *p)
{
  shrink (__sanitizer_get_allocated_size (p));
}

static void
start_tracking (void)
{
  __sanitizer_install_malloc_and_free_hooks (malloc_hook, free_hook);
}
#else
#include <malloc.h>
extern void *__libc_malloc (size_t);
extern void *__libc_calloc (size_t, size_t);
extern void *__libc_realloc (void *, size_t);
extern void *__libc_memalign (size_t, size_t);
extern void __libc_free (void *);

static void *
track (void *p)
{
  if (p)
    grow (malloc_usable_size (p));
  return p;
}

void *
malloc (size_t n)
{
  return track (__libc_malloc (n));
}

void *
calloc (size_t n, size_t m)
{
  return track (__libc_calloc (n, m));
}

void *
realloc (void *p, size_t n)
{
  size_t old = p ? malloc_usable_size (p) : 0;
  void *q = track (__libc_realloc (p, n));
  if (q || !n)
    shrink (old);
  return q;
}

void *
aligned_alloc (size_t a, size_t n)
{
  return track (__libc_memalign (a, n));
}

int
posix_memalign (void **p, size_t a, size_t n)
{
  *p = track (__libc_memalign (a, n));
  return *p ? 0 : 12;
}

void
free (void *p)
{
  if (p)
    shrink (malloc_usable_size (p));
  __libc_free (p);
}

static void
start_tracking (void)
{
}
#endif

/* A growing text buffer for building the cases. */
typedef struct {
  char *s;
  size_t n, cap;
} text;

static void add (text *t, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
add (text *t, const char *fmt, ...)
{
  for (;;) {
    if (t->s) {
      va_list ap;
      va_start (ap, fmt);
      int k = vsnprintf (t->s + t->n, t->cap - t->n, fmt, ap);
      va_end (ap);
      if (k >= 0 && (size_t) k < t->cap - t->n) {
        t->n += (size_t) k;
        return;
      }
    }
    t->cap = t->cap ? 2 * t->cap : 1 << 16;
    if (!(t->s = realloc (t->s, t->cap)))
      abort ();
  }
}

#define TARGET (2u << 20)       /* header bytes of each case */
#define TINY_META "\"arch\":\"repvit-yolo11\",\"variant\":\"m0_9\"," \
  "\"scale\":\"n\",\"nc\":\"2\""

static int failures;

/* Loads 8-byte length + header + data and checks the message and the peak. */
static void
check (const char *name, text *h, size_t data_bytes, const char *expected)
{
  size_t size = 8 + h->n + data_bytes;
  unsigned char *file = calloc (size, 1);
  if (!file)
    abort ();
  for (int i = 0; i < 8; i++)
    file[i] = (unsigned char) ((uint64_t) h->n >> 8 * i);
  memcpy (file + 8, h->s, h->n);
  char err[512] = "";
  rv_model *model = NULL;
  live = peak = 0;
  counting = 1;
  rv_status st = rv_model_load_memory (file, size, &model, err, sizeof err);
  counting = 0;
  long long limit = 4 * (long long) h->n + (64 << 10);
  int ok = st != RV_OK && !model && strstr (err, expected)
      && (peak <= limit || !tracked);
  printf ("%s %-22s header %zu bytes, peak heap %lld bytes (%.2f x%s): "
      "%.100s\n", ok ? "ok  " : "FAIL", name, h->n, peak,
      (double) peak / (double) h->n, tracked ? "" : ", not measured", err);
  if (!ok) {
    printf ("     expected a failure with '%s' and a peak of at most %lld\n",
        expected, limit);
    failures++;
  }
  rv_model_free (model);
  free (file);
  free (h->s);
  memset (h, 0, sizeof *h);
}

int
main (void)
{
  start_tracking ();
  /* called as the library calls it, not inlined here */
  void *(*volatile alloc) (size_t) = malloc;
  counting = 1;
  void *probe = alloc (1 << 20);
  counting = 0;
  tracked = peak >= 1 << 20;
  free (probe);
  text h = { 0 };

  /* a shape of a million zeros */
  add (&h, "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,0],\"shape\":[0");
  while (h.n < TARGET)
    add (&h, ",0");
  add (&h, "]}}");
  check ("long-shape", &h, 0, "dimensions (at most 8)");

  /* empty arrays, then empty objects, nested within the depth limit */
  add (&h, "{\"a\":[[]");
  while (h.n < TARGET)
    add (&h, ",[]");
  add (&h, "]}");
  check ("empty-arrays", &h, 0, "header entry must be");
  add (&h, "{\"a\":[[{}]");
  while (h.n < TARGET)
    add (&h, ",[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]");
  add (&h, "]}");
  check ("nested-objects", &h, 0, "header entry must be");

  /* tiny metadata keys, all valid but the same */
  add (&h, "{\"__metadata__\":{\"\":\"\"");
  while (h.n < TARGET)
    add (&h, ",\"\":\"\"");
  add (&h, "}}");
  check ("metadata-keys", &h, 0, "duplicate key \"\"");

  /* tiny tensor entries: all valid but the same name, then all distinct
   * and the last one invalid */
  add (&h, "{");
  while (h.n < TARGET)
    add (&h, "\"\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},");
  h.s[h.n - 1] = '}';
  check ("tensor-entries", &h, 0, "duplicate key \"\"");
  add (&h, "{");
  for (unsigned i = 0; h.n < TARGET; i++)
    add (&h, "\"%x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},",
        i);
  add (&h, "\"z\":{\"dtype\":\"BF16\",\"shape\":[0],\"data_offsets\":[0,0]}}");
  check ("tensor-entries-bad-end", &h, 0, "unsupported dtype BF16");

  /* a valid file but for a list of a million class names */
  add (&h, "{\"__metadata__\":{" TINY_META ",\"names\":\"[\\\"\\\"");
  while (h.n < TARGET)
    add (&h, ",\\\"\\\"");
  add (&h, "]\"},\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
      "\"data_offsets\":[0,4]}}");
  check ("class-names", &h, 4, "entries but nc is 2");

  return failures != 0;
}
