/* model.h — internal: the loaded, re-parameterized network (spec sections
 * 2, 3). Every conv has its BatchNorm folded in; RepVGGDW is one depthwise
 * 3x3 conv. Weights point into rv_model.weights. */
#ifndef RV_MODEL_H
#define RV_MODEL_H

#include "repvit.h"

#include <stdatomic.h>

typedef enum {
  RV_ACT_NONE, RV_ACT_SILU, RV_ACT_GELU, RV_ACT_RELU, RV_ACT_SIGMOID
} rv_act;

typedef struct rv_packed rv_packed;

typedef struct {
  int cin, cout, k, stride, groups;   /* padding k / 2 */
  rv_act act;                         /* applied after the bias */
  const float *w;                     /* cout x (cin / groups) x k x k */
  const float *b;                     /* cout */
  /* the context's packed weights (ops.h) for a precision other than f32,
   * or NULL; set on a copy of the conv, never in the shared model */
  const rv_packed *packed;
} rv_conv;

typedef struct {              /* squeeze-excite: x * sigmoid(fc2(relu(fc1(mean)))) */
  int c, r;
  const float *w1, *b1, *w2, *b2;
} rv_se;

typedef struct {              /* RepViT block */
  int stride;
  bool has_se;
  rv_conv mixer;              /* depthwise 3x3 (RepVGGDW when stride 1) */
  rv_se se;
  rv_conv proj;               /* stride 2 only: 1x1 C -> C' */
  rv_conv ffn0, ffn1;         /* x + ffn1(GELU(ffn0(x))) */
} rv_block;

typedef struct {              /* x + cv2(cv1(x)), both 3x3 */
  rv_conv cv1, cv2;
} rv_bottleneck;

typedef struct {              /* cv3(cat(m1(m0(cv1(x))), cv2(x))) */
  rv_conv cv1, cv2, cv3;
  rv_bottleneck m[2];
} rv_c3k;

typedef struct {
  int c;                      /* hidden width (b / 2) */
  int n;                      /* repeats */
  bool c3k;
  rv_conv cv1, cv2;
  rv_bottleneck m[2];         /* without c3k */
  rv_c3k k[2];                /* with c3k */
} rv_c3k2;

typedef struct {              /* PSABlock */
  int heads, key_dim, head_dim;
  rv_conv qkv, pe, proj, ffn0, ffn1;
} rv_psa;

typedef struct {
  int n;
  rv_conv cv1, cv2;
  rv_psa m[2];
} rv_c2psa;

typedef struct {
  rv_conv box[3];             /* cv2.i.{0,1,2}: last gives 4 x 16 DFL logits */
  rv_conv cls[5];             /* cv3.i.{0.0,0.1,1.0,1.1,2}: last has sigmoid */
} rv_detect_level;

struct rv_model {
  atomic_int refs;
  char variant[8], scale[4];
  int nc, imgsz;
  char **names;               /* nc strings */
  float bn_eps;
  uint64_t n_params;
  float *weights;             /* every tensor of the file, folded in place */

  rv_conv stem[2];
  rv_block *blocks;
  int n_blocks;
  int taps[3];                /* block index of P3, P4, P5 */
  rv_conv sppf[2];            /* model.1 cv1, cv2 */
  rv_c2psa c2psa;             /* model.2 */
  rv_c3k2 c3k2[4];            /* model.5, 8, 11, 14 */
  rv_conv down[2];            /* model.9, 12 */
  rv_detect_level det[3];     /* model.15 */
};

/* Runs the forward pass in measure mode: conv multiply-accumulates. */
double rv_graph_macs (const rv_model *m, int w, int h);

#endif
