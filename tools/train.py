#!/usr/bin/python3
"""Train the RepViT-YOLO11 reference model (tools/repvit_yolo.py) on the synthetic shapes task.

Data is rendered on the fly by tools/synth.py (batch k comes from the seed and k alone, so a
resumed run sees the same data), letterboxed with the inference letterbox in rect mode, all
frames of a batch sharing one aspect ratio. The loss is YOLO11's: a task-aligned assigner
(top-k 10, alpha 0.5, beta 6), CIoU + DFL on the boxes, BCE on the classes (gains 7.5, 1.5, 0.5).
AdamW with linear warm-up and cosine decay, an EMA of the weights, checkpoints with the
optimizer and EMA state every few minutes.

    train.py --out out/train --iters 1500 --imgsz 320 --batch 16 --seed 1
    train.py --out out/train --resume [--iters 2000]     continue (optionally for longer)
    train.py --out out/ft --init out/train/ema.pt --lr 5e-4 ...   fine-tune from earlier weights

Writes OUT/last.ckpt (resumable) and OUT/ema.pt (EMA state dict with the spec's names).
"""
import argparse
import copy
import math
import multiprocessing as mp
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import synth  # noqa: E402
import ref_letterbox  # noqa: E402
from repvit_yolo import REG_MAX, build_model  # noqa: E402

ASPECTS = ((16, 9), (4, 3), (1, 1), (3, 4), (9, 16), (3, 2), (2, 3), (21, 9))
GAIN_BOX, GAIN_CLS, GAIN_DFL = 7.5, 0.5, 1.5


# ---------------------------------------------------------------- data

def input_shape(aw, ah, imgsz):
    """(H, W) of the rect-mode letterbox of an aw:ah frame."""
    g = ref_letterbox.geometry(aw * 60, ah * 60, (imgsz, imgsz), auto=True)
    return g["in_h"], g["in_w"]


def make_batch(seed, step, batch, imgsz):
    """Batch `step`: float [B, 3, H, W] and targets [n, 6] (image, class, x1, y1, x2, y2)."""
    rng = np.random.default_rng([seed, step])
    aw, ah = ASPECTS[rng.integers(len(ASPECTS))]
    shape = input_shape(aw, ah, imgsz)
    imgs, targets = [], []
    for i in range(batch):
        short = math.exp(rng.uniform(math.log(240), math.log(1080)))
        w, h = (round(short * aw / ah), round(short)) if aw >= ah else (round(short), round(short * ah / aw))
        img, labels = synth.render(rng, w, h)
        x, g = ref_letterbox.letterbox(img, shape, auto=False)  # same aspect: as rect mode, to a pixel
        imgs.append(x)
        r, left, top = g["r"], g["pad_left"], g["pad_top"]
        for c, x1, y1, x2, y2 in labels:
            targets.append((i, c, x1 * r + left, y1 * r + top, x2 * r + left, y2 * r + top))
    return np.stack(imgs), np.array(targets, np.float32).reshape(-1, 6)


# ---------------------------------------------------------------- loss

def ciou(a, b, eps=1e-7):
    """Complete IoU of xyxy boxes (broadcasting over leading dims)."""
    ax1, ay1, ax2, ay2 = a.unbind(-1)
    bx1, by1, bx2, by2 = b.unbind(-1)
    aw, ah = ax2 - ax1, ay2 - ay1 + eps
    bw, bh = bx2 - bx1, by2 - by1 + eps
    inter = (torch.min(ax2, bx2) - torch.max(ax1, bx1)).clamp(0) * (torch.min(ay2, by2) - torch.max(ay1, by1)).clamp(0)
    iou = inter / (aw * ah + bw * bh - inter + eps)
    cw = torch.max(ax2, bx2) - torch.min(ax1, bx1)
    ch = torch.max(ay2, by2) - torch.min(ay1, by1)
    diag2 = cw ** 2 + ch ** 2 + eps
    centre2 = ((bx1 + bx2 - ax1 - ax2) ** 2 + (by1 + by2 - ay1 - ay2) ** 2) / 4
    v = (4 / math.pi ** 2) * (torch.atan(bw / bh) - torch.atan(aw / ah)) ** 2
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (centre2 / diag2 + v * alpha)


