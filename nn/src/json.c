/* json.c — strict recursive-descent JSON parser; see json.h. */
#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 32
/* A value costs ~50 bytes parsed, 2 in the text: bound the memory a hostile
 * header can claim (the largest model has ~20k values). */
#define JSON_MAX_VALUES (1 << 20)

typedef struct {
  const char *s, *end, *p;
  char *err;
  size_t err_size;
  bool failed;
  size_t n_values;
} json_parser;

static bool
fail (json_parser *ps, const char *fmt, ...)
{
  if (!ps->failed) {
    char msg[160];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    snprintf (ps->err, ps->err_size, "%s at byte %zu", msg,
        (size_t) (ps->p - ps->s));
    ps->failed = true;
  }
  return false;
}

static void
skip_ws (json_parser *ps)
{
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n'
          || *ps->p == '\r'))
    ps->p++;
}

static int
hex4 (const char *p)
{
  int v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0)
      return -1;
    v = v * 16 + d;
  }
  return v;
}

static size_t
put_utf8 (char *o, unsigned cp)
{
  if (cp < 0x80) {
    o[0] = (char) cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char) (0xc0 | cp >> 6);
    o[1] = (char) (0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char) (0xe0 | cp >> 12);
    o[1] = (char) (0x80 | (cp >> 6 & 0x3f));
    o[2] = (char) (0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char) (0xf0 | cp >> 18);
  o[1] = (char) (0x80 | (cp >> 12 & 0x3f));
  o[2] = (char) (0x80 | (cp >> 6 & 0x3f));
  o[3] = (char) (0x80 | (cp & 0x3f));
  return 4;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs,
 * surrogates or code points above U+10FFFF), or 0. */
static size_t
utf8_seq (const unsigned char *p, const unsigned char *end)
{
  size_t n = p[0] < 0xc2 ? 0 : p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3
      : p[0] < 0xf5 ? 4 : 0;
  if (n == 0 || (size_t) (end - p) < n)
    return 0;
  unsigned lo = 0x80, hi = 0xbf;        /* bounds of the second byte */
  if (p[0] == 0xe0)
    lo = 0xa0;
  else if (p[0] == 0xed)
    hi = 0x9f;
  else if (p[0] == 0xf0)
    lo = 0x90;
  else if (p[0] == 0xf4)
    hi = 0x8f;
  if (p[1] < lo || p[1] > hi)
    return 0;
  for (size_t i = 2; i < n; i++)
    if ((p[i] & 0xc0) != 0x80)
      return 0;
  return n;
}

/* ps->p is on the opening quote. The decoded text is never longer than the
 * source, so one allocation of the source length suffices. */
static bool
parse_string (json_parser *ps, char **out)
{
  const char *q = ++ps->p;
  while (q < ps->end && *q != '"')
    q += *q == '\\' && q + 1 < ps->end ? 2 : 1;
  if (q >= ps->end)
    return fail (ps, "unterminated string");
  char *o = malloc ((size_t) (q - ps->p) + 1), *w = o;
  if (!o)
    return fail (ps, "out of memory");
  while (*ps->p != '"') {
    unsigned char c = (unsigned char) *ps->p;
    if (c < 0x20) {
      free (o);
      return fail (ps, "control character in string");
    }
    if (c >= 0x80) {
      size_t n = utf8_seq ((const unsigned char *) ps->p,
          (const unsigned char *) q);
      if (n == 0) {
        free (o);
        return fail (ps, "invalid UTF-8 in string");
      }
      memcpy (w, ps->p, n);
      w += n;
      ps->p += n;
      continue;
    }
    if (c != '\\') {
      *w++ = (char) c;
      ps->p++;
      continue;
    }
    char e = ps->p[1];
    ps->p += 2;
    switch (e) {
      case '"': *w++ = '"'; break;
      case '\\': *w++ = '\\'; break;
      case '/': *w++ = '/'; break;
      case 'b': *w++ = '\b'; break;
      case 'f': *w++ = '\f'; break;
      case 'n': *w++ = '\n'; break;
      case 'r': *w++ = '\r'; break;
      case 't': *w++ = '\t'; break;
      case 'u': {
        int cp = ps->p + 4 <= q ? hex4 (ps->p) : -1;
        ps->p += 4;
        if (cp >= 0xd800 && cp < 0xdc00) {     /* surrogate pair */
          int lo = ps->p + 6 <= q && ps->p[0] == '\\' && ps->p[1] == 'u'
              ? hex4 (ps->p + 2) : -1;
          if (lo < 0xdc00 || lo >= 0xe000)
            cp = -1;
          else
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          ps->p += 6;
        } else if (cp >= 0xdc00 && cp < 0xe000) {
          cp = -1;
        }
        if (cp <= 0) {        /* NUL is refused: names are C strings */
          free (o);
          return fail (ps, "bad \\u escape in string");
        }
        w += put_utf8 (w, (unsigned) cp);
        break;
      }
      default:
        free (o);
        ps->p -= 2;
        return fail (ps, "bad escape in string");
    }
  }
  ps->p++;
  *w = '\0';
  *out = o;
  return true;
}

