/* pool.h — internal: the process-wide thread pool behind every parallel loop
 * of the core. One set of nproc - 1 workers, started on first use, serves all
 * contexts and all calling threads. A loop is a fork-join over n items: the
 * calling thread always takes part, and idle workers join it (at most
 * max_threads participants in all, and 64), each claiming one item at a
 * time; so a loop never waits for a worker that is busy elsewhere (the
 * caller does what nobody else takes), only for the items already claimed.
 * Idle workers spin for a few tens of microseconds (longer than the gap
 * between two layers) and then sleep on a condition variable, so they leave
 * the cores to other processes. */
#ifndef RV_POOL_H
#define RV_POOL_H

/* Runs item of a loop. slot identifies the participant, 0 .. max_threads - 1
 * (0: the caller), and is stable for the call: scratch indexed by slot is
 * never used by two items at once. */
typedef void (*rv_pool_fn) (void *arg, int item, int slot);

/* Runs fn (arg, i, slot) once for each i in 0 .. n_items - 1, returning when
 * all have finished. max_threads <= 0 means as many as are free (up to one
 * per CPU). Items run in no fixed order nor thread, so they must write
 * disjoint outputs. Returns 0, or -1 without running anything when called
 * from inside an item (nested loops are refused: their slots would collide
 * with the outer loop's). */
int rv_pool_for (int n_items, rv_pool_fn fn, void *arg, int max_threads);

/* The pool's size, the most participants a loop can have: the CPUs this
 * process may run on (its affinity mask), at most 64. */
int rv_pool_cpus (void);

/* Brackets a forward on the calling thread. While other threads run
 * forwards, a loop takes no more participants than the CPUs they leave
 * (each forward's own thread counts as one CPU taken, at least one is
 * always left): several streams then run side by side on a core each
 * instead of time-slicing helpers that the others' loops wait for. */
void rv_pool_forward_begin (void);
void rv_pool_forward_end (void);

#endif
