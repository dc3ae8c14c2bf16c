/* error.c — status strings and message formatting. */
#include "error.h"
#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
rv_status_string (rv_status status)
{
  switch (status) {
    case RV_OK: return "ok";
    case RV_ERR_IO: return "I/O error";
    case RV_ERR_FORMAT: return "invalid safetensors file";
    case RV_ERR_METADATA: return "invalid metadata";
    case RV_ERR_TENSOR: return "invalid tensor";
    case RV_ERR_VALUE: return "invalid value";
    case RV_ERR_ARG: return "invalid argument";
    case RV_ERR_NOMEM: return "out of memory";
  }
  return "unknown status";
}

/* Escapes s[0..n) into out (room for size >= 4 bytes, NUL included), cut
 * with "..." where it does not fit; returns the length written. */
static size_t
escape (char *out, size_t size, const char *s, size_t n)
{
  const unsigned char *p = (const unsigned char *) s, *end = p + n;
  size_t o = 0;
  while (p < end) {
    char tmp[8];
    size_t k = *p >= 0x80 ? json_utf8_seq (p, end) : 1, len = 1;
    if (k == 2 && p[0] == 0xc2 && p[1] < 0xa0) {       /* C1 control */
      len = (size_t) snprintf (tmp, sizeof tmp, "\\u%04x", p[1]);
    } else if (k > 1) {
      memcpy (tmp, p, len = k);
    } else if (*p < 0x20 || *p == 0x7f || *p >= 0x80 || *p == '\\') {
      k = 1;
      len = (size_t) (*p == '\n' ? snprintf (tmp, sizeof tmp, "\\n")
          : *p == '\t' ? snprintf (tmp, sizeof tmp, "\\t")
          : *p == '\\' ? snprintf (tmp, sizeof tmp, "\\\\")
          : snprintf (tmp, sizeof tmp, "\\x%02x", *p));
    } else {
      tmp[0] = (char) *p;
    }
    if (o + len + (p + k < end ? 3 : 0) >= size) {
      memcpy (out + o, "...", 3);
      o += 3;
      break;
    }
    memcpy (out + o, tmp, len);
    o += len;
    p += k;
  }
  out[o] = '\0';
  return o;
}

const char *
rv_escape (char buf[RV_ESC_SIZE], const char *s)
{
  if (!*s)
    return strcpy (buf, "\"\"");
  escape (buf, RV_ESC_SIZE, s, strlen (s));
  return buf;
}

rv_status
rv_error (char *err, size_t err_size, rv_status status, const char *fmt, ...)
{
  if (!err || !err_size)
    return status;
  va_list ap;
  va_start (ap, fmt);
  if (strncmp (fmt, "%s: ", 4)) {
    vsnprintf (err, err_size, fmt, ap);
    va_end (ap);
    return status;
  }
  const char *path = va_arg (ap, const char *);
  char reason[1024];
  vsnprintf (reason, sizeof reason, fmt + 4, ap);
  va_end (ap);
  /* path: reason, the path cut from the left when both do not fit */
  size_t rlen = strlen (reason), plen = strlen (path);
  size_t room = err_size > rlen + 3 ? err_size - rlen - 3 : 0;
  char *esc = malloc (4 * plen + 4);
  if (esc) {
    size_t e = escape (esc, 4 * plen + 4, path, plen);
    const char *tail = esc;
    if (e > room && room > 3) {
      tail = esc + e - (room - 3);
      while ((*tail & 0xc0) == 0x80)   /* not inside a character */
        tail++;
      snprintf (err, err_size, "...%s: %s", tail, reason);
    } else if (e > room) {
      snprintf (err, err_size, "%s", reason);
    } else {
      snprintf (err, err_size, "%s: %s", esc, reason);
    }
    free (esc);
  } else {
    snprintf (err, err_size, "%s", reason);
  }
  return status;
}