static bool
parse_number (json_parser *ps, json_value *v)
{
  const char *p = ps->p, *e = ps->end;
#define DIGITS(p) ((p) < e && *(p) >= '0' && *(p) <= '9')
  if (p < e && *p == '-')
    p++;
  if (!DIGITS (p))
    return fail (ps, "bad number");
  if (*p == '0')
    p++;
  else
    while (DIGITS (p))
      p++;
  if (p < e && *p == '.') {
    p++;
    if (!DIGITS (p))
      return fail (ps, "bad number");
    while (DIGITS (p))
      p++;
  }
  if (p < e && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < e && (*p == '+' || *p == '-'))
      p++;
    if (!DIGITS (p))
      return fail (ps, "bad number");
    while (DIGITS (p))
      p++;
  }
#undef DIGITS
  v->type = JSON_NUMBER;
  v->str = strndup (ps->p, (size_t) (p - ps->p));
  ps->p = p;
  return v->str ? true : fail (ps, "out of memory");
}

static int
cmp_key (const void *a, const void *b)
{
  return strcmp (**(char *const *const *) a, **(char *const *const *) b);
}

/* Sorts the keys once: gives O(log n) lookups and finds duplicates. */
static bool
index_object (json_parser *ps, json_value *v)
{
  char ***sorted = malloc ((v->n ? v->n : 1) * sizeof *sorted);
  v->order = malloc ((v->n ? v->n : 1) * sizeof *v->order);
  if (!sorted || !v->order) {
    free (sorted);
    return fail (ps, "out of memory");
  }
  for (size_t i = 0; i < v->n; i++)
    sorted[i] = &v->keys[i];
  qsort (sorted, v->n, sizeof *sorted, cmp_key);
  for (size_t i = 0; i < v->n; i++) {
    v->order[i] = (size_t) (sorted[i] - v->keys);
    if (i > 0 && strcmp (*sorted[i], *sorted[i - 1]) == 0) {
      fail (ps, "duplicate key \"%.64s\"", *sorted[i]);
      free (sorted);
      return false;
    }
  }
  free (sorted);
  return true;
}

static bool parse_value (json_parser *ps, json_value *v, int depth);

