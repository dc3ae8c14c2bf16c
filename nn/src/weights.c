/* weights.c — safetensors reader: bounds-checked header, strict layout
 * (offsets contiguous from 0, no holes, overlaps or trailing bytes), F32/F16. */
#include "weights.h"
#include "error.h"
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_HEADER (100u << 20)
#define MAX_DIM (UINT64_C (1) << 53)   /* exact in a JSON double */
#define CHUNK (64u << 10)       /* data read per pread */

/* n bytes at off of src: in place for memory, else read into stage (room for
 * n bytes). NULL when the file no longer holds them (errno 0) or on a read
 * error. */
static const uint8_t *
src_read (const rv_source *src, uint64_t off, size_t n, uint8_t *stage)
{
  if (src->mem)
    return src->mem + off;
  for (size_t got = 0; got < n;) {
    ssize_t k = pread (src->fd, stage + got, n - got, (off_t) (off + got));
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0) {
      if (k == 0)
        errno = 0;
      return NULL;
    }
    got += (size_t) k;
  }
  return stage;
}

static rv_status
read_failed (const char *path, char *err, size_t es)
{
  if (errno)
    return rv_error (err, es, RV_ERR_IO, "%s: cannot read: %s", path,
        strerror (errno));
  return rv_error (err, es, RV_ERR_IO, "%s: the file shrank while it was "
      "being read (replaced or rewritten meanwhile?)", path);
}

static float
half_to_float (uint16_t h)
{
  uint32_t sign = (uint32_t) (h >> 15) << 31, exp = h >> 10 & 0x1f, man = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | man << 13;
  } else if (exp != 0) {
    bits = sign | (exp + 112) << 23 | man << 13;
  } else if (man == 0) {
    bits = sign;
  } else {      /* subnormal: normalize */
    int e = -1;
    do {
      man <<= 1;
      e++;
    } while (!(man & 0x400));
    bits = sign | (uint32_t) (112 - e) << 23 | (man & 0x3ff) << 13;
  }
  float f;
  memcpy (&f, &bits, sizeof f);
  return f;
}

static int
cmp_name (const void *a, const void *b)
{
  return strcmp (((const rv_tensor_entry *) a)->name,
      ((const rv_tensor_entry *) b)->name);
}

static int
cmp_begin (const void *a, const void *b)
{
  const rv_tensor_entry *x = a, *y = b;
  return x->begin < y->begin ? -1 : x->begin > y->begin ? 1
      : x->end < y->end ? -1 : x->end > y->end;
}

