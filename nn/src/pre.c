/* pre.c — letterbox a video frame into the planar float network input.
 *
 * Same pixels as ultralytics' LetterBox on an 8-bit RGB image: cv2.resize
 * INTER_LINEAR bit for bit (the integer arithmetic of OpenCV's vectorized
 * path, SPEC-model.md section 1 "Resize rounding") and 114 padding, then
 * /255. YUV frames are converted to 8-bit RGB first (the textbook
 * BT.601/BT.709 formula, rounded), then resized, as decode -> convert -> cv2
 * would; the conversion runs at the source pixels the filter reads, so no
 * full-size RGB copy is ever made. */
#include "repvit.h"

#include <math.h>

enum {
  COEF_BITS = 11,                 /* cv2's INTER_RESIZE_COEF_BITS */
  COEF_ONE = 1 << COEF_BITS,
  CHUNK = 256,                    /* output columns per tap table */
  LUT_BITS = 20                   /* YUV -> RGB fixed point (int32 sums) */
};

#define PAD_VALUE (114 / 255.0f)

/* Byte layout of the packed formats; bpp 0 marks the YUV ones. */
static const struct { uint8_t bpp, r, g, b; } packed_layout[] = {
  [RV_FMT_RGB] = {3, 0, 1, 2}, [RV_FMT_BGR] = {3, 2, 1, 0},
  [RV_FMT_RGBA] = {4, 0, 1, 2}, [RV_FMT_BGRA] = {4, 2, 1, 0},
  [RV_FMT_RGBX] = {4, 0, 1, 2}, [RV_FMT_BGRX] = {4, 2, 1, 0},
  [RV_FMT_XRGB] = {4, 1, 2, 3}, [RV_FMT_XBGR] = {4, 3, 2, 1},
  [RV_FMT_ARGB] = {4, 1, 2, 3}, [RV_FMT_ABGR] = {4, 3, 2, 1},
  [RV_FMT_I420] = {0, 0, 0, 0}, [RV_FMT_NV12] = {0, 0, 0, 0},
};

/* Scale that fits frame into box and the frame size after scaling, rounded
 * half to even as Python's round(); at least 1 (where ultralytics would fail
 * on a 0-pixel resize, e.g. 4097 x 3 at 640). */
static double
fit (int frame_w, int frame_h, int box_w, int box_h, int *unpad_w, int *unpad_h)
{
  double r = fmin ((double) box_h / frame_h, (double) box_w / frame_w);
  *unpad_w = (int) fmax (1.0, rint (frame_w * r));
  *unpad_h = (int) fmax (1.0, rint (frame_h * r));
  return r;
}

/* LetterBox(auto=True): padding reduced modulo the stride. */
static int
rect_size (int unpad, int target)
{
  return unpad + (target - unpad) % 32;
}

rv_status
rv_input_size_for_frame (int frame_w, int frame_h, int target, bool rect,
    int *in_w, int *in_h)
{
  int uw, uh;

  if (frame_w <= 0 || frame_h <= 0 || target <= 0 || target % 32 || !in_w
      || !in_h)
    return RV_ERR_ARG;
  fit (frame_w, frame_h, target, target, &uw, &uh);
  *in_w = rect ? rect_size (uw, target) : target;
  *in_h = rect ? rect_size (uh, target) : target;
  return RV_OK;
}

void
rv_letterbox_geometry (int frame_w, int frame_h, int in_w, int in_h,
    rv_letterbox *lb)
{
  int target = in_w > in_h ? in_w : in_h, uw, uh;
  double r;

  *lb = (rv_letterbox) { frame_w, frame_h, in_w, in_h, 0, 0, 0, 0, 0.0f };
  if (frame_w <= 0 || frame_h <= 0 || in_w <= 0 || in_h <= 0)
    return;                     /* resized 0 x 0: rv_letterbox_frame refuses */
  /* A rect input made for target x target must scale as that target did,
   * even where the rounded rectangle would allow a slightly larger r. */
  r = fit (frame_w, frame_h, target, target, &uw, &uh);
  if (rect_size (uw, target) != in_w || rect_size (uh, target) != in_h)
    r = fit (frame_w, frame_h, in_w, in_h, &uw, &uh);
  lb->resized_w = uw;
  lb->resized_h = uh;
  lb->pad_left = (int) rint ((in_w - uw) / 2.0 - 0.1);
  lb->pad_top = (int) rint ((in_h - uh) / 2.0 - 0.1);
  lb->scale = (float) r;
}