/* Arrays and objects: items (and keys) grow by doubling. */
static bool
parse_container (json_parser *ps, json_value *v, int depth)
{
  bool object = *ps->p == '{';
  char close = object ? '}' : ']';
  size_t cap = 0;
  v->type = object ? JSON_OBJECT : JSON_ARRAY;
  ps->p++;
  skip_ws (ps);
  if (ps->p < ps->end && *ps->p == close) {
    ps->p++;
    return object ? index_object (ps, v) : true;
  }
  for (;;) {
    if (v->n == cap) {
      cap = cap ? 2 * cap : 8;
      json_value *items = realloc (v->items, cap * sizeof *items);
      if (items)
        v->items = items;
      char **keys = object ? realloc (v->keys, cap * sizeof *keys) : NULL;
      if (keys)
        v->keys = keys;
      if (!items || (object && !keys))
        return fail (ps, "out of memory");
    }
    json_value *item = &v->items[v->n];
    memset (item, 0, sizeof *item);
    skip_ws (ps);
    if (object) {
      if (ps->p >= ps->end || *ps->p != '"')
        return fail (ps, "expected a string key");
      if (!parse_string (ps, &v->keys[v->n]))
        return false;
      skip_ws (ps);
      if (ps->p >= ps->end || *ps->p != ':') {
        free (v->keys[v->n]);
        return fail (ps, "expected ':'");
      }
      ps->p++;
    }
    v->n++;     /* counted now so that json_free releases a partial item */
    if (!parse_value (ps, item, depth + 1))
      return false;
    skip_ws (ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (ps->p < ps->end && *ps->p == close) {
      ps->p++;
      return object ? index_object (ps, v) : true;
    }
    return fail (ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

static bool
parse_value (json_parser *ps, json_value *v, int depth)
{
  static const struct { const char *word; json_type type; } literals[] = {
    { "null", JSON_NULL }, { "false", JSON_FALSE }, { "true", JSON_TRUE },
  };
  skip_ws (ps);
  if (depth > JSON_MAX_DEPTH)
    return fail (ps, "nesting deeper than %d", JSON_MAX_DEPTH);
  if (++ps->n_values > JSON_MAX_VALUES)
    return fail (ps, "more than %d values", JSON_MAX_VALUES);
  if (ps->p >= ps->end)
    return fail (ps, "unexpected end of text");
  char c = *ps->p;
  if (c == '{' || c == '[')
    return parse_container (ps, v, depth);
  if (c == '"') {
    v->type = JSON_STRING;
    return parse_string (ps, &v->str);
  }
  if (c == '-' || (c >= '0' && c <= '9'))
    return parse_number (ps, v);
  for (size_t i = 0; i < sizeof literals / sizeof literals[0]; i++) {
    size_t n = strlen (literals[i].word);
    if ((size_t) (ps->end - ps->p) >= n && !memcmp (ps->p, literals[i].word, n)) {
      v->type = literals[i].type;
      ps->p += n;
      return true;
    }
  }
  return fail (ps, "unexpected character");
}

bool
json_parse (const char *text, size_t len, json_value *out, char *err,
    size_t err_size)
{
  json_parser ps = { text, text + len, text, err, err_size, false, 0 };
  memset (out, 0, sizeof *out);
  if (parse_value (&ps, out, 0)) {
    skip_ws (&ps);
    if (ps.p == ps.end)
      return true;
    fail (&ps, "trailing characters");
  }
  json_free (out);
  return false;
}

void
json_free (json_value *v)
{
  for (size_t i = 0; i < v->n; i++) {
    json_free (&v->items[i]);
    if (v->keys)
      free (v->keys[i]);
  }
  free (v->str);
  free (v->items);
  free (v->keys);
  free (v->order);
  memset (v, 0, sizeof *v);
}

const json_value *
json_get (const json_value *obj, const char *key)
{
  if (obj->type != JSON_OBJECT || !obj->order)
    return NULL;
  size_t lo = 0, hi = obj->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2, i = obj->order[mid];
    int c = strcmp (key, obj->keys[i]);
    if (c == 0)
      return &obj->items[i];
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return NULL;
}

bool
json_u64 (const json_value *v, uint64_t *out)
{
  if (v->type != JSON_NUMBER || v->str[0] == '-')
    return false;
  uint64_t x = 0;
  for (const char *p = v->str; *p; p++) {
    if (*p < '0' || *p > '9' || x > (UINT64_MAX - 9) / 10)
      return false;
    x = x * 10 + (uint64_t) (*p - '0');
  }
  *out = x;
  return true;
}
