package onnx

import (
	"math"
	"slices"
)

// ---- elementwise ----

// Add returns a + b (numpy broadcasting).
func (g *Graph) Add(a, b *Value) *Value { return g.arith("Add", a, b) }

// Sub returns a - b (numpy broadcasting).
func (g *Graph) Sub(a, b *Value) *Value { return g.arith("Sub", a, b) }

// Mul returns a * b (numpy broadcasting).
func (g *Graph) Mul(a, b *Value) *Value { return g.arith("Mul", a, b) }

// Div returns a / b (numpy broadcasting).
func (g *Graph) Div(a, b *Value) *Value { return g.arith("Div", a, b) }

// Min returns the elementwise minimum (numpy broadcasting).
func (g *Graph) Min(a, b *Value) *Value { return g.arith("Min", a, b) }

// Max returns the elementwise maximum (numpy broadcasting).
func (g *Graph) Max(a, b *Value) *Value { return g.arith("Max", a, b) }

// Pow returns a ** b (numpy broadcasting); a is float, b any numeric type.
func (g *Graph) Pow(a, b *Value) *Value {
	if !g.check("Pow", a, b) {
		return g.poison(a)
	}
	if !a.DType.IsFloat() || b.DType == Bool {
		g.fail("Pow", []*Value{a, b}, "base must be float and exponent numeric")
		return g.poison(a)
	}
	shape, err := broadcast(a.Shape, b.Shape)
	if err != nil {
		g.fail("Pow", []*Value{a, b}, "%v", err)
		return g.poison(a)
	}
	return g.op1("Pow", []*Value{a, b}, nil, nodeAux{}, a.DType, shape)
}

func (g *Graph) arith(op string, a, b *Value) *Value {
	if !g.check(op, a, b) {
		return g.poison(a)
	}
	if a.DType != b.DType {
		g.fail(op, []*Value{a, b}, "dtype mismatch %s vs %s", a.DType, b.DType)
		return g.poison(a)
	}
	if a.DType == Bool {
		g.fail(op, []*Value{a, b}, "bool operands are not supported")
		return g.poison(a)
	}
	shape, err := broadcast(a.Shape, b.Shape)
	if err != nil {
		g.fail(op, []*Value{a, b}, "%v", err)
		return g.poison(a)
	}
	v := g.op1(op, []*Value{a, b}, nil, nodeAux{}, a.DType, shape)
	if a.DType == Int64 {
		v.known = knownArith(op, a, b, shape)
	}
	return v
}

// knownArith evaluates int64 arithmetic on statically known 0-D/1-D values.
func knownArith(op string, a, b *Value, shape []int64) []int64 {
	if a.known == nil || b.known == nil || len(shape) > 1 || !staticShape(shape) {
		return nil
	}
	n := int(numel(shape))
	if (len(a.known) != n && len(a.known) != 1) || (len(b.known) != n && len(b.known) != 1) {
		return nil
	}
	out := make([]int64, n)
	for i := range out {
		x, y := a.known[min(i, len(a.known)-1)], b.known[min(i, len(b.known)-1)]
		if x == unknownVal || y == unknownVal {
			out[i] = unknownVal
			continue
		}
		switch op {
		case "Add":
			out[i] = x + y
		case "Sub":
			out[i] = x - y
		case "Mul":
			out[i] = x * y
		case "Div":
			if y == 0 {
				out[i] = unknownVal
			} else {
				out[i] = x / y
			}
		case "Min":
			out[i] = min(x, y)
		case "Max":
			out[i] = max(x, y)
		}
	}
	return out
}

func (g *Graph) unaryFloat(op string, x *Value) *Value {
	if !g.check(op, x) {
		return g.poison(x)
	}
	if !x.DType.IsFloat() {
		g.fail(op, []*Value{x}, "needs a float operand")
		return g.poison(x)
	}
	return g.op1(op, []*Value{x}, nil, nodeAux{}, x.DType, x.Shape)
}

// Neg returns -x.
func (g *Graph) Neg(x *Value) *Value {
	if !g.check("Neg", x) {
		return g.poison(x)
	}
	if x.DType == Bool {
		g.fail("Neg", []*Value{x}, "bool operand")
		return g.poison(x)
	}
	v := g.op1("Neg", []*Value{x}, nil, nodeAux{}, x.DType, x.Shape)
	if x.known != nil {
		v.known = make([]int64, len(x.known))
		for i, k := range x.known {
			v.known[i] = unknownVal
			if k != unknownVal {
				v.known[i] = -k
			}
		}
	}
	return v
}

// Exp returns e**x.
func (g *Graph) Exp(x *Value) *Value { return g.unaryFloat("Exp", x) }

// Log returns the natural logarithm.
func (g *Graph) Log(x *Value) *Value { return g.unaryFloat("Log", x) }

// Sqrt returns the square root.
func (g *Graph) Sqrt(x *Value) *Value { return g.unaryFloat("Sqrt", x) }

// Tanh returns the hyperbolic tangent.
func (g *Graph) Tanh(x *Value) *Value { return g.unaryFloat("Tanh", x) }

