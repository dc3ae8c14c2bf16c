/* The loader's peak heap while it rejects hostile headers of ~2 MB stays
 * within 4 x the header length + 64 KiB: nothing it allocates grows with what
 * a header claims before that is checked. Each case also must fail with its
 * own message, so that it reaches the check it aims at.
 *
 * Whole files too, through rv_model_load: a 1 GiB data section (a hole in a
 * sparse file) behind a header that fails the model's checks (wrong arch; an
 * unexpected tensor after the golden model's) costs no more than its header,
 * since names and shapes are checked before any tensor is read. A file that
 * shrinks while its data is read (truncated when the loader allocates the
 * weights) is an error, not SIGBUS; a FIFO is refused without blocking.
 *
 * Heap in use is tracked during rv_model_load_memory only: by interposing
 * malloc (usable sizes), or under AddressSanitizer, which owns malloc, by its
 * allocation hooks. A realloc counts as a new block before the old one goes.
 * Valgrind replaces malloc in the program too: there the peaks go unmeasured
 * (said so on each line) and memcheck checks the rejections instead.
 *
 * usage: test-header-memory GOLDEN_MODEL */
#include "repvit.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef __has_feature
#define __has_feature(x) 0
#endif

static int counting, tracked;
static long long live, peak;
/* set: the first allocation of at least shrink_at bytes truncates this file
 * to shrink_to bytes */
static int shrink_fd = -1;
static size_t shrink_at;
static off_t shrink_to;