def anchor_grid(feats, strides):
    """Anchor centres in grid units [A, 2] and their strides [A, 1], level by level, row-major."""
    pts, st = [], []
    for f, s in zip(feats, strides):
        h, w = f.shape[2:]
        ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
        pts.append(torch.stack((xs, ys), -1).view(-1, 2))
        st.append(torch.full((h * w, 1), float(s)))
    return torch.cat(pts), torch.cat(st)


@torch.no_grad()
def assign(scores, boxes, anchors, gt_cls, gt_box, gt_mask, topk=10, alpha=0.5, beta=6.0, eps=1e-9):
    """Task-aligned assignment.

    scores [B, A, nc] (sigmoid), boxes [B, A, 4] and anchors [A, 2] in pixels; gt_cls [B, M],
    gt_box [B, M, 4], gt_mask [B, M]. Returns target classes [B, A], boxes [B, A, 4], soft
    scores [B, A, nc] and the foreground mask [B, A].
    """
    B, A, nc = scores.shape
    M = gt_cls.shape[1]
    if M == 0:
        return (torch.zeros(B, A, dtype=torch.long), torch.zeros(B, A, 4), torch.zeros(B, A, nc),
                torch.zeros(B, A, dtype=torch.bool))
    # anchor centres strictly inside a (real) gt box
    d = torch.cat((anchors[None, None] - gt_box[:, :, None, :2], gt_box[:, :, None, 2:] - anchors[None, None]), -1)
    inside = (d.amin(-1) > eps) & gt_mask[:, :, None]                              # [B, M, A]
    iou = ciou(gt_box[:, :, None], boxes[:, None]).clamp(0) * inside               # [B, M, A]
    cls_score = scores.permute(0, 2, 1).gather(1, gt_cls[:, :, None].expand(-1, -1, A))
    align = cls_score.pow(alpha) * iou.pow(beta) * inside
    # top-k anchors per gt by alignment, kept only inside the gt
    top = align.topk(min(topk, A), dim=-1).indices
    pos = torch.zeros_like(inside).scatter_(-1, top, True) & inside
    # an anchor claimed by several gts goes to the one it overlaps most
    multi = pos.sum(1, keepdim=True) > 1
    best = F.one_hot(iou.argmax(1), M).permute(0, 2, 1).bool()
    pos = torch.where(multi, best, pos)
    fg = pos.any(1)
    gt_idx = pos.float().argmax(1)                                                   # [B, A]
    t_cls = gt_cls.gather(1, gt_idx)
    t_box = gt_box.gather(1, gt_idx[..., None].expand(-1, -1, 4))
    # soft targets: alignment normalised per gt so its best anchor scores its best IoU
    align = align * pos
    norm = (align * (iou * pos).amax(-1, keepdim=True) / (align.amax(-1, keepdim=True) + eps)).amax(1)
    t_scores = F.one_hot(t_cls, nc).float() * (norm * fg)[..., None]
    return t_cls, t_box, t_scores, fg


