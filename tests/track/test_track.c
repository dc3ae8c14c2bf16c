/* The tracker core on synthetic moving boxes whose true identities are known:
 * straight motion, crossings of same-class objects, an occlusion, missed and
 * noisy detections, weak detections (stage 2), birth and death, an
 * assignment that greedy matching gets wrong, and the Kalman prediction
 * against the hand-derived linear extrapolation.
 *
 * Identity is scored as in the CLEAR MOT metrics: an id switch is a ground
 * truth object whose track id differs from the one it last had; a track id
 * given to two objects counts too. Every scenario asserts its switches. */
#include "rvtrack.h"
#include "scene.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OBJ 64

static int failures;

#define CHECK(cond, ...) do { \
    if (!(cond)) { \
      failures++; \
      printf ("FAIL %s:%d: ", __FILE__, __LINE__); \
      printf (__VA_ARGS__); \
      printf ("\n"); \
    } \
  } while (0)

/* ---- identity bookkeeping ------------------------------------------------ */

typedef struct {
  int64_t last[MAX_OBJ];        /* last track id of each object, 0: none */
  int64_t owner_id[4096];       /* track id -> object + 1 that first had it */
  int switches, tracked, total;
} score;

static void
score_init (score *s)
{
  memset (s, 0, sizeof *s);
}

static void
score_pair (score *s, int obj, int64_t id)
{
  s->total++;
  if (id < 0)
    return;
  s->tracked++;
  /* a new id for the object, or its first one taken from another object */
  if (s->last[obj] != id && (s->last[obj] || (id < 4096 && s->owner_id[id]
              && s->owner_id[id] != obj + 1)))
    s->switches++;
  if (id < 4096 && !s->owner_id[id])
    s->owner_id[id] = obj + 1;
  s->last[obj] = id;
}

static rv_track_box
box_at (int class_id, float score, float cx, float cy, float w, float h)
{
  rv_track_box b = { class_id, score, cx - w / 2, cy - h / 2, cx + w / 2,
    cy + h / 2
  };
  return b;
}

/* One frame: the detections of the objects flagged visible; pairs scored. */
static void
frame (rv_tracker *t, score *s, const rv_track_box *objs, const int *visible,
    int n, int64_t *ids_out)
{
  rv_track_box dets[MAX_OBJ];
  int64_t ids[MAX_OBJ];
  int which[MAX_OBJ], nd = 0;

  for (int i = 0; i < n; i++) {
    ids_out[i] = -1;
    if (visible[i]) {
      which[nd] = i;
      dets[nd++] = objs[i];
    }
  }
  if (!rv_tracker_update (t, dets, nd, ids)) {
    CHECK (0, "rv_tracker_update failed");
    return;
  }
  for (int k = 0; k < nd; k++) {
    ids_out[which[k]] = ids[k];
    if (s)
      score_pair (s, which[k], ids[k]);
  }
}

/* ---- scenarios ----------------------------------------------------------- */

/* Ten objects in straight lines from the first frame: an id each at once,
 * never a switch, ids distinct. */
static void
test_straight (void)
{
  rv_tracker *t = rv_tracker_new (NULL);
  rv_track_box o[10];
  int vis[10];
  int64_t ids[10];
  score s;

  score_init (&s);
  for (int f = 0; f < 100; f++) {
    for (int i = 0; i < 10; i++) {
      o[i] = box_at (i % 3, 0.9f, 50 + 100 * i + 2.0f * f, 40 + 3.0f * f * (i
              % 2 ? 1 : -1) + 400, 60, 40 + 4 * i);
      vis[i] = 1;
    }
    frame (t, &s, o, vis, 10, ids);
    for (int i = 0; i < 10; i++)
      CHECK (ids[i] > 0, "frame %d object %d: id %lld", f, i,
          (long long) ids[i]);
  }
  CHECK (s.switches == 0, "straight: %d id switches", s.switches);
  for (int i = 0; i < 10; i++)
    for (int j = 0; j < i; j++)
      CHECK (s.last[i] != s.last[j], "objects %d and %d share id %lld", i, j,
          (long long) s.last[i]);
  CHECK (rv_tracker_num_tracks (t) == 10, "%d tracks",
      rv_tracker_num_tracks (t));
  printf ("straight: 10 objects, 100 frames, %d id switches\n", s.switches);
  rv_tracker_free (t);
}

/* Same-class objects crossing: head-on (along one line, 8 px apart),
 * at right angles, and overtaking; the Kalman velocity carries each through
 * the overlap. */
