/* rvtrack.c — ByteTrack-style multi-object tracker; see rvtrack.h. */
#include "rvtrack.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

/* Kalman noise as fractions of the box size (BoT-SORT's x-y-w-h filter):
 * position and size uncertainty grow with the box, so a large box may move
 * more pixels per frame than a small one. */
#define STD_POS (1.0f / 20)
#define STD_VEL (1.0f / 160)

/* Cost of a pair that must not match; far above any sum of real costs
 * (1 - IoU <= 1 each), so the assignment first maximizes the number of
 * allowed pairs. */
#define FORBIDDEN 1e6

typedef struct {
  /* state: centre x, centre y, width, height; their velocities per frame */
  float x[4], v[4];
  /* per coordinate the 2x2 covariance of (position, velocity): p00 p01 p11.
   * The motion model moves each coordinate on its own and the noise is
   * diagonal, so the 8x8 covariance stays block diagonal: four 2x2 filters
   * are the full filter, exactly. */
  float p[4][3];
  int class_id;
  float score;
  int64_t id;                   /* 0 while tentative */
  int hits, misses;
} track;

struct rv_tracker {
  rv_tracker_params params;
  int64_t next_id;
  bool started;                 /* an update since new or reset */
  track *tracks;
  int n_tracks, cap_tracks;
  /* per-update scratch, grown as needed */
  int cap_dets, cap_cost;
  int *det_track;               /* per detection: matched track index or -1 */
  int *track_det;               /* per track: matched detection or -1 */
  int *rows, *cols, *assign;
  double *cost;
  /* Hungarian method's potentials and search state, sized rows/cols + 1 */
  double *u, *hv, *minv;
  int *pcol, *way;
  bool *used;
};

rv_tracker_params
rv_tracker_params_default (void)
{
  rv_tracker_params p = {
    .high_score = 0.5f,
    .low_score = 0.1f,
    .new_track_score = 0.6f,
    .match_iou = 0.2f,
    .low_match_iou = 0.5f,
    .new_match_iou = 0.3f,
    .min_hits = 2,
    .max_age = 30,
  };
  return p;
}

rv_tracker *
rv_tracker_new (const rv_tracker_params *params)
{
  rv_tracker *t = calloc (1, sizeof *t);

  if (!t)
    return NULL;
  t->params = params ? *params : rv_tracker_params_default ();
  t->next_id = 1;
  return t;
}

void
rv_tracker_free (rv_tracker *t)
{
  if (!t)
    return;
  free (t->tracks);
  free (t->det_track);
  free (t->track_det);
  free (t->rows);
  free (t->cols);
  free (t->assign);
  free (t->cost);
  free (t->u);
  free (t->hv);
  free (t->minv);
  free (t->pcol);
  free (t->way);
  free (t->used);
  free (t);
}

void
rv_tracker_reset (rv_tracker *t)
{
  t->n_tracks = 0;
  t->started = false;
}

void
rv_tracker_set_params (rv_tracker *t, const rv_tracker_params *params)
{
  t->params = *params;
}

int
rv_tracker_num_tracks (const rv_tracker *t)
{
  int n = 0;

  for (int i = 0; i < t->n_tracks; i++)
    n += t->tracks[i].id > 0;
  return n;
}

/* ---- Kalman filter ------------------------------------------------------ */

/* The box size a coordinate's noise scales with: width for x and w, height
 * for y and h. */
static inline float
noise_scale (const track *tr, int c)
{
  return c % 2 == 0 ? tr->x[2] : tr->x[3];
}

static void
track_init (track *tr, const rv_track_box *d)
{
  memset (tr, 0, sizeof *tr);
  tr->x[0] = (d->x1 + d->x2) / 2;
  tr->x[1] = (d->y1 + d->y2) / 2;
  tr->x[2] = d->x2 - d->x1;
  tr->x[3] = d->y2 - d->y1;
  for (int c = 0; c < 4; c++) {
    float s = noise_scale (tr, c);
    float sp = 2 * STD_POS * s, sv = 10 * STD_VEL * s;

    tr->p[c][0] = sp * sp;
    tr->p[c][2] = sv * sv;
  }
  tr->class_id = d->class_id;
  tr->score = d->score;
  tr->hits = 1;
}

