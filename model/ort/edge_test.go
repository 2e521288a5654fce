//go:build cgo

package ort

import (
	"slices"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/model/onnx/pb"
)

func TestZeroSizeAndUnknownRank(t *testing.T) {
	rt := openRT(t)
	s := newSession(t, rt, addModel(t))
	e := mustTensor(t, []int64{0, 3}, []float32{})
	out, err := s.Run(bg, map[string]Tensor{"x": e, "y": e}, nil)
	if err != nil {
		t.Fatalf("zero-size run: %v", err)
	}
	if z := out["z"]; !slices.Equal(z.Shape, []int64{0, 3}) || z.Len() != 0 {
		t.Fatalf("z = %+v", z)
	}

	// Outputs of undeclared rank are allocated by ONNX Runtime; a rank-0
	// one cannot be copied by onnxruntime_go and must fail cleanly.
	m := marshal(t, model(t, &pb.GraphProto{
		Node: []*pb.NodeProto{
			node("ReduceSum", []string{"x"}, []string{"sum"}, intAttr("keepdims", 0)),
			node("Neg", []string{"x"}, []string{"neg"}),
		},
		Input:  []*pb.ValueInfoProto{vi("x", Float32, "n")},
		Output: []*pb.ValueInfoProto{viNoShape("neg", Float32), viNoShape("sum", Float32)},
	}))
	s2 := newSession(t, rt, m)
	_, err = s2.Run(bg, map[string]Tensor{"x": mustTensor(t, []int64{3}, []float32{1, 2, 3})}, []string{"neg"})
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), `"sum"`) {
		t.Fatalf("rank-0 output of unknown declared rank: err = %v", err)
	}
}
