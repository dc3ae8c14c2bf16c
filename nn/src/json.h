/* json.h — internal: a small strict JSON parser (RFC 8259) for safetensors
 * headers. Objects reject duplicate keys and keep a sorted index for lookup. */
#ifndef RV_JSON_H
#define RV_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
  JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT
} json_type;

typedef struct json_value json_value;
struct json_value {
  json_type type;
  char *str;            /* STRING: decoded UTF-8; NUMBER: the literal */
  size_t n;             /* ARRAY / OBJECT: number of items */
  json_value *items;    /* ARRAY / OBJECT: values in document order */
  char **keys;          /* OBJECT: keys, parallel to items */
  size_t *order;        /* OBJECT: item indices sorted by key */
};

/* Parses exactly one value from text[0..len) (surrounding whitespace allowed).
 * Returns false with a message naming the byte offset on error; *out is then
 * left empty (json_free is still safe). */
bool json_parse (const char *text, size_t len, json_value *out, char *err,
    size_t err_size);
void json_free (json_value *v);
/* Member of an object, or NULL. */
const json_value *json_get (const json_value *obj, const char *key);
/* A non-negative integer literal without fraction or exponent. */
bool json_u64 (const json_value *v, uint64_t *out);

#endif
