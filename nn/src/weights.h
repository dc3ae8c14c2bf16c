/* weights.h — internal: validated safetensors file, every tensor as f32. */
#ifndef RV_WEIGHTS_H
#define RV_WEIGHTS_H

#include "repvit.h"

#include <stdbool.h>

#define RV_MAX_DIMS 8

typedef struct {
  const char *name;           /* into rv_weights.strings */
  int ndim;
  int dsize;                  /* bytes per element in the file: 4 or 2 */
  int64_t shape[RV_MAX_DIMS];
  uint64_t begin, end;        /* byte range in the data section */
  uint64_t count;             /* elements */
  float *data;                /* into rv_weights.data */
  bool used;                  /* consumed by the model builder */
} rv_tensor_entry;

typedef struct {
  const char *path;           /* for messages: file path or "<memory>" */
  char *strings;              /* decoded names, keys and values */
  bool has_meta;              /* __metadata__ present */
  const char **meta;          /* its "key\0value" records, sorted by key */
  size_t n_meta;
  rv_tensor_entry *tensors;   /* sorted by name */
  size_t n_tensors;
  float *data;                /* all tensors, f32, in file order (64-aligned) */
  uint64_t n_elements;
} rv_weights;

/* Parses and validates buf[0..size) (header, offsets, sizes, dtypes, finite
 * values) and converts every tensor to f32. On error *w is left freed. */
rv_status rv_weights_parse (rv_weights *w, const char *path, const uint8_t *buf,
    size_t size, char *err, size_t err_size);
rv_tensor_entry *rv_weights_find (const rv_weights *w, const char *name);
/* String value of a metadata key, or NULL. */
const char *rv_weights_meta (const rv_weights *w, const char *key);
void rv_weights_free (rv_weights *w);

#endif