/* x' = x + v; P' = F P F^T + Q with F = [1 1; 0 1]. */
static void
track_predict (track *tr)
{
  if (tr->misses > 0)           /* lost: keep its size, as ByteTrack does */
    tr->v[2] = tr->v[3] = 0;
  for (int c = 0; c < 4; c++) {
    float s = noise_scale (tr, c);
    float qp = STD_POS * s, qv = STD_VEL * s;
    float *p = tr->p[c];

    tr->x[c] += tr->v[c];
    p[0] += 2 * p[1] + p[2] + qp * qp;
    p[1] += p[2];
    p[2] += qv * qv;
  }
}

/* Measurement z of the position with noise R; K = P H^T / (P00 + R). */
static void
track_correct (track *tr, const rv_track_box *d)
{
  float z[4] = { (d->x1 + d->x2) / 2, (d->y1 + d->y2) / 2, d->x2 - d->x1,
    d->y2 - d->y1
  };

  for (int c = 0; c < 4; c++) {
    float s = STD_POS * noise_scale (tr, c);
    float *p = tr->p[c];
    float k0 = p[0] / (p[0] + s * s), k1 = p[1] / (p[0] + s * s);
    float y = z[c] - tr->x[c];

    tr->x[c] += k0 * y;
    tr->v[c] += k1 * y;
    p[2] -= k1 * p[1];
    p[0] *= 1 - k0;
    p[1] *= 1 - k0;
  }
  tr->score = d->score;
}

static void
track_box (const track *tr, rv_track_box *b)
{
  float w = tr->x[2] > 1 ? tr->x[2] : 1, h = tr->x[3] > 1 ? tr->x[3] : 1;

  b->class_id = tr->class_id;
  b->score = tr->score;
  b->x1 = tr->x[0] - w / 2;
  b->y1 = tr->x[1] - h / 2;
  b->x2 = tr->x[0] + w / 2;
  b->y2 = tr->x[1] + h / 2;
}

/* ---- association -------------------------------------------------------- */

static float
iou (const rv_track_box *a, const rv_track_box *b)
{
  float iw = (a->x2 < b->x2 ? a->x2 : b->x2) - (a->x1 > b->x1 ? a->x1 : b->x1);
  float ih = (a->y2 < b->y2 ? a->y2 : b->y2) - (a->y1 > b->y1 ? a->y1 : b->y1);
  float inter, uni;

  if (iw <= 0 || ih <= 0)
    return 0;
  inter = iw * ih;
  uni = (a->x2 - a->x1) * (a->y2 - a->y1) + (b->x2 - b->x1) * (b->y2 - b->y1)
      - inter;
  return uni > 0 ? inter / uni : 0;
}

/* Minimum-cost assignment of the n rows of cost (n x m, row-major) to
 * distinct columns, n <= m: the Hungarian method with potentials and
 * shortest augmenting paths, O(n^2 m). assign[r] receives row r's column. */
