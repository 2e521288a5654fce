#!/usr/bin/env python3
"""PyTorch eager baseline for the tiny model's GRPO train step.

Not a product dependency: this script only measures what the Go/ONNX Runtime
train step is compared against (README). It re-implements the tiny Qwen2-VL
(vision tower, merger, M-RoPE decoder, tied LM head) and the GRPO loss
(clipped surrogate with dual clip, k3 KL, token-mean) in plain PyTorch,
loads the weights from our exported model.safetensors and the micro-batch
written by the Go test TestWriteTorchBenchBatch, checks that its loss,
log-probs and every gradient match the Go training graph, then times the
same step (forward + backward, no optimizer update) and the forward-only
log-prob pass.

  VIDEOSSR_TORCH_BATCH=/tmp/tb go test ./model -run TestWriteTorchBenchBatch
  python3 scripts/bench_torch.py /tmp/tb --threads 2
  VIDEOSSR_BENCH_THREADS=2 go test ./model -run XXX -bench 'GRPOTrainStep|LogProb' -count 5

Debian: apt-get install python3-torch. Debian's torch links the reference
BLAS by default; for a fair comparison point it at OpenBLAS, e.g.
LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread (package
libopenblas0-pthread). The script prints the BLAS library it runs with.
"""

import argparse
import json
import math
import os
import statistics
import struct
import sys
import time

import numpy as np

# torch is imported in main(), after the thread settings are in the
# environment (OpenMP and OpenBLAS read them when they load).
torch = None
F = None

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "F16": np.float16}


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        arr = np.frombuffer(raw, dtype=DTYPES[info["dtype"]], count=(b - a) // np.dtype(DTYPES[info["dtype"]]).itemsize,
                            offset=base + a).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out, meta


def blas_library():
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() and line.split()[-1].startswith("/")}
        return ", ".join(sorted(libs)) or "none mapped"
    except OSError:
        return "unknown"


