package optim

import (
	"fmt"

	"github.com/videossr/videossr-go/model/onnx"
)

// The device optimizer: where the parameters live on a device, the same
// update runs there as two ONNX graphs emitted here, whose outputs are
// bound to the very buffers of their inputs (each buffer is read only by
// nodes that precede the one writing its output, and every node that
// touches it is element-wise, so the in-place update is safe under any
// schedule ONNX Runtime picks):
//
//   - the accumulation graph adds w × a micro-batch's gradients into the
//     accumulators (reset: start a new sum), exactly as the host's
//     acc[i] += float32(w) * g[i];
//   - the step graph computes the global gradient norm (in float64), the
//     clip factor and the non-finite guard, and applies AdamW to every
//     trainable parameter and its moments with the scalars of
//     Config.Coefficients, operation by operation as AdamW.Step; with a
//     non-finite norm it writes the old values back (the step is skipped).

// Names of the device graphs' inputs and outputs. Per-parameter names are
// the prefix followed by the parameter name.
const (
	// Step graph.
	InCoef      = "adamw.coef" // float32 [7]: Decay, W1, Beta2, C2, BC2Sqrt, Eps, NegStepSize
	PrefixParam = "param."     // float32 [N] in, PrefixParamOut out
	PrefixM     = "exp_avg."
	PrefixV     = "exp_avg_sq."
	PrefixGrad  = "grad_acc." // float32 [N]: the accumulated gradient
	// OutGradNorm is the global L2 norm of the gradients, float64 [1].
	OutGradNorm    = "grad_norm"
	PrefixParamOut = "param_out."
	PrefixMOut     = "exp_avg_out."
	PrefixVOut     = "exp_avg_sq_out."
	// Accumulation graph.
	InAccumWeight   = "accum.weight" // float32 [1]
	InAccumReset    = "accum.reset"  // bool [1]: true starts a new sum
	PrefixMicroGrad = "micro_grad."  // float32 [N]: one micro-batch's gradient
	PrefixGradOut   = "grad_acc_out."
)

// GraphParam is one trainable parameter of the device graphs, flattened.
type GraphParam struct {
	Name string
	// Size is the number of elements.
	Size int64
	// Decay applies weight decay (the parameter matches no NoDecay pattern).
	Decay bool
}

// GraphParams lists the optimizer's parameters for the device graphs, in
// Trainable order.
func (o *AdamW) GraphParams() []GraphParam {
	out := make([]GraphParam, len(o.slots))
	for i, s := range o.slots {
		out[i] = GraphParam{Name: s.p.Name, Size: int64(len(s.p.Data)), Decay: s.decay}
	}
	return out
}

// CoefVector is the step graph's InCoef input for coefficients k.
func CoefVector(k Coefficients) []float32 {
	return []float32{k.Decay, k.W1, k.Beta2, k.C2, k.BC2Sqrt, k.Eps, k.NegStepSize}
}

func checkParams(ps []GraphParam) error {
	if len(ps) == 0 {
		return fmt.Errorf("optim: device graph without parameters")
	}
	seen := map[string]bool{}
	for _, p := range ps {
		if p.Size < 1 || seen[p.Name] {
			return fmt.Errorf("optim: device graph parameter %q: size %d or repeated", p.Name, p.Size)
		}
		seen[p.Name] = true
	}
	return nil
}

// BuildStepGraph emits the device AdamW step of cfg over ps (see the
// package comment of this file).
func BuildStepGraph(cfg Config, ps []GraphParam) (*onnx.Graph, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkParams(ps); err != nil {
		return nil, err
	}
	// Float64 graph: its constants (clip threshold, 1e-6) are float64 like
	// the host's; the parameters and moments are float32 inputs.
	g := onnx.NewGraph("adamw_step", onnx.Float64)
	coef := g.Input(InCoef, onnx.Float32, []int64{7}, "")
	c := func(k int64) *onnx.Value { return g.Slice(coef, []int64{k}, []int64{k + 1}, []int64{0}, nil) }
	type io struct{ p, m, v, gr *onnx.Value }
	ins := make([]io, len(ps))
	var sumsq *onnx.Value
	for i, p := range ps {
		n := []int64{p.Size}
		ins[i] = io{
			p:  g.Input(PrefixParam+p.Name, onnx.Float32, n, ""),
			m:  g.Input(PrefixM+p.Name, onnx.Float32, n, ""),
			v:  g.Input(PrefixV+p.Name, onnx.Float32, n, ""),
			gr: g.Input(PrefixGrad+p.Name, onnx.Float32, n, ""),
		}
		gd := g.Cast(ins[i].gr, onnx.Float64)
		s := g.ReduceSum(g.Mul(gd, gd), []int64{0}, false)
		if sumsq == nil {
			sumsq = s
		} else {
			sumsq = g.Add(sumsq, s)
		}
	}
	norm := g.Sqrt(sumsq)
	finite := g.IsFinite(norm)
	scale := g.Scalar(1)
	if cfg.MaxGradNorm > 0 {
		max := g.Scalar(cfg.MaxGradNorm)
		scale = g.Where(g.Greater(norm, max), g.Div(max, g.Add(norm, g.Scalar(1e-6))), g.Scalar(1))
	}
	scale32 := g.Cast(scale, onnx.Float32)
	useDecay := cfg.WeightDecay != 0
	for i, p := range ps {
		in := ins[i]
		gr := g.Mul(in.gr, scale32)
		pd := in.p
		if useDecay && p.Decay {
			pd = g.Mul(pd, c(0))
		}
		m2 := g.Add(in.m, g.Mul(g.Sub(gr, in.m), c(1)))
		v2 := g.Add(g.Mul(in.v, c(2)), g.Mul(g.Mul(gr, c(3)), gr))
		den := g.Add(g.Div(g.Sqrt(v2), c(4)), c(5))
		p2 := g.Add(pd, g.Mul(g.Div(m2, den), c(6)))
		g.Output(PrefixParamOut+p.Name, g.Where(finite, p2, in.p))
		g.Output(PrefixMOut+p.Name, g.Where(finite, m2, in.m))
		g.Output(PrefixVOut+p.Name, g.Where(finite, v2, in.v))
	}
	g.Output(OutGradNorm, g.Reshape(norm, []int64{1}))
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("optim: build step graph: %w", err)
	}
	return g, nil
}

// BuildAccumulateGraph emits the gradient accumulation over ps:
// grad_acc_out = (reset ? 0 : grad_acc) + weight * micro_grad.
func BuildAccumulateGraph(ps []GraphParam) (*onnx.Graph, error) {
	if err := checkParams(ps); err != nil {
		return nil, err
	}
	g := onnx.NewGraph("grad_accumulate", onnx.Float32)
	w := g.Input(InAccumWeight, onnx.Float32, []int64{1}, "")
	reset := g.Input(InAccumReset, onnx.Bool, []int64{1}, "")
	for _, p := range ps {
		n := []int64{p.Size}
		acc := g.Input(PrefixGrad+p.Name, onnx.Float32, n, "")
		mg := g.Input(PrefixMicroGrad+p.Name, onnx.Float32, n, "")
		g.Output(PrefixGradOut+p.Name, g.Add(g.Where(reset, g.Scalar(0), acc), g.Mul(w, mg)))
	}
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("optim: build accumulation graph: %w", err)
	}
	return g, nil
}