static void
hungarian (rv_tracker *t, const double *cost, int n, int m, int *assign)
{
  double *u = t->u, *v = t->hv, *minv = t->minv;
  int *p = t->pcol, *way = t->way;
  bool *used = t->used;

  /* 1-based as in the textbook form: column 0 is the virtual start. */
  for (int j = 0; j <= m; j++)
    v[j] = 0, p[j] = 0;
  for (int i = 0; i <= n; i++)
    u[i] = 0;
  for (int i = 1; i <= n; i++) {
    int j0 = 0;

    p[0] = i;
    for (int j = 0; j <= m; j++)
      minv[j] = DBL_MAX, used[j] = false;
    do {
      int i0 = p[j0], j1 = 0;
      double delta = DBL_MAX;

      used[j0] = true;
      for (int j = 1; j <= m; j++) {
        if (used[j])
          continue;
        double cur = cost[(i0 - 1) * m + j - 1] - u[i0] - v[j];

        if (cur < minv[j])
          minv[j] = cur, way[j] = j0;
        if (minv[j] < delta)
          delta = minv[j], j1 = j;
      }
      for (int j = 0; j <= m; j++) {
        if (used[j])
          u[p[j]] += delta, v[j] -= delta;
        else
          minv[j] -= delta;
      }
      j0 = j1;
    } while (p[j0] != 0);
    do {
      int j1 = way[j0];

      p[j0] = p[j1];
      j0 = j1;
    } while (j0);
  }
  for (int j = 1; j <= m; j++)
    if (p[j])
      assign[p[j] - 1] = j - 1;
}

/* Matches tracks rows[0..nr) with detections cols[0..nc) of the same class
 * at IoU >= min_iou, optimally; records the pairs in det_track/track_det. */
static void
associate (rv_tracker *t, const rv_track_box *dets, int nr, int nc,
    float min_iou)
{
  bool transpose = nr > nc;
  int n = transpose ? nc : nr, m = transpose ? nr : nc;

  if (nr == 0 || nc == 0)
    return;
  for (int r = 0; r < nr; r++) {
    const track *tr = &t->tracks[t->rows[r]];
    rv_track_box pb;

    track_box (tr, &pb);
    for (int c = 0; c < nc; c++) {
      const rv_track_box *d = &dets[t->cols[c]];
      float o = d->class_id == tr->class_id ? iou (&pb, d) : 0;
      double cost = o >= min_iou && o > 0 ? 1.0 - o : FORBIDDEN;

      t->cost[transpose ? c * m + r : r * m + c] = cost;
    }
  }
  hungarian (t, t->cost, n, m, t->assign);
  for (int a = 0; a < n; a++) {
    int r = transpose ? t->assign[a] : a, c = transpose ? a : t->assign[a];

    if (t->cost[a * m + t->assign[a]] >= FORBIDDEN)
      continue;
    t->track_det[t->rows[r]] = t->cols[c];
    t->det_track[t->cols[c]] = t->rows[r];
  }
}

/* Grows *p to hold n elements of size sz; false when out of memory. */
static bool
grow (void *pp, size_t n, size_t sz)
{
  void *q = realloc (*(void **) pp, n * sz);

  if (!q)
    return false;
  *(void **) pp = q;
  return true;
}

/* Scratch for n detections and up to n new tracks. */
static bool
reserve (rv_tracker *t, int n)
{
  int cap = t->n_tracks + n;
  int side = (cap > n ? cap : n) + 1;

  if (cap > t->cap_tracks) {
    if (!grow (&t->tracks, cap, sizeof (track))
        || !grow (&t->track_det, cap, sizeof (int)))
      return false;
    t->cap_tracks = cap;
  }
  if (n > t->cap_dets) {
    if (!grow (&t->det_track, n, sizeof (int)))
      return false;
    t->cap_dets = n;
  }
  if (side > t->cap_cost) {
    if (!grow (&t->rows, side, sizeof (int)) || !grow (&t->cols, side,
            sizeof (int)) || !grow (&t->assign, side, sizeof (int))
        || !grow (&t->cost, (size_t) side * side, sizeof (double))
        || !grow (&t->u, side, sizeof (double)) || !grow (&t->hv, side,
            sizeof (double)) || !grow (&t->minv, side, sizeof (double))
        || !grow (&t->pcol, side, sizeof (int)) || !grow (&t->way, side,
            sizeof (int)) || !grow (&t->used, side, sizeof (bool)))
      return false;
    t->cap_cost = side;
  }
  return true;
}

typedef enum { PICK_CONFIRMED, PICK_TRACKED, PICK_TENTATIVE } pick;

