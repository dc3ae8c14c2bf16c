/* error.h — internal: status messages. */
#ifndef RV_ERROR_H
#define RV_ERROR_H

#include "repvit.h"

/* Formats a message into err (if any) and returns status. */
rv_status rv_error (char *err, size_t err_size, rv_status status,
    const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));

#endif