/* Metadata records compare by their key, the first of their two strings. */
static int
cmp_key (const void *a, const void *b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* One header entry: {"dtype": ..., "shape": [...], "data_offsets": [b, e]}.
 * Read whole before its values are checked, so that the first error is the
 * same whatever the order of the fields; only 8 dimensions are stored. */
static rv_status
read_entry (rv_weights *w, json_reader *rd, char **next, rv_tensor_entry *t,
    char *err, size_t es)
{
  char n[RV_ESC_SIZE], d[RV_ESC_SIZE];
  const char *p = w->path, *dtype = NULL;
  size_t ndim = 0, n_offsets = 0;
  bool shape = false, offsets = false, shape_ok = true, ok = json_eat (rd, '{');
  while (ok && json_next (rd)) {
    char *field = *next;
    json_string (rd, next);
    json_eat (rd, ':');
    if (!strcmp (field, "dtype") && !dtype) {
      dtype = *next;
      ok = json_string (rd, next);
    } else if (!strcmp (field, "shape") && !shape) {
      shape = ok = json_eat (rd, '[');
      for (; ok && json_next (rd); ndim++) {
        uint64_t d = 0;
        shape_ok = json_u64 (rd, &d) && d <= MAX_DIM && shape_ok;
        if (ndim < RV_MAX_DIMS)
          t->shape[ndim] = (int64_t) d;
      }
    } else if (!strcmp (field, "data_offsets") && !offsets) {
      offsets = ok = json_eat (rd, '[');
      for (; ok && json_next (rd); n_offsets++)
        ok = n_offsets < 2 && json_u64 (rd, n_offsets ? &t->end : &t->begin);
    } else {
      ok = false;
    }
  }
  rv_escape (n, t->name);
  if (!ok || !dtype || !shape || n_offsets != 2)
    return rv_error (err, es, RV_ERR_FORMAT, "%s: tensor %s: header entry must "
        "be an object with dtype, shape and data_offsets", p, n);
  if (!strcmp (dtype, "F32"))
    t->dsize = 4;
  else if (!strcmp (dtype, "F16"))
    t->dsize = 2;
  else
    return rv_error (err, es, RV_ERR_TENSOR, "%s: tensor %s has unsupported "
        "dtype %s (F32 or F16 expected)", p, n, rv_escape (d, dtype));
  if (ndim > RV_MAX_DIMS)
    return rv_error (err, es, RV_ERR_TENSOR, "%s: tensor %s has %zu dimensions "
        "(at most %d)", p, n, ndim, RV_MAX_DIMS);
  if (t->end < t->begin)
    return rv_error (err, es, RV_ERR_FORMAT, "%s: tensor %s has data_offsets "
        "[%llu, %llu] ending before they begin", p, n,
        (unsigned long long) t->begin, (unsigned long long) t->end);
  if (!shape_ok)
    return rv_error (err, es, RV_ERR_FORMAT, "%s: tensor %s: shape must be "
        "a list of non-negative integers up to 2^53", p, n);
  /* The element count is bounded by the span, so overflow means mismatch. */
  uint64_t span = t->end - t->begin, count = 1, bytes;
  bool fits = true;
  t->ndim = (int) ndim;
  for (int i = 0; i < t->ndim; i++)
    if (__builtin_mul_overflow (count, (uint64_t) t->shape[i], &count))
      fits = false;
  if (__builtin_mul_overflow (count, (uint64_t) t->dsize, &bytes))
    fits = false;
  if (!fits || bytes != span)
    return rv_error (err, es, RV_ERR_FORMAT, "%s: tensor %s: shape and dtype "
        "%s need %s%llu bytes but data_offsets span %llu", p, n, dtype,
        fits ? "" : "more than ", (unsigned long long) (fits ? bytes : span),
        (unsigned long long) span);
  t->count = count;
  return RV_OK;
}

/* __metadata__: an object of string values, kept as "key\0value" records. */
static rv_status
read_metadata (rv_weights *w, json_reader *rd, char **next, char *err,
    size_t es)
{
  bool ok = json_eat (rd, '{');
  while (ok && json_next (rd)) {
    char *record = *next;
    json_string (rd, next);
    json_eat (rd, ':');
    ok = json_string (rd, next);
    if (w->meta)
      w->meta[w->n_meta] = record;
    w->n_meta++;
  }
  return ok ? RV_OK : rv_error (err, es, RV_ERR_METADATA, "%s: __metadata__ "
      "must be an object of string values", w->path);
}

/* Walks the checked header: without tables it checks every entry and counts
 * them; given tables of those counts it fills them (the same walk again). */
static rv_status
read_header (rv_weights *w, const char *text, size_t len, char *err,
    size_t es)
{
  json_reader rd;
  char *next = w->strings;
  rv_status st = RV_OK;
  json_init (&rd, text, len);
  json_eat (&rd, '{');
  w->has_meta = false;
  w->n_meta = w->n_tensors = 0;
  while (!st && json_next (&rd)) {
    char *key = next;
    json_string (&rd, &next);
    json_eat (&rd, ':');
    if (strcmp (key, "__metadata__")) {
      rv_tensor_entry scratch = { 0 }, *t = w->tensors
          ? &w->tensors[w->n_tensors] : &scratch;
      t->name = key;
      st = read_entry (w, &rd, &next, t, err, es);
      w->n_tensors++;
    } else if (w->has_meta) {
      st = rv_error (err, es, RV_ERR_FORMAT, "%s: header has duplicate key "
          "\"__metadata__\"", w->path);
    } else {
      w->has_meta = true;
      st = read_metadata (w, &rd, &next, err, es);
    }
  }
  return st;
}

/* The header text[0..hlen) and the layout of the data section after it. */
static rv_status
parse_header (rv_weights *w, const char *text, uint64_t hlen,
    uint64_t data_size, char *err, size_t es)
{
  const char *p = w->path;
  if (text[0] != '{')
    return rv_error (err, es, RV_ERR_FORMAT, "%s: header does not start "
        "with '{'", p);
  char jerr[192];
  if (!json_check (text, hlen, jerr, sizeof jerr))
    return rv_error (err, es, RV_ERR_FORMAT, "%s: malformed JSON header: %s",
        p, jerr);

  /* Nothing is sized by the header before it is checked: the strings take
   * at most its length, the tables what the first walk found valid. */
  if (!(w->strings = malloc (hlen)))
    return rv_error (err, es, RV_ERR_NOMEM, "%s: out of memory", p);
  rv_status st = read_header (w, text, hlen, err, es);
  if (st)
    return st;
  w->tensors = calloc (w->n_tensors ? w->n_tensors : 1, sizeof *w->tensors);
  w->meta = calloc (w->n_meta ? w->n_meta : 1, sizeof *w->meta);
  if (!w->tensors || !w->meta)
    return rv_error (err, es, RV_ERR_NOMEM, "%s: out of memory", p);
  read_header (w, text, hlen, err, es);

  char n[RV_ESC_SIZE];
  qsort (w->tensors, w->n_tensors, sizeof *w->tensors, cmp_name);
  for (size_t i = 1; i < w->n_tensors; i++)
    if (!strcmp (w->tensors[i].name, w->tensors[i - 1].name))
      return rv_error (err, es, RV_ERR_FORMAT, "%s: header has duplicate key "
          "\"%s\"", p, *w->tensors[i].name ? rv_escape (n, w->tensors[i].name)
          : "");
  qsort (w->meta, w->n_meta, sizeof *w->meta, cmp_key);
  for (size_t i = 1; i < w->n_meta; i++)
    if (!strcmp (w->meta[i], w->meta[i - 1]))
      return rv_error (err, es, RV_ERR_FORMAT, "%s: __metadata__ has "
          "duplicate key \"%s\"", p, *w->meta[i] ? rv_escape (n, w->meta[i])
          : "");

  /* Layout: sorted by begin, each tensor starts where the previous ended. */
  uint64_t pos = 0;
  qsort (w->tensors, w->n_tensors, sizeof *w->tensors, cmp_begin);
  for (size_t i = 0; i < w->n_tensors; i++) {
    const rv_tensor_entry *t = &w->tensors[i];
    if (t->begin != pos)
      return rv_error (err, es, RV_ERR_FORMAT, "%s: tensor %s data_offsets "
          "[%llu, %llu] %s (expected to begin at %llu)", p,
          rv_escape (n, t->name), (unsigned long long) t->begin, (unsigned long long) t->end,
          t->begin < pos ? "overlap another tensor" : "leave a gap",
          (unsigned long long) pos);
    if (t->end > data_size)
      return rv_error (err, es, RV_ERR_FORMAT, "%s: tensor %s data_offsets "
          "[%llu, %llu] run past the end of the data (%llu bytes)", p,
          rv_escape (n, t->name),
          (unsigned long long) t->begin, (unsigned long long) t->end,
          (unsigned long long) data_size);
    pos = t->end;
    w->n_elements += t->count;
  }
  if (pos != data_size)
    return rv_error (err, es, RV_ERR_FORMAT, "%s: %llu bytes after the last "
        "tensor", p, (unsigned long long) (data_size - pos));
  qsort (w->tensors, w->n_tensors, sizeof *w->tensors, cmp_name);
  return RV_OK;
}

static rv_status
parse (rv_weights *w, const rv_source *src, char *err, size_t es)
{
  const char *p = w->path;
  uint8_t stage[8];
  const uint8_t *len8 = src->size < 8 ? NULL : src_read (src, 0, 8, stage);
  if (src->size < 8)
    return rv_error (err, es, RV_ERR_FORMAT, "%s: file of %llu bytes is too "
        "short for a safetensors header", p, (unsigned long long) src->size);
  if (!len8)
    return read_failed (p, err, es);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--)
    hlen = hlen << 8 | len8[i];
  if (hlen < 2 || hlen > MAX_HEADER)
    return rv_error (err, es, RV_ERR_FORMAT, "%s: header length %llu is out "
        "of range (2 .. %u)", p, (unsigned long long) hlen, MAX_HEADER);
  if (hlen > src->size - 8)
    return rv_error (err, es, RV_ERR_FORMAT, "%s: header length %llu runs "
        "past the end of the file (%llu bytes)", p, (unsigned long long) hlen,
        (unsigned long long) src->size);
  /* only the header is read before the model checks its names and shapes */
  uint8_t *copy = src->mem ? NULL : malloc (hlen);
  if (!src->mem && !copy)
    return rv_error (err, es, RV_ERR_NOMEM, "%s: out of memory", p);
  const uint8_t *text = src_read (src, 8, hlen, copy);
  w->data_start = 8 + hlen;
  rv_status st = text ? parse_header (w, (const char *) text, hlen,
      src->size - 8 - hlen, err, es) : read_failed (p, err, es);
  free (copy);
  return st;
}