static inline int
clamp_index (int i, int n)
{
  return i < 0 ? 0 : i >= n ? n - 1 : i;
}

/* cv2's taps for output index i: the two samples (clamped to the source)
 * and their weights in 1/COEF_ONE, each rounded on its own (saturate_cast
 * <short>, half to even). cv2 zeroes the outer weight at the borders only
 * horizontally (edge_weights); vertically it clamps just the rows, which
 * rounds differently in the final shifts. */
static void
tap (double scale, int src_n, int i, bool edge_weights, int *s0, int *s1,
    int16_t w[2])
{
  float f = (float) ((i + 0.5) * scale - 0.5);
  int s = (int) floorf (f);

  f -= (float) s;
  if (edge_weights && s < 0)
    s = 0, f = 0;
  if (edge_weights && s >= src_n - 1)
    s = src_n - 1, f = 0;
  *s0 = clamp_index (s, src_n);
  *s1 = clamp_index (s + 1, src_n);
  w[0] = (int16_t) lrintf ((1.0f - f) * COEF_ONE);
  w[1] = (int16_t) lrintf (f * COEF_ONE);
}

/* Fixed-point YUV -> RGB terms (rounding folded into the luma table). */
typedef struct {
  int32_t y[256], rv[256], gu[256], gv[256], bu[256];
} yuv_lut;

static void
yuv_lut_init (yuv_lut *lut, rv_yuv_matrix m)
{
  bool bt709 = m == RV_YUV_BT709_LIMITED || m == RV_YUV_BT709_FULL;
  bool full = m == RV_YUV_BT601_FULL || m == RV_YUV_BT709_FULL;
  double kr = bt709 ? 0.2126 : 0.299, kb = bt709 ? 0.0722 : 0.114;
  double kg = 1.0 - kr - kb, one = 1 << LUT_BITS;
  double ys = full ? 1.0 : 255.0 / 219.0, cs = full ? 1.0 : 255.0 / 224.0;
  int y0 = full ? 0 : 16;

  for (int i = 0; i < 256; i++) {
    double c = (i - 128) * cs * one;
    lut->y[i] = (int32_t) lrint ((i - y0) * ys * one + one / 2);
    lut->rv[i] = (int32_t) lrint (2 * (1 - kr) * c);
    lut->gu[i] = (int32_t) lrint (-2 * kb * (1 - kb) / kg * c);
    lut->gv[i] = (int32_t) lrint (-2 * kr * (1 - kr) / kg * c);
    lut->bu[i] = (int32_t) lrint (2 * (1 - kb) * c);
  }
}

static inline uint8_t
clamp255 (int32_t v)
{
  v >>= LUT_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : (uint8_t) v;
}

/* Taps of a chunk of output columns: per output column, where its two samples
 * are and their weights. Packed formats read samples straight from
 * the source row (byte offsets); YUV ones from the distinct source columns
 * xs[0..n_src), converted to RGB once per row (indices into xs). */
typedef struct {
  int n, n_src;
  int xs[2 * CHUNK], left[CHUNK], right[CHUNK];
  int16_t w[CHUNK][2];
} columns;

/* Index of source column x in xs. Columns come in non-decreasing order and
 * a repeat can only be one of the last two added. */
static int
source_column (columns *cols, int x)
{
  int n = cols->n_src;

  if (n && cols->xs[n - 1] == x)
    return n - 1;
  if (n > 1 && cols->xs[n - 2] == x)
    return n - 2;
  cols->xs[n] = x;
  return cols->n_src++;
}

