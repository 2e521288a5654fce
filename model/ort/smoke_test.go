package ort

import (
	"context"
	"testing"
)

func TestSmokeAdd(t *testing.T) {
	rt := openRT(t)
	t.Logf("onnxruntime %s", rt.Version())
	s := newSession(t, rt, addModel(t))
	x := mustTensor(t, []int64{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	y := mustTensor(t, []int64{2, 3}, []float32{10, 20, 30, 40, 50, 60})
	out, err := s.Run(context.Background(), map[string]Tensor{"x": x, "y": y}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", out["z"])
}