rv_status
rv_weights_parse (rv_weights *w, const char *path, const rv_source *src,
    char *err, size_t err_size)
{
  memset (w, 0, sizeof *w);
  w->path = path;
  rv_status st = parse (w, src, err, err_size);
  if (st)
    rv_weights_free (w);
  return st;
}

/* Converts in file order, CHUNK bytes at a time. */
static rv_status
load_data (rv_weights *w, const rv_source *src, uint8_t *stage, char *err,
    size_t es)
{
  const char *p = w->path;
  char n[RV_ESC_SIZE];
  qsort (w->tensors, w->n_tensors, sizeof *w->tensors, cmp_begin);
  float *dst = w->data;
  for (size_t i = 0; i < w->n_tensors; i++) {
    rv_tensor_entry *t = &w->tensors[i];
    size_t per = CHUNK / (size_t) t->dsize;
    t->data = dst;
    for (uint64_t j0 = 0; j0 < t->count; j0 += per) {
      size_t m = t->count - j0 < per ? (size_t) (t->count - j0) : per;
      const uint8_t *b = src_read (src, w->data_start + t->begin
          + j0 * (uint64_t) t->dsize, m * (size_t) t->dsize, stage);
      if (!b)
        return read_failed (p, err, es);
      for (size_t j = 0; j < m; j++) {
        float *d = &dst[j0 + j];
        if (t->dsize == 2) {
          *d = half_to_float ((uint16_t) (b[2 * j] | b[2 * j + 1] << 8));
        } else {
          uint32_t bits = (uint32_t) b[4 * j] | (uint32_t) b[4 * j + 1] << 8
              | (uint32_t) b[4 * j + 2] << 16 | (uint32_t) b[4 * j + 3] << 24;
          memcpy (d, &bits, 4);
        }
        if (!isfinite (*d))
          return rv_error (err, es, RV_ERR_VALUE, "%s: tensor %s has a "
              "non-finite value at element %llu", p, rv_escape (n, t->name),
              (unsigned long long) (j0 + j));
      }
    }
    dst += t->count;
  }
  /* Pointers into data stay valid: sorting moves entries, not data. */
  qsort (w->tensors, w->n_tensors, sizeof *w->tensors, cmp_name);
  return RV_OK;
}

