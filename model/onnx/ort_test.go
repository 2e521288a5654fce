package onnx_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/videossr/videossr-go/model/onnx"
	"github.com/videossr/videossr-go/model/onnx/pb"
	"github.com/videossr/videossr-go/model/ort"
)

// ortSession adapts an ort.Session to the harness's session interface.
type ortSession struct {
	s    *ort.Session
	outs []string
}

// newEngine opens ONNX Runtime (skipping the test when the library is not
// installed) and returns an engine that creates CPU sessions. Graph
// optimizations are disabled: ONNX Runtime's CPU MatMul+Transpose fusion
// produces com.microsoft.FusedMatMul, which has no float64 kernel.
func newEngine(t testing.TB) engine {
	t.Helper()
	rt, err := ort.Open("")
	if err != nil {
		t.Skipf("onnxruntime not available: %v", err)
	}
	t.Cleanup(func() { rt.Close() })
	return func(model []byte, _, outs []string) (session, error) {
		s, err := rt.NewSession(model, ort.Options{DisableOptimizations: true, IntraOpThreads: 1, InterOpThreads: 1})
		if err != nil {
			return nil, err
		}
		return &ortSession{s: s, outs: outs}, nil
	}
}

func (s *ortSession) run(feeds map[string]tensor) (map[string]tensor, error) {
	out, err := s.s.Run(context.Background(), toOrt(feeds), s.outs)
	if err != nil {
		return nil, err
	}
	res := make(map[string]tensor, len(out))
	for k, v := range out {
		switch v.Data.(type) {
		case []float32, []float64, []int64, []bool:
		default:
			return nil, fmt.Errorf("output %s: unexpected data %T", k, v.Data)
		}
		res[k] = tensor{v.Shape, v.Data}
	}
	return res, nil
}

func (s *ortSession) close() { s.s.Close() }

func openRuntime(t testing.TB) *ort.Runtime {
	t.Helper()
	rt, err := ort.Open("")
	if err != nil {
		t.Skipf("onnxruntime not available: %v", err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

func toOrt(feeds map[string]tensor) map[string]ort.Tensor {
	in := make(map[string]ort.Tensor, len(feeds))
	for k, v := range feeds {
		in[k] = ort.Tensor{Shape: v.shape, Data: v.data}
	}
	return in
}

func fromOrt(out map[string]ort.Tensor) map[string]tensor {
	res := make(map[string]tensor, len(out))
	for k, v := range out {
		res[k] = tensor{v.Shape, v.Data}
	}
	return res
}

// runFile loads a model from disk (external data next to it) and runs it.
func runFile(t *testing.T, rt *ort.Runtime, path string, feeds map[string]tensor) map[string]tensor {
	t.Helper()
	s, err := rt.NewSessionFromFile(path, ort.Options{})
	if err != nil {
		t.Fatalf("session from %s: %v", path, err)
	}
	defer s.Close()
	out, err := s.Run(context.Background(), toOrt(feeds), nil)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return fromOrt(out)
}

// runModel runs a model with ONNX Runtime's default options.
func runModel(t *testing.T, rt *ort.Runtime, m *pb.ModelProto, feeds map[string]tensor) map[string]tensor {
	t.Helper()
	b, err := onnx.MarshalModel(m)
	if err != nil {
		t.Fatal(err)
	}
	s, err := rt.NewSession(b, ort.Options{})
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	defer s.Close()
	out, err := s.Run(context.Background(), toOrt(feeds), nil)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return fromOrt(out)
}
