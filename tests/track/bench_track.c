/* bench_track.c — the tracker's cost per frame: 50 objects (3 classes)
 * bouncing in a 1280x720 frame with 2 px of box noise, 5% of detections
 * missed, 10 weak false detections per frame; median over runs of the mean
 * time per frame of rv_tracker_update (after a warm-up).
 *
 *   meson test -C build --benchmark tracker -v
 *   (or ./bench-track [RUNS] [FRAMES] [OBJECTS])
 */
#include "rvtrack.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint32_t rng_state = 2024;

static float
uniform (void)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return (rng_state >> 8) / 16777216.0f;
}

static double
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
compare_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

int
main (int argc, char **argv)
{
  int runs = argc > 1 ? atoi (argv[1]) : 21;
  int frames = argc > 2 ? atoi (argv[2]) : 300;
  int n = argc > 3 ? atoi (argv[3]) : 50;
  int nd_max = n + 10;
  float *px = malloc (n * sizeof *px), *py = malloc (n * sizeof *py);
  float *vx = malloc (n * sizeof *vx), *vy = malloc (n * sizeof *vy);
  float *sz = malloc (n * sizeof *sz);
  rv_track_box *dets = malloc (nd_max * sizeof *dets);
  int64_t *ids = malloc (nd_max * sizeof *ids);
  double *ms = malloc (runs * sizeof *ms);
  long tracked = 0, total = 0;

  for (int i = 0; i < n; i++) {
    sz[i] = 20 + 60 * uniform ();
    px[i] = sz[i] + (1280 - 2 * sz[i]) * uniform ();
    py[i] = sz[i] + (720 - 2 * sz[i]) * uniform ();
    vx[i] = 8 * uniform () - 4;
    vy[i] = 8 * uniform () - 4;
  }
  for (int r = 0; r < runs; r++) {
    rv_tracker *t = rv_tracker_new (NULL);
    double spent = 0;

    for (int f = 0; f < frames + 30; f++) {
      int nd = 0;
      double t0;

      for (int i = 0; i < n; i++) {
        float h = sz[i] / 2;

        px[i] += vx[i];
        py[i] += vy[i];
        if (px[i] < sz[i] || px[i] > 1280 - sz[i])
          vx[i] = -vx[i];
        if (py[i] < sz[i] || py[i] > 720 - sz[i])
          vy[i] = -vy[i];
        if (uniform () < 0.05f)
          continue;
        dets[nd].class_id = i % 3;
        dets[nd].score = 0.5f + 0.5f * uniform ();
        dets[nd].x1 = px[i] - h + 2 * (uniform () - 0.5f);
        dets[nd].y1 = py[i] - h + 2 * (uniform () - 0.5f);
        dets[nd].x2 = px[i] + h + 2 * (uniform () - 0.5f);
        dets[nd].y2 = py[i] + h + 2 * (uniform () - 0.5f);
        nd++;
      }
      for (int k = 0; k < 10; k++) {    /* weak clutter, anywhere */
        float x = 1200 * uniform (), y = 650 * uniform ();
        rv_track_box b = { k % 3, 0.1f + 0.3f * uniform (), x, y, x + 40,
          y + 40
        };
        dets[nd++] = b;
      }
      t0 = now_ms ();
      rv_tracker_update (t, dets, nd, ids);
      if (f >= 30) {            /* warm-up: tracks born, scratch grown */
        spent += now_ms () - t0;
        for (int i = 0; i < nd; i++)
          tracked += ids[i] > 0 && dets[i].score >= 0.5f;
        total += nd - 10;
      }
    }
    ms[r] = spent / frames;
    rv_tracker_free (t);
  }
  qsort (ms, runs, sizeof *ms, compare_double);
  printf ("tracker: %d objects + 10 weak false detections per frame, %d "
      "frames x %d runs: median %.4f ms/frame (min %.4f, max %.4f); "
      "%.1f%% of the objects' detections tracked\n", n, frames, runs,
      ms[runs / 2], ms[0], ms[runs - 1], 100.0 * tracked / total);
  free (px);
  free (py);
  free (vx);
  free (vy);
  free (sz);
  free (dets);
  free (ids);
  free (ms);
  return 0;
}
