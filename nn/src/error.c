/* error.c — status strings and message formatting. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

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

rv_status
rv_error (char *err, size_t err_size, rv_status status, const char *fmt, ...)
{
  if (err && err_size) {
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (err, err_size, fmt, ap);
    va_end (ap);
  }
  return status;
}
