/* cli.h — option parsing shared by the programs. */
#ifndef RV_CLI_H
#define RV_CLI_H

#include <errno.h>
#include <stdlib.h>

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

#endif
