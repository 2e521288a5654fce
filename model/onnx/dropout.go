package onnx

// Dropout zeroes each element of x with probability ratio and scales the
// others by 1/(1-ratio), as training-mode dropout does. It is built from
// RandomUniformLike (seeded: ONNX Runtime's generator starts from seed when
// the session is created, so masks differ from run to run and the sequence
// repeats in a new session), Less and Mul, not from the ONNX Dropout op,
// which ONNX Runtime's graph optimizer removes from inference sessions.
// Gradients flow through the kept elements; activation recomputation
// (GradientsWith) reuses the forward pass's random draw. A ratio of 0
// returns x unchanged.
func (g *Graph) Dropout(x *Value, ratio float64, seed int64) *Value {
	if !g.check("Dropout", x) {
		return g.poison(x)
	}
	if ratio == 0 {
		return x
	}
	if !x.DType.IsFloat() || ratio < 0 || ratio >= 1 {
		g.fail("Dropout", []*Value{x}, "ratio %g must be in [0, 1) and x float", ratio)
		return g.poison(x)
	}
	u := g.rawOp("RandomUniformLike", []*Value{x}, []attr{
		{name: "dtype", kind: attrInt, i: int64(x.DType)},
		{name: "low", kind: attrFloat, f: 0},
		{name: "high", kind: attrFloat, f: 1},
		{name: "seed", kind: attrFloat, f: float64(seed % (1 << 24))},
	}, x.DType, x.Shape)
	g.nodes[len(g.nodes)-1].stop = true // the draw does not depend on x's values
	keep := g.Less(g.scalarOf(x.DType, ratio), u)
	return g.Mul(g.Mul(x, g.Cast(keep, x.DType)), g.scalarOf(x.DType, 1/(1-ratio)))
}