/* rows: unmatched tracks of a kind; returns their count. */
static int
pick_tracks (rv_tracker *t, pick kind)
{
  int nr = 0;

  for (int i = 0; i < t->n_tracks; i++) {
    const track *tr = &t->tracks[i];
    bool ok = kind == PICK_TENTATIVE ? tr->id == 0 : tr->id > 0 &&
        (kind == PICK_CONFIRMED || tr->misses == 0);

    if (ok && t->track_det[i] < 0)
      t->rows[nr++] = i;
  }
  return nr;
}

/* cols: unmatched detections with lo <= score < hi; returns their count. */
static int
pick_dets (rv_tracker *t, const rv_track_box *dets, int n, float lo, float hi)
{
  int nc = 0;

  for (int i = 0; i < n; i++)
    if (t->det_track[i] < 0 && dets[i].score >= lo && dets[i].score < hi)
      t->cols[nc++] = i;
  return nc;
}

bool
rv_tracker_update (rv_tracker *t, const rv_track_box *dets, int n,
    int64_t *ids)
{
  const rv_tracker_params *pp = &t->params;
  int nr, nc, kept = 0;
  bool first;

  if (!reserve (t, n))
    return false;
  first = !t->started;
  t->started = true;
  for (int i = 0; i < t->n_tracks; i++) {
    track_predict (&t->tracks[i]);
    t->track_det[i] = -1;
  }
  for (int i = 0; i < n; i++)
    t->det_track[i] = -1;

  /* stage 2 takes the tracks matched on the previous frame (misses still
   * as they were before this one) */
  nr = pick_tracks (t, PICK_CONFIRMED);
  nc = pick_dets (t, dets, n, pp->high_score, FLT_MAX);
  associate (t, dets, nr, nc, pp->match_iou);
  nr = pick_tracks (t, PICK_TRACKED);
  nc = pick_dets (t, dets, n, pp->low_score, pp->high_score);
  associate (t, dets, nr, nc, pp->low_match_iou);
  nr = pick_tracks (t, PICK_TENTATIVE);
  nc = pick_dets (t, dets, n, pp->high_score, FLT_MAX);
  associate (t, dets, nr, nc, pp->new_match_iou);

  /* update matched tracks, age or drop the others (compacting the array) */
  for (int i = 0; i < t->n_tracks; i++) {
    track *tr = &t->tracks[i];
    int d = t->track_det[i];

    if (d >= 0) {
      track_correct (tr, &dets[d]);
      tr->hits++;
      tr->misses = 0;
      if (tr->id == 0 && tr->hits >= pp->min_hits)
        tr->id = t->next_id++;
    } else if (tr->id == 0 || ++tr->misses >= pp->max_age) {
      continue;
    }
    if (d >= 0)
      t->det_track[d] = kept;
    t->tracks[kept++] = *tr;
  }
  t->n_tracks = kept;

  for (int i = 0; i < n; i++) {
    track *tr;

    if (t->det_track[i] >= 0) {
      ids[i] = t->tracks[t->det_track[i]].id > 0 ?
          t->tracks[t->det_track[i]].id : -1;
      continue;
    }
    ids[i] = -1;
    if (dets[i].score < pp->new_track_score || dets[i].score < pp->high_score
        || !(dets[i].x2 > dets[i].x1 && dets[i].y2 > dets[i].y1))
      continue;
    tr = &t->tracks[t->n_tracks++];
    track_init (tr, &dets[i]);
    if (pp->min_hits <= 1 || first)
      ids[i] = tr->id = t->next_id++;
  }
  return true;
}

void
rv_tracker_predict (rv_tracker *t)
{
  for (int i = 0; i < t->n_tracks; i++)
    track_predict (&t->tracks[i]);
}

bool
rv_tracker_get_box (const rv_tracker *t, int64_t id, rv_track_box *box)
{
  for (int i = 0; i < t->n_tracks; i++) {
    if (t->tracks[i].id == id && id > 0) {
      track_box (&t->tracks[i], box);
      return true;
    }
  }
  return false;
}
