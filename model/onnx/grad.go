package onnx

import (
	"fmt"
	"math"
	"slices"
)

// zeroGradOps produce outputs that are treated as constants by autodiff even
// when their inputs depend on a differentiated value.
var zeroGradOps = map[string]bool{"Range": true, "Sign": true, "ConstantOfShape": true, "Shape": true, "Size": true}

// Gradients appends reverse-mode gradient nodes to g and returns
// d(loss)/d(w) for each w in wrt (same dtype and shape as w).
//
// loss must be a float scalar or a tensor with one element. Values that do
// not depend on w get zeros. Integer and bool paths, comparisons, Shape,
// Range and StopGradient contribute nothing.
//
// Conventions:
//   - Broadcasting: the gradient of an operand is summed over the leading
//     axes added by broadcasting and over axes where the operand's dim is
//     statically 1 and the result's is not. Where the operand's dim is
//     dynamic (-1) and the result's is static > 1, the run-time shape
//     decides (a ReduceSum over run-time axes). Where both are dynamic the
//     operand dim is assumed NOT to be broadcast (declare broadcast dims as
//     a static 1: e.g. a mask [B,1,T,T], not [B,?,T,T]).
//   - ReduceMax: the gradient is split evenly among all positions equal to
//     the maximum (ties share it).
//   - Min/Max: on ties the gradient goes to the first operand.
//   - Clip: the gradient passes where lo < x < hi (zero at the bounds).
//   - Abs: the gradient at 0 is 0.
//   - Gather (any axis) scatters with accumulation, so repeated indices sum.
func (g *Graph) Gradients(loss *Value, wrt []*Value) ([]*Value, error) {
	return g.gradients(loss, wrt, GradOptions{})
}

func (g *Graph) gradients(loss *Value, wrt []*Value, opt GradOptions) ([]*Value, error) {
	if !g.check("Gradients", append([]*Value{loss}, wrt...)...) {
		return nil, g.err
	}
	if !loss.DType.IsFloat() {
		g.fail("Gradients", []*Value{loss}, "loss must be float")
		return nil, g.err
	}
	for _, d := range loss.Shape {
		if d != 1 && d != -1 {
			g.fail("Gradients", []*Value{loss}, "loss must be a scalar or have one element")
			return nil, g.err
		}
	}
	for _, w := range wrt {
		if !w.DType.IsFloat() {
			g.fail("Gradients", []*Value{w}, "cannot differentiate with respect to %s value %q", w.DType, w.Name)
			return nil, g.err
		}
		if g.isHalfParam(w) {
			g.fail("Gradients", []*Value{w}, "parameter %q is held in %s, not the graph's %s: it cannot be trained", w.Name, w.DType, g.float)
			return nil, g.err
		}
	}

	// Forward: values that depend on some w.
	dep := map[*Value]bool{}
	for _, w := range wrt {
		dep[w] = true
	}
	nodes := g.nodes[:len(g.nodes):len(g.nodes)]
	for _, n := range nodes {
		if n.stop || zeroGradOps[n.op] {
			continue
		}
		on := false
		for _, in := range n.inputs {
			if in != nil && dep[in] {
				on = true
				break
			}
		}
		if on {
			for _, o := range n.outputs {
				if o.DType.IsFloat() {
					dep[o] = true
				}
			}
		}
	}

	var rc *recomputer
	if opt.Recompute {
		rc = g.planRecompute(nodes)
	}
	rcast := g.planRecast(nodes)

	pending := map[*Value][]*Value{}
	if dep[loss] {
		var seed *Value
		if loss.static() {
			seed = g.constF(loss.DType, ones(numel(loss.Shape)), loss.Shape)
		} else {
			seed = g.constantOfShape(g.Shape(loss), loss.DType, 1)
		}
		pending[loss] = []*Value{seed}
	}
	// Reverse walk over the nodes that existed before this call.
	for i := len(nodes) - 1; i >= 0 && g.err == nil; i-- {
		n := nodes[i]
		gys := make([]*Value, len(n.outputs))
		has := false
		for j, o := range n.outputs {
			if p := pending[o]; len(p) > 0 {
				gys[j] = g.accumulate(o, p)
				pending[o] = []*Value{gys[j]}
				has = true
			}
		}
		if !has || n.stop || zeroGradOps[n.op] {
			continue
		}
		need := make([]bool, len(n.inputs))
		anyNeed := false
		for j, in := range n.inputs {
			need[j] = in != nil && dep[in]
			anyNeed = anyNeed || need[j]
		}
		if !anyNeed {
			continue
		}
		gy := gys[slices.IndexFunc(gys, func(v *Value) bool { return v != nil })]
		gxs, err := g.backprop(rcast.forBackprop(rc.forBackprop(n, gys), gy), gys, need)
		if err != nil {
			if g.err == nil {
				g.err = err
			}
			return nil, g.err
		}
		for j, gx := range gxs {
			if gx == nil || !need[j] {
				continue
			}
			in := n.inputs[j]
			if err := checkGradShape(n, in, gx); err != nil {
				if g.err == nil {
					g.err = err
				}
				return nil, g.err
			}
			pending[in] = append(pending[in], gx)
			rc.noteGrad(n, in, gx)
		}
	}
	if g.err != nil {
		return nil, g.err
	}
	out := make([]*Value, len(wrt))
	for i, w := range wrt {
		if p := pending[w]; len(p) > 0 {
			out[i] = g.accumulate(w, p)
			pending[w] = []*Value{out[i]}
		} else {
			out[i] = g.zerosLike(w)
		}
	}
	if g.err != nil {
		return nil, g.err
	}
	return out, nil
}

