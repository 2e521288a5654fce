package grpo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/onnx"
	"github.com/videossr/videossr-go/model/ort"
)

// TestLossConfig: the one mapping of the configuration onto the training
// graph's loss (the trainer's and export's).
func TestLossConfig(t *testing.T) {
	cfg, err := configs.Load(nil, []string{"grpo.clip_high=0.28", "grpo.loss_agg=seq-mean-token-sum", "rollout.temperature=0.7", "model.recompute=true"})
	if err != nil {
		t.Fatal(err)
	}
	lc := LossConfig(cfg)
	if lc.Mode != "grpo" || lc.ClipHigh != 0.28 || lc.Agg != AggSeqMeanTokenSum || lc.Temperature != 0.7 || !lc.Recompute || lc.KLType != cfg.GRPO.KLType || lc.KLCoef != cfg.GRPO.KLCoef {
		t.Fatalf("loss %+v from grpo %+v", lc, cfg.GRPO)
	}
	cfg.GRPO.KLCoef, cfg.Rollout.Temperature = 0, 0
	lc = LossConfig(cfg)
	if lc.KLType != model.KLNone || lc.Temperature != 1 {
		t.Fatalf("kl_coef 0, temperature 0: kl type %q, temperature %v; want none, 1", lc.KLType, lc.Temperature)
	}
	if err := lc.Validate(); err != nil {
		t.Fatal(err)
	}
}

// lossBatch is a random batch for the loss: log-probs, old log-probs one
// update away (some ratios far outside the clip range), reference
// log-probs, entropies, advantages of both signs and a mask with padding
// (one row entirely masked).
type lossBatch struct {
	adv                     []float64
	logp, old, ref, ent, mk [][]float64
}

func randomLossBatch(seed uint64, B, R int) lossBatch {
	rng := rand.New(rand.NewPCG(seed, 3))
	var b lossBatch
	for i := range B {
		b.adv = append(b.adv, 2*rng.NormFloat64())
		var lp, old, ref, ent, mk []float64
		n := 1 + rng.IntN(R)
		if i == B-1 {
			n = 0
		}
		for t := range R {
			x := -3 * rng.Float64()
			lp = append(lp, x)
			old = append(old, x+1.5*rng.NormFloat64())
			ref = append(ref, x+rng.NormFloat64())
			ent = append(ent, 3*rng.Float64())
			mk = append(mk, float64(min(1, max(0, n-t))))
		}
		b.logp, b.old, b.ref, b.ent, b.mk = append(b.logp, lp), append(b.old, old), append(b.ref, ref), append(b.ent, ent), append(b.mk, mk)
	}
	b.adv[0] = -3 // a negative advantage large enough for the dual clip
	return b
}

func flat(rows [][]float64) []float64 {
	var out []float64
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

// runLossGraph runs model.BuildLoss(lc) on b through ONNX Runtime.
func runLossGraph(t *testing.T, rt *ort.Runtime, lc model.LossConfig, dt onnx.DType, b lossBatch) map[string]float64 {
	t.Helper()
	built, err := model.BuildLoss(lc, dt)
	if err != nil {
		t.Fatal(err)
	}
	m, err := built.Graph.Build(onnx.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := onnx.MarshalModel(m)
	if err != nil {
		t.Fatal(err)
	}
	s, err := rt.NewSession(raw, ort.Options{IntraOpThreads: 1, InterOpThreads: 1, DisableOptimizations: dt == onnx.Float64})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	B, R := int64(len(b.logp)), int64(len(b.logp[0]))
	feeds := map[string]ort.Tensor{
		model.InTokenLogProbs: model.FloatTensor(dt, []int64{B, R}, flat(b.logp)),
		model.InTokenEntropy:  model.FloatTensor(dt, []int64{B, R}, flat(b.ent)),
		model.InRespMask:      model.FloatTensor(dt, []int64{B, R}, flat(b.mk)),
		model.InAdvantages:    model.FloatTensor(dt, []int64{B}, b.adv),
		model.InOldLogProbs:   model.FloatTensor(dt, []int64{B, R}, flat(b.old)),
	}
	if lc.KLType != model.KLNone {
		feeds[model.InRefLogProbs] = model.FloatTensor(dt, []int64{B, R}, flat(b.ref))
	}
	out, err := s.Run(context.Background(), feeds, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for name, v := range out {
		switch d := v.Data.(type) {
		case []float64:
			got[name] = d[0]
		case []float32:
			got[name] = float64(d[0])
		default:
			t.Fatalf("%s: %T", name, v.Data)
		}
	}
	return got
}

// TestONNXLossMatchesGoReference: the loss the training graph runs (ONNX
// ops, model.BuildLoss) equals the plain-Go GRPO loss (Loss: PolicyLoss,
// KLEstimate, AggregateLoss) within 1e-6 on a random batch, for every KL
// estimator, every aggregation mode, with and without the dual clip, with
// an entropy bonus; the float32 graph agrees to float32 precision.
func TestONNXLossMatchesGoReference(t *testing.T) {
	rt, err := ort.Open("")
	if errors.Is(err, ort.ErrNoLibrary) || errors.Is(err, ort.ErrNoCgo) {
		t.Skipf("ONNX Runtime not installed (run bash scripts/setup.sh): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	b := randomLossBatch(7, 4, 6)
	var clipped, dual bool
	for i := range b.logp {
		for k := range b.logp[i] {
			if b.mk[i][k] == 0 {
				continue
			}
			l, c := PolicyLoss(b.adv[i], b.logp[i][k], b.old[i][k], 0.2, 0.28, 3)
			clipped = clipped || c
			free, _ := PolicyLoss(b.adv[i], b.logp[i][k], b.old[i][k], 0.2, 0.28, 0)
			dual = dual || l != free
		}
	}
	if !clipped || !dual {
		t.Fatalf("the batch exercises clipping %v, the dual clip %v: want both", clipped, dual)
	}
	for _, kl := range []string{model.KLNone, KLK1, KLAbs, KLK2, KLK3} {
		for _, agg := range []string{AggTokenMean, AggSeqMeanTokenSum, AggSeqMeanTokenMean} {
			for _, clipC := range []float64{3, 0} {
				lc := model.DefaultGRPOLoss()
				lc.ClipHigh, lc.KLType, lc.Agg, lc.ClipC, lc.EntropyCoef = 0.28, kl, agg, clipC, 0.01
				name := fmt.Sprintf("%s/%s/clip_c=%v", kl, agg, clipC)
				want, err := Loss(lc, b.adv, b.logp, b.old, b.ref, b.ent, b.mk)
				if err != nil {
					t.Fatal(err)
				}
				terms := map[string]float64{model.OutLoss: want.Loss, model.OutPGLoss: want.PG, model.OutEntropy: want.Entropy,
					model.OutClipFrac: want.ClipFrac, model.OutApproxKL: want.ApproxKL}
				if kl != model.KLNone {
					terms[model.OutKLLoss] = want.KL
				}
				for _, dt := range []onnx.DType{onnx.Float64, onnx.Float32} {
					got := runLossGraph(t, rt, lc, dt, b)
					for out, w := range terms {
						g, ok := got[out]
						tol := 1e-6
						if dt == onnx.Float32 {
							tol = 1e-5 * max(1, math.Abs(w))
						}
						if !ok || math.Abs(g-w) > tol {
							t.Errorf("%s %v: %s = %v (present %v), Go reference %v", name, dt, out, g, ok, w)
						}
					}
				}
			}
		}
	}
}
