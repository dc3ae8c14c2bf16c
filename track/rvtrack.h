/* rvtrack.h — multi-object tracker for detection boxes (C11, no GStreamer).
 *
 * A tracker of the ByteTrack family: every track carries a constant-velocity
 * Kalman filter on its box (centre x, centre y, width, height, each with its
 * velocity); each frame with detections is matched in three stages, by
 * intersection over union between the tracks' predicted boxes and the
 * detections (optimal assignment, Hungarian method), a track only ever
 * matching detections of its own class:
 *
 *   1. confirmed and lost tracks   x  high-score detections  (match_iou)
 *   2. confirmed tracks left       x  low-score detections   (low_match_iou)
 *   3. tentative tracks            x  high-score detections left (new_match_iou)
 *
 * A high-score detection left over with a score of at least new_track_score
 * starts a tentative track; a tentative track becomes confirmed, and gets
 * its id, after min_hits frames in a row with a match, and is dropped at its
 * first miss. On the first frame (the first update after rv_tracker_new or
 * rv_tracker_reset) new tracks are confirmed at once, as in ByteTrack: what
 * is there when the stream starts is not a flicker of the detector. A confirmed track missed by max_age frames with detections in a
 * row is removed; until then it is "lost" and can be matched again.
 *
 * Usage:
 *
 *   rv_tracker *t = rv_tracker_new (NULL);         // default parameters
 *   for each frame:
 *     if (the detector ran on it) {
 *       rv_track_box dets[n] = ...;                 // class, score, x1 y1 x2 y2
 *       int64_t ids[n];
 *       rv_tracker_update (t, dets, n, ids);        // ids[i]: track or -1
 *     } else {
 *       rv_tracker_predict (t);                     // moves the predictions on
 *       rv_tracker_get_box (t, id, &box);           // where track id is now
 *     }
 *   rv_tracker_free (t);
 *
 * Ids start at 1 and are never reused by one tracker. Frames are the time
 * unit of the motion model: call rv_tracker_update or rv_tracker_predict
 * once per frame. After the first frames, neither allocates unless the
 * number of tracks or detections grows beyond what was seen before.
 */
#ifndef RVTRACK_H
#define RVTRACK_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A detection or a track's box: class, score 0..1, corners in pixels. */
typedef struct {
  int class_id;
  float score;
  float x1, y1, x2, y2;
} rv_track_box;

typedef struct {
  float high_score;      /* detections at or above: stage 1 (default 0.5) */
  float low_score;       /* detections below are ignored (default 0.1) */
  float new_track_score; /* least score to start a track (default 0.6) */
  float match_iou;       /* least IoU in stage 1 (default 0.2) */
  float low_match_iou;   /* least IoU in stage 2 (default 0.5) */
  float new_match_iou;   /* least IoU in stage 3 (default 0.3) */
  int min_hits;          /* matches in a row to confirm, >= 1 (default 2) */
  int max_age;           /* misses in a row to remove, >= 1 (default 30) */
} rv_tracker_params;

typedef struct rv_tracker rv_tracker;

rv_tracker_params rv_tracker_params_default (void);

/* A new tracker (NULL params: the defaults); NULL when out of memory. */
rv_tracker *rv_tracker_new (const rv_tracker_params *params);
void rv_tracker_free (rv_tracker *tracker);
/* Forgets all tracks (new stream); ids continue. */
void rv_tracker_reset (rv_tracker *tracker);
/* Takes effect at the next update. */
void rv_tracker_set_params (rv_tracker *tracker, const rv_tracker_params *params);

/* One frame with detections: predicts every track one frame on, matches and
 * updates them, starts, confirms and removes tracks. ids[i] receives the id
 * of the confirmed track that dets[i] belongs to, or -1 (unmatched, or
 * matched to a tentative track). Returns false when out of memory (the
 * tracker is then unchanged). */
bool rv_tracker_update (rv_tracker *tracker, const rv_track_box *dets, int n,
    int64_t *ids);

/* One frame without detections: predicts every track one frame on. */
void rv_tracker_predict (rv_tracker *tracker);

/* The predicted box of confirmed track @id (class and score of its last
 * match); false when there is no such track. */
bool rv_tracker_get_box (const rv_tracker *tracker, int64_t id,
    rv_track_box *box);

/* Number of confirmed tracks, lost ones included. */
int rv_tracker_num_tracks (const rv_tracker *tracker);

#ifdef __cplusplus
}
#endif
#endif
