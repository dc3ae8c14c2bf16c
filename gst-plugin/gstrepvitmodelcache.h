/* gstrepvitmodelcache.h — process-wide cache of loaded models.
 *
 * Several repvityolo elements that name the same weight file (same device,
 * inode, size, modification and change times, and header) share one
 * immutable rv_model; each keeps its own rv_ctx. */
#ifndef GST_REPVIT_MODEL_CACHE_H
#define GST_REPVIT_MODEL_CACHE_H

#include <glib.h>

#include "repvit.h"

G_BEGIN_DECLS

/* Returns a new reference to the model of path, loading it on first use. On
 * failure writes a message naming the file into err. */
rv_status gst_repvit_model_cache_acquire (const gchar * path, rv_model ** out,
    gchar * err, gsize err_size);
/* Drops a reference returned by gst_repvit_model_cache_acquire. */
void gst_repvit_model_cache_release (rv_model * model);
/* Number of acquired references to model (elements sharing it). */
guint gst_repvit_model_cache_users (const rv_model * model);

G_END_DECLS
#endif
