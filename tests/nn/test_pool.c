/* The thread pool (nn/src/pool.c): every item of a loop runs exactly once;
 * a participant slot is below max_threads, is never inside two items at
 * once, and max_threads bounds the threads inside a loop's items at any
 * moment; max_threads 1 runs on the calling thread alone; with more than one
 * CPU, workers do take part; several threads calling at once each get their
 * own loops done; a loop started inside an item is refused; a child process
 * forked after the pool started runs loops too. Prints the failing case. */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SLOTS 64

static atomic_int failures;

#define CHECK(cond, ...) do { \
    if (!(cond)) { \
      printf ("FAIL %s:%d: ", __FILE__, __LINE__); \
      printf (__VA_ARGS__); \
      printf ("\n"); \
      atomic_fetch_add (&failures, 1); \
    } \
  } while (0)

typedef struct {
  int max_threads;
  atomic_int *runs;             /* per item */
  atomic_int slot_busy[MAX_SLOTS];
  atomic_int inside, most_inside, bad_slot, slot_clash, helped;
  long spin_ns;                 /* work per item */
  pthread_t caller;
  atomic_int off_caller;        /* items run by another thread */
} loop;

static void
busy_wait (long ns)
{
  struct timespec t0, t;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  do
    clock_gettime (CLOCK_MONOTONIC, &t);
  while ((t.tv_sec - t0.tv_sec) * 1000000000L + t.tv_nsec - t0.tv_nsec < ns);
}

static void
item (void *arg, int i, int slot)
{
  loop *l = arg;
  int in = atomic_fetch_add (&l->inside, 1) + 1;
  for (int m = atomic_load (&l->most_inside); in > m
      && !atomic_compare_exchange_weak (&l->most_inside, &m, in);)
    ;
  if (slot < 0 || slot >= MAX_SLOTS
      || (l->max_threads > 0 && slot >= l->max_threads)) {
    atomic_store (&l->bad_slot, 1);
  } else {
    if (atomic_exchange (&l->slot_busy[slot], 1))
      atomic_store (&l->slot_clash, 1);
    if (slot > 0)
      atomic_store (&l->helped, 1);
  }
  if (!pthread_equal (pthread_self (), l->caller))
    atomic_store (&l->off_caller, 1);
  atomic_fetch_add (&l->runs[i], 1);
  if (l->spin_ns)
    busy_wait (l->spin_ns);
  if (slot >= 0 && slot < MAX_SLOTS)
    atomic_store (&l->slot_busy[slot], 0);
  atomic_fetch_sub (&l->inside, 1);
}

/* Runs one loop of n items and checks it; returns whether a worker helped. */
static int
run_loop (int n, int max_threads, long spin_ns)
{
  loop l = { .max_threads = max_threads, .spin_ns = spin_ns,
    .caller = pthread_self () };
  l.runs = calloc ((size_t) n + 1, sizeof *l.runs);
  CHECK (rv_pool_for (n, item, &l, max_threads) == 0,
      "rv_pool_for (%d items, max %d) refused", n, max_threads);
  int once = 1;
  for (int i = 0; i < n; i++)
    once &= atomic_load (&l.runs[i]) == 1;
  CHECK (once, "%d items, max %d: an item did not run exactly once", n,
      max_threads);
  CHECK (!atomic_load (&l.bad_slot), "%d items, max %d: slot out of range",
      n, max_threads);
  CHECK (!atomic_load (&l.slot_clash), "%d items, max %d: one slot in two "
      "items at once", n, max_threads);
  CHECK (max_threads <= 0 || atomic_load (&l.most_inside) <= max_threads,
      "%d items, max %d: %d threads inside at once", n, max_threads,
      atomic_load (&l.most_inside));
  CHECK (max_threads != 1 || !atomic_load (&l.off_caller), "%d items, max 1: "
      "an item ran off the calling thread", n);
  CHECK (atomic_load (&l.inside) == 0, "%d items, max %d: returned while %d "
      "items still ran", n, max_threads, atomic_load (&l.inside));
  free (l.runs);
  return atomic_load (&l.helped);
}

