//go:build cgo

package ort

import (
	"encoding/binary"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/videossr/videossr-go/model/onnx/pb"
)

// Tiny ONNX models built with the generated protobuf types (IR 8, opset 18).

// dim is a model dimension: >= 0 a fixed size, < 0 a symbolic one.
func vi(name string, dt DType, dims ...any) *pb.ValueInfoProto {
	shape := &pb.TensorShapeProto{}
	for _, d := range dims {
		switch d := d.(type) {
		case int:
			shape.Dim = append(shape.Dim, &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
		case string:
			shape.Dim = append(shape.Dim, &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimParam{DimParam: d}})
		}
	}
	return &pb.ValueInfoProto{
		Name: proto.String(name),
		Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: &pb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(dt)), Shape: shape,
		}}},
	}
}

// viNoShape declares a tensor of unknown rank.
func viNoShape(name string, dt DType) *pb.ValueInfoProto {
	return &pb.ValueInfoProto{
		Name: proto.String(name),
		Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: &pb.TypeProto_Tensor{ElemType: proto.Int32(int32(dt))}}},
	}
}

func node(op string, in []string, out []string, attrs ...*pb.AttributeProto) *pb.NodeProto {
	return &pb.NodeProto{OpType: proto.String(op), Input: in, Output: out, Attribute: attrs}
}

func intAttr(name string, v int64) *pb.AttributeProto {
	t := pb.AttributeProto_INT
	return &pb.AttributeProto{Name: proto.String(name), Type: &t, I: proto.Int64(v)}
}

func f32Init(name string, dims []int64, vals []float32) *pb.TensorProto {
	raw := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &pb.TensorProto{Name: proto.String(name), Dims: dims, DataType: proto.Int32(int32(pb.TensorProto_FLOAT)), RawData: raw}
}

func model(t testing.TB, g *pb.GraphProto) *pb.ModelProto {
	t.Helper()
	if g.Name == nil {
		g.Name = proto.String("test")
	}
	return &pb.ModelProto{
		IrVersion:    proto.Int64(8),
		OpsetImport:  []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(18)}},
		ProducerName: proto.String("ort_test"),
		Graph:        g,
	}
}

func marshal(t testing.TB, m *pb.ModelProto) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// addModel: z = x + y, float32 [N,3] with N dynamic.
func addModel(t testing.TB) []byte {
	return marshal(t, model(t, &pb.GraphProto{
		Node:   []*pb.NodeProto{node("Add", []string{"x", "y"}, []string{"z"})},
		Input:  []*pb.ValueInfoProto{vi("x", Float32, "N", 3), vi("y", Float32, "N", 3)},
		Output: []*pb.ValueInfoProto{vi("z", Float32, "N", 3)},
	}))
}

// matmulModel: c = a @ b with the given dtype and static shapes [m,k]x[k,n].
func matmulModel(t testing.TB, dt DType, m, k, n int) []byte {
	return marshal(t, model(t, &pb.GraphProto{
		Node:   []*pb.NodeProto{node("MatMul", []string{"a", "b"}, []string{"c"})},
		Input:  []*pb.ValueInfoProto{vi("a", dt, m, k), vi("b", dt, k, n)},
		Output: []*pb.ValueInfoProto{vi("c", dt, m, n)},
	}))
}

func openRT(t testing.TB) *Runtime {
	t.Helper()
	rt, err := Open("")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := rt.Close(); err != nil {
			t.Errorf("Runtime.Close: %v", err)
		}
	})
	return rt
}

func newSession(t testing.TB, rt *Runtime, model []byte) *Session {
	t.Helper()
	s, err := rt.NewSession(model, Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Session.Close: %v", err)
		}
	})
	return s
}

