package onnx

// recastOps are the operators a weight goes through between its
// half-precision graph input and its use (the Cast to the compute type,
// then layout changes); see recaster.
var recastOps = map[string]bool{
	"Cast": true, "Transpose": true, "Reshape": true, "Unsqueeze": true, "Squeeze": true, "Identity": true,
}

// recaster keeps the float copies of half-precision parameters out of the
// backward pass. A frozen weight held in BFloat16 or Float16 is cast to the
// compute type before use; a backward rule that reads the cast (dX = dY W
// of a linear layer) would keep that float copy alive from the forward pass
// to the backward pass, so a model with a half-precision base would hold a
// float copy of every weight at the peak: more than a float32 base takes.
// Instead the backward rule reads a copy cast again from the half-precision
// input right before it is needed, and the forward copy dies after its last
// forward use.
//
// The new cast is made to depend on the backward pass: its input is the
// parameter reshaped to its own shape by a shape tensor that adds zero
// times the first dimension of the incoming gradient's Shape. That
// integer data dependency makes ONNX Runtime run the cast only once the
// gradient exists (and keeps it from merging the two casts), costs no
// arithmetic over the weight, and cannot turn a NaN gradient into an
// error.
type recaster struct {
	g *Graph
	// derived holds the values computed from half-precision parameters and
	// constants alone through recastOps.
	derived map[*Value]bool
}

// isHalfParam reports a parameter held in a float type other than the
// graph's (a frozen weight declared with ParamOf).
func (g *Graph) isHalfParam(v *Value) bool {
	return v.kind == kindParam && v.DType != g.float && v.DType.IsFloat()
}

// planRecast finds the half-precision parameter chains among nodes; nil
// when the graph has none.
func (g *Graph) planRecast(nodes []*node) *recaster {
	derived := map[*Value]bool{}
	for _, n := range nodes {
		if !recastOps[n.op] || len(n.inputs) == 0 {
			continue
		}
		ok, half := true, false
		for _, in := range n.inputs {
			switch {
			case in == nil || in.kind == kindConst:
			case g.isHalfParam(in):
				half = true
			case derived[in]:
				half = true
			default:
				ok = false
			}
		}
		if ok && half {
			for _, o := range n.outputs {
				derived[o] = true
			}
		}
	}
	if len(derived) == 0 {
		return nil
	}
	return &recaster{g: g, derived: derived}
}

// forBackprop returns n, or a copy of n whose inputs computed from
// half-precision parameters are recomputed behind gradient gy.
func (r *recaster) forBackprop(n *node, gy *Value) *node {
	if r == nil || gy == nil {
		return n
	}
	var c *node
	memo := map[*Value]*Value{}
	for i, in := range n.inputs {
		if in == nil || !r.derived[in] {
			continue
		}
		if c == nil {
			cp := *n
			cp.inputs = append([]*Value(nil), n.inputs...)
			c = &cp
		}
		c.inputs[i] = r.emit(in, gy, memo)
	}
	if c == nil {
		return n
	}
	return c
}

// emit re-creates the chain that computes v, gating each half-precision
// parameter it starts from on gy.
func (r *recaster) emit(v, gy *Value, memo map[*Value]*Value) *Value {
	if m, ok := memo[v]; ok {
		return m
	}
	g := r.g
	if v.kind == kindParam {
		// Reshape(p, shape(p) + 0 * Shape(gy)[0]): p itself, available
		// only once gy is.
		dim := g.Slice(g.Shape(gy), []int64{0}, []int64{1}, []int64{0}, nil)
		shape := g.Add(g.ConstI64(v.Shape, []int64{int64(len(v.Shape))}), g.Mul(dim, g.ConstI64([]int64{0}, []int64{1})))
		out := g.ReshapeTo(v, shape)
		out.Shape = append([]int64(nil), v.Shape...)
		memo[v] = out
		return out
	}
	n := v.node
	ins := make([]*Value, len(n.inputs))
	for i, in := range n.inputs {
		if in != nil && (r.derived[in] || g.isHalfParam(in)) {
			ins[i] = r.emit(in, gy, memo)
		} else {
			ins[i] = in
		}
	}
	outs := make([]outSpec, len(n.outputs))
	for i, o := range n.outputs {
		outs[i] = outSpec{o.DType, o.Shape}
	}
	c := g.newNode(n.op, ins, n.attrs, n.aux, outs...)
	var out *Value
	for i, o := range n.outputs {
		memo[o] = c.outputs[i]
		if o == v {
			out = c.outputs[i]
		}
	}
	return out
}