func ones(n int64) []float64 {
	o := make([]float64, n)
	for i := range o {
		o[i] = 1
	}
	return o
}

func checkGradShape(n *node, in, gx *Value) error {
	ok := gx.DType == in.DType && gx.Rank() == in.Rank()
	if ok {
		for i := range in.Shape {
			if _, m := mergeDim(in.Shape[i], gx.Shape[i]); !m {
				ok = false
			}
		}
	}
	if !ok {
		return fmt.Errorf("onnx: gradient of %s (%s): internal error: gradient %s%s %s does not match input %s",
			n.op, n.name, gx.Name, shapeStr(gx.Shape), gx.DType, in)
	}
	return nil
}

// accumulate sums gradient contributions (Add for two, Sum for more).
func (g *Graph) accumulate(v *Value, parts []*Value) *Value {
	switch len(parts) {
	case 1:
		return parts[0]
	case 2:
		return g.Add(parts[0], parts[1])
	}
	return g.rawOp("Sum", parts, nil, v.DType, parts[0].Shape)
}

// sumTo reduces a broadcast gradient back to target (see Gradients).
func (g *Graph) sumTo(gr *Value, x *Value) *Value {
	target := x.Shape
	if gr.kind == kindPoison {
		return gr
	}
	lead := gr.Rank() - len(target)
	if lead < 0 {
		g.fail("Gradients", []*Value{gr}, "internal error: gradient rank below target %s", shapeStr(target))
		return g.poison(gr)
	}
	if lead > 0 {
		gr = g.ReduceSum(gr, allAxes(lead), false)
	}
	var axes, ambiguous []int64
	for i, d := range target {
		switch {
		case d == 1 && gr.Shape[i] != 1:
			axes = append(axes, int64(i))
		case d == -1 && gr.Shape[i] > 1:
			ambiguous = append(ambiguous, int64(i))
		}
	}
	if len(axes) > 0 {
		gr = g.ReduceSum(gr, axes, true)
	}
	if len(ambiguous) > 0 {
		gr = g.sumWhereOne(gr, ambiguous, x)
	}
	return gr
}