static void
columns_init (columns *cols, int bpp, double scale, int src_w, int x0, int n)
{
  cols->n = n;
  cols->n_src = 0;
  for (int i = 0; i < n; i++) {
    int s0, s1;
    tap (scale, src_w, x0 + i, true, &s0, &s1, cols->w[i]);
    cols->left[i] = bpp ? s0 * bpp : source_column (cols, s0);
    cols->right[i] = bpp ? s1 * bpp : cols->w[i][1] ? source_column (cols, s1)
        : cols->left[i];
  }
}

/* RGB of the source pixels cols->xs of YUV row y, one array per channel. */
static void
yuv_row_to_rgb (const rv_frame *f, const yuv_lut *lut, int y,
    const columns *cols, uint8_t rgb[3][2 * CHUNK])
{
  /* 4:2:0: pixel (x, y) takes the chroma sample (x / 2, y / 2). */
  const uint8_t *luma = f->planes[0] + (size_t) y * f->strides[0];
  bool nv12 = f->format == RV_FMT_NV12;
  const uint8_t *u = f->planes[1] + (size_t) (y / 2) * f->strides[1];
  const uint8_t *v = nv12 ? u + 1
      : f->planes[2] + (size_t) (y / 2) * f->strides[2];
  int step = nv12 ? 2 : 1;

  for (int j = 0; j < cols->n_src; j++) {
    int c = cols->xs[j] / 2 * step;
    int32_t l = lut->y[luma[cols->xs[j]]];
    rgb[0][j] = clamp255 (l + lut->rv[v[c]]);
    rgb[1][j] = clamp255 (l + lut->gu[u[c]] + lut->gv[v[c]]);
    rgb[2][j] = clamp255 (l + lut->bu[u[c]]);
  }
}

/* The last two horizontally resized source rows: in upscaling consecutive
 * output rows share them. cv2 keeps each value >> 4 as a short (at most
 * 255 * 2048 >> 4 = 32640) for the vertical pass. */
typedef struct {
  int y[2];
  int16_t h[2][3][CHUNK];
} row_cache;

/* Slot holding source row y resized; fills the slot not holding row keep. */
static int
cached_row (row_cache *rc, const rv_frame *f, const yuv_lut *lut,
    const columns *cols, int y, int keep)
{
  uint8_t rgb[3][2 * CHUNK];
  const uint8_t *ch[3];
  int s, bpp = packed_layout[f->format].bpp;

  if (rc->y[0] == y || rc->y[1] == y)
    return rc->y[1] == y;
  s = rc->y[0] == keep;
  rc->y[s] = y;
  if (bpp) {
    const uint8_t *row = f->planes[0] + (size_t) y * f->strides[0];
    ch[0] = row + packed_layout[f->format].r;
    ch[1] = row + packed_layout[f->format].g;
    ch[2] = row + packed_layout[f->format].b;
  } else {
    yuv_row_to_rgb (f, lut, y, cols, rgb);
    ch[0] = rgb[0], ch[1] = rgb[1], ch[2] = rgb[2];
  }
  for (int i = 0; i < cols->n; i++) {
    int l = cols->left[i], r = cols->right[i];
    int w0 = cols->w[i][0], w1 = cols->w[i][1];
    for (int c = 0; c < 3; c++)
      rc->h[s][c][i] = (int16_t) ((ch[c][l] * w0 + ch[c][r] * w1) >> 4);
  }
  return s;
}

