/* cli.h — option parsing shared by the programs. */
#ifndef RV_CLI_H
#define RV_CLI_H

#include "repvit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const precision_names[] = { "f32", "bf16", "int8" };
#define PRECISION_CHOICES "f32|bf16|int8"

/* v as an integer in lo .. hi, the whole string. */
static inline int
parse_int (const char *v, long lo, long hi, int *out)
{
  char *end;
  errno = 0;
  long x = strtol (v, &end, 10);
  if (errno || end == v || *end || x < lo || x > hi)
    return 0;
  *out = (int) x;
  return 1;
}

/* v as a precision name (precision_names). */
static inline int
parse_precision (const char *v, rv_precision *out)
{
  for (int p = 0; p < 3; p++)
    if (!strcmp (v, precision_names[p])) {
      *out = (rv_precision) p;
      return 1;
    }
  return 0;
}

/* What a request for p needs of the CPU, for the fallback message. */
static inline const char *
precision_needs (rv_precision p)
{
  return p == RV_PRECISION_INT8 ? "AVX512-VNNI or AVX-VNNI" : "AVX512-BF16";
}

#endif
