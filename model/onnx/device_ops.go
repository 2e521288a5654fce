package onnx

import "slices"

// Operators used by the graphs that keep state on a device (the KV-cache
// update, the cache set-up and the optimizer): they have no gradient.

// ScatterElements returns data with updates written at indices along axis
// (ONNX ScatterElements, no reduction); indices and updates have one shape.
// Bound to the same device buffer as data, its output updates the buffer
// in place (ONNX Runtime skips the copy of data when both are one buffer).
func (g *Graph) ScatterElements(data, indices, updates *Value, axis int) *Value {
	if !g.check("ScatterElements", data, indices, updates) {
		return g.poison(data)
	}
	ops := []*Value{data, indices, updates}
	a, err := normAxis(int64(axis), data.Rank())
	switch {
	case err != nil:
		g.fail("ScatterElements", ops, "%v", err)
		return g.poison(data)
	case !indices.DType.isInt():
		g.fail("ScatterElements", ops, "indices must be int32 or int64")
		return g.poison(data)
	case updates.DType != data.DType:
		g.fail("ScatterElements", ops, "updates must have data's dtype")
		return g.poison(data)
	case indices.Rank() != data.Rank() || updates.Rank() != data.Rank():
		g.fail("ScatterElements", ops, "data, indices and updates must have one rank")
		return g.poison(data)
	}
	return g.rawOp("ScatterElements", ops, []attr{{name: "axis", kind: attrInt, i: a}}, data.DType, slices.Clone(data.Shape))
}

// PadEnd pads x with zeros after its end along every axis by the amounts
// in pads (int64 [rank], known only at run time); the padded dimensions
// are dynamic.
func (g *Graph) PadEnd(x, pads *Value) *Value {
	if !g.check("Pad", x, pads) {
		return g.poison(x)
	}
	ops := []*Value{x, pads}
	if pads.DType != Int64 || pads.Rank() != 1 || pads.Shape[0] != int64(x.Rank()) {
		g.fail("Pad", ops, "pads must be int64 [%d]", x.Rank())
		return g.poison(x)
	}
	all := g.Concat(0, g.ConstI64(make([]int64, x.Rank()), []int64{int64(x.Rank())}), pads)
	shape := make([]int64, x.Rank())
	for i := range shape {
		shape[i] = -1
	}
	return g.rawOp("Pad", []*Value{x, all}, []attr{{name: "mode", kind: attrString, s: "constant"}}, x.DType, shape)
}

// IsFinite is true where x is neither NaN nor infinite.
func (g *Graph) IsFinite(x *Value) *Value {
	if !g.check("IsFinite", x) {
		return g.poison(x)
	}
	if !x.DType.IsFloat() {
		g.fail("IsFinite", []*Value{x}, "operand must be float")
		return g.poison(x)
	}
	nan := g.rawOp("IsNaN", []*Value{x}, nil, Bool, slices.Clone(x.Shape))
	inf := g.rawOp("IsInf", []*Value{x}, nil, Bool, slices.Clone(x.Shape))
	return g.Not(g.Or(nan, inf))
}