// sumWhereOne sums gr (keepdims) over those of the candidate axes where x's
// run-time dim is 1: the operand's dim is dynamic while the result's is
// static > 1, so only the run-time shape tells whether it was broadcast.
func (g *Graph) sumWhereOne(gr *Value, cand []int64, x *Value) *Value {
	cv := g.ConstI64(cand, []int64{int64(len(cand))})
	isOne := g.Equal(g.Gather(g.Shape(x), cv, 0), g.ConstI64([]int64{1}, []int64{1}))
	axes := g.rawOp("Compress", []*Value{cv, isOne}, []attr{{name: "axis", kind: attrInt, i: 0}}, Int64, []int64{-1})
	out := slices.Clone(gr.Shape)
	for _, a := range cand {
		out[a] = -1
	}
	return g.rawOp("ReduceSum", []*Value{gr, axes},
		[]attr{{name: "keepdims", kind: attrInt, i: 1}, {name: "noop_with_empty_axes", kind: attrInt, i: 1}}, gr.DType, out)
}

// like reshapes gr to x's shape.
func (g *Graph) like(gr, x *Value) *Value {
	if slices.Equal(gr.Shape, x.Shape) && x.static() {
		return gr
	}
	if x.static() {
		return g.Reshape(gr, x.Shape)
	}
	return g.ReshapeTo(gr, g.Shape(x))
}

// swapLast transposes the last two axes.
func (g *Graph) swapLast(x *Value) *Value {
	r := x.Rank()
	perm := allAxes(r)
	perm[r-1], perm[r-2] = perm[r-2], perm[r-1]
	return g.Transpose(x, perm...)
}