// Sigmoid returns 1/(1+e**-x).
func (g *Graph) Sigmoid(x *Value) *Value { return g.unaryFloat("Sigmoid", x) }

// Erf returns the error function.
func (g *Graph) Erf(x *Value) *Value { return g.unaryFloat("Erf", x) }

// Abs returns |x|.
func (g *Graph) Abs(x *Value) *Value {
	if !g.check("Abs", x) {
		return g.poison(x)
	}
	return g.op1("Abs", []*Value{x}, nil, nodeAux{}, x.DType, x.Shape)
}

// Cos returns the cosine. ONNX Runtime's CPU provider has no float64 Cos
// kernel, so for float64 it is emitted as Sin(x + pi/2).
func (g *Graph) Cos(x *Value) *Value {
	if x != nil && x.DType == Float64 && g.check("Cos", x) {
		return g.Sin(g.Add(x, g.scalarOf(Float64, math.Pi/2)))
	}
	return g.unaryFloat("Cos", x)
}

// Sin returns the sine.
func (g *Graph) Sin(x *Value) *Value { return g.unaryFloat("Sin", x) }

// Reciprocal returns 1/x.
func (g *Graph) Reciprocal(x *Value) *Value { return g.unaryFloat("Reciprocal", x) }

// Clip clamps x to [lo, hi] (constant bounds).
func (g *Graph) Clip(x *Value, lo, hi float64) *Value {
	if !g.check("Clip", x) {
		return g.poison(x)
	}
	if x.DType == Bool || lo > hi {
		g.fail("Clip", []*Value{x}, "bad operand or bounds lo=%g > hi=%g", lo, hi)
		return g.poison(x)
	}
	l, h := g.scalarOf(x.DType, lo), g.scalarOf(x.DType, hi)
	return g.op1("Clip", []*Value{x, l, h}, nil, nodeAux{lo: lo, hi: hi}, x.DType, x.Shape)
}

// Where selects a where cond is true, else b (numpy broadcasting).
func (g *Graph) Where(cond, a, b *Value) *Value {
	if !g.check("Where", cond, a, b) {
		return g.poison(a)
	}
	if cond.DType != Bool || a.DType != b.DType {
		g.fail("Where", []*Value{cond, a, b}, "cond must be bool and branches of one dtype")
		return g.poison(a)
	}
	shape, err := broadcast(cond.Shape, a.Shape, b.Shape)
	if err != nil {
		g.fail("Where", []*Value{cond, a, b}, "%v", err)
		return g.poison(a)
	}
	return g.op1("Where", []*Value{cond, a, b}, nil, nodeAux{}, a.DType, shape)
}

func (g *Graph) compare(op string, a, b *Value, boolOnly bool) *Value {
	if !g.check(op, a, b) {
		return g.poison(a)
	}
	if a.DType != b.DType || (boolOnly && a.DType != Bool) || (!boolOnly && op != "Equal" && a.DType == Bool) {
		g.fail(op, []*Value{a, b}, "operand dtypes not supported")
		return g.poison(a)
	}
	shape, err := broadcast(a.Shape, b.Shape)
	if err != nil {
		g.fail(op, []*Value{a, b}, "%v", err)
		return g.poison(a)
	}
	return g.op1(op, []*Value{a, b}, nil, nodeAux{}, Bool, shape)
}

// Equal returns a == b as bool (no gradient).
func (g *Graph) Equal(a, b *Value) *Value { return g.compare("Equal", a, b, false) }

// Less returns a < b as bool (no gradient).
func (g *Graph) Less(a, b *Value) *Value { return g.compare("Less", a, b, false) }

// Greater returns a > b as bool (no gradient).
func (g *Graph) Greater(a, b *Value) *Value { return g.compare("Greater", a, b, false) }

// LessOrEqual returns a <= b as bool (no gradient).
func (g *Graph) LessOrEqual(a, b *Value) *Value { return g.compare("LessOrEqual", a, b, false) }

// GreaterOrEqual returns a >= b as bool (no gradient).
func (g *Graph) GreaterOrEqual(a, b *Value) *Value {
	return g.compare("GreaterOrEqual", a, b, false)
}

// And returns the logical and of bool tensors.
func (g *Graph) And(a, b *Value) *Value { return g.compare("And", a, b, true) }

// Or returns the logical or of bool tensors.
func (g *Graph) Or(a, b *Value) *Value { return g.compare("Or", a, b, true) }

// Not returns the logical negation of a bool tensor.
func (g *Graph) Not(x *Value) *Value {
	if !g.check("Not", x) {
		return g.poison(x)
	}
	if x.DType != Bool {
		g.fail("Not", []*Value{x}, "needs a bool operand")
		return g.poison(x)
	}
	return g.op1("Not", []*Value{x}, nil, nodeAux{}, Bool, x.Shape)
}

