package ort

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/videossr/videossr-go/model/onnx/pb"
)

func ioVI(name string, dt DType, shape *pb.TensorShapeProto) *pb.ValueInfoProto {
	return &pb.ValueInfoProto{Name: proto.String(name), Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{
		TensorType: &pb.TypeProto_Tensor{ElemType: proto.Int32(int32(dt)), Shape: shape}}}}
}

func dims(ds ...any) *pb.TensorShapeProto {
	s := &pb.TensorShapeProto{}
	for _, d := range ds {
		dim := &pb.TensorShapeProto_Dimension{}
		switch d := d.(type) {
		case int:
			dim.Value = &pb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}
		case string:
			dim.Value = &pb.TensorShapeProto_Dimension_DimParam{DimParam: d}
		}
		s.Dim = append(s.Dim, dim)
	}
	return s
}

func ioModel() *pb.ModelProto {
	return &pb.ModelProto{IrVersion: proto.Int64(8), Graph: &pb.GraphProto{
		Name: proto.String("g"),
		Initializer: []*pb.TensorProto{{Name: proto.String("w"), Dims: []int64{2}, DataType: proto.Int32(1),
			RawData: make([]byte, 8)}},
		Input: []*pb.ValueInfoProto{
			ioVI("ids", Int64, dims("B", 7)),
			ioVI("w", Float32, dims(2)),
			ioVI("scale", Float32, dims()),
			ioVI("any", BFloat16, nil),
			ioVI("nodim", Float32, dims(nil)),
		},
		Output: []*pb.ValueInfoProto{ioVI("loss", Float32, dims(1))},
	}}
}

func TestModelIO(t *testing.T) {
	b, err := proto.Marshal(ioModel())
	if err != nil {
		t.Fatal(err)
	}
	ins, outs, err := ModelIO(b)
	if err != nil {
		t.Fatal(err)
	}
	wantIn := []TensorInfo{
		{"ids", Int64, []int64{-1, 7}},
		{"scale", Float32, []int64{}},
		{"any", BFloat16, nil},
		{"nodim", Float32, []int64{-1}},
	}
	if !infoEq(ins, wantIn) {
		t.Fatalf("inputs = %v, want %v", ins, wantIn)
	}
	if want := []TensorInfo{{"loss", Float32, []int64{1}}}; !infoEq(outs, want) {
		t.Fatalf("outputs = %v, want %v", outs, want)
	}
	if ins[0].Static() || !ins[1].Static() || ins[2].Static() || !outs[0].Static() {
		t.Error("Static wrong")
	}
	if s := ins[2].String(); s != "any:bfloat16[?]" {
		t.Errorf("String = %q", s)
	}

	for name, bad := range map[string][]byte{
		"garbage":  []byte{0xff, 0xff, 0xff},
		"no graph": mustMarshal(t, &pb.ModelProto{IrVersion: proto.Int64(8)}),
		"sequence input": mustMarshal(t, &pb.ModelProto{Graph: &pb.GraphProto{Input: []*pb.ValueInfoProto{{
			Name: proto.String("seq"), Type: &pb.TypeProto{Value: &pb.TypeProto_SequenceType{SequenceType: &pb.TypeProto_Sequence{}}}}}}}),
	} {
		if _, _, err := ModelIO(bad); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func infoEq(a, b []TensorInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].DType != b[i].DType || (a[i].Shape == nil) != (b[i].Shape == nil) || len(a[i].Shape) != len(b[i].Shape) {
			return false
		}
		for j := range a[i].Shape {
			if a[i].Shape[j] != b[i].Shape[j] {
				return false
			}
		}
	}
	return true
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzModelIO checks that ModelIO never panics and agrees with a full
// protobuf decode on which names are inputs and outputs.
func FuzzModelIO(f *testing.F) {
	b, _ := proto.Marshal(ioModel())
	f.Add(b)
	f.Add([]byte{})
	f.Add([]byte{0x3a, 0x02, 0x5a, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		ins, outs, err := ModelIO(data)
		if err != nil {
			return
		}
		var m pb.ModelProto
		if proto.Unmarshal(data, &m) != nil {
			return // ModelIO reads less than a full decode
		}
		inits := map[string]bool{}
		for _, it := range m.GetGraph().GetInitializer() {
			inits[it.GetName()] = true
		}
		for _, st := range m.GetGraph().GetSparseInitializer() {
			inits[st.GetValues().GetName()] = true
		}
		var wantIn []string
		for _, v := range m.GetGraph().GetInput() {
			if !inits[v.GetName()] {
				wantIn = append(wantIn, v.GetName())
			}
		}
		if len(wantIn) != len(ins) || len(outs) != len(m.GetGraph().GetOutput()) {
			t.Fatalf("ModelIO found %d inputs %d outputs, full decode %d %d", len(ins), len(outs), len(wantIn), len(m.GetGraph().GetOutput()))
		}
		for i, n := range wantIn {
			if ins[i].Name != n {
				t.Fatalf("input %d = %q, want %q", i, ins[i].Name, n)
			}
		}
	})
}