static void
test_crossings (void)
{
  rv_tracker *t = rv_tracker_new (NULL);
  rv_track_box o[6];
  int vis[6] = { 1, 1, 1, 1, 1, 1 };
  int64_t ids[6];
  score s;

  score_init (&s);
  for (int f = 0; f < 120; f++) {
    /* head-on along y ~ 100 */
    o[0] = box_at (0, 0.9f, 100 + 6.0f * f, 100, 50, 50);
    o[1] = box_at (0, 0.8f, 820 - 6.0f * f, 108, 50, 50);
    /* at right angles, crossing at (400, 500) around frame 60 */
    o[2] = box_at (1, 0.9f, 400 + 5.0f * (f - 60), 500, 60, 60);
    o[3] = box_at (1, 0.9f, 400, 500 + 5.0f * (f - 60), 60, 60);
    /* overtaking: same line, speeds 7 and 3 */
    o[4] = box_at (2, 0.9f, 50 + 7.0f * f, 800, 70, 70);
    o[5] = box_at (2, 0.9f, 250 + 3.0f * f, 804, 70, 70);
    frame (t, &s, o, vis, 6, ids);
  }
  CHECK (s.switches == 0, "crossings: %d id switches", s.switches);
  CHECK (s.tracked >= s.total - 6 * 2, "crossings: %d of %d tracked",
      s.tracked, s.total);
  printf ("crossings: 3 pairs, 120 frames, %d of %d detections tracked, "
      "%d id switches\n", s.tracked, s.total, s.switches);
  rv_tracker_free (t);
}

/* An object passes behind another (no detection for 12 frames while they
 * overlap) and comes out with its id. */
static void
test_occlusion (void)
{
  rv_tracker *t = rv_tracker_new (NULL);
  rv_track_box o[2];
  int vis[2];
  int64_t ids[2], before = 0;
  score s;
  int hidden = 0;

  score_init (&s);
  for (int f = 0; f < 100; f++) {
    o[0] = box_at (0, 0.9f, 100 + 5.0f * f, 300, 60, 60);     /* moving */
    o[1] = box_at (0, 0.9f, 350, 300, 120, 120);      /* standing, in front */
    vis[1] = 1;
    vis[0] = fabsf (o[0].x1 + 30 - 350) > 30;   /* hidden near the centre */
    hidden += !vis[0];
    frame (t, &s, o, vis, 2, ids);
    if (vis[0] && ids[0] > 0 && !before)
      before = ids[0];
  }
  CHECK (hidden >= 10, "occlusion: hidden %d frames", hidden);
  CHECK (s.switches == 0 && s.last[0] == before,
      "occlusion: %d switches, id %lld before, %lld after", s.switches,
      (long long) before, (long long) s.last[0]);
  printf ("occlusion: hidden %d frames, %d id switches\n", hidden, s.switches);
  rv_tracker_free (t);
}

/* Twenty objects bouncing in a 1280x720 frame, 3 px of box noise, each
 * detection missed with probability 0.2: ids stay, nearly all detections
 * are tracked. */
static void
test_missed (void)
{
  rv_tracker *t = rv_tracker_new (NULL);
  enum { N = 20, FRAMES = 300 };
  rv_track_box dets[N];
  int64_t ids[N];
  int which[N], missed = 0;
  scene sc;
  score s;

  score_init (&s);
  scene_init (&sc, N, 12345);
  for (int f = 0; f < FRAMES; f++) {
    int nd = scene_step (&sc, 3, 0.2f, dets, which);

    missed += N - nd;
    CHECK (rv_tracker_update (t, dets, nd, ids), "update");
    for (int k = 0; k < nd; k++)
      score_pair (&s, which[k], ids[k]);
  }
  printf ("missed: %d objects, %d frames, %d detections missed, %d of %d "
      "tracked, %d id switches\n", N, FRAMES, missed, s.tracked, s.total,
      s.switches);
  /* Same-class objects that meet can trade places legitimately now and
   * then; a switch per 1000 detections is the budget. */
  CHECK (s.switches <= s.total / 1000, "missed: %d id switches", s.switches);
  CHECK (s.tracked >= 0.97 * s.total, "missed: %d of %d tracked", s.tracked,
      s.total);
  rv_tracker_free (t);
}

