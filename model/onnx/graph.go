// Package onnx builds ONNX graphs from Go code: a small graph-building API
// with static shape inference (-1 marks a dynamic dimension), deferred
// first-error reporting, reverse-mode automatic differentiation
// (Graph.Gradients) and export to an ONNX ModelProto (IR version 8, opset 18
// of the default ai.onnx domain) with optional external tensor data.
//
// Build errors are not returned by every op: the first failure (an op name,
// its operand shapes and the caller's file:line) is recorded in the graph and
// every later op on that graph returns a poisoned placeholder Value. Check
// Graph.Err (Build and Gradients also return it).
package onnx

import (
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/videossr/videossr-go/model/onnx/pb"
)

// DType is an ONNX tensor element type; the numbers are those of
// pb.TensorProto_DataType.
type DType int32

// Element types used by the builder.
const (
	Float32  DType = 1
	Int32    DType = 6
	Int64    DType = 7
	Bool     DType = 9
	Float16  DType = 10
	Float64  DType = 11
	BFloat16 DType = 16
)

// String returns the lower-case name of the type ("float32", "int64", ...).
func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Int32:
		return "int32"
	case Int64:
		return "int64"
	case Bool:
		return "bool"
	case Float16:
		return "float16"
	case Float64:
		return "float64"
	case BFloat16:
		return "bfloat16"
	}
	return fmt.Sprintf("dtype(%d)", int32(d))
}

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool {
	return d == Float32 || d == Float64 || d == Float16 || d == BFloat16
}

func (d DType) isInt() bool { return d == Int32 || d == Int64 }

func (d DType) known() bool {
	switch d {
	case Float32, Int32, Int64, Bool, Float16, Float64, BFloat16:
		return true
	}
	return false
}

// unknownVal marks an element of a statically tracked int64 tensor whose value
// is not known at build time.
const unknownVal = math.MinInt64

type valueKind uint8

const (
	kindNode valueKind = iota
	kindInput
	kindParam
	kindConst
	kindPoison
)

// Value is a tensor in a graph: its ONNX name, element type and inferred
// shape (-1 = dynamic dim). Values are created by Graph methods only.
type Value struct {
	Name  string
	DType DType
	Shape []int64

	g    *Graph
	node *node // producer; nil for inputs, params and constants
	kind valueKind
	// known holds the statically known contents of small int64 tensors (shape
	// arithmetic); nil when unknown, unknownVal for unknown elements.
	known    []int64
	dimNames []string // graph inputs only
	fdata    []float64
	idata    []int64
	bdata    []bool
}

// Rank returns the number of dimensions of v.
func (v *Value) Rank() int { return len(v.Shape) }

// String formats v as name[dims] dtype, with ? for dynamic dims.
func (v *Value) String() string {
	if v == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%s%s %s", v.Name, shapeStr(v.Shape), v.DType)
}

func (v *Value) static() bool { return staticShape(v.Shape) }

type attr struct {
	name string
	kind pb.AttributeProto_AttributeType
	i    int64
	f    float64
	s    string
	ints []int64
	t    *Value // constant tensor attribute
}

// nodeAux keeps Go-side op parameters that autodiff needs.
type nodeAux struct {
	axes     []int64
	keepDims bool
	perm     []int64
	axis     int
	lo, hi   float64
	transA   bool
	transB   bool
	alpha    float64
	beta     float64
	upper    bool
}

type node struct {
	op      string
	name    string
	inputs  []*Value // nil = omitted optional input
	outputs []*Value
	attrs   []attr
	aux     nodeAux
	stop    bool // StopGradient
}

// Graph builds one ONNX graph. It is not safe for concurrent use.
type Graph struct {
	name    string
	float   DType
	err     error
	nodes   []*node
	inputs  []*Value
	params  []*Value
	consts  []*Value
	outputs []*Value
	names   map[string]bool
	counter int
}

// NewGraph starts an empty graph. float (Float32 or Float64) is the element
// type of Param, ConstF, Scalar and ConstantOfShape.
func NewGraph(name string, float DType) *Graph {
	g := &Graph{name: name, float: float, names: map[string]bool{}}
	if float != Float32 && float != Float64 {
		g.fail("NewGraph", nil, "graph float type must be float32 or float64, got %s", float)
	}
	return g
}

// Float returns the graph float type.
func (g *Graph) Float() DType { return g.float }

// Err returns the first build error, or nil.
func (g *Graph) Err() error { return g.err }

// Params returns the trainable parameters in creation order.
func (g *Graph) Params() []*Value { return slices.Clone(g.params) }

// Inputs returns the graph inputs (not parameters) in creation order.
func (g *Graph) Inputs() []*Value { return slices.Clone(g.inputs) }

// NumNodes returns the number of nodes created so far (including those that a
// Build would prune).
func (g *Graph) NumNodes() int { return len(g.nodes) }