// backprop returns the gradient of each input of n (nil where none) given
// the gradients of its outputs (nil where none).
func (g *Graph) backprop(n *node, gys []*Value, need []bool) ([]*Value, error) {
	in := n.inputs
	gx := make([]*Value, len(in))
	gy := gys[0]
	var y *Value
	if len(n.outputs) > 0 {
		y = n.outputs[0]
	}
	x := in[0]
	dt := x.DType
	c := func(v float64) *Value { return g.scalarOf(dt, v) }
	switch n.op {
	case "Identity":
		gx[0] = gy
	case "Add":
		gx[0] = g.sumTo(gy, in[0])
		gx[1] = g.sumTo(gy, in[1])
	case "Sub":
		gx[0] = g.sumTo(gy, in[0])
		if need[1] {
			gx[1] = g.sumTo(g.Neg(gy), in[1])
		}
	case "Mul":
		if need[0] {
			gx[0] = g.sumTo(g.Mul(gy, in[1]), in[0])
		}
		if need[1] {
			gx[1] = g.sumTo(g.Mul(gy, in[0]), in[1])
		}
	case "Div":
		if need[0] {
			gx[0] = g.sumTo(g.Div(gy, in[1]), in[0])
		}
		if need[1] {
			gx[1] = g.sumTo(g.Neg(g.Div(g.Mul(gy, y), in[1])), in[1])
		}
	case "Pow":
		a, b := in[0], in[1]
		bf := b
		if b.DType != a.DType {
			bf = g.Cast(b, a.DType)
		}
		if need[0] {
			gx[0] = g.sumTo(g.Mul(gy, g.Mul(bf, g.Pow(a, g.Sub(bf, c(1))))), a)
		}
		if need[1] {
			gx[1] = g.sumTo(g.Mul(gy, g.Mul(y, g.Log(a))), b)
		}
	case "Min", "Max":
		var mask *Value
		if n.op == "Max" {
			mask = g.GreaterOrEqual(in[0], in[1])
		} else {
			mask = g.LessOrEqual(in[0], in[1])
		}
		zero := c(0)
		if need[0] {
			gx[0] = g.sumTo(g.Where(mask, gy, zero), in[0])
		}
		if need[1] {
			gx[1] = g.sumTo(g.Where(mask, zero, gy), in[1])
		}
	case "Neg":
		gx[0] = g.Neg(gy)
	case "Exp":
		gx[0] = g.Mul(gy, y)
	case "Log":
		gx[0] = g.Div(gy, x)
	case "Sqrt":
		gx[0] = g.Div(g.Mul(gy, c(0.5)), y)
	case "Tanh":
		gx[0] = g.Mul(gy, g.Sub(c(1), g.Mul(y, y)))
	case "Sigmoid":
		gx[0] = g.Mul(gy, g.Mul(y, g.Sub(c(1), y)))
	case "Erf":
		gx[0] = g.Mul(gy, g.Mul(c(2/math.Sqrt(math.Pi)), g.Exp(g.Neg(g.Mul(x, x)))))
	case "Abs":
		gx[0] = g.Mul(gy, g.sign(x))
	case "Reciprocal":
		gx[0] = g.Neg(g.Mul(gy, g.Mul(y, y)))
	case "Cos":
		gx[0] = g.Neg(g.Mul(gy, g.Sin(x)))
	case "Sin":
		gx[0] = g.Mul(gy, g.Cos(x))
	case "Clip":
		mask := g.And(g.Greater(x, in[1]), g.Less(x, in[2]))
		gx[0] = g.Where(mask, gy, c(0))
	case "Where":
		a, b := in[1], in[2]
		zero := g.scalarOf(a.DType, 0)
		if need[1] {
			gx[1] = g.sumTo(g.Where(in[0], gy, zero), a)
		}
		if need[2] {
			gx[2] = g.sumTo(g.Where(in[0], zero, gy), b)
		}
	case "Cast":
		if x.DType.IsFloat() {
			gx[0] = g.Cast(gy, x.DType)
		}
	case "MatMul":
		g.matmulGrad(in[0], in[1], gy, need, gx)
	case "Gemm":
		g.gemmGrad(n, gy, need, gx)
	case "Softmax":
		s := g.ReduceSum(g.Mul(gy, y), []int64{int64(n.aux.axis)}, true)
		gx[0] = g.Mul(y, g.Sub(gy, s))
	case "LogSoftmax":
		s := g.ReduceSum(gy, []int64{int64(n.aux.axis)}, true)
		gx[0] = g.Sub(gy, g.Mul(g.Exp(y), s))
	case "ReduceSum", "ReduceMean", "ReduceMax":
		gx[0] = g.reduceGrad(n, x, y, gy)
	case "Reshape", "Squeeze", "Unsqueeze":
		gx[0] = g.like(gy, x)
	case "Transpose":
		inv := make([]int64, len(n.aux.perm))
		for i, p := range n.aux.perm {
			inv[p] = int64(i)
		}
		gx[0] = g.Transpose(gy, inv...)
	case "Concat":
		g.concatGrad(n, gy, gx)
	case "Split":
		parts := make([]*Value, len(gys))
		for i, p := range gys {
			if p == nil {
				p = g.zerosLike(n.outputs[i])
			}
			parts[i] = p
		}
		gx[0] = g.Concat(n.aux.axis, parts...)
	case "Slice":
		gx[0] = g.sliceGrad(n, gy)
	case "Expand":
		gx[0] = g.sumTo(gy, x)
	case "Gather":
		gx[0] = g.gatherGrad(n, gy)
	case "GatherElements":
		ix := in[1]
		if ix.DType != Int64 {
			ix = g.Cast(ix, Int64)
		}
		gx[0] = g.rawOp("ScatterElements", []*Value{g.zerosLike(x), ix, gy},
			[]attr{{name: "axis", kind: attrInt, i: int64(n.aux.axis)}, {name: "reduction", kind: attrString, s: "add"}},
			x.DType, x.Shape)
	case "Trilu":
		gx[0] = g.rawOp("Trilu", []*Value{gy, in[1]}, []attr{{name: "upper", kind: attrInt, i: b2i(n.aux.upper)}}, gy.DType, gy.Shape)
	default:
		return nil, fmt.Errorf("onnx: gradient of %s (%s): no gradient rule for this op", n.op, n.name)
	}
	if g.err != nil {
		return nil, fmt.Errorf("while differentiating %s (%s): %w", n.op, n.name, g.err)
	}
	for j := range gx {
		if !need[j] {
			gx[j] = nil
		}
	}
	return gx, nil
}

