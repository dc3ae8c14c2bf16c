/* peak — per-core arithmetic peak of this CPU, per precision, for tools/bench_compare.sh.
 *
 *   peak [REPS]      (default 7; built by meson as tools/bench/peak, not installed)
 *
 * The kernels are in cpu_peak.c. Rates come from the thread's CPU time, which leaves out
 * the time other processes held the core; still, run it on a quiet core.
 *
 * Prints the CPU, then one line per kernel:
 *   cpu vendor=AuthenticAMD family=26 model=2 name="AMD EPYC ..."
 *   peak fp32-fma-256 median_gops=... best_gops=... reps=7   (ops: 2 per multiply-add)
 *   peak int8-vnni-256 absent (no AVX-VNNI)
 */
#include "cpu_peak.h"

#include <stdio.h>
#include <stdlib.h>

int
main (int argc, char **argv)
{
  int reps = argc > 1 ? atoi (argv[1]) : 7;
  if (argc > 2 || reps < 1 || reps > 100) {
    fprintf (stderr, "usage: %s [REPS 1..100]\n", argv[0]);
    return 2;
  }
  cpu_info c;
  cpu_probe (&c);
  cpu_print (&c);
  for (peak_kind k = 0; k < PEAK_KINDS; k++) {
    double best, median = peak_measure (&c, k, reps, &best);
    if (!peak_present (&c, k))
      printf ("peak %s absent (no %s)\n", peak_name (k), peak_needs (k));
    else
      printf ("peak %s median_gops=%.1f best_gops=%.1f reps=%d\n",
          peak_name (k), median, best, reps);
  }
  return 0;
}
