#!/usr/bin/env python3
"""Runs the reference VideoSSR pretext generators over videos, to be timed
as a whole process against `trainer gen` (see scripts/bench-datagen.sh).

The reference code (github.com/lcqysl/VideoSSR, pretext_tasks/) is imported
from a checkout given with --ref, not copied. Its frame sampler needs decord,
which Debian does not package, so the 48 frames are sampled here with cv2 at
the reference's indices (int(n*0.05) + i*((int(n*0.95)-int(n*0.05))//48))
and written as JPEG files as its sampler does (cv2.imwrite). --max-pixels
resizes them into a pixel budget first (aspect kept, INTER_AREA), 0 keeps
the full resolution the reference stores. Then --per-task samples of each
task are made with the reference's own process_fn; the grounding samples
cycle through the four training perturbations (channel swap, rotate 180,
zoom out, mirror) and the perturbed files of the previous sample are
removed first (the reference skips a perturbed file that already exists).
Rows are written as JSON lines (the reference writes Parquet through HF
datasets, which is not installed here).

Needs: python3, python3-opencv, python3-pil, python3-numpy (Debian).
"""
import argparse
import glob
import importlib.util
import json
import math
import os
import random
import sys
import types

import cv2


def load(ref, name):
    sys.modules.setdefault("datasets", types.ModuleType("datasets"))
    spec = importlib.util.spec_from_file_location("ref_" + name, os.path.join(ref, "pretext_tasks", name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def sample(video, out_dir, n, max_pixels, total=None):
    """Writes the reference's 48 frames; returns the sampling fps. When the
    container promises more frames than decode (tree.avi), the frames are
    counted by decoding and the indices planned over those."""
    cap = cv2.VideoCapture(video)
    fps = cap.get(cv2.CAP_PROP_FPS)
    if total is None:
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    start, end = int(total * 0.05), int(total * 0.95)
    if end - start < n:
        sys.exit(f"{video}: too short")
    step = (end - start) // n
    want = [start + i * step for i in range(n)]
    os.makedirs(out_dir, exist_ok=True)
    k, pos = 0, 0
    while k < n:
        if not cap.grab():
            counted = pos
            while cap.grab():
                counted += 1
            if counted >= total:
                sys.exit(f"{video}: cannot decode frame {pos}")
            return sample(video, out_dir, n, max_pixels, counted)
        if pos == want[k]:
            ok, img = cap.retrieve()
            if not ok:
                sys.exit(f"{video}: cannot decode frame {pos}")
            h, w = img.shape[:2]
            if max_pixels and w * h > max_pixels:
                s = math.sqrt(max_pixels / (w * h))
                img = cv2.resize(img, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA)
            cv2.imwrite(os.path.join(out_dir, f"{k}.jpg"), img)
            k += 1
        pos += 1
    return n / (total / fps)


def one_video(a, video, vid):
    fps = {vid: sample(video, os.path.join(a.work, vid), 48, a.max_pixels)}
    rows = []
    tasks = a.tasks.split(",")
    if "grounding" in tasks:
        g = load(a.ref, "grounding")
        kinds = [("ChannelSwap", "channelswap"), ("Rotate180", "rotate180"), ("ZoomOut", "zoomout"), ("Mirror", "mirror")]
        for i in range(a.per_task):
            for p in glob.glob(os.path.join(a.work, vid, "*_*.jpg")):
                os.remove(p)
            kind, suffix = kinds[i % len(kinds)]
            g.FILENAME_SUFFIX = suffix
            out = g.make_map_fn("train", a.work, fps, kind, [vid])({"video": [vid]})
            rows += [dict(zip(out, r)) for r in zip(*out.values())]
    if "counting" in tasks:
        c = load(a.ref, "counting")
        fn = c.make_map_fn("train", a.work, fps)
        for _ in range(a.per_task):
            out = fn({"video": [vid]})
            rows += [dict(zip(out, r)) for r in zip(*out.values())]
    if "jigsaw" in tasks:
        j = load(a.ref, "jigsaw")
        out = j.make_map_fn("train", a.work, fps, a.per_task)({"video": [vid]})
        rows += [dict(zip(out, r)) for r in zip(*out.values())]
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", required=True, help="checkout of the reference repository")
    ap.add_argument("--video", required=True, nargs="+")
    ap.add_argument("--work", required=True, help="scratch folder (emptied)")
    ap.add_argument("--tasks", default="grounding,counting,jigsaw")
    ap.add_argument("--per-task", type=int, default=1)
    ap.add_argument("--max-pixels", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    random.seed(a.seed)
    for p in glob.glob(os.path.join(a.work, "*", "*.jpg")):
        os.remove(p)
    rows = []
    for n, video in enumerate(a.video):
        rows += one_video(a, video, f"v{n}")
    with open(os.path.join(a.work, "rows.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r, default=str) + "\n")
    print(len(rows), "rows", file=sys.stderr)


if __name__ == "__main__":
    main()