static void
grow (size_t n)
{
  if (counting && (live += (long long) n) > peak)
    peak = live;
  if (shrink_fd >= 0 && n >= shrink_at) {
    if (ftruncate (shrink_fd, shrink_to))
      abort ();
    shrink_fd = -1;
  }
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

/* Writes 8-byte length + header + golden data (NULL: none) + a hole to a
 * file; loads it and checks the message and the peak. */
static void
check_file (const char *dir, const char *name, text *h, const char *data,
    size_t data_bytes, uint64_t hole, const char *expected)
{
  char path[512], err[512] = "";
  snprintf (path, sizeof path, "%s/%s.safetensors", dir, name);
  FILE *f = fopen (path, "wb");
  unsigned char len8[8];
  for (int i = 0; i < 8; i++)
    len8[i] = (unsigned char) ((uint64_t) h->n >> 8 * i);
  if (!f || fwrite (len8, 1, 8, f) != 8 || fwrite (h->s, 1, h->n, f) != h->n
      || (data_bytes && fwrite (data, 1, data_bytes, f) != data_bytes)
      || fclose (f) || truncate (path, (off_t) (8 + h->n + data_bytes + hole)))
    abort ();
  rv_model *model = NULL;
  live = peak = 0;
  counting = 1;
  rv_status st = rv_model_load (path, &model, err, sizeof err);
  counting = 0;
  long long limit = 4 * (long long) h->n + (64 << 10) + (64 << 10);
  int ok = st != RV_OK && !model && strstr (err, expected)
      && (peak <= limit || !tracked);
  printf ("%s %-22s header %zu bytes, %llu-byte file, peak heap %lld bytes "
      "(%.2f x%s): %.100s\n", ok ? "ok  " : "FAIL", name, h->n,
      (unsigned long long) (8 + h->n + data_bytes + hole), peak,
      (double) peak / (double) h->n, tracked ? "" : ", not measured",
      strstr (err, name) ? strstr (err, name) : err);
  if (!ok) {
    printf ("     expected a failure with '%s' and a peak of at most %lld "
        "(the header, its names and one 64 KiB read buffer)\n", expected,
        limit);
    failures++;
  }
  rv_model_free (model);
  unlink (path);
  free (h->s);
  memset (h, 0, sizeof *h);
}

/* The golden model's file, whole (malloc'd), and its header length. */
static char *
read_golden (const char *path, size_t *size, size_t *hlen)
{
  FILE *f = fopen (path, "rb");
  char *buf = NULL;
  long n;
  if (!f || fseek (f, 0, SEEK_END) || (n = ftell (f)) < 8
      || fseek (f, 0, SEEK_SET) || !(buf = malloc ((size_t) n))
      || fread (buf, 1, (size_t) n, f) != (size_t) n)
    abort ();
  fclose (f);
  *size = (size_t) n;
  *hlen = 0;
  for (int i = 7; i >= 0; i--)
    *hlen = *hlen << 8 | (unsigned char) buf[i];
  return buf;
}

static void
file_cases (const char *golden)
{
  char dir[] = "/tmp/rv-header-memory-XXXXXX";
  if (!mkdtemp (dir))
    abort ();
  text h = { 0 };
  const uint64_t gib = UINT64_C (1) << 30;

  /* wrong arch, then 1 GiB of one tensor */
  add (&h, "{\"__metadata__\":{\"arch\":\"yolo11\",\"variant\":\"m0_9\","
      "\"scale\":\"n\",\"nc\":\"2\",\"names\":\"[\\\"a\\\",\\\"b\\\"]\"},"
      "\"big\":{\"dtype\":\"F32\",\"shape\":[%llu],\"data_offsets\":"
      "[0,%llu]}}", (unsigned long long) gib / 4, (unsigned long long) gib);
  check_file (dir, "sparse-wrong-arch", &h, NULL, 0, gib,
      "metadata arch is 'yolo11'");

  /* the golden model and one more tensor of 1 GiB */
  size_t size, hlen;
  char *g = read_golden (golden, &size, &hlen);
  size_t end = hlen;
  while (end > 0 && g[8 + end - 1] != '}')     /* before the padding */
    end--;
  add (&h, "%.*s,\"zzz.big\":{\"dtype\":\"F16\",\"shape\":[%llu],"
      "\"data_offsets\":[%zu,%llu]}}", (int) end - 1, g + 8,
      (unsigned long long) gib / 2, size - 8 - hlen,
      (unsigned long long) (size - 8 - hlen + gib));
  check_file (dir, "sparse-unexpected", &h, g + 8 + hlen, size - 8 - hlen,
      gib, "unexpected tensor zzz.big");

  /* the golden model, truncated to half when the weights are allocated */
  char path[512], err[512] = "";
  snprintf (path, sizeof path, "%s/shrinks.safetensors", dir);
  FILE *f = fopen (path, "wb");
  if (!f || fwrite (g, 1, size, f) != size || fclose (f))
    abort ();
  shrink_fd = open (path, O_RDWR);
  shrink_at = (size - 8 - hlen) * 2;      /* the f32 copy of F16 data */
  shrink_to = (off_t) (size / 2);
  rv_model *model = NULL;
  counting = 1;
  rv_status st = rv_model_load (path, &model, err, sizeof err);
  counting = 0;
  int ok = st == RV_ERR_IO && !model && shrink_fd < 0
      && strstr (err, "shrank while it was being read");
  printf ("%s %-22s %s\n", ok ? "ok  " : "FAIL", "shrinks-while-read",
      strstr (err, "shrinks") ? strstr (err, "shrinks") : err);
  failures += !ok;
  if (shrink_fd >= 0)
    close (shrink_fd);
  shrink_fd = -1;
  unlink (path);
  free (g);

  /* a FIFO without a writer: refused at once (SIGALRM ends a hang) */
  snprintf (path, sizeof path, "%s/fifo.safetensors", dir);
  if (mkfifo (path, 0600))
    abort ();
  alarm (60);
  st = rv_model_load (path, &model, err, sizeof err);
  alarm (0);
  ok = st == RV_ERR_IO && !model && strstr (err, "is a FIFO, not a regular");
  printf ("%s %-22s %s\n", ok ? "ok  " : "FAIL", "fifo",
      strstr (err, "fifo") ? strstr (err, "fifo") : err);
  failures += !ok;
  unlink (path);
  rmdir (dir);
}

int
main (int argc, char **argv)
{
  if (argc != 2) {
    fprintf (stderr, "usage: test-header-memory GOLDEN_MODEL\n");
    return 2;
  }
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

  file_cases (argv[1]);

  return failures != 0;
}
