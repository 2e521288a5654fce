package model

import (
	"context"
	"testing"

	"github.com/videossr/videossr-go/model/optim"
	"github.com/videossr/videossr-go/model/ort"
)

// BenchmarkDecodeStepPaths: one decode step of the benchmark batch over a
// cache of prompt + 64 slots, the host static-cache path (weights fed from
// the host store, cache in Go memory, bound) against the resident path
// (weights and cache in ONNX Runtime's memory, only tokens in and logits
// out). On CPU both read the same bytes; the difference is the per-step
// overhead of each path.
func BenchmarkDecodeStepPaths(b *testing.B) {
	c := benchConfig()
	const slots = 64
	b.Run("host", func(b *testing.B) {
		p := benchPolicy(b, c, GraphVision, GraphPrefill, GraphDecodeStatic)
		rows, emb, pb := benchPrompts(b, p)
		ctx := context.Background()
		_, cache, err := p.Prefill(ctx, pb, emb)
		if err != nil {
			b.Fatal(err)
		}
		idx := make([]int, len(rows))
		for i := range idx {
			idx[i] = i
		}
		buf := hostSlots(cache, idx, pb.L+slots)
		toks := make([]int64, len(rows))
		valid := make([][]bool, len(rows))
		for r := range toks {
			toks[r] = int64(rows[r].Response[0])
			v := make([]bool, pb.L+slots+1)
			copy(v, pb.Valid[r])
			v[len(v)-1] = true
			valid[r] = v
		}
		timedLoop(b, c, len(toks), func() error {
			_, _, err := p.DecodeStatic(ctx, toks, pb.Next, valid, buf)
			return err
		})
	})
	b.Run("resident", func(b *testing.B) {
		cpu := ort.CPUDevice()
		p := benchPolicyOn(b, c, &cpu, GraphVision, GraphPrefill)
		rows, emb, pb := benchPrompts(b, p)
		ctx := context.Background()
		_, pf, err := p.PrefillResident(ctx, pb, emb)
		if err != nil {
			b.Fatal(err)
		}
		idx := make([]int, len(rows))
		for i := range idx {
			idx[i] = i
		}
		dec, err := pf.Decoder(ctx, idx, slots)
		pf.Close()
		if err != nil {
			b.Fatal(err)
		}
		defer dec.Close()
		toks := make([]int64, len(rows))
		for r := range toks {
			toks[r] = int64(rows[r].Response[0])
		}
		timedLoop(b, c, len(toks), func() error {
			dec.slot = pb.L // rewrite the same slot: every step is the first one
			_, err := dec.Step(ctx, toks, pb.Next)
			return err
		})
	})
}

// BenchmarkGRPOUpdatePaths: one GRPO micro-batch and the AdamW update of
// every parameter, the host path (gradients to Go memory, optim.AdamW on
// the host) against the resident path (gradients, accumulation and AdamW
// on the device).
func BenchmarkGRPOUpdatePaths(b *testing.B) {
	c := benchConfig()
	cfg := optim.Config{LR: 1e-6, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, MaxGradNorm: 1}
	vb, rows := benchBatch(b, c)
	sb, err := c.NewSeqBatch(rows, vb.Videos, c.BosTokenID)
	if err != nil {
		b.Fatal(err)
	}
	in := benchStepInputs(sb)
	_, n := tokensOf(rows)
	ctx := context.Background()
	b.Run("host", func(b *testing.B) {
		p := benchPolicy(b, c, GraphGRPO)
		o, err := optim.New(cfg, p.Store)
		if err != nil {
			b.Fatal(err)
		}
		timedLoop(b, c, n, func() error {
			res, err := p.TrainStep(ctx, GraphGRPO, sb, vb, in)
			if err != nil {
				return err
			}
			_, err = o.Step(res.Grads)
			return err
		})
	})
	b.Run("resident", func(b *testing.B) {
		cpu := ort.CPUDevice()
		p := benchPolicyOn(b, c, &cpu, GraphGRPO)
		o, err := NewDeviceAdamW(p, cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer o.Close()
		timedLoop(b, c, n, func() error {
			if _, err := o.Micro(ctx, GraphGRPO, sb, vb, in, 1); err != nil {
				return err
			}
			_, err := o.Step(ctx)
			return err
		})
	})
}
