/* gstrepvitmodelcache.c — process-wide cache of loaded models. */
#include "gstrepvitmodelcache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct
{
  gchar *key;                   /* canonical path, size, mtime */
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

rv_status
gst_repvit_model_cache_acquire (const gchar * path, rv_model ** out,
    gchar * err, gsize err_size)
{
  CacheEntry *entry = NULL;
  struct stat st;
  rv_status status = RV_OK;
  gchar *canon, *key;

  *out = NULL;
  canon = realpath (path, NULL);
  if (canon == NULL || stat (canon, &st) != 0) {
    g_snprintf (err, err_size, "%s: %s", path, g_strerror (errno));
    free (canon);
    return RV_ERR_IO;
  }
  key = g_strdup_printf ("%s\n%lld\n%lld.%09ld", canon, (long long) st.st_size,
      (long long) st.st_mtim.tv_sec, (long) st.st_mtim.tv_nsec);
  free (canon);

  /* Loading under the lock lets elements starting together share one load. */
  g_mutex_lock (&cache_lock);
  for (GSList * l = cache; l && !entry; l = l->next)
    if (strcmp (((CacheEntry *) l->data)->key, key) == 0)
      entry = l->data;
  if (entry == NULL) {
    rv_model *model;

    status = rv_model_load (path, &model, err, err_size);
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
