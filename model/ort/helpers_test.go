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