def detection_loss(feats, targets, nc, strides):
    """feats: forward_raw output; targets [n, 6] (image, class, x1, y1, x2, y2) in input pixels.

    Returns (total, (box, cls, dfl)) with the gains applied; total is what is back-propagated.
    """
    B = feats[0].shape[0]
    pred = torch.cat([f.flatten(2) for f in feats], 2).permute(0, 2, 1)                # [B, A, 64+nc]
    dist, logits = pred.split((4 * REG_MAX, nc), -1)
    anchors, stride = anchor_grid(feats, strides)
    bins = torch.arange(REG_MAX, dtype=pred.dtype)
    ltrb = dist.view(B, -1, 4, REG_MAX).softmax(-1) @ bins                           # grid units
    boxes = torch.cat((anchors - ltrb[..., :2], anchors + ltrb[..., 2:]), -1)

    img = targets[:, 0].long()
    M = int(torch.bincount(img, minlength=B).max()) if len(targets) else 0
    gt_cls = torch.zeros(B, M, dtype=torch.long)
    gt_box = torch.zeros(B, M, 4)
    gt_mask = torch.zeros(B, M, dtype=torch.bool)
    for b in range(B):
        t = targets[img == b]
        gt_cls[b, :len(t)], gt_box[b, :len(t)], gt_mask[b, :len(t)] = t[:, 1].long(), t[:, 2:], True

    _, t_box, t_scores, fg = assign(logits.detach().sigmoid(), boxes.detach() * stride, anchors * stride,
                                    gt_cls, gt_box, gt_mask)
    score_sum = t_scores.sum().clamp(min=1)
    loss_cls = F.binary_cross_entropy_with_logits(logits, t_scores, reduction="sum") / score_sum
    loss_box = loss_dfl = pred.new_zeros(())
    if fg.any():
        # Box and DFL terms weigh every assigned anchor alike (ultralytics weighs them by the
        # soft class target): with the target weighting, small objects start with IoUs near 0,
        # their targets and so their box gradients vanish, and training stalls in that state.
        n_fg = fg.sum()
        t_grid = t_box / stride                                                       # [B, A, 4]
        loss_box = (1 - ciou(boxes[fg], t_grid[fg])).sum() / n_fg
        anc = anchors.expand(B, -1, -1)[fg]
        t_ltrb = torch.cat((anc - t_grid[fg][:, :2], t_grid[fg][:, 2:] - anc), -1).clamp(0, REG_MAX - 1.01)
        lo = t_ltrb.long()
        w_hi = t_ltrb - lo
        logit_bins = dist[fg].reshape(-1, REG_MAX)
        ce = lambda k: F.cross_entropy(logit_bins, k.reshape(-1), reduction="none").view(lo.shape)
        loss_dfl = (ce(lo) * (1 - w_hi) + ce(lo + 1) * w_hi).mean(-1).sum() / n_fg
    parts = (GAIN_BOX * loss_box, GAIN_CLS * loss_cls, GAIN_DFL * loss_dfl)
    return sum(parts), tuple(float(p) for p in parts)


# ---------------------------------------------------------------- model, EMA, checkpoints

def new_model(nc, imgsz):
    model = build_model("m0_9", "n", nc)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 0.03
    # ultralytics' Detect bias prior: boxes start near 1 bin, ~5 objects per image at imgsz
    det = model.model[15]
    for s, box, cls in zip(model.strides, det.cv2, det.cv3):
        box[-1].bias.data[:] = 1.0
        cls[-1].bias.data[:] = math.log(5 / nc / (imgsz / s) ** 2)
    return model


class EMA:
    """Exponential moving average of all float state (weights and BN statistics)."""

    def __init__(self, model, decay, tau):
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, 0
        self.fixed = {n for n, p in model.named_parameters() if not p.requires_grad}

    @torch.no_grad()
    def update(self, model):
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        msd = model.state_dict()
        for k, v in self.model.state_dict().items():
            if v.dtype.is_floating_point and k not in self.fixed:
                v.mul_(d).add_(msd[k].detach(), alpha=1 - d)
        self.copy_fixed(model)

    @torch.no_grad()
    def copy_fixed(self, model):
        """Constants such as the DFL bins are copied, never averaged (that would round them)."""
        msd, esd = model.state_dict(), self.model.state_dict()
        for k in self.fixed:
            esd[k].copy_(msd[k])


