/* json.c — strict JSON checker and reader; see json.h. */
#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 32

static bool
fail (json_reader *rd, const char *fmt, ...)
{
  if (!rd->failed && rd->err) {
    char msg[160];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    snprintf (rd->err, rd->err_size, "%s at byte %zu", msg,
        (size_t) (rd->p - rd->s));
  }
  rd->failed = true;
  return false;
}

static void
skip_ws (json_reader *rd)
{
  while (rd->p < rd->end && (*rd->p == ' ' || *rd->p == '\t' || *rd->p == '\n'
          || *rd->p == '\r'))
    rd->p++;
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
size_t
json_utf8_seq (const unsigned char *p, const unsigned char *end)
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

static void
put (char **w, const char *bytes, size_t n)
{
  if (*w) {
    memcpy (*w, bytes, n);
    *w += n;
  }
}

/* rd->p is on the opening quote. Decodes to *out (NULL: only checks) and
 * moves *out past the NUL. */
static bool
read_string (json_reader *rd, char **out)
{
  const char *q = ++rd->p;
  char *w = out ? *out : NULL, utf8[4];
  while (q < rd->end && *q != '"')
    q += *q == '\\' && q + 1 < rd->end ? 2 : 1;
  if (q >= rd->end)
    return fail (rd, "unterminated string");
  while (*rd->p != '"') {
    unsigned char c = (unsigned char) *rd->p;
    if (c < 0x20)
      return fail (rd, "control character in string");
    if (c >= 0x80) {
      size_t n = json_utf8_seq ((const unsigned char *) rd->p,
          (const unsigned char *) q);
      if (n == 0)
        return fail (rd, "invalid UTF-8 in string");
      put (&w, rd->p, n);
      rd->p += n;
      continue;
    }
    if (c != '\\') {
      put (&w, rd->p++, 1);
      continue;
    }
    char e = rd->p[1];
    rd->p += 2;
    switch (e) {
      case '"': case '\\': case '/': put (&w, &e, 1); break;
      case 'b': put (&w, "\b", 1); break;
      case 'f': put (&w, "\f", 1); break;
      case 'n': put (&w, "\n", 1); break;
      case 'r': put (&w, "\r", 1); break;
      case 't': put (&w, "\t", 1); break;
      case 'u': {
        int cp = rd->p + 4 <= q ? hex4 (rd->p) : -1;
        rd->p += 4;
        if (cp >= 0xd800 && cp < 0xdc00) {     /* surrogate pair */
          int lo = rd->p + 6 <= q && rd->p[0] == '\\' && rd->p[1] == 'u'
              ? hex4 (rd->p + 2) : -1;
          if (lo < 0xdc00 || lo >= 0xe000)
            cp = -1;
          else
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          rd->p += 6;
        } else if (cp >= 0xdc00 && cp < 0xe000) {
          cp = -1;
        }
        if (cp <= 0)        /* NUL is refused: names are C strings */
          return fail (rd, "bad \\u escape in string");
        put (&w, utf8, put_utf8 (utf8, (unsigned) cp));
        break;
      }
      default:
        rd->p -= 2;
        return fail (rd, "bad escape in string");
    }
  }
  rd->p++;
  put (&w, "", 1);
  if (out)
    *out = w;
  return true;
}

static bool
read_number (json_reader *rd)
{
  const char *p = rd->p, *e = rd->end;
#define DIGITS(p) ((p) < e && *(p) >= '0' && *(p) <= '9')
  if (p < e && *p == '-')
    p++;
  if (!DIGITS (p))
    return fail (rd, "bad number");
  if (*p == '0')
    p++;
  else
    while (DIGITS (p))
      p++;
  if (p < e && *p == '.') {
    p++;
    if (!DIGITS (p))
      return fail (rd, "bad number");
    while (DIGITS (p))
      p++;
  }
  if (p < e && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < e && (*p == '+' || *p == '-'))
      p++;
    if (!DIGITS (p))
      return fail (rd, "bad number");
    while (DIGITS (p))
      p++;
  }
#undef DIGITS
  rd->p = p;
  return true;
}

/* Steps over one value, checking it. */
static bool
skip_value (json_reader *rd, int depth)
{
  static const char *literals[] = { "null", "false", "true" };
  skip_ws (rd);
  if (depth > JSON_MAX_DEPTH)
    return fail (rd, "nesting deeper than %d", JSON_MAX_DEPTH);
  if (rd->p >= rd->end)
    return fail (rd, "unexpected end of text");
  char c = *rd->p;
  if (c == '"')
    return read_string (rd, NULL);
  if (c == '-' || (c >= '0' && c <= '9'))
    return read_number (rd);
  if (c != '{' && c != '[') {
    for (size_t i = 0; i < sizeof literals / sizeof literals[0]; i++) {
      size_t n = strlen (literals[i]);
      if ((size_t) (rd->end - rd->p) >= n && !memcmp (rd->p, literals[i], n)) {
        rd->p += n;
        return true;
      }
    }
    return fail (rd, "unexpected character");
  }
  bool object = c == '{';
  char close = object ? '}' : ']';
  rd->p++;
  skip_ws (rd);
  if (rd->p < rd->end && *rd->p == close) {
    rd->p++;
    return true;
  }
  for (;;) {
    skip_ws (rd);
    if (object) {
      if (rd->p >= rd->end || *rd->p != '"')
        return fail (rd, "expected a string key");
      if (!read_string (rd, NULL))
        return false;
      skip_ws (rd);
      if (rd->p >= rd->end || *rd->p != ':')
        return fail (rd, "expected ':'");
      rd->p++;
    }
    if (!skip_value (rd, depth + 1))
      return false;
    skip_ws (rd);
    if (rd->p < rd->end && *rd->p == ',') {
      rd->p++;
      continue;
    }
    if (rd->p < rd->end && *rd->p == close) {
      rd->p++;
      return true;
    }
    return fail (rd, object ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

bool
json_check (const char *text, size_t len, char *err, size_t err_size)
{
  json_reader rd = { text, text, text + len, err, err_size, false };
  if (skip_value (&rd, 0)) {
    skip_ws (&rd);
    if (rd.p == rd.end)
      return true;
    fail (&rd, "trailing characters");
  }
  return false;
}

void
json_init (json_reader *rd, const char *text, size_t len)
{
  *rd = (json_reader) { text, text, text + len, NULL, 0, false };
}

bool
json_eat (json_reader *rd, char c)
{
  skip_ws (rd);
  if (rd->p >= rd->end || *rd->p != c)
    return false;
  rd->p++;
  return true;
}

bool
json_next (json_reader *rd)
{
  skip_ws (rd);
  if (rd->p >= rd->end)
    return false;
  if (*rd->p == ']' || *rd->p == '}') {
    rd->p++;
    return false;
  }
  json_eat (rd, ',');
  return true;
}

bool
json_string (json_reader *rd, char **out)
{
  skip_ws (rd);
  if (rd->p < rd->end && *rd->p == '"')
    return read_string (rd, out);
  skip_value (rd, 0);
  return false;
}

bool
json_u64 (json_reader *rd, uint64_t *out)
{
  skip_ws (rd);
  const char *q = rd->p;
  if (!skip_value (rd, 0) || *q < '0' || *q > '9')
    return false;
  uint64_t x = 0;
  for (; q < rd->p; q++) {
    if (*q < '0' || *q > '9' || x > (UINT64_MAX - 9) / 10)
      return false;
    x = x * 10 + (uint64_t) (*q - '0');
  }
  *out = x;
  return true;
}
