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

/* Where the file's bytes come from: memory, or a descriptor read with
 * pread (never mapped: a file that shrinks under a mapping raises SIGBUS). */
typedef struct {
  const uint8_t *mem;         /* NULL: read fd */
  int fd;
  uint64_t size;              /* of the file when it was opened */
} rv_source;

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
  uint64_t data_start;        /* file offset of the data section */
} rv_weights;

/* Reads and validates the header of src (offsets, sizes, dtypes, layout);
 * reads no tensor data. On error *w is left freed. */
rv_status rv_weights_parse (rv_weights *w, const char *path,
    const rv_source *src, char *err, size_t err_size);
/* Reads every tensor into data as f32, checking that each value is finite
 * and that the file still holds every byte. On error *w is left freed. */
rv_status rv_weights_load_data (rv_weights *w, const rv_source *src,
    char *err, size_t err_size);
rv_tensor_entry *rv_weights_find (const rv_weights *w, const char *name);
/* String value of a metadata key, or NULL. */
const char *rv_weights_meta (const rv_weights *w, const char *key);
void rv_weights_free (rv_weights *w);

#endif
