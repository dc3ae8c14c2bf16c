/* pool.c — the process-wide thread pool; see pool.h.
 *
 * Open loops (jobs) sit in a list under one mutex, oldest first. A worker
 * takes a participant slot of the first job that still has items and slots,
 * runs items until none is left, and signs off; the caller, once it finds no
 * item left, unlinks its job (so no one else joins) and waits for the helpers
 * still inside an item. The items are cut into one contiguous part per slot,
 * each with its own counter: a participant takes the items of its own part
 * first, then what is left of the others'. Worker i asks for slot i, so a
 * slot stays with one thread from loop to loop, and a thread mostly reads
 * what it wrote in the layer before (which counts where cores share no
 * cache). A job lives on its
 * caller's stack, so helpers touch it only while the caller waits for them:
 * they sign off under the mutex, and the caller takes the mutex before it
 * returns. */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

/* How long an idle worker (and a caller waiting for its helpers) spins before
 * it sleeps: longer than the caller's gap between two loops of a forward
 * (measured over 145 loops a forward, m0_9-n at 320x192 and 640x384 on a
 * loaded 2-core EPYC: median 0.4-1 us, p90 1-3 us, p99 13-36 us), short
 * enough that a waiting thread costs the other processes little. */
#define SPIN_NS 50000

#define MAX_SLOTS 64            /* participants in a loop, at most */

typedef struct job {
  rv_pool_fn fn;
  void *arg;
  int n_items, max_slots;
  atomic_int part_next[MAX_SLOTS];      /* next item of each part */
  atomic_int helpers;           /* signed on, not off yet; changed under lock */
  uint64_t slots;               /* taken, under the lock */
  bool linked, waiting;         /* under the lock */
  pthread_cond_t done;          /* helpers reached 0 while the caller waits */
  struct job *next;
} job;

static struct {
  pthread_mutex_t lock;
  pthread_cond_t work;          /* a job was posted */
  job *open;                    /* jobs that may take helpers, oldest first */
  atomic_uint posted;           /* bumped on each post; spinners watch it */
  int workers, spinning, sleeping;
  bool started;
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER,
  .work = PTHREAD_COND_INITIALIZER };

/* initial-exec: the plugin is dlopen()ed, and dynamic TLS blocks of threads
 * started in a fork()ed child crash LeakSanitizer's exit-time scan */
static _Thread_local bool in_item
    __attribute__ ((tls_model ("initial-exec"))), in_forward
    __attribute__ ((tls_model ("initial-exec")));
static atomic_int forwards;     /* threads between forward_begin and _end */

static inline void
cpu_relax (void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause ();
#endif
}

