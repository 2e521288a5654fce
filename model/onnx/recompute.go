package onnx

import (
	"slices"
	"strings"
)

// checkpointPrefix starts the node name of every Checkpoint marker; node
// names come from uniqueName only, so no other node carries it.
const checkpointPrefix = "_checkpoint_"

// GradOptions tune Graph.GradientsWith.
type GradOptions struct {
	// Recompute turns on activation recomputation (gradient
	// checkpointing): the forward nodes between two consecutive Checkpoint
	// markers that depend on the first marker are emitted a second time,
	// right before back-propagating through that segment, and the
	// segment's backward pass reads the recomputed activations instead of
	// the forward pass's ones, which are then dead once the forward pass is
	// over. Nodes before the first marker and after the last one are not
	// recomputed (the backward pass starts right after the last segment).
	//
	// The recomputed chain starts from the marker's value plus zero times
	// one element of the segment's incoming gradient: a data dependency
	// that leaves the values unchanged (for a finite gradient) but stops
	// ONNX Runtime from running the chain during the forward pass or
	// merging it with the original nodes (common-subexpression
	// elimination). The gate also depends on the gradients that the
	// segments already back-propagated sent to parameters and other outside
	// values, so that ONNX Runtime computes each layer's weight gradients
	// before recomputing the next segment instead of at the end of the
	// backward pass (which would keep every layer's recomputed activations
	// alive).
	Recompute bool
}

// Checkpoint returns x unchanged (an Identity node) and marks it as the
// start of a recomputation segment for GradientsWith with
// GradOptions.Recompute; without it the marker is an ordinary Identity.
// Mark the inputs of repeated blocks (e.g. every transformer layer) and the
// output of the last one.
func (g *Graph) Checkpoint(x *Value) *Value {
	if !g.check("Checkpoint", x) {
		return g.poison(x)
	}
	n := &node{op: "Identity", inputs: []*Value{x}}
	n.name = g.uniqueName(strings.Trim(checkpointPrefix, "_"))
	v := &Value{Name: g.uniqueName("Identity"), DType: x.DType, Shape: slices.Clone(x.Shape), g: g, node: n, known: slices.Clone(x.known)}
	n.outputs = []*Value{v}
	g.nodes = append(g.nodes, n)
	return v
}

func isCheckpoint(n *node) bool { return strings.HasPrefix(n.name, checkpointPrefix) }

// NumCheckpoints returns how many Checkpoint markers the graph holds.
func (g *Graph) NumCheckpoints() int {
	k := 0
	for _, n := range g.nodes {
		if isCheckpoint(n) {
			k++
		}
	}
	return k
}

// GradientsWith is Gradients with options (see GradOptions).
func (g *Graph) GradientsWith(loss *Value, wrt []*Value, opt GradOptions) ([]*Value, error) {
	return g.gradients(loss, wrt, opt)
}

// recomputer holds the recomputation segments of one Gradients call.
type recomputer struct {
	g *Graph
	// segOf maps a recomputed forward node to its segment.
	segOf map[*node]int
	// nodes lists each segment's recomputed nodes in forward order; entry
	// is the checkpoint value the segment starts from.
	nodes [][]*node
	entry []*Value
	// remap maps a segment's original values to the recomputed ones (nil
	// until the segment is emitted).
	remap []map[*Value]*Value
	// side collects the gradients that left a segment other than through
	// its entry (weight gradients above all) since the last segment was
	// emitted; the next gate depends on them (see emit).
	side []*Value
}

// planRecompute splits nodes at the checkpoint markers. A segment holds the
// nodes strictly between two consecutive markers that depend on the first
// one; nodes that do not (weight transposes, tables computed from inputs)
// are left alone.
func (g *Graph) planRecompute(nodes []*node) *recomputer {
	var marks []int
	for i, n := range nodes {
		if isCheckpoint(n) {
			marks = append(marks, i)
		}
	}
	if len(marks) < 2 {
		return nil
	}
	rc := &recomputer{g: g, segOf: map[*node]int{}}
	for s := 0; s+1 < len(marks); s++ {
		entry := nodes[marks[s]].outputs[0]
		live := map[*Value]bool{entry: true}
		var seg []*node
		for _, n := range nodes[marks[s]+1 : marks[s+1]] {
			if !slices.ContainsFunc(n.inputs, func(v *Value) bool { return v != nil && live[v] }) {
				continue
			}
			seg = append(seg, n)
			for _, o := range n.outputs {
				live[o] = true
			}
		}
		if len(seg) == 0 {
			continue
		}
		k := len(rc.nodes)
		for _, n := range seg {
			rc.segOf[n] = k
		}
		rc.nodes = append(rc.nodes, seg)
		rc.entry = append(rc.entry, entry)
		rc.remap = append(rc.remap, nil)
	}
	return rc
}