/* Weak detections continue a track (stage 2) but never start one. */
static void
test_low_score (void)
{
  rv_tracker *t = rv_tracker_new (NULL);
  rv_track_box o[2];
  int vis[2] = { 1, 1 };
  int64_t ids[2], id = 0;

  for (int f = 0; f < 40; f++) {
    /* object 0 fades to 0.3 from frame 10 to 29 */
    o[0] = box_at (0, f >= 10 && f < 30 ? 0.3f : 0.9f, 100 + 4.0f * f, 200,
        80, 80);
    o[1] = box_at (0, 0.3f, 600, 500, 80, 80);  /* always weak */
    frame (t, NULL, o, vis, 2, ids);
    if (f == 0)                 /* the first frame: confirmed at once */
      id = ids[0];
    if (f > 0)
      CHECK (ids[0] == id && id > 0, "frame %d: weak detection of track "
          "%lld got %lld", f, (long long) id, (long long) ids[0]);
    CHECK (ids[1] == -1, "frame %d: a weak detection started track %lld", f,
        (long long) ids[1]);
  }
  printf ("low score: a track kept through 20 weak frames\n");
  rv_tracker_free (t);
}

/* Birth after min_hits (after the first frame), death after max_age misses,
 * ids never reused. */
static void
test_birth_death (void)
{
  rv_tracker_params p = rv_tracker_params_default ();
  rv_tracker *t;
  rv_track_box o = box_at (1, 0.9f, 300, 300, 50, 50);
  int vis = 1;
  int64_t id, first;

  p.min_hits = 4;
  p.max_age = 5;
  t = rv_tracker_new (&p);
  rv_tracker_update (t, NULL, 0, NULL);
  for (int f = 1; f <= 4; f++) {
    frame (t, NULL, &o, &vis, 1, &id);
    CHECK ((id > 0) == (f >= 4), "hit %d: id %lld", f, (long long) id);
  }
  first = id;
  for (int f = 1; f <= 5; f++) {
    CHECK (rv_tracker_num_tracks (t) == 1, "miss %d: %d tracks", f,
        rv_tracker_num_tracks (t));
    CHECK (rv_tracker_update (t, NULL, 0, NULL), "update without detections");
  }
  CHECK (rv_tracker_num_tracks (t) == 0, "after 5 misses: %d tracks",
      rv_tracker_num_tracks (t));
  for (int f = 1; f <= 4; f++)
    frame (t, NULL, &o, &vis, 1, &id);
  CHECK (id > first, "new track id %lld after %lld", (long long) id,
      (long long) first);
  /* a tentative track dies at its first miss */
  rv_tracker_reset (t);
  rv_tracker_update (t, NULL, 0, NULL);
  frame (t, NULL, &o, &vis, 1, &id);
  rv_tracker_update (t, NULL, 0, NULL);
  for (int f = 1; f <= 3; f++)
    frame (t, NULL, &o, &vis, 1, &id);
  CHECK (id == -1, "a tentative track survived a miss: id %lld",
      (long long) id);
  rv_tracker_free (t);
}

/* On the first frame (of the tracker, and after a reset) every detection
 * that may start a track is confirmed at once, as ByteTrack activates its
 * first frame's tracks; later births wait for min_hits, also when the first
 * frame had no detections. */
static void
test_first_frame (void)
{
  rv_tracker *t = rv_tracker_new (NULL);
  rv_track_box o[4];
  int vis[4] = { 1, 1, 1, 0 };
  int64_t ids[4];

  for (int round = 0; round < 2; round++) {
    o[0] = box_at (0, 0.9f, 100, 100, 50, 50);
    o[1] = box_at (1, 0.7f, 300, 100, 50, 50);
    o[2] = box_at (0, 0.55f, 500, 100, 50, 50); /* below new_track_score */
    o[3] = box_at (2, 0.9f, 700, 100, 50, 50);  /* appears on frame 2 */
    frame (t, NULL, o, vis, 4, ids);
    CHECK (ids[0] > 0 && ids[1] > 0 && ids[0] != ids[1],
        "round %d: first frame ids %lld %lld", round, (long long) ids[0],
        (long long) ids[1]);
    CHECK (ids[2] == -1, "round %d: a weak detection got id %lld on the "
        "first frame", round, (long long) ids[2]);
    vis[3] = 1;
    frame (t, NULL, o, vis, 4, ids);
    CHECK (ids[3] == -1, "round %d: a birth on frame 2 got id %lld at once",
        round, (long long) ids[3]);
    frame (t, NULL, o, vis, 4, ids);
    CHECK (ids[3] > 0, "round %d: no id after min_hits frames", round);
    rv_tracker_reset (t);
    vis[3] = 0;
  }
  /* an empty first frame: the next frame's births are no longer first */
  rv_tracker_update (t, NULL, 0, NULL);
  frame (t, NULL, o, vis, 4, ids);
  CHECK (ids[0] == -1 && ids[1] == -1, "after an empty first frame: ids "
      "%lld %lld at once", (long long) ids[0], (long long) ids[1]);
  printf ("first frame: its tracks confirmed at once, after resets too\n");
  rv_tracker_free (t);
}