// Cast converts x to element type to.
func (g *Graph) Cast(x *Value, to DType) *Value {
	if !g.check("Cast", x) {
		return g.poison(x)
	}
	if !to.known() {
		g.fail("Cast", []*Value{x}, "unsupported target dtype %s", to)
		return g.poison(x)
	}
	v := g.op1("Cast", []*Value{x}, []attr{{name: "to", kind: attrInt, i: int64(to)}}, nodeAux{}, to, x.Shape)
	if to == Int64 && x.known != nil {
		v.known = slices.Clone(x.known)
	}
	return v
}

// ---- linear algebra / nn ----

// MatMul is numpy matmul, including batch broadcasting and 1-D operands.
func (g *Graph) MatMul(a, b *Value) *Value {
	if !g.check("MatMul", a, b) {
		return g.poison(a)
	}
	ops := []*Value{a, b}
	if a.DType != b.DType || a.DType == Bool {
		g.fail("MatMul", ops, "dtype mismatch or bool operand")
		return g.poison(a)
	}
	if a.Rank() < 1 || b.Rank() < 1 {
		g.fail("MatMul", ops, "operands must have rank >= 1")
		return g.poison(a)
	}
	as, bs := a.Shape, b.Shape
	if len(as) == 1 {
		as = []int64{1, as[0]}
	}
	if len(bs) == 1 {
		bs = []int64{bs[0], 1}
	}
	ka, kb := as[len(as)-1], bs[len(bs)-2]
	if _, ok := mergeDim(ka, kb); !ok {
		g.fail("MatMul", ops, "inner dims differ: %d vs %d", ka, kb)
		return g.poison(a)
	}
	batch, err := broadcast(as[:len(as)-2], bs[:len(bs)-2])
	if err != nil {
		g.fail("MatMul", ops, "batch dims: %v", err)
		return g.poison(a)
	}
	out := batch
	if a.Rank() > 1 {
		out = append(out, as[len(as)-2])
	}
	if b.Rank() > 1 {
		out = append(out, bs[len(bs)-1])
	}
	return g.op1("MatMul", ops, nil, nodeAux{}, a.DType, out)
}