static long long
now_ns (void)
{
  struct timespec t;
  clock_gettime (CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Spins while busy (p) holds, at most SPIN_NS; whether it stopped holding. */
static bool
spin (bool (*busy) (const void *), const void *p)
{
  long long t0 = now_ns ();
  for (int i = 1; busy (p); i++) {
    cpu_relax ();
    if (!(i & 63) && now_ns () - t0 > SPIN_NS)
      return false;
  }
  return true;
}

static bool
nothing_posted_since (const void *seen)
{
  return atomic_load_explicit (&pool.posted, memory_order_relaxed)
      == *(const unsigned *) seen;
}

static bool
helpers_inside (const void *j)
{
  return atomic_load_explicit (&((const job *) j)->helpers,
      memory_order_relaxed);
}

/* The first item of part p. */
static int
part_start (const job *j, int p)
{
  return (int) ((long long) j->n_items * p / j->max_slots);
}

static bool
items_left (const job *j)
{
  for (int p = 0; p < j->max_slots; p++)
    if (atomic_load_explicit (&j->part_next[p], memory_order_relaxed)
        < part_start (j, p + 1))
      return true;
  return false;
}

static void
run_items (job *j, int slot)
{
  in_item = true;
  for (int k = 0; k < j->max_slots; k++) {
    int p = (slot + k) % j->max_slots, end = part_start (j, p + 1);
    for (int i; (i = atomic_fetch_add_explicit (&j->part_next[p], 1,
                memory_order_relaxed)) < end;)
      j->fn (j->arg, i, slot);
  }
  in_item = false;
}

static void
unlink_job (job *j)
{
  for (job **p = &pool.open; *p; p = &(*p)->next)
    if (*p == j) {
      *p = j->next;
      j->linked = false;
      return;
    }
}

/* A slot in the oldest job that still has items and slots, for worker
 * `self` (1 ..): slot self where there is one; under the lock. Jobs found
 * full or finished leave the list. */
static job *
sign_on (int self, int *slot)
{
  while (pool.open) {
    job *j = pool.open;
    uint64_t all = j->max_slots == MAX_SLOTS ? ~0ull
        : (1ull << j->max_slots) - 1;
    if (j->slots != all && items_left (j)) {
      int s = self;
      if (s >= j->max_slots || j->slots >> s & 1)
        s = __builtin_ctzll (~j->slots);
      j->slots |= 1ull << s;
      *slot = s;
      atomic_fetch_add_explicit (&j->helpers, 1, memory_order_relaxed);
      if (j->slots == all)
        unlink_job (j);
      return j;
    }
    unlink_job (j);
  }
  return NULL;
}

static void *
worker (void *arg)
{
  const int self = (int) (intptr_t) arg;
  pthread_mutex_lock (&pool.lock);
  for (;;) {
    int slot;
    job *j = sign_on (self, &slot);
    if (j) {
      pthread_mutex_unlock (&pool.lock);
      run_items (j, slot);
      pthread_mutex_lock (&pool.lock);
      if (atomic_fetch_sub_explicit (&j->helpers, 1, memory_order_release) == 1
          && j->waiting)
        pthread_cond_signal (&j->done);
      continue;
    }
    unsigned seen = atomic_load_explicit (&pool.posted, memory_order_relaxed);
    pool.spinning++;
    pthread_mutex_unlock (&pool.lock);
    bool posted = spin (nothing_posted_since, &seen);
    pthread_mutex_lock (&pool.lock);
    pool.spinning--;
    if (posted)
      continue;
    pool.sleeping++;
    while (atomic_load_explicit (&pool.posted, memory_order_relaxed) == seen)
      pthread_cond_wait (&pool.work, &pool.lock);
    pool.sleeping--;
  }
  return NULL;
}

/* fork () keeps only the calling thread: the child starts a pool of its own
 * on first use. The lock is held across fork so that no job list is caught
 * half-changed. */
static void
fork_prepare (void)
{
  pthread_mutex_lock (&pool.lock);
}

static void
fork_parent (void)
{
  pthread_mutex_unlock (&pool.lock);
}

static void
fork_child (void)
{
  pthread_mutex_init (&pool.lock, NULL);
  pthread_cond_init (&pool.work, NULL);
  pool.open = NULL;
  pool.workers = pool.spinning = pool.sleeping = 0;
  pool.started = false;
}

/* Under the lock. Workers block every signal: those are the application's
 * threads' business. */
static void
start (void)
{
  static bool atfork_set;
  if (!atfork_set)
    atfork_set = !pthread_atfork (fork_prepare, fork_parent, fork_child);
  pool.started = true;
  sigset_t all, old;
  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &old);
  for (int i = rv_pool_cpus () - 1; i > 0; i--) {
    pthread_t t;
    void *self = (void *) (intptr_t) (pool.workers + 1);
    if (pthread_create (&t, NULL, worker, self))
      break;
    pthread_setname_np (t, "repvit-pool");
    pthread_detach (t);
    pool.workers++;
  }
  pthread_sigmask (SIG_SETMASK, &old, NULL);
}

int
rv_pool_cpus (void)
{
  cpu_set_t set;
  long n = sysconf (_SC_NPROCESSORS_ONLN);
  if (!sched_getaffinity (0, sizeof set, &set) && CPU_COUNT (&set) > 0)
    n = CPU_COUNT (&set);
  return n < 1 ? 1 : n > MAX_SLOTS ? MAX_SLOTS : (int) n;
}

void
rv_pool_forward_begin (void)
{
  if (!in_forward)
    atomic_fetch_add_explicit (&forwards, 1, memory_order_relaxed);
  in_forward = true;
}

void
rv_pool_forward_end (void)
{
  if (in_forward)
    atomic_fetch_sub_explicit (&forwards, 1, memory_order_relaxed);
  in_forward = false;
}

/* Of the pool's cpus, those that the forwards of other threads leave to
 * this loop. */
static int
cpus_left (int cpus)
{
  int others = atomic_load_explicit (&forwards, memory_order_relaxed)
      - in_forward;
  return cpus - others < 1 ? 1 : cpus - others;
}

int
rv_pool_for (int n_items, rv_pool_fn fn, void *arg, int max_threads)
{
  if (in_item)
    return -1;
  job j = { .fn = fn, .arg = arg, .n_items = n_items, .max_slots = 1,
    .slots = 1 };
  if (n_items > 1 && max_threads != 1) {
    pthread_mutex_lock (&pool.lock);
    if (!pool.started)
      start ();
    int slots = max_threads <= 0 || max_threads > pool.workers + 1
        ? pool.workers + 1 : max_threads, left = cpus_left (pool.workers + 1);
    if (slots > left)
      slots = left;
    j.max_slots = slots < n_items ? slots : n_items;
    for (int p = 1; p < j.max_slots; p++)
      atomic_init (&j.part_next[p], part_start (&j, p));
    if (j.max_slots > 1) {
      pthread_cond_init (&j.done, NULL);
      job **p = &pool.open;
      while (*p)
        p = &(*p)->next;
      *p = &j;
      j.linked = true;
      atomic_fetch_add_explicit (&pool.posted, 1, memory_order_relaxed);
      /* spinning workers see the post themselves */
      int wake = j.max_slots - 1 - pool.spinning;
      for (wake = wake < pool.sleeping ? wake : pool.sleeping; wake > 0; wake--)
        pthread_cond_signal (&pool.work);
    }
    pthread_mutex_unlock (&pool.lock);
  }
  run_items (&j, 0);
  if (j.max_slots == 1)
    return 0;
  pthread_mutex_lock (&pool.lock);
  if (j.linked)
    unlink_job (&j);
  if (atomic_load_explicit (&j.helpers, memory_order_relaxed)) {
    pthread_mutex_unlock (&pool.lock);
    spin (helpers_inside, &j);
    pthread_mutex_lock (&pool.lock);
    j.waiting = true;
    while (atomic_load_explicit (&j.helpers, memory_order_acquire))
      pthread_cond_wait (&j.done, &pool.lock);
  }
  pthread_mutex_unlock (&pool.lock);
  pthread_cond_destroy (&j.done);
  return 0;
}
