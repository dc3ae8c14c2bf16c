/* weights.c — safetensors reader: bounds-checked header, strict layout
 * (offsets contiguous from 0, no holes, overlaps or trailing bytes), F32/F16. */
#include "weights.h"
#include "error.h"

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
  const rv_tensor_entry *x = *(rv_tensor_entry * const *) a;
  const rv_tensor_entry *y = *(rv_tensor_entry * const *) b;
  return x->begin < y->begin ? -1 : x->begin > y->begin ? 1
      : x->end < y->end ? -1 : x->end > y->end;
}

/* One header entry: {"dtype": ..., "shape": [...], "data_offsets": [b, e]}. */
static rv_status
parse_entry (rv_weights *w, rv_tensor_entry *t, const json_value *v,
    int *dsize, char *err, size_t es)
{
  const char *p = w->path, *n = t->name;
  if (v->type != JSON_OBJECT || v->n != 3)
    return rv_error (err, es, RV_ERR_FORMAT, "%s: tensor %s: header entry must "
        "be an object with dtype, shape and data_offsets", p, n);
  const json_value *dt = json_get (v, "dtype"), *sh = json_get (v, "shape"),
      *off = json_get (v, "data_offsets");
  if (!dt || !sh || !off || dt->type != JSON_STRING || sh->type != JSON_ARRAY
      || off->type != JSON_ARRAY || off->n != 2
      || !json_u64 (&off->items[0], &t->begin)
      || !json_u64 (&off->items[1], &t->end))
    return rv_error (err, es, RV_ERR_FORMAT, "%s: tensor %s: header entry must "
        "be an object with dtype, shape and data_offsets", p, n);
  if (!strcmp (dt->str, "F32"))
    *dsize = 4;
  else if (!strcmp (dt->str, "F16"))
    *dsize = 2;
  else
    return rv_error (err, es, RV_ERR_TENSOR, "%s: tensor %s has unsupported "
        "dtype %.16s (F32 or F16 expected)", p, n, dt->str);
  if (sh->n > RV_MAX_DIMS)
    return rv_error (err, es, RV_ERR_TENSOR, "%s: tensor %s has %zu dimensions "
        "(at most %d)", p, n, sh->n, RV_MAX_DIMS);
  if (t->end < t->begin)
    return rv_error (err, es, RV_ERR_FORMAT, "%s: tensor %s has data_offsets "
        "[%llu, %llu] ending before they begin", p, n,
        (unsigned long long) t->begin, (unsigned long long) t->end);
  /* The element count is bounded by the span, so overflow means mismatch. */
  uint64_t span = t->end - t->begin, count = 1;
  bool fits = true;
  t->ndim = (int) sh->n;
  for (size_t i = 0; i < sh->n; i++) {
    uint64_t d;
    if (!json_u64 (&sh->items[i], &d) || d > MAX_DIM)
      return rv_error (err, es, RV_ERR_FORMAT, "%s: tensor %s: shape must be "
          "a list of non-negative integers up to 2^53", p, n);
    t->shape[i] = (int64_t) d;
    if (__builtin_mul_overflow (count, d, &count))
      fits = false;
  }
  uint64_t bytes;
  if (__builtin_mul_overflow (count, (uint64_t) *dsize, &bytes))
    fits = false;
  if (!fits || bytes != span)
    return rv_error (err, es, RV_ERR_FORMAT, "%s: tensor %s: shape and dtype "
        "%s need %s%llu bytes but data_offsets span %llu", p, n, dt->str,
        fits ? "" : "more than ", (unsigned long long) (fits ? bytes : span),
        (unsigned long long) span);
  t->count = count;
  return RV_OK;
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
  char jerr[192];
  if (!json_parse ((const char *) buf + 8, hlen, &w->header, jerr, sizeof jerr))
    return rv_error (err, es, RV_ERR_FORMAT, "%s: malformed JSON header: %s",
        p, jerr);

  const json_value *h = &w->header;
  w->tensors = calloc (h->n ? h->n : 1, sizeof *w->tensors);
  if (!w->tensors)
    return rv_error (err, es, RV_ERR_NOMEM, "%s: out of memory", p);
  int *dsize = calloc (h->n ? h->n : 1, sizeof *dsize);
  rv_tensor_entry **by_begin = calloc (h->n ? h->n : 1, sizeof *by_begin);
  rv_status st = dsize && by_begin ? RV_OK
      : rv_error (err, es, RV_ERR_NOMEM, "%s: out of memory", p);
  for (size_t i = 0; i < h->n && !st; i++) {
    if (!strcmp (h->keys[i], "__metadata__")) {
      w->meta = &h->items[i];
      bool ok = w->meta->type == JSON_OBJECT;
      for (size_t j = 0; ok && j < w->meta->n; j++)
        ok = w->meta->items[j].type == JSON_STRING;
      if (!ok)
        st = rv_error (err, es, RV_ERR_METADATA, "%s: __metadata__ must be an "
            "object of string values", p);
      continue;
    }
    rv_tensor_entry *t = &w->tensors[w->n_tensors];
    t->name = h->keys[i];
    st = parse_entry (w, t, &h->items[i], &dsize[w->n_tensors], err, es);
    by_begin[w->n_tensors++] = t;
  }

  /* Layout: sorted by begin, each tensor starts where the previous ended. */
  uint64_t data_size = size - 8 - hlen, pos = 0;
  if (!st)
    qsort (by_begin, w->n_tensors, sizeof *by_begin, cmp_begin);
  for (size_t i = 0; i < w->n_tensors && !st; i++) {
    const rv_tensor_entry *t = by_begin[i];
    if (t->begin != pos)
      st = rv_error (err, es, RV_ERR_FORMAT, "%s: tensor %s data_offsets "
          "[%llu, %llu] %s (expected to begin at %llu)", p, t->name,
          (unsigned long long) t->begin, (unsigned long long) t->end,
          t->begin < pos ? "overlap another tensor" : "leave a gap",
          (unsigned long long) pos);
    else if (t->end > data_size)
      st = rv_error (err, es, RV_ERR_FORMAT, "%s: tensor %s data_offsets "
          "[%llu, %llu] run past the end of the data (%llu bytes)", p, t->name,
          (unsigned long long) t->begin, (unsigned long long) t->end,
          (unsigned long long) data_size);
    pos = t->end;
    w->n_elements += t->count;
  }
  if (!st && pos != data_size)
    st = rv_error (err, es, RV_ERR_FORMAT, "%s: %llu bytes after the last "
        "tensor", p, (unsigned long long) (data_size - pos));

  /* Convert in file order; the sizes are now known to fit in the file. */
  if (!st) {
    size_t bytes = ((size_t) w->n_elements * 4 + 63) / 64 * 64;
    w->data = aligned_alloc (64, bytes ? bytes : 64);
    if (!w->data)
      st = rv_error (err, es, RV_ERR_NOMEM, "%s: out of memory", p);
  }
  const uint8_t *base = buf + 8 + hlen;
  float *dst = w->data;
  for (size_t i = 0; i < w->n_tensors && !st; i++) {
    rv_tensor_entry *t = by_begin[i];
    const uint8_t *src = base + t->begin;
    bool two = dsize[t - w->tensors] == 2;
    t->data = dst;
    for (uint64_t j = 0; j < t->count; j++) {
      if (two) {
        dst[j] = half_to_float ((uint16_t) (src[2 * j] | src[2 * j + 1] << 8));
      } else {
        uint32_t bits = (uint32_t) src[4 * j] | (uint32_t) src[4 * j + 1] << 8
            | (uint32_t) src[4 * j + 2] << 16 | (uint32_t) src[4 * j + 3] << 24;
        memcpy (&dst[j], &bits, 4);
      }
      if (!isfinite (dst[j])) {
        st = rv_error (err, es, RV_ERR_VALUE, "%s: tensor %s has a non-finite "
            "value at element %llu", p, t->name, (unsigned long long) j);
        break;
      }
    }
    dst += t->count;
  }
  free (dsize);
  free (by_begin);
  /* Pointers into data stay valid: sorting moves entries, not data. */
  if (!st)
    qsort (w->tensors, w->n_tensors, sizeof *w->tensors, cmp_name);
  return st;
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
  const json_value *v = w->meta ? json_get (w->meta, key) : NULL;
  return v ? v->str : NULL;
}

void
rv_weights_free (rv_weights *w)
{
  json_free (&w->header);
  free (w->tensors);
  free (w->data);
  memset (w, 0, sizeof *w);
}