// Gemm returns alpha*A'*B' + beta*C with A' = A^T if transA (same for B);
// c may be nil.
func (g *Graph) Gemm(a, b, c *Value, transA, transB bool, alpha, beta float64) *Value {
	ops := []*Value{a, b}
	if c != nil {
		ops = append(ops, c)
	}
	if !g.check("Gemm", ops...) {
		return g.poison(a)
	}
	if a.Rank() != 2 || b.Rank() != 2 || a.DType != b.DType || !a.DType.IsFloat() {
		g.fail("Gemm", ops, "A and B must be float matrices of one dtype")
		return g.poison(a)
	}
	m, k1 := a.Shape[0], a.Shape[1]
	if transA {
		m, k1 = k1, m
	}
	k2, n := b.Shape[0], b.Shape[1]
	if transB {
		k2, n = n, k2
	}
	if _, ok := mergeDim(k1, k2); !ok {
		g.fail("Gemm", ops, "inner dims differ: %d vs %d", k1, k2)
		return g.poison(a)
	}
	out := []int64{m, n}
	if c != nil {
		if c.DType != a.DType || c.Rank() > 2 {
			g.fail("Gemm", ops, "C must have A's dtype and rank <= 2")
			return g.poison(a)
		}
		bs, err := broadcast(out, c.Shape)
		if err != nil || len(bs) != 2 {
			g.fail("Gemm", ops, "C is not broadcastable to [M N]: %v", err)
			return g.poison(a)
		}
		if bs[0] != out[0] && out[0] != -1 || bs[1] != out[1] && out[1] != -1 {
			g.fail("Gemm", ops, "C is not unidirectionally broadcastable to %s", shapeStr(out))
			return g.poison(a)
		}
		out = bs
	}
	attrs := []attr{
		{name: "alpha", kind: attrFloat, f: alpha},
		{name: "beta", kind: attrFloat, f: beta},
		{name: "transA", kind: attrInt, i: b2i(transA)},
		{name: "transB", kind: attrInt, i: b2i(transB)},
	}
	aux := nodeAux{transA: transA, transB: transB, alpha: alpha, beta: beta}
	return g.op1("Gemm", ops, attrs, aux, a.DType, out)
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func (g *Graph) softmaxLike(op string, x *Value, axis int) *Value {
	if !g.check(op, x) {
		return g.poison(x)
	}
	if !x.DType.IsFloat() {
		g.fail(op, []*Value{x}, "needs a float operand")
		return g.poison(x)
	}
	a, err := normAxis(int64(axis), x.Rank())
	if err != nil {
		g.fail(op, []*Value{x}, "%v", err)
		return g.poison(x)
	}
	return g.op1(op, []*Value{x}, []attr{{name: "axis", kind: attrInt, i: a}}, nodeAux{axis: int(a)}, x.DType, x.Shape)
}

// Softmax along axis.
func (g *Graph) Softmax(x *Value, axis int) *Value { return g.softmaxLike("Softmax", x, axis) }

// LogSoftmax along axis.
func (g *Graph) LogSoftmax(x *Value, axis int) *Value { return g.softmaxLike("LogSoftmax", x, axis) }

// ReduceSum sums over axes (nil = all axes).
func (g *Graph) ReduceSum(x *Value, axes []int64, keepDims bool) *Value {
	return g.reduce("ReduceSum", x, axes, keepDims)
}

// ReduceMean averages over axes (nil = all axes).
func (g *Graph) ReduceMean(x *Value, axes []int64, keepDims bool) *Value {
	return g.reduce("ReduceMean", x, axes, keepDims)
}

// ReduceMax takes the maximum over axes (nil = all axes).
func (g *Graph) ReduceMax(x *Value, axes []int64, keepDims bool) *Value {
	return g.reduce("ReduceMax", x, axes, keepDims)
}

func (g *Graph) reduce(op string, x *Value, axes []int64, keepDims bool) *Value {
	if !g.check(op, x) {
		return g.poison(x)
	}
	if x.DType == Bool {
		g.fail(op, []*Value{x}, "bool operand")
		return g.poison(x)
	}
	if axes == nil {
		axes = allAxes(x.Rank())
	}
	na, err := normAxes(axes, x.Rank())
	if err != nil {
		g.fail(op, []*Value{x}, "%v", err)
		return g.poison(x)
	}
	var out []int64
	for i, d := range x.Shape {
		if slices.Contains(na, int64(i)) {
			if keepDims {
				out = append(out, 1)
			}
			continue
		}
		out = append(out, d)
	}
	if out == nil {
		out = []int64{}
	}
	inputs := []*Value{x}
	if len(na) > 0 {
		inputs = append(inputs, g.ConstI64(na, []int64{int64(len(na))}))
	}
	attrs := []attr{{name: "keepdims", kind: attrInt, i: b2i(keepDims)}}
	if len(na) == 0 {
		attrs = append(attrs, attr{name: "noop_with_empty_axes", kind: attrInt, i: 1})
	}
	return g.op1(op, inputs, attrs, nodeAux{axes: na, keepDims: keepDims}, x.DType, out)
}

// ---- shape ops ----

// Reshape with ONNX semantics: 0 copies the input dim, -1 is inferred.
func (g *Graph) Reshape(x *Value, shape []int64) *Value {
	if !g.check("Reshape", x) {
		return g.poison(x)
	}
	out, err := reshapeShape(x.Shape, shape)
	if err != nil {
		g.fail("Reshape", []*Value{x}, "%v", err)
		return g.poison(x)
	}
	s := g.ConstI64(shape, []int64{int64(len(shape))})
	v := g.op1("Reshape", []*Value{x, s}, nil, nodeAux{}, x.DType, out)
	v.known = reshapeKnown(x, out)
	return v
}

func reshapeKnown(x *Value, out []int64) []int64 {
	if x.known == nil || len(out) > 1 {
		return nil
	}
	return slices.Clone(x.known)
}

// ReshapeTo reshapes x to a target shape held in an int64 1-D Value.
func (g *Graph) ReshapeTo(x, shape *Value) *Value {
	if !g.check("ReshapeTo", x, shape) {
		return g.poison(x)
	}
	if shape.DType != Int64 || shape.Rank() != 1 || shape.Shape[0] < 0 {
		g.fail("ReshapeTo", []*Value{x, shape}, "target shape must be int64 1-D with a static length")
		return g.poison(x)
	}
	target := shape.known
	if target == nil {
		target = make([]int64, shape.Shape[0])
		for i := range target {
			target[i] = unknownVal
		}
	}
	out, err := reshapeShape(x.Shape, target)
	if err != nil {
		g.fail("ReshapeTo", []*Value{x, shape}, "%v", err)
		return g.poison(x)
	}
	v := g.op1("Reshape", []*Value{x, shape}, nil, nodeAux{}, x.DType, out)
	v.known = reshapeKnown(x, out)
	return v
}

// Transpose permutes axes (no perm = reverse them).
func (g *Graph) Transpose(x *Value, perm ...int64) *Value {
	if !g.check("Transpose", x) {
		return g.poison(x)
	}
	r := x.Rank()
	if len(perm) == 0 {
		perm = make([]int64, r)
		for i := range perm {
			perm[i] = int64(r - 1 - i)
		}
	}
	np, err := normAxes(perm, r)
	if err != nil || len(np) != r {
		g.fail("Transpose", []*Value{x}, "perm %v is not a permutation of %d axes", perm, r)
		return g.poison(x)
	}
	out := make([]int64, r)
	for i, p := range np {
		out[i] = x.Shape[p]
	}
	return g.op1("Transpose", []*Value{x}, []attr{{name: "perm", kind: attrInts, ints: np}}, nodeAux{perm: np}, x.DType, out)
}

// Concat joins tensors along axis.
func (g *Graph) Concat(axis int, xs ...*Value) *Value {
	if len(xs) == 0 {
		g.fail("Concat", nil, "no operands")
		return g.poison(nil)
	}
	if !g.check("Concat", xs...) {
		return g.poison(xs[0])
	}
	r := xs[0].Rank()
	a, err := normAxis(int64(axis), r)
	if err != nil {
		g.fail("Concat", xs, "%v", err)
		return g.poison(xs[0])
	}
	out := slices.Clone(xs[0].Shape)
	out[a] = 0
	for _, x := range xs {
		if x.Rank() != r || x.DType != xs[0].DType {
			g.fail("Concat", xs, "operands differ in rank or dtype")
			return g.poison(xs[0])
		}
		for i, d := range x.Shape {
			if int64(i) == a {
				if out[a] >= 0 && d >= 0 {
					out[a] += d
				} else {
					out[a] = -1
				}
				continue
			}
			m, ok := mergeDim(out[i], d)
			if !ok {
				g.fail("Concat", xs, "dim %d differs: %d vs %d", i, out[i], d)
				return g.poison(xs[0])
			}
			out[i] = m
		}
	}
	v := g.op1("Concat", slices.Clone(xs), []attr{{name: "axis", kind: attrInt, i: a}}, nodeAux{axis: int(a)}, xs[0].DType, out)
	if xs[0].DType == Int64 && r == 1 {
		var k []int64
		for _, x := range xs {
			if x.known == nil {
				k = nil
				break
			}
			k = append(k, x.known...)
		}
		v.known = k
	}
	return v
}

// Split cuts x along axis into pieces of the given sizes.
func (g *Graph) Split(x *Value, axis int, sizes []int64) []*Value {
	if !g.check("Split", x) {
		return g.poisonN(x, max(len(sizes), 1))
	}
	a, err := normAxis(int64(axis), x.Rank())
	if err != nil || len(sizes) == 0 {
		g.fail("Split", []*Value{x}, "bad axis or no sizes: %v", err)
		return g.poisonN(x, max(len(sizes), 1))
	}
	var total int64
	for _, s := range sizes {
		if s < 0 {
			g.fail("Split", []*Value{x}, "negative size in %v", sizes)
			return g.poisonN(x, len(sizes))
		}
		total += s
	}
	if d := x.Shape[a]; d >= 0 && d != total {
		g.fail("Split", []*Value{x}, "sizes %v sum to %d, dim %d is %d", sizes, total, a, d)
		return g.poisonN(x, len(sizes))
	}
	outs := make([]outSpec, len(sizes))
	for i, s := range sizes {
		sh := slices.Clone(x.Shape)
		sh[a] = s
		outs[i] = outSpec{x.DType, sh}
	}
	sv := g.ConstI64(sizes, []int64{int64(len(sizes))})
	n := g.newNode("Split", []*Value{x, sv}, []attr{{name: "axis", kind: attrInt, i: a}}, nodeAux{axis: int(a)}, outs...)
	if x.known != nil && x.Rank() == 1 {
		off := int64(0)
		for i, s := range sizes {
			n.outputs[i].known = slices.Clone(x.known[off : off+s])
			off += s
		}
	}
	return slices.Clone(n.outputs)
}

// splitDyn splits with a dynamic sizes Value; outs gives each output's shape.
func (g *Graph) splitDyn(x *Value, axis int, sizes *Value, shapes [][]int64) []*Value {
	outs := make([]outSpec, len(shapes))
	for i, s := range shapes {
		outs[i] = outSpec{x.DType, s}
	}
	n := g.newNode("Split", []*Value{x, sizes}, []attr{{name: "axis", kind: attrInt, i: int64(axis)}}, nodeAux{axis: axis}, outs...)
	return n.outputs
}

// Slice takes x[starts:ends:steps] along axes (axes nil = 0..len(starts)-1,
// steps nil = 1), ONNX semantics (negative indices count from the end,
// out-of-range bounds are clamped).
func (g *Graph) Slice(x *Value, starts, ends, axes, steps []int64) *Value {
	if !g.check("Slice", x) {
		return g.poison(x)
	}
	if axes == nil {
		axes = allAxes(len(starts))
	}
	if steps == nil {
		steps = make([]int64, len(starts))
		for i := range steps {
			steps[i] = 1
		}
	}
	if len(ends) != len(starts) || len(axes) != len(starts) || len(steps) != len(starts) {
		g.fail("Slice", []*Value{x}, "starts %v, ends %v, axes %v, steps %v differ in length", starts, ends, axes, steps)
		return g.poison(x)
	}
	n := int64(len(starts))
	return g.sliceV("Slice", x, g.ConstI64(starts, []int64{n}), g.ConstI64(ends, []int64{n}),
		g.ConstI64(axes, []int64{n}), g.ConstI64(steps, []int64{n}))
}

// SliceV slices with dynamic bounds: starts, ends, axes are int64 1-D Values
// of one length (steps are 1).
func (g *Graph) SliceV(x, starts, ends, axes *Value) *Value {
	if !g.check("SliceV", x, starts, ends, axes) {
		return g.poison(x)
	}
	return g.sliceV("SliceV", x, starts, ends, axes, nil)
}

func (g *Graph) sliceV(op string, x, starts, ends, axes, steps *Value) *Value {
	ops := []*Value{x, starts, ends, axes}
	if steps != nil {
		ops = append(ops, steps)
	}
	for _, v := range ops[1:] {
		if v.DType != Int64 || v.Rank() != 1 || (v.Shape[0] >= 0 && starts.Shape[0] >= 0 && v.Shape[0] != starts.Shape[0]) {
			g.fail(op, ops, "starts/ends/axes/steps must be int64 1-D of one length")
			return g.poison(x)
		}
	}
	out := slices.Clone(x.Shape)
	if axes.known == nil {
		for i := range out {
			out[i] = -1
		}
	} else {
		na, err := normAxes(axes.known, x.Rank())
		if err != nil {
			g.fail(op, ops, "%v", err)
			return g.poison(x)
		}
		for j, a := range na {
			st, en := at(starts.known, j), at(ends.known, j)
			step := int64(1)
			if steps != nil {
				step = at(steps.known, j)
			}
			if step == 0 {
				g.fail(op, ops, "step 0 on axis %d", a)
				return g.poison(x)
			}
			d := x.Shape[a]
			if d < 0 || st == unknownVal || en == unknownVal || step == unknownVal {
				out[a] = -1
				continue
			}
			_, out[a] = sliceRange(d, st, en, step)
		}
	}
	v := g.op1("Slice", ops, nil, nodeAux{}, x.DType, out)
	if x.known != nil && x.Rank() == 1 && staticShape(out) && axes.known != nil && len(axes.known) == 1 {
		st, en := at(starts.known, 0), at(ends.known, 0)
		step := int64(1)
		if steps != nil {
			step = at(steps.known, 0)
		}
		if st != unknownVal && en != unknownVal && step != unknownVal {
			first, cnt := sliceRange(int64(len(x.known)), st, en, step)
			k := make([]int64, cnt)
			for i := range k {
				k[i] = x.known[first+int64(i)*step]
			}
			v.known = k
		}
	}
	return v
}

func at(k []int64, i int) int64 {
	if k == nil || i >= len(k) {
		return unknownVal
	}
	return k[i]
}

// Squeeze removes size-1 axes (no axes = all static size-1 axes).
func (g *Graph) Squeeze(x *Value, axes ...int64) *Value {
	if !g.check("Squeeze", x) {
		return g.poison(x)
	}
	if len(axes) == 0 {
		for i, d := range x.Shape {
			if d == -1 {
				g.fail("Squeeze", []*Value{x}, "squeeze without axes on a dynamic dim")
				return g.poison(x)
			}
			if d == 1 {
				axes = append(axes, int64(i))
			}
		}
	}
	na, err := normAxes(axes, x.Rank())
	if err != nil {
		g.fail("Squeeze", []*Value{x}, "%v", err)
		return g.poison(x)
	}
	out := []int64{}
	for i, d := range x.Shape {
		if slices.Contains(na, int64(i)) {
			if d != 1 && d != -1 {
				g.fail("Squeeze", []*Value{x}, "axis %d has size %d, not 1", i, d)
				return g.poison(x)
			}
			continue
		}
		out = append(out, d)
	}
	v := g.op1("Squeeze", []*Value{x, g.ConstI64(na, []int64{int64(len(na))})}, nil, nodeAux{axes: na}, x.DType, out)
	v.known = reshapeKnown(x, out)
	return v
}

// Unsqueeze inserts size-1 axes (axes index the output).
func (g *Graph) Unsqueeze(x *Value, axes ...int64) *Value {
	if !g.check("Unsqueeze", x) {
		return g.poison(x)
	}
	r := x.Rank() + len(axes)
	na, err := normAxes(axes, r)
	if err != nil || len(axes) == 0 {
		g.fail("Unsqueeze", []*Value{x}, "bad axes %v: %v", axes, err)
		return g.poison(x)
	}
	out := make([]int64, r)
	j := 0
	for i := range out {
		if slices.Contains(na, int64(i)) {
			out[i] = 1
			continue
		}
		out[i] = x.Shape[j]
		j++
	}
	v := g.op1("Unsqueeze", []*Value{x, g.ConstI64(na, []int64{int64(len(na))})}, nil, nodeAux{axes: na}, x.DType, out)
	v.known = reshapeKnown(x, out)
	return v
}

// Expand broadcasts x to shape (int64 1-D Value), numpy style.
func (g *Graph) Expand(x, shape *Value) *Value {
	if !g.check("Expand", x, shape) {
		return g.poison(x)
	}
	ops := []*Value{x, shape}
	if shape.DType != Int64 || shape.Rank() != 1 || shape.Shape[0] < 0 {
		g.fail("Expand", ops, "shape must be int64 1-D with a static length")
		return g.poison(x)
	}
	n := int(shape.Shape[0])
	tgt := make([]int64, n)
	for i := range tgt {
		tgt[i] = at(shape.known, i)
	}
	r := max(n, x.Rank())
	out := make([]int64, r)
	for i := range out {
		xd, sd := int64(1), int64(1)
		if j := i - (r - x.Rank()); j >= 0 {
			xd = x.Shape[j]
		}
		if j := i - (r - n); j >= 0 {
			sd = tgt[j]
		}
		if sd == unknownVal {
			if xd > 1 {
				out[i] = xd
			} else {
				out[i] = -1
			}
			continue
		}
		m, ok := broadcastDims(xd, sd)
		if !ok {
			g.fail("Expand", ops, "cannot expand %s to %s", shapeStr(x.Shape), fmtKnown(tgt))
			return g.poison(x)
		}
		out[i] = m
	}
	return g.op1("Expand", ops, nil, nodeAux{}, x.DType, out)
}

// Shape returns the shape of x as int64 1-D.
func (g *Graph) Shape(x *Value) *Value {
	if !g.check("Shape", x) {
		return g.poison(x)
	}
	v := g.op1("Shape", []*Value{x}, nil, nodeAux{}, Int64, []int64{int64(x.Rank())})
	v.known = knownFromShape(x.Shape)
	return v
}

// ShapeDims returns dims [start, end) of x's shape (ONNX Shape start/end
// attributes: negative values count from the end, bounds are clamped).
func (g *Graph) ShapeDims(x *Value, start, end int64) *Value {
	if !g.check("ShapeDims", x) {
		return g.poison(x)
	}
	r := int64(x.Rank())
	s, e := start, end
	if s < 0 {
		s += r
	}
	if e < 0 {
		e += r
	}
	s, e = min(max(s, 0), r), min(max(e, 0), r)
	e = max(e, s)
	attrs := []attr{{name: "start", kind: attrInt, i: start}, {name: "end", kind: attrInt, i: end}}
	v := g.op1("Shape", []*Value{x}, attrs, nodeAux{}, Int64, []int64{e - s})
	v.known = knownFromShape(x.Shape[s:e])
	return v
}

// Gather takes slices of data along axis at indices (int32/int64).
func (g *Graph) Gather(data, indices *Value, axis int) *Value {
	if !g.check("Gather", data, indices) {
		return g.poison(data)
	}
	ops := []*Value{data, indices}
	if !indices.DType.isInt() {
		g.fail("Gather", ops, "indices must be int32 or int64")
		return g.poison(data)
	}
	a, err := normAxis(int64(axis), data.Rank())
	if err != nil {
		g.fail("Gather", ops, "%v", err)
		return g.poison(data)
	}
	out := slices.Concat(data.Shape[:a], indices.Shape, data.Shape[a+1:])
	if out == nil {
		out = []int64{}
	}
	v := g.op1("Gather", ops, []attr{{name: "axis", kind: attrInt, i: a}}, nodeAux{axis: int(a)}, data.DType, out)
	if data.known != nil && data.Rank() == 1 && indices.known != nil {
		k := make([]int64, len(indices.known))
		for i, ix := range indices.known {
			if ix < 0 && ix != unknownVal {
				ix += int64(len(data.known))
			}
			if ix < 0 || ix >= int64(len(data.known)) {
				if ix != unknownVal {
					g.fail("Gather", ops, "index %d out of range", indices.known[i])
					return g.poison(data)
				}
				k[i] = unknownVal
				continue
			}
			k[i] = data.known[ix]
		}
		v.known = k
	}
	return v
}

// GatherElements picks elements of data along axis; the output has the
// shape of indices.
func (g *Graph) GatherElements(data, indices *Value, axis int) *Value {
	if !g.check("GatherElements", data, indices) {
		return g.poison(data)
	}
	ops := []*Value{data, indices}
	if !indices.DType.isInt() || indices.Rank() != data.Rank() {
		g.fail("GatherElements", ops, "indices must be int32/int64 of the data rank")
		return g.poison(data)
	}
	a, err := normAxis(int64(axis), data.Rank())
	if err != nil {
		g.fail("GatherElements", ops, "%v", err)
		return g.poison(data)
	}
	for i := range data.Shape {
		if int64(i) != a && data.Shape[i] >= 0 && indices.Shape[i] > data.Shape[i] {
			g.fail("GatherElements", ops, "indices dim %d larger than data dim", i)
			return g.poison(data)
		}
	}
	return g.op1("GatherElements", ops, []attr{{name: "axis", kind: attrInt, i: a}}, nodeAux{axis: int(a)}, data.DType, indices.Shape)
}

// ConstantOfShape returns a tensor of the graph float type filled with v.
func (g *Graph) ConstantOfShape(shape *Value, v float64) *Value {
	return g.constantOfShape(shape, g.float, v)
}

func (g *Graph) constantOfShape(shape *Value, dt DType, v float64) *Value {
	if !g.check("ConstantOfShape", shape) {
		return g.poison(nil)
	}
	if shape.DType != Int64 || shape.Rank() != 1 || shape.Shape[0] < 0 {
		g.fail("ConstantOfShape", []*Value{shape}, "shape must be int64 1-D with a static length")
		return g.poison(nil)
	}
	out := make([]int64, shape.Shape[0])
	for i := range out {
		k := at(shape.known, i)
		if k == unknownVal {
			k = -1
		}
		out[i] = k
	}
	var t *Value
	switch dt {
	case Float32, Float64:
		t = &Value{DType: dt, Shape: []int64{1}, fdata: []float64{v}}
	case Int64:
		t = &Value{DType: dt, Shape: []int64{1}, idata: []int64{int64(v)}}
	case Bool:
		t = &Value{DType: dt, Shape: []int64{1}, bdata: []bool{v != 0}}
	case Float16, BFloat16:
		return g.Cast(g.constantOfShape(shape, Float32, v), dt)
	default:
		g.fail("ConstantOfShape", []*Value{shape}, "unsupported dtype %s", dt)
		return g.poison(nil)
	}
	t.Name = "value"
	return g.op1("ConstantOfShape", []*Value{shape}, []attr{{name: "value", kind: attrTensor, t: t}}, nodeAux{}, dt, out)
}

// Range returns [start, start+delta, ...) below limit (rank-0 operands of
// one numeric type; no gradient).
func (g *Graph) Range(start, limit, delta *Value) *Value {
	ops := []*Value{start, limit, delta}
	if !g.check("Range", ops...) {
		return g.poison(start)
	}
	for _, v := range ops {
		if v.Rank() != 0 || v.DType != start.DType || v.DType == Bool {
			g.fail("Range", ops, "operands must be rank-0 of one numeric dtype")
			return g.poison(start)
		}
	}
	n := int64(-1)
	if start.DType == Int64 {
		s, l, d := at(start.known, 0), at(limit.known, 0), at(delta.known, 0)
		if s != unknownVal && l != unknownVal && d != unknownVal && d != 0 {
			n = max(int64(math.Ceil(float64(l-s)/float64(d))), 0)
		}
	} else if start.fdata != nil && limit.fdata != nil && delta.fdata != nil && delta.fdata[0] != 0 {
		n = max(int64(math.Ceil((limit.fdata[0]-start.fdata[0])/delta.fdata[0])), 0)
	}
	v := g.op1("Range", ops, nil, nodeAux{}, start.DType, []int64{n})
	if n >= 0 && start.DType == Int64 {
		k := make([]int64, n)
		for i := range k {
			k[i] = start.known[0] + int64(i)*delta.known[0]
		}
		v.known = k
	}
	return v
}

// Trilu keeps the upper (or lower) triangle of the last two dims, offset k.
func (g *Graph) Trilu(x *Value, upper bool, k int64) *Value {
	if !g.check("Trilu", x) {
		return g.poison(x)
	}
	if x.Rank() < 2 {
		g.fail("Trilu", []*Value{x}, "needs rank >= 2")
		return g.poison(x)
	}
	kv := g.ScalarI64(k)
	return g.op1("Trilu", []*Value{x, kv}, []attr{{name: "upper", kind: attrInt, i: b2i(upper)}}, nodeAux{upper: upper}, x.DType, x.Shape)
}

// Identity returns a copy of x.
func (g *Graph) Identity(x *Value) *Value {
	if !g.check("Identity", x) {
		return g.poison(x)
	}
	v := g.op1("Identity", []*Value{x}, nil, nodeAux{}, x.DType, x.Shape)
	v.known = slices.Clone(x.known)
	return v
}

// StopGradient is an Identity that autodiff treats as a constant.
func (g *Graph) StopGradient(x *Value) *Value {
	v := g.Identity(x)
	if v.node != nil {
		v.node.stop = true
	}
	return v
}

// ---- internal ops used by autodiff ----

// rawOp adds a node without checks (autodiff internals).
func (g *Graph) rawOp(op string, inputs []*Value, attrs []attr, dt DType, shape []int64) *Value {
	if g.err != nil {
		return g.poison(&Value{DType: dt, Shape: shape})
	}
	for _, v := range inputs {
		if v != nil && v.kind == kindPoison {
			return g.poison(&Value{DType: dt, Shape: shape})
		}
	}
	return g.op1(op, inputs, attrs, nodeAux{}, dt, shape)
}

func (g *Graph) size(x *Value) *Value {
	v := g.rawOp("Size", []*Value{x}, nil, Int64, []int64{})
	if x.static() {
		v.known = []int64{numel(x.Shape)}
	}
	return v
}

func (g *Graph) sign(x *Value) *Value { return g.rawOp("Sign", []*Value{x}, nil, x.DType, x.Shape) }

// shapeOf returns x's shape as a constant when static, else a Shape node.
func (g *Graph) shapeOf(x *Value) *Value {
	if x.static() {
		return g.ConstI64(x.Shape, []int64{int64(x.Rank())})
	}
	return g.Shape(x)
}

// zerosLike returns zeros with x's dtype and shape.
func (g *Graph) zerosLike(x *Value) *Value {
	return g.constantOfShape(g.shapeOf(x), x.DType, 0)
}