// callerPos returns file:line of the first caller outside this package's
// non-test sources.
func callerPos() string {
	_, self, _, ok := runtime.Caller(0)
	dir := ""
	if ok {
		dir = filepath.Dir(self)
	}
	pcs := make([]uintptr, 32)
	n := runtime.Callers(2, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if filepath.Dir(f.File) != dir || strings.HasSuffix(f.File, "_test.go") {
			return fmt.Sprintf("%s:%d", filepath.Base(f.File), f.Line)
		}
		if !more {
			return "unknown"
		}
	}
}

// fail records the first error: op name, operand shapes, caller position.
func (g *Graph) fail(op string, operands []*Value, format string, args ...any) {
	if g.err != nil {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "onnx: %s at %s: %s", op, callerPos(), fmt.Sprintf(format, args...))
	if len(operands) > 0 {
		b.WriteString(" (operands:")
		for i, v := range operands {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(" ")
			if v == nil {
				b.WriteString("<nil>")
			} else {
				fmt.Fprintf(&b, "%s%s %s", v.Name, shapeStr(v.Shape), v.DType)
			}
		}
		b.WriteString(")")
	}
	g.err = fmt.Errorf("%s", b.String())
}

// check validates operands before an op; false means "return a poison value".
func (g *Graph) check(op string, vals ...*Value) bool {
	if g.err != nil {
		return false
	}
	for i, v := range vals {
		if v == nil {
			g.fail(op, vals, "operand %d is nil", i)
			return false
		}
		if v.g != g {
			g.fail(op, vals, "operand %d (%s) belongs to another graph", i, v.Name)
			return false
		}
		if v.kind == kindPoison {
			g.fail(op, vals, "operand %d is a poisoned value", i)
			return false
		}
	}
	return true
}

// poison returns a placeholder value (shape copied from hint when given).
func (g *Graph) poison(hint *Value) *Value {
	v := &Value{Name: "<poisoned>", DType: g.float, g: g, kind: kindPoison, Shape: []int64{}}
	if hint != nil {
		v.DType = hint.DType
		v.Shape = slices.Clone(hint.Shape)
	}
	return v
}

func (g *Graph) poisonN(hint *Value, n int) []*Value {
	out := make([]*Value, n)
	for i := range out {
		out[i] = g.poison(hint)
	}
	return out
}

// uniqueName returns base or base_N, not used before, and reserves it.
func (g *Graph) uniqueName(base string) string {
	for {
		g.counter++
		n := fmt.Sprintf("_%s_%d", base, g.counter)
		if !g.names[n] {
			g.names[n] = true
			return n
		}
	}
}

// reserve claims a user-given name; it records an error on a duplicate.
func (g *Graph) reserve(op, name string) bool {
	if name == "" {
		g.fail(op, nil, "empty name")
		return false
	}
	if g.names[name] {
		g.fail(op, nil, "name %q is already used in graph %q", name, g.name)
		return false
	}
	g.names[name] = true
	return true
}

// newNode appends a node with one output per entry of outs (dtype, shape).
func (g *Graph) newNode(op string, inputs []*Value, attrs []attr, aux nodeAux, outs ...outSpec) *node {
	n := &node{op: op, inputs: inputs, attrs: attrs, aux: aux}
	n.name = g.uniqueName("n" + op)
	for _, o := range outs {
		v := &Value{Name: g.uniqueName(op), DType: o.dt, Shape: slices.Clone(o.shape), g: g, node: n}
		n.outputs = append(n.outputs, v)
	}
	g.nodes = append(g.nodes, n)
	return n
}

type outSpec struct {
	dt    DType
	shape []int64
}

// op1 creates a single-output node and returns its output.
func (g *Graph) op1(op string, inputs []*Value, attrs []attr, aux nodeAux, dt DType, shape []int64) *Value {
	return g.newNode(op, inputs, attrs, aux, outSpec{dt, shape}).outputs[0]
}

// Input declares a graph input. Dims of -1 are dynamic; dimNames (optional,
// one per axis, "" = automatic) become ONNX dim_param names.
func (g *Graph) Input(name string, dt DType, shape []int64, dimNames ...string) *Value {
	v := &Value{Name: name, DType: dt, Shape: slices.Clone(shape), g: g, kind: kindInput}
	if g.err != nil {
		return g.poison(v)
	}
	if !dt.known() {
		g.fail("Input", nil, "input %q: unsupported dtype %s", name, dt)
		return g.poison(v)
	}
	if len(dimNames) > 0 && len(dimNames) != len(shape) {
		g.fail("Input", nil, "input %q: %d dim names for rank %d", name, len(dimNames), len(shape))
		return g.poison(v)
	}
	for _, d := range shape {
		if d < -1 {
			g.fail("Input", nil, "input %q: bad dim %d in shape %v", name, d, shape)
			return g.poison(v)
		}
	}
	if !g.reserve("Input", name) {
		return g.poison(v)
	}
	v.dimNames = slices.Clone(dimNames)
	g.inputs = append(g.inputs, v)
	return v
}

