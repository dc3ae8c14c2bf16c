/* json.h — internal: a strict JSON reader (RFC 8259) for safetensors headers
 * and the class-name list. It builds no tree: json_check validates the whole
 * text without allocating, then the caller walks it with the schema it
 * expects and keeps only what that schema stores, so a hostile text costs no
 * memory for what it merely claims. */
#ifndef RV_JSON_H
#define RV_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  const char *s, *p, *end;
  char *err;                  /* json_check's message, or NULL */
  size_t err_size;
  bool failed;
} json_reader;

/* Whether text[0..len) is exactly one JSON value nested at most 32 deep with
 * no NUL in its strings; else a message naming the byte offset. */
bool json_check (const char *text, size_t len, char *err, size_t err_size);

/* A walk over text that passed json_check (on other text it stays within
 * bounds and just reads nonsense). Each call first skips whitespace. */
void json_init (json_reader *rd, const char *text, size_t len);
/* Consumes c if it comes next. */
bool json_eat (json_reader *rd, char c);
/* After an opening '[' or '{' (or an item): true on the next item, false
 * past the closing bracket. An object item starts with its key string. */
bool json_next (json_reader *rd);
/* Decodes a string value to *out and moves *out past its NUL (the decoded
 * text and NUL never outgrow the quoted source); out NULL: only steps over
 * it. False, stepping over the value, if it is no string. */
bool json_string (json_reader *rd, char **out);
/* Steps over a value: true if it was a non-negative integer literal without
 * fraction or exponent that fits in 64 bits, then stored in *out. */
bool json_u64 (json_reader *rd, uint64_t *out);

/* Length of the well-formed UTF-8 sequence of 2 to 4 bytes at p (RFC 3629:
 * no overlongs, surrogates or code points above U+10FFFF), or 0. */
size_t json_utf8_seq (const unsigned char *p, const unsigned char *end);

#endif
