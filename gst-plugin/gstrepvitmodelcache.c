/* gstrepvitmodelcache.c — process-wide cache of loaded models. */
#include "gstrepvitmodelcache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

/* bytes of the file's start that go into its key (the header and more) */
#define KEY_BYTES (1 << 20)

typedef struct
{
  gchar *key;                   /* see file_key() */
  rv_model *model;              /* the cache's own reference */
  guint users;
} CacheEntry;

static GMutex cache_lock;
static GSList *cache;           /* a handful of entries at most */

static CacheEntry *
find_model (const rv_model * model)
{
  for (GSList * l = cache; l; l = l->next)
    if (((CacheEntry *) l->data)->model == model)
      return l->data;
  return NULL;
}

/* What identifies the content of a regular file: device, inode, size,
 * modification and change times in ns, and a hash of its first KEY_BYTES
 * (the header). A file replaced by a rename has another inode, one
 * rewritten in place another ctime and usually another header, whatever
 * its size and mtime say. NULL when path is no readable regular file. */
static gchar *
file_key (const gchar * path)
{
  struct stat st;
  gchar *key = NULL, *buf;
  gssize n = -1;
  gint fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK, 0);

  if (fd < 0)
    return NULL;
  if (fstat (fd, &st) == 0 && S_ISREG (st.st_mode)) {
    buf = g_malloc (KEY_BYTES);
    n = pread (fd, buf, KEY_BYTES, 0);
    if (n >= 0) {
      gchar *hash = g_compute_checksum_for_data (G_CHECKSUM_SHA256,
          (const guchar *) buf, (gsize) n);

      key = g_strdup_printf ("%ju:%ju %jd %jd.%09ld %jd.%09ld %s",
          (uintmax_t) st.st_dev, (uintmax_t) st.st_ino, (intmax_t) st.st_size,
          (intmax_t) st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
          (intmax_t) st.st_ctim.tv_sec, st.st_ctim.tv_nsec, hash);
      g_free (hash);
    }
    g_free (buf);
  }
  close (fd);
  return key;
}

rv_status
gst_repvit_model_cache_acquire (const gchar * path, rv_model ** out,
    gchar * err, gsize err_size)
{
  CacheEntry *entry = NULL;
  rv_status status = RV_OK;
  gchar *key, *after;

  *out = NULL;
  key = file_key (path);

  /* Loading under the lock lets elements starting together share one load. */
  g_mutex_lock (&cache_lock);
  for (GSList * l = cache; l && !entry; l = l->next)
    if (key && strcmp (((CacheEntry *) l->data)->key, key) == 0)
      entry = l->data;
  if (entry == NULL) {
    rv_model *model;

    /* without a key the loader says what is wrong with the file */
    status = rv_model_load (path, &model, err, err_size);
    after = status == RV_OK ? file_key (path) : NULL;
    if (status == RV_OK && g_strcmp0 (key, after) != 0) {
      rv_model_free (model);
      status = RV_ERR_IO;
      g_snprintf (err, err_size, "the file changed while it was being "
          "loaded (replaced or rewritten meanwhile?): %s", path);
    }
    g_free (after);
    if (status == RV_OK) {
      entry = g_new0 (CacheEntry, 1);
      entry->key = g_steal_pointer (&key);
      entry->model = model;
      cache = g_slist_prepend (cache, entry);
    }
  }
  if (entry) {
    entry->users++;
    *out = rv_model_ref (entry->model);
  }
  g_mutex_unlock (&cache_lock);

  g_free (key);
  return status;
}

void
gst_repvit_model_cache_release (rv_model * model)
{
  CacheEntry *entry;

  g_mutex_lock (&cache_lock);
  entry = find_model (model);
  g_assert (entry != NULL);
  rv_model_free (model);
  if (--entry->users == 0) {
    cache = g_slist_remove (cache, entry);
    rv_model_free (entry->model);
    g_free (entry->key);
    g_free (entry);
  }
  g_mutex_unlock (&cache_lock);
}

guint
gst_repvit_model_cache_users (const rv_model * model)
{
  CacheEntry *entry;
  guint users;

  g_mutex_lock (&cache_lock);
  entry = find_model (model);
  users = entry ? entry->users : 0;
  g_mutex_unlock (&cache_lock);
  return users;
}