// Param declares a trainable parameter of the graph float type; name is the
// HF weight name. The shape must be fully static.
func (g *Graph) Param(name string, shape []int64) *Value {
	return g.ParamOf(name, shape, g.float)
}

// ParamOf declares a parameter held in float type dt, which may differ from
// the graph float type: a frozen weight kept in BFloat16 or Float16 is
// declared so and Cast to the compute type by the caller. Gradients can
// only be taken with respect to parameters of the graph float type.
func (g *Graph) ParamOf(name string, shape []int64, dt DType) *Value {
	v := &Value{Name: name, DType: dt, Shape: slices.Clone(shape), g: g, kind: kindParam}
	if g.err != nil {
		return g.poison(v)
	}
	if !dt.IsFloat() {
		g.fail("Param", nil, "param %q: dtype %s is not a float type", name, dt)
		return g.poison(v)
	}
	for _, d := range shape {
		if d < 0 {
			g.fail("Param", nil, "param %q: shape %v must be static", name, shape)
			return g.poison(v)
		}
	}
	if !g.reserve("Param", name) {
		return g.poison(v)
	}
	g.params = append(g.params, v)
	return v
}

func numel(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

func (g *Graph) constant(op string, dt DType, shape []int64) *Value {
	v := &Value{DType: dt, Shape: slices.Clone(shape), g: g, kind: kindConst}
	v.Name = g.uniqueName("const")
	g.consts = append(g.consts, v)
	return v
}

// ConstF adds a constant of the graph float type.
func (g *Graph) ConstF(vals []float64, shape []int64) *Value {
	return g.constF(g.float, vals, shape)
}

func (g *Graph) constF(dt DType, vals []float64, shape []int64) *Value {
	if g.err != nil {
		return g.poison(&Value{DType: dt, Shape: shape})
	}
	if !staticShape(shape) || numel(shape) != int64(len(vals)) {
		g.fail("ConstF", nil, "%d values for shape %v", len(vals), shape)
		return g.poison(&Value{DType: dt, Shape: shape})
	}
	if dt != Float32 && dt != Float64 {
		c := g.constF(Float32, vals, shape)
		return g.Cast(c, dt)
	}
	v := g.constant("ConstF", dt, shape)
	v.fdata = slices.Clone(vals)
	return v
}

// ConstI64 adds an int64 constant.
func (g *Graph) ConstI64(vals []int64, shape []int64) *Value {
	if g.err != nil {
		return g.poison(&Value{DType: Int64, Shape: shape})
	}
	if !staticShape(shape) || numel(shape) != int64(len(vals)) {
		g.fail("ConstI64", nil, "%d values for shape %v", len(vals), shape)
		return g.poison(&Value{DType: Int64, Shape: shape})
	}
	v := g.constant("ConstI64", Int64, shape)
	v.idata = slices.Clone(vals)
	v.known = slices.Clone(vals)
	return v
}

// Scalar adds a rank-0 constant of the graph float type.
func (g *Graph) Scalar(v float64) *Value { return g.ConstF([]float64{v}, []int64{}) }

// ScalarI64 adds a rank-0 int64 constant.
func (g *Graph) ScalarI64(v int64) *Value { return g.ConstI64([]int64{v}, []int64{}) }

// scalarOf adds a rank-0 constant of element type dt.
func (g *Graph) scalarOf(dt DType, v float64) *Value {
	if dt == Int64 {
		return g.ScalarI64(int64(v))
	}
	return g.constF(dt, []float64{v}, []int64{})
}

// Output marks v as a graph output called name (adding an Identity node when
// v has another name or is an input, parameter or constant).
func (g *Graph) Output(name string, v *Value) {
	if !g.check("Output", v) {
		return
	}
	for _, o := range g.outputs {
		if o.Name == name {
			g.fail("Output", []*Value{v}, "output %q declared twice", name)
			return
		}
	}
	if v.Name == name && v.kind == kindNode {
		g.outputs = append(g.outputs, v)
		return
	}
	if !g.reserve("Output", name) {
		return
	}
	n := &node{op: "Identity", inputs: []*Value{v}}
	n.name = g.uniqueName("nIdentity")
	o := &Value{Name: name, DType: v.DType, Shape: slices.Clone(v.Shape), g: g, node: n, known: slices.Clone(v.known)}
	n.outputs = []*Value{o}
	g.nodes = append(g.nodes, n)
	g.outputs = append(g.outputs, o)
}

// Outputs returns the declared graph outputs.
func (g *Graph) Outputs() []*Value { return slices.Clone(g.outputs) }