func (g *Graph) matmulGrad(a, b, gy *Value, need []bool, gx []*Value) {
	a2, b2, g2 := a, b, gy
	if b.Rank() == 1 {
		b2 = g.Unsqueeze(b, 1)
		g2 = g.Unsqueeze(g2, -1)
	}
	if a.Rank() == 1 {
		a2 = g.Unsqueeze(a, 0)
		g2 = g.Unsqueeze(g2, -2)
	}
	if need[0] {
		ga := g.sumTo(g.MatMul(g2, g.swapLast(b2)), a2)
		if a.Rank() == 1 {
			ga = g.like(ga, a)
		}
		gx[0] = ga
	}
	if need[1] {
		var gb *Value
		k, nn := b2.Shape[0], b2.Shape[1]
		if b2.Rank() == 2 && a2.Rank() > 2 && k >= 0 && nn >= 0 {
			// Fold the batch dims into one matrix product.
			af := g.Reshape(a2, []int64{-1, k})
			gf := g.Reshape(g2, []int64{-1, nn})
			gb = g.MatMul(g.Transpose(af, 1, 0), gf)
		} else {
			gb = g.sumTo(g.MatMul(g.swapLast(a2), g2), b2)
		}
		if b.Rank() == 1 {
			gb = g.like(gb, b)
		}
		gx[1] = gb
	}
}

func (g *Graph) gemmGrad(n *node, gy *Value, need []bool, gx []*Value) {
	a, b := n.inputs[0], n.inputs[1]
	ta, tb, alpha := n.aux.transA, n.aux.transB, n.aux.alpha
	if need[0] {
		if !ta {
			gx[0] = g.Gemm(gy, b, nil, false, !tb, alpha, 0)
		} else {
			gx[0] = g.Gemm(b, gy, nil, tb, true, alpha, 0)
		}
	}
	if need[1] {
		if !tb {
			gx[1] = g.Gemm(a, gy, nil, !ta, false, alpha, 0)
		} else {
			gx[1] = g.Gemm(gy, a, nil, true, ta, alpha, 0)
		}
	}
	if len(n.inputs) > 2 && need[2] {
		gc := gy
		if n.aux.beta != 1 {
			gc = g.Mul(gy, g.scalarOf(gy.DType, n.aux.beta))
		}
		gx[2] = g.sumTo(gc, n.inputs[2])
	}
}

func (g *Graph) reduceGrad(n *node, x, y, gy *Value) *Value {
	axes := n.aux.axes
	if len(axes) == 0 {
		return gy
	}
	gk := gy
	if !n.aux.keepDims {
		gk = g.Unsqueeze(gy, axes...)
	}
	switch n.op {
	case "ReduceSum":
		return g.Expand(gk, g.shapeOf(x))
	case "ReduceMean":
		cnt := int64(1)
		for _, a := range axes {
			if x.Shape[a] < 0 {
				cnt = -1
				break
			}
			cnt *= x.Shape[a]
		}
		var cv *Value
		if cnt > 0 {
			cv = g.scalarOf(x.DType, float64(cnt))
		} else {
			cv = g.Cast(g.Div(g.size(x), g.size(y)), x.DType)
		}
		return g.Div(g.Expand(gk, g.shapeOf(x)), cv)
	default: // ReduceMax
		yk := y
		if !n.aux.keepDims {
			yk = g.Unsqueeze(y, axes...)
		}
		mask := g.Cast(g.Equal(x, yk), x.DType)
		cnt := g.ReduceSum(mask, axes, true)
		return g.Div(g.Mul(mask, gk), cnt)
	}
}

