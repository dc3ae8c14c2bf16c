/* scene.h — a synthetic scene for the tracker's test and benchmark: square
 * objects bouncing off the edges of a 1280x720 frame at up to 4 px per
 * frame, seen as detections with box noise and random misses; deterministic
 * (xorshift). */
#ifndef TRACK_SCENE_H
#define TRACK_SCENE_H

#include "rvtrack.h"

#define SCENE_MAX 256
#define SCENE_W 1280
#define SCENE_H 720

typedef struct {
  uint32_t rng;
  int n;
  float x[SCENE_MAX], y[SCENE_MAX], vx[SCENE_MAX], vy[SCENE_MAX];
  float size[SCENE_MAX];
} scene;

/* Uniform in [0, 1). */
static inline float
scene_uniform (scene *s)
{
  s->rng ^= s->rng << 13;
  s->rng ^= s->rng >> 17;
  s->rng ^= s->rng << 5;
  return (s->rng >> 8) / 16777216.0f;
}

/* @n objects (at most SCENE_MAX) of 20..80 px, anywhere, any direction. */
static inline void
scene_init (scene *s, int n, uint32_t seed)
{
  s->rng = seed;
  s->n = n;
  for (int i = 0; i < n; i++) {
    s->size[i] = 20 + 60 * scene_uniform (s);
    s->x[i] = s->size[i] + (SCENE_W - 2 * s->size[i]) * scene_uniform (s);
    s->y[i] = s->size[i] + (SCENE_H - 2 * s->size[i]) * scene_uniform (s);
    s->vx[i] = 8 * scene_uniform (s) - 4;
    s->vy[i] = 8 * scene_uniform (s) - 4;
  }
}

/* Moves every object one frame on and writes the detections of those not
 * missed (probability @miss): class = index % 3, score 0.6..1, each edge
 * off by up to @noise / 2 px. which[k] receives detection k's object.
 * Returns the number of detections. */
static inline int
scene_step (scene *s, float noise, float miss, rv_track_box *dets, int *which)
{
  int nd = 0;

  for (int i = 0; i < s->n; i++) {
    float h = s->size[i] / 2;

    s->x[i] += s->vx[i];
    s->y[i] += s->vy[i];
    if (s->x[i] < s->size[i] || s->x[i] > SCENE_W - s->size[i])
      s->vx[i] = -s->vx[i];
    if (s->y[i] < s->size[i] || s->y[i] > SCENE_H - s->size[i])
      s->vy[i] = -s->vy[i];
    if (scene_uniform (s) < miss)
      continue;
    dets[nd].class_id = i % 3;
    dets[nd].score = 0.6f + 0.4f * scene_uniform (s);
    dets[nd].x1 = s->x[i] - h + noise * (scene_uniform (s) - 0.5f);
    dets[nd].y1 = s->y[i] - h + noise * (scene_uniform (s) - 0.5f);
    dets[nd].x2 = s->x[i] + h + noise * (scene_uniform (s) - 0.5f);
    dets[nd].y2 = s->y[i] + h + noise * (scene_uniform (s) - 0.5f);
    which[nd++] = i;
  }
  return nd;
}

#endif