func mustTensor[T Element](t testing.TB, shape []int64, data []T) Tensor {
	t.Helper()
	x, err := NewTensor(shape, data)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// loopModel: v_out = v + m (float32 [1]) computed by a Loop of m iterations
// adding 1 each time; m is a rank-0 int64 input. With a huge m it runs
// until cancelled.
func loopModel(t testing.TB) []byte {
	boolT := int32(pb.TensorProto_BOOL)
	body := &pb.GraphProto{
		Name: proto.String("body"),
		Node: []*pb.NodeProto{
			node("Identity", []string{"cond_in"}, []string{"cond_out"}),
			node("Add", []string{"v_in", "one"}, []string{"v_out"}),
		},
		Input:  []*pb.ValueInfoProto{vi("iter", Int64), vi("cond_in", Bool), vi("v_in", Float32, 1)},
		Output: []*pb.ValueInfoProto{vi("cond_out", Bool), vi("v_out", Float32, 1)},
	}
	gAttr := pb.AttributeProto_GRAPH
	return marshal(t, model(t, &pb.GraphProto{
		Node: []*pb.NodeProto{
			{OpType: proto.String("Loop"), Input: []string{"m", "cond", "v"}, Output: []string{"v_final"},
				Attribute: []*pb.AttributeProto{{Name: proto.String("body"), Type: &gAttr, G: body}}},
		},
		Initializer: []*pb.TensorProto{
			f32Init("one", []int64{1}, []float32{1}),
			{Name: proto.String("cond"), DataType: &boolT, Int32Data: []int32{1}},
		},
		Input:  []*pb.ValueInfoProto{vi("m", Int64), vi("v", Float32, 1)},
		Output: []*pb.ValueInfoProto{vi("v_final", Float32, 1)},
	}))
}

// linearModel: y = x @ W + b with W [3,2] and b [2] initializers; W is also
// listed as a graph input (overridable initializer), which Inputs must
// leave out.
func linearModel(t testing.TB) []byte {
	return marshal(t, model(t, &pb.GraphProto{
		Node: []*pb.NodeProto{
			node("MatMul", []string{"x", "W"}, []string{"xw"}),
			node("Add", []string{"xw", "b"}, []string{"y"}),
		},
		Initializer: []*pb.TensorProto{
			f32Init("W", []int64{3, 2}, []float32{1, 2, 3, 4, 5, 6}),
			f32Init("b", []int64{2}, []float32{0.5, -0.5}),
		},
		Input:  []*pb.ValueInfoProto{vi("x", Float32, "batch", 3), vi("W", Float32, 3, 2)},
		Output: []*pb.ValueInfoProto{vi("y", Float32, "batch", 2)},
	}))
}

// gatherModel: out = Gather(data, idx, axis 0) on int64 data [4,3].
func gatherModel(t testing.TB) []byte {
	return marshal(t, model(t, &pb.GraphProto{
		Node:   []*pb.NodeProto{node("Gather", []string{"data", "idx"}, []string{"out"}, intAttr("axis", 0))},
		Input:  []*pb.ValueInfoProto{vi("data", Int64, 4, 3), vi("idx", Int64, "k")},
		Output: []*pb.ValueInfoProto{vi("out", Int64, "k", 3)},
	}))
}

// mixedModel exercises int32, bool, rank-0 and half types:
//
//	isum  = a + b                      int32 [2]
//	nota  = Not(flag)                  bool [3]
//	total = ReduceSum(x, keepdims 0)   float32 rank 0
//	scale = x * s                      float32 [2,2], s rank 0
//	h     = Cast(x, float16)           float16 [2,2]
//	bf    = Cast(x, bfloat16)          bfloat16 [2,2]
//	back  = Cast(hin, float32)         float32 [2], hin float16 [2]
func mixedModel(t testing.TB) []byte {
	return marshal(t, model(t, &pb.GraphProto{
		Node: []*pb.NodeProto{
			node("Add", []string{"a", "b"}, []string{"isum"}),
			node("Not", []string{"flag"}, []string{"nota"}),
			node("ReduceSum", []string{"x"}, []string{"total"}, intAttr("keepdims", 0)),
			node("Mul", []string{"x", "s"}, []string{"scale"}),
			node("Cast", []string{"x"}, []string{"h"}, intAttr("to", int64(Float16))),
			node("Cast", []string{"x"}, []string{"bf"}, intAttr("to", int64(BFloat16))),
			node("Cast", []string{"hin"}, []string{"back"}, intAttr("to", int64(Float32))),
		},
		Input: []*pb.ValueInfoProto{
			vi("a", Int32, 2), vi("b", Int32, 2), vi("flag", Bool, 3),
			vi("x", Float32, 2, 2), vi("s", Float32), vi("hin", Float16, 2),
		},
		Output: []*pb.ValueInfoProto{
			vi("isum", Int32, 2), vi("nota", Bool, 3), vi("total", Float32),
			vi("scale", Float32, 2, 2), vi("h", Float16, 2, 2), vi("bf", BFloat16, 2, 2),
			vi("back", Float32, 2),
		},
	}))
}