static void *
caller_thread (void *arg)
{
  int id = (int) (size_t) arg;
  for (int r = 0; r < 200; r++)
    run_loop (1 + (r * 37 + id * 11) % 300, id % 4, (r % 5 == 0) * 20000L);
  return NULL;
}

/* A thread in a forward of its own until the barrier's second round. */
static void *
other_forward (void *barrier)
{
  rv_pool_forward_begin ();
  pthread_barrier_wait (barrier);
  pthread_barrier_wait (barrier);
  rv_pool_forward_end ();
  return NULL;
}

static void
count_item (void *arg, int i, int slot)
{
  (void) i, (void) slot;
  atomic_fetch_add ((atomic_int *) arg, 1);
}

static void
nested_item (void *arg, int i, int slot)
{
  atomic_int *refused = arg, ran = 0;
  (void) i, (void) slot;
  if (rv_pool_for (4, count_item, &ran, 0) == -1 && !atomic_load (&ran))
    atomic_fetch_add (refused, 1);
}

int
main (void)
{
  static const int sizes[] = { 0, 1, 2, 3, 7, 64, 1000, 100000 };
  static const int maxes[] = { 0, 1, 2, 3, 64 };
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
    for (size_t m = 0; m < sizeof maxes / sizeof *maxes; m++)
      run_loop (sizes[s], maxes[m], 0);

  /* items of 200 us leave time for a sleeping worker to wake and join */
  int cpus = rv_pool_cpus (), helped = 0;
  printf ("pool: %d CPUs\n", cpus);
  for (int r = 0; r < 50 && !helped; r++)
    helped = run_loop (64, 0, 200000);
  CHECK (cpus == 1 || helped, "%d CPUs, but no worker joined a loop", cpus);
  for (int r = 0; r < 10; r++)
    CHECK (!run_loop (64, 1, 10000), "max_threads 1, yet a worker joined");

  /* with forwards on all the other CPUs, a forward's loops run alone; once
   * they end, workers join again */
  pthread_barrier_t barrier;
  pthread_t others[MAX_SLOTS];
  pthread_barrier_init (&barrier, NULL, (unsigned) cpus);
  for (int i = 0; i < cpus - 1; i++)
    pthread_create (&others[i], NULL, other_forward, &barrier);
  pthread_barrier_wait (&barrier);
  rv_pool_forward_begin ();
  for (int r = 0; r < 10; r++)
    CHECK (!run_loop (64, 0, 10000), "%d other forwards on %d CPUs, yet a "
        "worker joined", cpus - 1, cpus);
  rv_pool_forward_end ();
  pthread_barrier_wait (&barrier);
  for (int i = 0; i < cpus - 1; i++)
    pthread_join (others[i], NULL);
  pthread_barrier_destroy (&barrier);
  helped = 0;
  for (int r = 0; r < 50 && !helped; r++)
    helped = run_loop (64, 0, 200000);
  CHECK (cpus == 1 || helped, "the other forwards ended, but no worker "
      "joined a loop");

  enum { CALLERS = 6 };
  pthread_t t[CALLERS];
  for (int i = 0; i < CALLERS; i++)
    pthread_create (&t[i], NULL, caller_thread, (void *) (size_t) i);
  for (int i = 0; i < CALLERS; i++)
    pthread_join (t[i], NULL);

  atomic_int refused = 0;
  CHECK (rv_pool_for (8, nested_item, &refused, 0) == 0, "outer loop");
  CHECK (atomic_load (&refused) == 8, "%d of 8 nested loops refused",
      atomic_load (&refused));

  fflush (stdout);
  pid_t pid = fork ();
  if (pid == 0) {
    run_loop (1000, 0, 0);
    for (int r = 0; r < 50 && !helped; r++)
      helped = run_loop (64, 0, 200000);
    _exit (atomic_load (&failures) || (cpus > 1 && !helped) ? 1 : 0);
  }
  int status = 0;
  waitpid (pid, &status, 0);
  CHECK (WIFEXITED (status) && WEXITSTATUS (status) == 0, "forked child: "
      "status %d", status);

  printf ("%s\n", atomic_load (&failures) ? "FAILED" : "ok");
  return atomic_load (&failures) != 0;
}