func (g *Graph) concatGrad(n *node, gy *Value, gx []*Value) {
	a := n.aux.axis
	sizes := make([]int64, len(n.inputs))
	static := true
	for i, x := range n.inputs {
		sizes[i] = x.Shape[a]
		if sizes[i] < 0 {
			static = false
		}
	}
	var parts []*Value
	if static {
		parts = g.Split(gy, a, sizes)
	} else {
		dims := make([]*Value, len(n.inputs))
		shapes := make([][]int64, len(n.inputs))
		for i, x := range n.inputs {
			dims[i] = g.ShapeDims(x, int64(a), int64(a)+1)
			shapes[i] = x.Shape
		}
		parts = g.splitDyn(gy, a, g.Concat(0, dims...), shapes)
	}
	copy(gx, parts)
}

// sliceGrad pads the gradient back: Pad for static unit-step slices, else a
// ScatterElements per sliced axis whose indices come from slicing a Range
// with the same bounds (exact ONNX clamping, dynamic shapes).
func (g *Graph) sliceGrad(n *node, gy *Value) *Value {
	x, starts, ends, axes := n.inputs[0], n.inputs[1], n.inputs[2], n.inputs[3]
	var steps *Value
	if len(n.inputs) > 4 {
		steps = n.inputs[4]
	}
	if axes.known == nil {
		g.fail("Gradients", []*Value{x}, "slice gradient needs constant axes")
		return g.poison(x)
	}
	na, err := normAxes(axes.known, x.Rank())
	if err != nil {
		g.fail("Gradients", []*Value{x}, "%v", err)
		return g.poison(x)
	}
	r := x.Rank()
	static := x.static() && starts.known != nil && ends.known != nil && !slices.Contains(starts.known, unknownVal) && !slices.Contains(ends.known, unknownVal)
	unit := steps == nil || (steps.known != nil && !slices.ContainsFunc(steps.known, func(s int64) bool { return s != 1 }))
	if static && unit {
		pads := make([]int64, 2*r)
		for j, a := range na {
			d := x.Shape[a]
			first, cnt := sliceRange(d, starts.known[j], ends.known[j], 1)
			pads[a] = first
			pads[int(a)+r] = d - first - cnt
		}
		return g.rawOp("Pad", []*Value{gy, g.ConstI64(pads, []int64{int64(2 * r)})}, nil, gy.DType, x.Shape)
	}
	pick := func(v *Value, j int) *Value {
		if v == nil {
			return g.ConstI64([]int64{1}, []int64{1})
		}
		if k := at(v.known, j); k != unknownVal {
			return g.ConstI64([]int64{k}, []int64{1})
		}
		return g.Slice(v, []int64{int64(j)}, []int64{int64(j) + 1}, nil, nil)
	}
	t := gy
	for j, a := range na {
		var dimA *Value
		if d := x.Shape[a]; d >= 0 {
			dimA = g.ScalarI64(d)
		} else {
			dimA = g.Squeeze(g.ShapeDims(x, a, a+1), 0)
		}
		rng := g.Range(g.ScalarI64(0), dimA, g.ScalarI64(1))
		idx := g.sliceV("Slice", rng, pick(starts, j), pick(ends, j), g.ConstI64([]int64{0}, []int64{1}), pick(steps, j))
		rs := make([]int64, r)
		for i := range rs {
			rs[i] = 1
		}
		rs[a] = -1
		idxE := g.Expand(g.Reshape(idx, rs), g.shapeOf(t))
		zs := slices.Clone(t.Shape)
		zs[a] = x.Shape[a]
		var zshape *Value
		if staticShape(zs) {
			zshape = g.ConstI64(zs, []int64{int64(r)})
		} else {
			var pieces []*Value
			if a > 0 {
				pieces = append(pieces, g.ShapeDims(t, 0, a))
			}
			pieces = append(pieces, g.ShapeDims(x, a, a+1))
			if int(a) < r-1 {
				pieces = append(pieces, g.ShapeDims(t, a+1, int64(r)))
			}
			zshape = g.Concat(0, pieces...)
		}
		z := g.constantOfShape(zshape, t.DType, 0)
		t = g.rawOp("ScatterElements", []*Value{z, idxE, t}, []attr{{name: "axis", kind: attrInt, i: a}}, t.DType, zs)
	}
	return t
}