/* Classes never mix: a circle and a square on the same spot, both tracked,
 * and a track does not follow a detection of another class. */
static void
test_classes (void)
{
  rv_tracker *t = rv_tracker_new (NULL);
  rv_track_box o[2];
  int vis[2] = { 1, 1 };
  int64_t ids[2];
  score s;

  score_init (&s);
  for (int f = 0; f < 30; f++) {
    o[0] = box_at (0, 0.9f, 200 + 2.0f * f, 200, 80, 80);
    o[1] = box_at (1, 0.9f, 202 + 2.0f * f, 201, 80, 80);
    frame (t, &s, o, vis, 2, ids);
    if (f > 2)
      CHECK (ids[0] > 0 && ids[1] > 0 && ids[0] != ids[1],
          "frame %d: ids %lld %lld", f, (long long) ids[0],
          (long long) ids[1]);
  }
  CHECK (s.switches == 0, "classes: %d switches", s.switches);
  rv_tracker_free (t);
}

/* Two standing tracks T1 = [0,100], T2 = [50,150] (x; y 0..100). New
 * detections D1 = [-30,70], D2 = [20,120]: IoU(T1,D2) = 0.667 is the best
 * pair, so greedy matching takes it and leaves T2 with D1 (IoU 0.111, below
 * the threshold): a lost track and a new one. The optimal assignment
 * T1-D1 (0.538) + T2-D2 (0.538) keeps both. */
static void
test_assignment (void)
{
  rv_tracker *t = rv_tracker_new (NULL);
  rv_track_box o[2] = { {0, 0.9f, 0, 0, 100, 100}, {0, 0.9f, 50, 0, 150, 100} };
  rv_track_box d[2] = { {0, 0.9f, -30, 0, 70, 100}, {0, 0.9f, 20, 0, 120,
          100}
  };
  int vis[2] = { 1, 1 };
  int64_t ids[2], got[2];

  for (int f = 0; f < 10; f++)
    frame (t, NULL, o, vis, 2, ids);
  CHECK (rv_tracker_update (t, d, 2, got), "update");
  CHECK (got[0] == ids[0] && got[1] == ids[1],
      "assignment: tracks %lld %lld, got %lld %lld", (long long) ids[0],
      (long long) ids[1], (long long) got[0], (long long) got[1]);
  rv_tracker_free (t);
}

/* At constant velocity the filter's velocity converges to the true one, so
 * the prediction k frames ahead approaches the box moved k times. */
static void
test_prediction (void)
{
  rv_tracker *t = rv_tracker_new (NULL);
  float vx = 7.5f, vy = -3.25f;
  rv_track_box o, b;
  int vis = 1;
  int64_t id = -1;

  for (int f = 0; f < 30; f++) {
    o = box_at (2, 0.9f, 200 + vx * f, 400 + vy * f, 90, 60);
    frame (t, NULL, &o, &vis, 1, &id);
  }
  for (int k = 1; k <= 5; k++) {
    rv_track_box want = box_at (2, 0.9f, 200 + vx * (29 + k),
        400 + vy * (29 + k), 90, 60);

    rv_tracker_predict (t);
    CHECK (rv_tracker_get_box (t, id, &b), "track %lld gone", (long long) id);
    CHECK (fabsf (b.x1 - want.x1) < 0.5f && fabsf (b.y1 - want.y1) < 0.5f &&
        fabsf (b.x2 - want.x2) < 0.5f && fabsf (b.y2 - want.y2) < 0.5f,
        "%d ahead: %.2f %.2f %.2f %.2f, want %.2f %.2f %.2f %.2f", k, b.x1,
        b.y1, b.x2, b.y2, want.x1, want.y1, want.x2, want.y2);
    CHECK (b.class_id == 2, "class %d", b.class_id);
  }
  CHECK (!rv_tracker_get_box (t, id + 1, &b), "a box for an unknown id");
  rv_tracker_free (t);
}

int
main (void)
{
  test_straight ();
  test_crossings ();
  test_occlusion ();
  test_missed ();
  test_low_score ();
  test_birth_death ();
  test_first_frame ();
  test_classes ();
  test_assignment ();
  test_prediction ();
  if (failures)
    printf ("%d checks failed\n", failures);
  return failures ? 1 : 0;
}