rv_status
rv_weights_load_data (rv_weights *w, const rv_source *src, char *err,
    size_t err_size)
{
  /* the layout check bounded every size by the file's */
  size_t bytes = ((size_t) w->n_elements * 4 + 63) / 64 * 64;
  uint8_t *stage = src->mem ? NULL : malloc (CHUNK);
  rv_status st;
  if (!(w->data = aligned_alloc (64, bytes ? bytes : 64))
      || (!src->mem && !stage))
    st = rv_error (err, err_size, RV_ERR_NOMEM, "%s: out of memory", w->path);
  else
    st = load_data (w, src, stage, err, err_size);
  free (stage);
  if (st)
    rv_weights_free (w);
  return st;
}

rv_tensor_entry *
rv_weights_find (const rv_weights *w, const char *name)
{
  rv_tensor_entry key = { .name = name };
  return bsearch (&key, w->tensors, w->n_tensors, sizeof key, cmp_name);
}

const char *
rv_weights_meta (const rv_weights *w, const char *key)
{
  const char **r = w->meta ? bsearch (&key, w->meta, w->n_meta,
      sizeof *w->meta, cmp_key) : NULL;
  return r ? *r + strlen (*r) + 1 : NULL;
}

void
rv_weights_free (rv_weights *w)
{
  free (w->strings);
  free (w->meta);
  free (w->tensors);
  free (w->data);
  memset (w, 0, sizeof *w);
}