// gatherGrad scatters with accumulation (repeated indices add up).
func (g *Graph) gatherGrad(n *node, gy *Value) *Value {
	data, indices := n.inputs[0], n.inputs[1]
	a := int64(n.aux.axis)
	r, q := int64(data.Rank()), int64(indices.Rank())
	ix := indices
	if ix.DType != Int64 {
		ix = g.Cast(ix, Int64)
	}
	nonneg := ix.known != nil && !slices.ContainsFunc(ix.known, func(k int64) bool { return k < 0 })
	if !nonneg {
		var dim *Value
		if d := data.Shape[a]; d >= 0 {
			dim = g.ScalarI64(d)
		} else {
			dim = g.Squeeze(g.ShapeDims(data, a, a+1), 0)
		}
		ix = g.Where(g.Less(ix, g.ScalarI64(0)), g.Add(ix, dim), ix)
	}
	ix = g.Unsqueeze(ix, -1)
	// The sum over repeated indices (an embedding's repeated tokens) is a
	// ScatterElements with reduction add over flattened rows, not a
	// ScatterND: ONNX Runtime's CPU ScatterND runs reductions on several
	// threads without atomics, so repeated indices race and the gradient
	// changes from run to run (onnxruntime issues 18048, 23396), while its
	// ScatterElements reduction runs sequentially and is exact.
	scatter := func(z, upd *Value) *Value {
		var flatZ *Value
		if z.Rank() == 1 {
			flatZ = g.Reshape(z, []int64{-1, 1})
		} else {
			flatZ = g.Reshape(z, []int64{0, -1})
		}
		var uf *Value
		if R := flatZ.Shape[1]; R >= 0 {
			uf = g.Reshape(upd, []int64{-1, R})
		} else {
			uf = g.ReshapeTo(upd, g.Concat(0, g.ConstI64([]int64{-1}, []int64{1}), g.ShapeDims(flatZ, 1, 2)))
		}
		idx := g.Expand(g.Reshape(ix, []int64{-1, 1}), g.Shape(uf))
		out := g.rawOp("ScatterElements", []*Value{flatZ, idx, uf},
			[]attr{{name: "axis", kind: attrInt, i: 0}, {name: "reduction", kind: attrString, s: "add"}}, z.DType, flatZ.Shape)
		if staticShape(z.Shape) {
			return g.Reshape(out, z.Shape)
		}
		return g.ReshapeTo(out, g.Shape(z))
	}
	if a == 0 {
		return scatter(g.zerosLike(data), gy)
	}
	var permG []int64
	for i := a; i < a+q; i++ {
		permG = append(permG, i)
	}
	for i := int64(0); i < a; i++ {
		permG = append(permG, i)
	}
	for i := a + q; i < r+q-1; i++ {
		permG = append(permG, i)
	}
	permD := []int64{a}
	for i := int64(0); i < r; i++ {
		if i != a {
			permD = append(permD, i)
		}
	}
	dT := make([]int64, r)
	for i, p := range permD {
		dT[i] = data.Shape[p]
	}
	var zshape *Value
	if staticShape(dT) {
		zshape = g.ConstI64(dT, []int64{r})
	} else {
		zshape = g.Gather(g.Shape(data), g.ConstI64(permD, []int64{r}), 0)
	}
	s := scatter(g.constantOfShape(zshape, data.DType, 0), g.Transpose(gy, permG...))
	inv := make([]int64, r)
	for i, p := range permD {
		inv[p] = int64(i)
	}
	return g.Transpose(s, inv...)
}
