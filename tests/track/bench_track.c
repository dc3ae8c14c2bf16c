/* bench_track.c — the tracker's cost per frame: 50 objects (3 classes)
 * bouncing in a 1280x720 frame (scene.h) with 2 px of box noise, 5% of
 * detections missed, 10 weak false detections per frame; median over runs
 * of the mean time per frame of rv_tracker_update (after a warm-up).
 *
 *   meson test -C build --benchmark tracker -v
 *   (or ./bench-track [RUNS] [FRAMES] [OBJECTS])
 */
#include "rvtrack.h"
#include "scene.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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
  rv_track_box dets[SCENE_MAX + 10];
  int64_t ids[SCENE_MAX + 10];
  int which[SCENE_MAX];
  double *ms = malloc (runs * sizeof *ms);
  long tracked = 0, total = 0;
  scene sc;

  if (n > SCENE_MAX || runs < 1)
    return 2;
  scene_init (&sc, n, 2024);
  for (int r = 0; r < runs; r++) {
    rv_tracker *t = rv_tracker_new (NULL);
    double spent = 0;

    for (int f = 0; f < frames + 30; f++) {
      int nd = scene_step (&sc, 2, 0.05f, dets, which);
      double t0;

      for (int k = 0; k < 10; k++) {    /* weak clutter, anywhere */
        float x = 1200 * scene_uniform (&sc), y = 650 * scene_uniform (&sc);
        rv_track_box b = { k % 3, 0.1f + 0.3f * scene_uniform (&sc), x, y,
          x + 40, y + 40
        };
        dets[nd++] = b;
      }
      t0 = now_ms ();
      rv_tracker_update (t, dets, nd, ids);
      if (f >= 30) {            /* warm-up: tracks born, scratch grown */
        spent += now_ms () - t0;
        for (int i = 0; i < nd - 10; i++)
          tracked += ids[i] > 0;
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
  free (ms);
  return 0;
}