class Tiny:
    """The Qwen2-VL computation of model/arch.go, in eager PyTorch."""

    def __init__(self, cfg, weights):
        self.c = cfg
        self.v = cfg["vision_config"]
        self.w = {k: t.clone().requires_grad_(True) for k, t in weights.items()}

    def linear(self, x, prefix, bias=True):
        y = x @ self.w[prefix + ".weight"].t()
        return y + self.w[prefix + ".bias"] if bias else y

    def layer_norm(self, x, prefix):
        return F.layer_norm(x, x.shape[-1:], self.w[prefix + ".weight"], self.w[prefix + ".bias"], 1e-6)

    def rms_norm(self, x, name):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.c["rms_norm_eps"]) * self.w[name]

    @staticmethod
    def rope(x, cos, sin):
        h = x.shape[-1] // 2
        rot = torch.cat((-x[..., h:], x[..., :h]), dim=-1)
        return x * cos + rot * sin

    def vision(self, patches, cos, sin):
        v = self.v
        D, heads = v["embed_dim"], v["num_heads"]
        hd = D // heads
        T, S, _ = patches.shape
        x = patches @ self.w["visual.patch_embed.proj.weight"].reshape(D, -1).t()
        for i in range(v["depth"]):
            p = "visual.blocks.%d." % i
            h = self.layer_norm(x, p + "norm1")
            qkv = self.linear(h, p + "attn.qkv").reshape(T, S, 3, heads, hd).permute(2, 0, 3, 1, 4)
            q, k, val = self.rope(qkv[0], cos, sin), self.rope(qkv[1], cos, sin), qkv[2]
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), -1) @ val
            x = x + self.linear(att.transpose(1, 2).reshape(T, S, D), p + "attn.proj")
            h = self.linear(self.layer_norm(x, p + "norm2"), p + "mlp.fc1")
            h = h * torch.sigmoid(1.702 * h) if v["hidden_act"] == "quick_gelu" else F.gelu(h)
            x = x + self.linear(h, p + "mlp.fc2")
        m = v["spatial_merge_size"] ** 2
        h = self.layer_norm(x, "visual.merger.ln_q").reshape(-1, D * m)
        return self.linear(F.gelu(self.linear(h, "visual.merger.mlp.0")), "visual.merger.mlp.2")

    def mrope(self, pos):
        hd = self.c["hidden_size"] // self.c["num_attention_heads"]
        inv = 1.0 / self.c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
        freqs = pos.to(torch.float32)[..., None] * inv.to(torch.float32)  # [3,B,L,half]
        chunks, start = [], 0
        for axis, s in enumerate(self.c["rope_scaling"]["mrope_section"]):
            chunks.append(freqs[axis, ..., start:start + s])
            start += s
        f = torch.cat(chunks, -1)
        f = torch.cat((f, f), -1)[:, None]  # [B,1,L,hd]
        return f.cos(), f.sin()

    def log_probs(self, b, vis):
        c = self.c
        H, heads, kvh = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
        hd = H // heads
        ids = b["input_ids"]
        B, L = ids.shape
        e = self.w["model.embed_tokens.weight"][ids]
        x = e + (vis[b["vision_index"]] - e) * b["vision_mask"][..., None]
        cos, sin = self.mrope(b["position_ids"])
        bias = b["attention_bias"][:, :, None]  # [B,1,1,L,L]
        for i in range(c["num_hidden_layers"]):
            p = "model.layers.%d." % i
            h = self.rms_norm(x, p + "input_layernorm.weight")
            q = self.linear(h, p + "self_attn.q_proj").reshape(B, L, heads, hd).transpose(1, 2)
            k = self.linear(h, p + "self_attn.k_proj").reshape(B, L, kvh, hd).transpose(1, 2)
            v = self.linear(h, p + "self_attn.v_proj").reshape(B, L, kvh, hd).transpose(1, 2)
            q, k = self.rope(q, cos, sin), self.rope(k, cos, sin)
            q5 = q.reshape(B, kvh, heads // kvh, L, hd)
            s = q5 @ k[:, :, None].transpose(-1, -2) / math.sqrt(hd) + bias
            att = (torch.softmax(s, -1) @ v[:, :, None]).reshape(B, heads, L, hd)
            x = x + self.linear(att.transpose(1, 2).reshape(B, L, H), p + "self_attn.o_proj", False)
            h = self.rms_norm(x, p + "post_attention_layernorm.weight")
            x = x + self.linear(F.silu(self.linear(h, p + "mlp.gate_proj", False)) * self.linear(h, p + "mlp.up_proj", False),
                                p + "mlp.down_proj", False)
        h = self.rms_norm(x, "model.norm.weight").reshape(B * L, H)
        logits = h[b["response_index"]] @ self.w["model.embed_tokens.weight"].t()  # [B,R,V] (tied head)
        lsm = torch.log_softmax(logits, -1)
        logp = lsm.gather(-1, b["response_tokens"][..., None])[..., 0]
        ent = -(lsm.exp() * lsm).sum(-1)
        return logp, ent

    def grpo_loss(self, b, clip_low, clip_high, clip_c, kl_coef):
        vis = self.vision(b["pixel_patches"], b["vision_cos"], b["vision_sin"])
        logp, _ = self.log_probs(b, vis)
        mask = b["response_mask"]
        agg = lambda t: (t * mask).sum() / (mask.sum() + 1e-8)
        adv = b["advantages"][:, None]
        ratio = torch.clamp(logp - b["old_log_probs"], -20, 20).exp()
        l1, l2 = -adv * ratio, -adv * torch.clamp(ratio, 1 - clip_low, 1 + clip_high)
        l = torch.maximum(l1, l2)
        l = torch.where(adv < 0, torch.minimum(l, -adv * clip_c), l)
        u = torch.clamp(b["ref_log_probs"] - logp, -20, 20)
        kl = torch.clamp(u.exp() - u - 1, -10, 10)
        pg, klv = agg(l), agg(kl)
        return pg + kl_coef * klv, pg, klv, logp


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="folder written by TestWriteTorchBenchBatch (config.json, model.safetensors, batch.safetensors)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    a = ap.parse_args()
    # One BLAS thread pool per OpenMP thread pool, both sized to --threads;
    # passive OpenMP waits keep the two from spinning against each other
    # (without it OpenBLAS calls run several times slower on 2 cores).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(a.threads))
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    global torch, F
    import torch as _torch
    import torch.nn.functional as _F
    torch, F = _torch, _F
    torch.set_num_threads(a.threads)
    with open(os.path.join(a.dir, "config.json")) as f:
        cfg = json.load(f)
    weights, _ = load_safetensors(os.path.join(a.dir, "model.safetensors"))
    batch, meta = load_safetensors(os.path.join(a.dir, "batch.safetensors"))
    m = Tiny(cfg, weights)
    hp = dict(clip_low=float(meta["clip_low"]), clip_high=float(meta["clip_high"]), clip_c=float(meta["clip_c"]), kl_coef=float(meta["kl_coef"]))
    tokens = int(meta["tokens"])

    # Parity with the Go training graph.
    loss, pg, kl, logp = m.grpo_loss(batch, **hp)
    loss.backward()
    mask = batch["response_mask"] > 0
    lp_diff = (logp.detach() - batch["expected.log_probs"])[mask].abs().max().item()
    loss_diff = abs(loss.item() - batch["expected.loss"].item())
    worst = 0.0
    for name, w in m.w.items():
        g = batch["expected.grad." + name]
        scale = max(g.abs().max().item(), 1e-6)
        worst = max(worst, (w.grad - g).abs().max().item() / scale)
    print("parity with the Go training graph: loss %.6f (diff %.2e), log-prob max diff %.2e, worst gradient rel diff %.2e"
          % (loss.item(), loss_diff, lp_diff, worst))
    ok = loss_diff < 1e-4 * max(1, abs(loss.item())) and lp_diff < 1e-3 and worst < 1e-2
    if not ok:
        print("MISMATCH: the PyTorch model does not compute what the Go graph computes", file=sys.stderr)
        sys.exit(1)

    def step():
        for w in m.w.values():
            w.grad = None
        l, _, _, _ = m.grpo_loss(batch, **hp)
        l.backward()

    with torch.no_grad():
        vis = m.vision(batch["pixel_patches"], batch["vision_cos"], batch["vision_sin"])

    def forward():
        with torch.no_grad():
            m.log_probs(batch, vis)

    def timeit(fn):
        for _ in range(a.warmup):
            fn()
        ts = []
        for _ in range(a.iters):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts), min(ts)

    t_step, m_step = timeit(step)
    t_fwd, m_fwd = timeit(forward)
    print("torch %s, %d threads (OPENBLAS_NUM_THREADS=%s, OMP_WAIT_POLICY=%s), BLAS: %s" % (
        torch.__version__, a.threads, os.environ["OPENBLAS_NUM_THREADS"], os.environ["OMP_WAIT_POLICY"], blas_library()))
    print("GRPO train step (fwd+bwd): %.1f ms median, %.1f ms min of %d (%.0f tokens/s at the median)"
          % (t_step * 1e3, m_step * 1e3, a.iters, tokens / t_step))
    print("log-prob forward (no grad): %.1f ms median, %.1f ms min of %d (%.0f tokens/s at the median)"
          % (t_fwd * 1e3, m_fwd * 1e3, a.iters, tokens / t_fwd))


if __name__ == "__main__":
    main()
