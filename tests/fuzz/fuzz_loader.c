/* fuzz_loader.c — libFuzzer target for the weight-file loader: any byte
 * string must give RV_OK or an error with a message, never a crash, a leak
 * or undefined behaviour (run under ASan + UBSan by tools/fuzz.sh).
 *
 * Built with -DFUZZ_REPLAY it is a plain program that loads each file of the
 * directories or files on its command line once (the checked-in corpus, in
 * meson test): `fuzz-loader-replay tests/fuzz/corpus`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repvit.h"

int LLVMFuzzerTestOneInput (const uint8_t * data, size_t size);

/* Returns whether data held a valid model. */
static int
check_load (const uint8_t * data, size_t size)
{
  char err[512] = "";
  rv_model *model;
  rv_status st = rv_model_load_memory (data, size, &model, err, sizeof err);

  if (st == RV_OK) {
    /* Touch what a caller reads after a successful load. */
    for (int c = 0; c < rv_model_num_classes (model); c++)
      if (!rv_model_class_name (model, c))
        abort ();
    if (rv_model_macs (model, 64, 64) <= 0)
      abort ();
    rv_model_free (model);
    return 1;
  }
  if (model != NULL || strncmp (err, "<memory>: ", 10) != 0) {
    /* A failure leaves no model and says what is wrong. */
    fprintf (stderr, "status %d, message \"%s\"\n", st, err);
    abort ();
  }
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  check_load (data, size);
  return 0;
}

#ifdef FUZZ_REPLAY
#include <dirent.h>
#include <sys/stat.h>

static int n_files, n_ok;

static int
replay_file (const char *path)
{
  FILE *f = fopen (path, "rb");
  if (!f) {
    perror (path);
    return 1;
  }
  uint8_t *buf = NULL;
  size_t size = 0, cap = 0, got;
  do {
    if (size == cap) {
      cap = cap ? 2 * cap : 1 << 16;
      uint8_t *grown = realloc (buf, cap);
      if (!grown)
        abort ();
      buf = grown;
    }
    got = fread (buf + size, 1, cap - size, f);
    size += got;
  } while (got > 0);
  fclose (f);
  /* An exact-size copy, so that ASan sees any read past the end. */
  uint8_t *exact = malloc (size ? size : 1);
  if (!exact)
    abort ();
  memcpy (exact, buf, size);
  free (buf);
  n_ok += check_load (exact, size);
  free (exact);
  n_files++;
  return 0;
}

static int
replay (const char *path)
{
  struct stat sb;
  if (stat (path, &sb) < 0) {
    perror (path);
    return 1;
  }
  if (!S_ISDIR (sb.st_mode))
    return replay_file (path);
  struct dirent **names;
  int n = scandir (path, &names, NULL, alphasort), failed = n < 0;
  for (int i = 0; i < n; i++) {
    if (names[i]->d_name[0] != '.') {
      char *full = malloc (strlen (path) + strlen (names[i]->d_name) + 2);
      if (!full)
        abort ();
      sprintf (full, "%s/%s", path, names[i]->d_name);
      failed |= replay (full);
      free (full);
    }
    free (names[i]);
  }
  free (n >= 0 ? names : NULL);
  return failed;
}

int
main (int argc, char **argv)
{
  int failed = 0;
  for (int i = 1; i < argc; i++)
    failed |= replay (argv[i]);
  printf ("replayed %d files (%d valid models)\n", n_files, n_ok);
  return failed || n_files == 0;
}
#endif
