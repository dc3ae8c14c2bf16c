/* error.h — internal: status messages. */
#ifndef RV_ERROR_H
#define RV_ERROR_H

#include "repvit.h"

/* Formats a message into err (if any) and returns status. A message that
 * starts with "%s: " names a path there: that path is escaped and, when the
 * whole message does not fit, shortened from the left so that the reason
 * after it is never cut. */
rv_status rv_error (char *err, size_t err_size, rv_status status,
    const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));

/* Room rv_escape needs for text shown up to about 64 characters. */
#define RV_ESC_SIZE 80

/* s as printable text for a message: control characters, backslashes and
 * bytes that are not UTF-8 as C escapes, "" for an empty string, cut with
 * "..." at a character boundary. Returns buf. */
const char *rv_escape (char buf[RV_ESC_SIZE], const char *s);

#endif