static bool
frame_valid (const rv_frame *f)
{
  size_t w, cw;

  if (f->format < RV_FMT_RGB || f->format > RV_FMT_NV12 || f->width <= 0
      || f->height <= 0 || !f->planes[0])
    return false;
  w = (size_t) f->width;
  cw = (w + 1) / 2;
  if (packed_layout[f->format].bpp)
    return f->strides[0] >= w * packed_layout[f->format].bpp;
  if (f->yuv_matrix < RV_YUV_BT601_LIMITED || f->yuv_matrix > RV_YUV_BT709_FULL
      || f->strides[0] < w || !f->planes[1])
    return false;
  if (f->format == RV_FMT_NV12)
    return f->strides[1] >= 2 * cw;
  return f->planes[2] && f->strides[1] >= cw && f->strides[2] >= cw;
}

static void
fill (float *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    p[i] = PAD_VALUE;
}

rv_status
rv_letterbox_frame (const rv_frame *frame, const rv_letterbox *lb, float *dst)
{
  yuv_lut lut;
  columns cols;
  row_cache rc;
  double sx, sy;
  size_t plane;

  if (!frame || !lb || !dst || !frame_valid (frame)
      || lb->frame_w != frame->width || lb->frame_h != frame->height
      || lb->resized_w <= 0 || lb->resized_h <= 0 || lb->pad_left < 0
      || lb->pad_top < 0 || lb->pad_left + lb->resized_w > lb->in_w
      || lb->pad_top + lb->resized_h > lb->in_h)
    return RV_ERR_ARG;
  if (!packed_layout[frame->format].bpp)
    yuv_lut_init (&lut, frame->yuv_matrix);
  plane = (size_t) lb->in_w * lb->in_h;

  /* Padding: whole rows above and below, then both sides of the others. */
  for (int c = 0; c < 3; c++) {
    float *p = dst + c * plane;
    size_t right = (size_t) lb->in_w - lb->pad_left - lb->resized_w;
    fill (p, (size_t) lb->pad_top * lb->in_w);
    for (int y = lb->pad_top; y < lb->pad_top + lb->resized_h; y++) {
      fill (p + (size_t) y * lb->in_w, lb->pad_left);
      fill (p + (size_t) y * lb->in_w + lb->pad_left + lb->resized_w, right);
    }
    fill (p + (size_t) (lb->pad_top + lb->resized_h) * lb->in_w,
        (size_t) (lb->in_h - lb->pad_top - lb->resized_h) * lb->in_w);
  }

  /* cv2.resize computes the scale as 1 / (dst / src). */
  sx = 1.0 / ((double) lb->resized_w / frame->width);
  sy = 1.0 / ((double) lb->resized_h / frame->height);
  for (int x0 = 0; x0 < lb->resized_w; x0 += CHUNK) {
    columns_init (&cols, packed_layout[frame->format].bpp, sx, frame->width, x0,
        lb->resized_w - x0 < CHUNK ? lb->resized_w - x0 : CHUNK);
    rc.y[0] = rc.y[1] = -1;
    for (int y = 0; y < lb->resized_h; y++) {
      int y0, y1, s0, s1;
      int16_t wy[2];
      size_t off = (size_t) (lb->pad_top + y) * lb->in_w + lb->pad_left + x0;
      tap (sy, frame->height, y, false, &y0, &y1, wy);
      s0 = cached_row (&rc, frame, &lut, &cols, y0, y1);
      s1 = wy[1] ? cached_row (&rc, frame, &lut, &cols, y1, y0) : s0;
      for (int c = 0; c < 3; c++) {
        const int16_t *h0 = rc.h[s0][c], *h1 = rc.h[s1][c];
        float *d = dst + c * plane + off;
        /* cv2's v_mul_hi (16-bit products' high halves, which the
         * compiler maps to pmulhw) and rounding shift; the weights are
         * >= 0 and sum to at most COEF_ONE + 1, so v stays in 0..255. */
        for (int i = 0; i < cols.n; i++) {
          int16_t a = (int16_t) ((h0[i] * wy[0]) >> 16);
          int16_t b = (int16_t) ((h1[i] * wy[1]) >> 16);
          d[i] = (float) ((a + b + 2) >> 2) / 255.0f;
        }
      }
    }
  }
  return RV_OK;
}
