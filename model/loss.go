package model

import (
	"errors"
	"fmt"
	"sort"

	"github.com/videossr/videossr-go/model/onnx"
)

// Loss aggregation modes (verl's loss_agg_mode).
const (
	AggTokenMean        = "token-mean"
	AggSeqMeanTokenSum  = "seq-mean-token-sum"
	AggSeqMeanTokenMean = "seq-mean-token-mean"
)

// KL estimators of the KL penalty to the reference policy (x = logp - logp_ref).
const (
	KLNone = "none"
	KLK1   = "k1"  // x
	KLAbs  = "abs" // |x|
	KLK2   = "k2"  // x^2 / 2
	KLK3   = "k3"  // exp(-x) + x - 1, verl's low_var_kl, clamped to [-10, 10]
)

// LossConfig selects the loss the training graph computes.
type LossConfig struct {
	Mode        string  // "grpo" (PPO clipped surrogate + KL) or "sft" (masked NLL)
	ClipLow     float64 // ratio clip below 1 (verl clip_ratio_low, 0.2)
	ClipHigh    float64 // ratio clip above 1 (verl clip_ratio_high, 0.2)
	ClipC       float64 // dual-clip bound for negative advantages (verl clip_ratio_c, 3.0); 0 disables
	KLType      string  // none, k1, abs, k2, k3
	KLCoef      float64 // coefficient of the KL loss (paper: 1e-3, k3)
	EntropyCoef float64 // entropy bonus coefficient (paper: 0)
	Agg         string  // loss aggregation mode
	Temperature float64 // logits are divided by it before log-softmax (rollout temperature)
	// Recompute turns on activation recomputation (gradient checkpointing)
	// in the training graph: the activations inside each vision block and
	// decoder layer are recomputed in the backward pass from the block's
	// input instead of being kept from the forward pass (less memory, about
	// one more forward pass of compute). Gradients are unchanged.
	Recompute bool
}

// DefaultGRPOLoss returns the loss the paper ran (grpo-math.md section 8).
func DefaultGRPOLoss() LossConfig {
	return LossConfig{Mode: "grpo", ClipLow: 0.2, ClipHigh: 0.2, ClipC: 3, KLType: KLK3, KLCoef: 1e-3, Agg: AggTokenMean, Temperature: 1}
}

// SFTLoss returns the supervised warm-up loss: token-mean NLL of the response.
func SFTLoss() LossConfig {
	return LossConfig{Mode: "sft", KLType: KLNone, Agg: AggTokenMean, Temperature: 1}
}

// ErrBadLoss is wrapped by loss configuration errors.
var ErrBadLoss = errors.New("invalid loss config")

// Validate checks the loss configuration.
func (l LossConfig) Validate() error {
	switch l.Mode {
	case "grpo", "sft":
	default:
		return fmt.Errorf("%w: mode %q (want grpo or sft)", ErrBadLoss, l.Mode)
	}
	switch l.Agg {
	case AggTokenMean, AggSeqMeanTokenSum, AggSeqMeanTokenMean:
	default:
		return fmt.Errorf("%w: aggregation %q (want %s, %s or %s)", ErrBadLoss, l.Agg, AggTokenMean, AggSeqMeanTokenSum, AggSeqMeanTokenMean)
	}
	switch l.KLType {
	case KLNone, KLK1, KLAbs, KLK2, KLK3:
	default:
		return fmt.Errorf("%w: kl type %q (want none, k1, abs, k2 or k3)", ErrBadLoss, l.KLType)
	}
	if l.Temperature <= 0 {
		return fmt.Errorf("%w: temperature %g must be positive", ErrBadLoss, l.Temperature)
	}
	if l.Mode == "grpo" {
		if l.ClipLow < 0 || l.ClipLow >= 1 || l.ClipHigh < 0 {
			return fmt.Errorf("%w: clip range [%g, %g]", ErrBadLoss, l.ClipLow, l.ClipHigh)
		}
		if l.ClipC != 0 && l.ClipC <= 1 {
			return fmt.Errorf("%w: dual clip bound %g must be > 1 (or 0 to disable)", ErrBadLoss, l.ClipC)
		}
	}
	return nil
}

type lossOutputs struct{ values map[string]*onnx.Value }