// forBackprop returns the node whose backward rule the reverse walk runs
// for n: n itself outside the segments, else a copy of n over the
// recomputed values, emitting the segment's recomputation first if this is
// the first of its nodes reached. gys are n's incoming gradients (one at
// least is non-nil).
func (rc *recomputer) forBackprop(n *node, gys []*Value) *node {
	if rc == nil {
		return n
	}
	s, ok := rc.segOf[n]
	if !ok {
		return n
	}
	if rc.remap[s] == nil {
		i := slices.IndexFunc(gys, func(v *Value) bool { return v != nil })
		rc.remap[s] = rc.emit(s, gys[i])
	}
	m := rc.remap[s]
	c := *n
	c.inputs = mapValues(n.inputs, m)
	c.outputs = mapValues(n.outputs, m)
	return &c
}

func mapValues(vs []*Value, m map[*Value]*Value) []*Value {
	out := make([]*Value, len(vs))
	for i, v := range vs {
		if r, ok := m[v]; ok {
			out[i] = r
		} else {
			out[i] = v
		}
	}
	return out
}

// noteGrad records gradient gx of input in of node n when it leaves n's
// segment other than through the entry: into a parameter, an input or a
// value computed outside the segment.
func (rc *recomputer) noteGrad(n *node, in, gx *Value) {
	if rc == nil {
		return
	}
	s, ok := rc.segOf[n]
	if !ok {
		if in.node == nil {
			rc.side = append(rc.side, gx)
		}
		return
	}
	if in == rc.entry[s] {
		return
	}
	if p, ok := rc.segOf[in.node]; in.node != nil && ok && p == s {
		return
	}
	rc.side = append(rc.side, gx)
}

// emit appends the recomputation of segment s, gated on gradient gy and on
// the side gradients of the segments already back-propagated. The second
// dependency matters for ONNX Runtime, whose default execution order is a
// depth-first walk back from the graph outputs: without it a weight
// gradient (an output of its own, off the path of the input gradients)
// may run only after the whole backward pass, keeping its inputs, the
// recomputed activations and the gradients of every layer, alive until
// then.
func (rc *recomputer) emit(s int, gy *Value) map[*Value]*Value {
	g := rc.g
	x := rc.entry[s]
	deps := append([]*Value{gy}, rc.side...)
	rc.side = nil
	m := map[*Value]*Value{x: g.gate(x, deps)}
	for _, n := range rc.nodes[s] {
		if n.op == "RandomUniformLike" {
			// A second draw would give another dropout mask: reuse the
			// forward pass's.
			m[n.outputs[0]] = n.outputs[0]
			continue
		}
		outs := make([]outSpec, len(n.outputs))
		for i, o := range n.outputs {
			outs[i] = outSpec{o.DType, o.Shape}
		}
		r := g.newNode(n.op, mapValues(n.inputs, m), n.attrs, n.aux, outs...)
		r.stop = n.stop
		for i, o := range n.outputs {
			r.outputs[i].known = slices.Clone(o.known)
			m[o] = r.outputs[i]
		}
	}
	return m
}

// gate returns x + 0 * (sum of the first element of each of deps): x's
// values (for finite deps; an empty dep counts 0), but only once every dep
// has been computed.
func (g *Graph) gate(x *Value, deps []*Value) *Value {
	firsts := make([]*Value, len(deps))
	for i, d := range deps {
		f := g.Slice(g.Reshape(d, []int64{-1}), []int64{0}, []int64{1}, []int64{0}, nil)
		if f.DType != x.DType {
			f = g.Cast(f, x.DType)
		}
		firsts[i] = f
	}
	all := firsts[0]
	if len(firsts) > 1 {
		all = g.Concat(0, firsts...)
	}
	s := g.ReduceSum(all, []int64{0}, false)
	return g.Add(x, g.Mul(s, g.scalarOf(x.DType, 0)))
}