def lr_at(step, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    t = (step - args.warmup) / max(1, args.iters - args.warmup)
    return args.lr * (args.lr_final + (1 - args.lr_final) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def param_groups(model, wd):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)   # no decay on BN and biases
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


def save_atomic(obj, path):
    torch.save(obj, path + ".tmp")
    os.replace(path + ".tmp", path)


def plain_state_dict(model):
    return {k: v.detach().clone().float() for k, v in model.state_dict().items()
            if not k.endswith("num_batches_tracked")}


# ---------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder (checkpoint, EMA weights, log)")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/last.ckpt")
    ap.add_argument("--iters", type=int, help="total steps (default 1500; on --resume, the checkpoint's)")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--init", help="start from these weights (a state dict such as an earlier ema.pt)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--lr-final", type=float, default=0.05, help="final lr as a fraction of --lr")
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--ema-decay", type=float, default=0.995)
    ap.add_argument("--ema-tau", type=float, default=200)
    ap.add_argument("--ckpt-minutes", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, "last.ckpt")
    nc = len(synth.CLASSES)

    if args.resume:
        ck = torch.load(ckpt_path)
        args = argparse.Namespace(**{**ck["args"], "iters": args.iters or ck["args"]["iters"],
                                     "out": args.out, "threads": args.threads, "resume": True})
        torch.set_rng_state(ck["torch_rng"])
    else:
        args.iters = args.iters or 1500
        torch.manual_seed(args.seed)
    model = new_model(nc, args.imgsz).train()
    if args.init and not args.resume:
        missing, unexpected = model.load_state_dict(torch.load(args.init), strict=False)
        if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
            sys.exit(f"{args.init}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    opt = torch.optim.AdamW(param_groups(model, args.wd), lr=args.lr, betas=(0.9, 0.999))
    ema = EMA(model, args.ema_decay, args.ema_tau)
    step = 0
    if args.resume:
        model.load_state_dict(ck["model"])
        ema.model.load_state_dict(ck["ema"])
        ema.updates = ck["ema_updates"]
        ema.copy_fixed(model)
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        print(f"resumed at step {step} of {args.iters}", flush=True)
    print("args:", vars(args), flush=True)

    def checkpoint():
        save_atomic({"model": model.state_dict(), "ema": ema.model.state_dict(), "ema_updates": ema.updates,
                     "opt": opt.state_dict(), "step": step, "args": vars(args),
                     "torch_rng": torch.get_rng_state()}, ckpt_path)
        save_atomic(plain_state_dict(ema.model), os.path.join(args.out, "ema.pt"))

    # one worker renders the next batches while the main process trains
    pool = mp.get_context("fork").Pool(1)
    pending = {}

    def prefetch(k):
        if k < args.iters and k not in pending:
            pending[k] = pool.apply_async(make_batch, (args.seed, k, args.batch, args.imgsz))

    t_start = t_ckpt = time.time()
    t_log, run = time.time(), np.zeros(3)
    n_log = 0
    for k in range(step, step + 2):
        prefetch(k)
    while step < args.iters:
        imgs, targets = pending.pop(step).get()
        prefetch(step + 2)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args)
        x = torch.from_numpy(imgs)
        loss, parts = detection_loss(model.forward_raw(x), torch.from_numpy(targets), nc, model.strides)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        ema.update(model)
        step += 1
        run += parts
        n_log += 1
        if step % 10 == 0 or step == args.iters:
            dt = (time.time() - t_log) / n_log
            box, cls, dfl = run / n_log
            print(f"step {step}/{args.iters} lr {lr_at(step - 1, args):.2e} box {box:.4f} cls {cls:.4f} "
                  f"dfl {dfl:.4f} input {x.shape[2]}x{x.shape[3]} {dt:.2f}s/step "
                  f"elapsed {(time.time() - t_start) / 60:.1f}min eta {dt * (args.iters - step) / 60:.1f}min",
                  flush=True)
            t_log, run, n_log = time.time(), np.zeros(3), 0
        if time.time() - t_ckpt > args.ckpt_minutes * 60:
            checkpoint()
            t_ckpt = time.time()
    pool.terminate()
    checkpoint()
    print(f"done: {step} steps, {(time.time() - t_start) / 60:.1f} min this run; "
          f"EMA weights in {os.path.join(args.out, 'ema.pt')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