func (o lossOutputs) names() []string {
	n := make([]string, 0, len(o.values))
	for k := range o.values {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// aggregate reduces a per-token loss [B,R] with mask [B,R] to shape [1].
func aggregate(g *onnx.Graph, mode string, l, mask *onnx.Value) *onnx.Value {
	lm := g.Mul(l, mask)
	eps := g.Scalar(1e-8)
	var r *onnx.Value
	switch mode {
	case AggSeqMeanTokenSum:
		r = g.ReduceMean(g.ReduceSum(lm, []int64{1}, false), nil, false)
	case AggSeqMeanTokenMean:
		per := g.Div(g.ReduceSum(lm, []int64{1}, false), g.Add(g.ReduceSum(mask, []int64{1}, false), eps))
		r = g.ReduceMean(per, nil, false)
	default: // token-mean
		r = g.Div(g.ReduceSum(lm, nil, false), g.Add(g.ReduceSum(mask, nil, false), eps))
	}
	return g.Reshape(r, []int64{1})
}

// klPenalty returns the per-token KL estimate for x = logp - ref.
func klPenalty(g *onnx.Graph, kind string, logp, ref *onnx.Value) *onnx.Value {
	x := g.Sub(logp, ref)
	switch kind {
	case KLK1:
		return x
	case KLAbs:
		return g.Abs(x)
	case KLK2:
		return g.Mul(g.Mul(x, x), g.Scalar(0.5))
	default: // k3
		u := g.Clip(g.Neg(x), -20, 20)
		k := g.Sub(g.Sub(g.Exp(u), u), g.Scalar(1))
		return g.Clip(k, -10, 10)
	}
}

// lossGraph emits the loss of lc over response log-probs and entropies.
func lossGraph(g *onnx.Graph, lc LossConfig, logp, ent, mask *onnx.Value) lossOutputs {
	out := lossOutputs{values: map[string]*onnx.Value{}}
	out.values[OutLogProbs] = logp
	out.values[OutEntropy] = aggregate(g, AggTokenMean, ent, mask)
	if lc.Mode == "sft" {
		out.values[OutLoss] = aggregate(g, lc.Agg, g.Neg(logp), mask)
		return out
	}
	adv := g.Unsqueeze(g.Input(InAdvantages, g.Float(), []int64{-1}, "batch"), 1) // [B,1]
	old := g.Input(InOldLogProbs, g.Float(), []int64{-1, -1}, "batch", "response")
	d := g.Clip(g.Sub(logp, old), -20, 20)
	ratio := g.Exp(d)
	negA := g.Neg(adv)
	l1 := g.Mul(negA, ratio)
	l2 := g.Mul(negA, g.Clip(ratio, 1-lc.ClipLow, 1+lc.ClipHigh))
	l := g.Max(l1, l2)
	out.values[OutClipFrac] = aggregate(g, AggTokenMean, g.Cast(g.Greater(l2, l1), g.Float()), mask)
	if lc.ClipC > 0 {
		l3 := g.Min(l, g.Mul(negA, g.Scalar(lc.ClipC)))
		l = g.Where(g.Less(adv, g.Scalar(0)), l3, l)
	}
	out.values[OutApproxKL] = aggregate(g, AggTokenMean, g.Neg(d), mask)
	pg := aggregate(g, lc.Agg, l, mask)
	out.values[OutPGLoss] = pg
	loss := pg
	if lc.KLType != KLNone {
		ref := g.Input(InRefLogProbs, g.Float(), []int64{-1, -1}, "batch", "response")
		kl := aggregate(g, lc.Agg, klPenalty(g, lc.KLType, logp, ref), mask)
		out.values[OutKLLoss] = kl
		if lc.KLCoef != 0 {
			loss = g.Add(loss, g.Mul(kl, g.Scalar(lc.KLCoef)))
		}
	}
	if lc.EntropyCoef != 0 {
		loss = g.Sub(loss, g.Mul(aggregate(g, lc.Agg, ent, mask), g.Scalar(lc.EntropyCoef)))
	}
	out.values[OutLoss] = loss
	return out
}

// Inputs of the loss graph alone (BuildLoss): what the training graph's
// model part computes for the loss, per response token.
const (
	InTokenLogProbs = "token_log_probs" // [B,R] log-probs of the response tokens
	InTokenEntropy  = "token_entropy"   // [B,R] entropies of the next-token distributions
)

// BuildLoss emits the loss of lc alone: the part of the training graph
// after the model, as a graph from per-token log-probs (InTokenLogProbs),
// entropies (InTokenEntropy) and the response mask (InRespMask), plus for
// GRPO the advantages, old and (with a KL type) reference log-probs of
// the training graph, to the training graph's outputs: the loss, pg_loss,
// kl_loss, clip_frac, ppo_kl and entropy. The training graph runs these
// very ops; this graph lets a test hold them against a plain-Go reference
// of the GRPO loss on any batch.
func BuildLoss(lc LossConfig, float onnx.DType) (*Built, error) {
	if err := lc.Validate(); err != nil {
		return nil, err
	}
	g := onnx.NewGraph("loss_"+lc.Mode, float)
	logp := g.Input(InTokenLogProbs, float, []int64{-1, -1}, "batch", "response")
	ent := g.Input(InTokenEntropy, float, []int64{-1, -1}, "batch", "response")
	mask := g.Input(InRespMask, float, []int64{-1, -1}, "batch", "response")
	out := lossGraph(g, lc, logp, ent, mask)
	delete(out.values, OutLogProbs) // the input itself
	for _, name := range out.names() {
		g.Output(name, out.values[name])
	}
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("build loss graph: %w", err)
	}
	return &Built{Graph: g}, nil
}
