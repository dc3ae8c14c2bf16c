/* weights.c — safetensors reader: bounds-checked header, strict layout
 * (offsets contiguous from 0, no holes, overlaps or trailing bytes), F32/F16. */
#include "weights.h"
#include "error.h"
#include "json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADER (100u << 20)
#define MAX_DIM (UINT64_C (1) << 53)   /* exact in a JSON double */

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
  const char *p = w->path, *n = t->name, *dtype = NULL;
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
  if (!ok || !dtype || !shape || n_offsets != 2)
    return rv_error (err, es, RV_ERR_FORMAT, "%s: tensor %s: header entry must "
        "be an object with dtype, shape and data_offsets", p, n);
  if (!strcmp (dtype, "F32"))
    t->dsize = 4;
  else if (!strcmp (dtype, "F16"))
    t->dsize = 2;
  else
    return rv_error (err, es, RV_ERR_TENSOR, "%s: tensor %s has unsupported "
        "dtype %.16s (F32 or F16 expected)", p, n, dtype);
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

static rv_status
parse (rv_weights *w, const uint8_t *buf, size_t size, char *err, size_t es)
{
  const char *p = w->path;
  if (size < 8)
    return rv_error (err, es, RV_ERR_FORMAT, "%s: file of %zu bytes is too "
        "short for a safetensors header", p, size);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--)
    hlen = hlen << 8 | buf[i];
  if (hlen < 2 || hlen > MAX_HEADER)
    return rv_error (err, es, RV_ERR_FORMAT, "%s: header length %llu is out "
        "of range (2 .. %u)", p, (unsigned long long) hlen, MAX_HEADER);
  if (hlen > size - 8)
    return rv_error (err, es, RV_ERR_FORMAT, "%s: header length %llu runs "
        "past the end of the file (%zu bytes)", p, (unsigned long long) hlen,
        size);
  if (buf[8] != '{')
    return rv_error (err, es, RV_ERR_FORMAT, "%s: header does not start "
        "with '{'", p);
  const char *text = (const char *) buf + 8;
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

  qsort (w->tensors, w->n_tensors, sizeof *w->tensors, cmp_name);
  for (size_t i = 1; i < w->n_tensors; i++)
    if (!strcmp (w->tensors[i].name, w->tensors[i - 1].name))
      return rv_error (err, es, RV_ERR_FORMAT, "%s: header has duplicate key "
          "\"%.64s\"", p, w->tensors[i].name);
  qsort (w->meta, w->n_meta, sizeof *w->meta, cmp_key);
  for (size_t i = 1; i < w->n_meta; i++)
    if (!strcmp (w->meta[i], w->meta[i - 1]))
      return rv_error (err, es, RV_ERR_FORMAT, "%s: __metadata__ has "
          "duplicate key \"%.64s\"", p, w->meta[i]);

  /* Layout: sorted by begin, each tensor starts where the previous ended. */
  uint64_t data_size = size - 8 - hlen, pos = 0;
  qsort (w->tensors, w->n_tensors, sizeof *w->tensors, cmp_begin);
  for (size_t i = 0; i < w->n_tensors; i++) {
    const rv_tensor_entry *t = &w->tensors[i];
    if (t->begin != pos)
      return rv_error (err, es, RV_ERR_FORMAT, "%s: tensor %s data_offsets "
          "[%llu, %llu] %s (expected to begin at %llu)", p, t->name,
          (unsigned long long) t->begin, (unsigned long long) t->end,
          t->begin < pos ? "overlap another tensor" : "leave a gap",
          (unsigned long long) pos);
    if (t->end > data_size)
      return rv_error (err, es, RV_ERR_FORMAT, "%s: tensor %s data_offsets "
          "[%llu, %llu] run past the end of the data (%llu bytes)", p, t->name,
          (unsigned long long) t->begin, (unsigned long long) t->end,
          (unsigned long long) data_size);
    pos = t->end;
    w->n_elements += t->count;
  }
  if (pos != data_size)
    return rv_error (err, es, RV_ERR_FORMAT, "%s: %llu bytes after the last "
        "tensor", p, (unsigned long long) (data_size - pos));

  /* Convert in file order; the sizes are now known to fit in the file. */
  size_t bytes = ((size_t) w->n_elements * 4 + 63) / 64 * 64;
  if (!(w->data = aligned_alloc (64, bytes ? bytes : 64)))
    return rv_error (err, es, RV_ERR_NOMEM, "%s: out of memory", p);
  const uint8_t *base = buf + 8 + hlen;
  float *dst = w->data;
  for (size_t i = 0; i < w->n_tensors; i++) {
    rv_tensor_entry *t = &w->tensors[i];
    const uint8_t *src = base + t->begin;
    t->data = dst;
    for (uint64_t j = 0; j < t->count; j++) {
      if (t->dsize == 2) {
        dst[j] = half_to_float ((uint16_t) (src[2 * j] | src[2 * j + 1] << 8));
      } else {
        uint32_t bits = (uint32_t) src[4 * j] | (uint32_t) src[4 * j + 1] << 8
            | (uint32_t) src[4 * j + 2] << 16 | (uint32_t) src[4 * j + 3] << 24;
        memcpy (&dst[j], &bits, 4);
      }
      if (!isfinite (dst[j]))
        return rv_error (err, es, RV_ERR_VALUE, "%s: tensor %s has a "
            "non-finite value at element %llu", p, t->name,
            (unsigned long long) j);
    }
    dst += t->count;
  }
  /* Pointers into data stay valid: sorting moves entries, not data. */
  qsort (w->tensors, w->n_tensors, sizeof *w->tensors, cmp_name);
  return RV_OK;
}

rv_status
rv_weights_parse (rv_weights *w, const char *path, const uint8_t *buf,
    size_t size, char *err, size_t err_size)
{
  memset (w, 0, sizeof *w);
  w->path = path;
  rv_status st = parse (w, buf, size, err, err_size);
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
