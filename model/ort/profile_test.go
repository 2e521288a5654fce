//go:build cgo

package ort

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestProfileAndOptimizedModel: ProfilePrefix writes a trace of the run,
// OptimizedModelPath the optimised graph, and config entries are accepted.
func TestProfileAndOptimizedModel(t *testing.T) {
	rt := openRT(t)
	dir := t.TempDir()
	opt := Options{
		ProfilePrefix:      filepath.Join(dir, "trace"),
		OptimizedModelPath: filepath.Join(dir, "opt.onnx"),
		ConfigEntries:      map[string]string{"session.intra_op.allow_spinning": "0"},
	}
	s, err := rt.NewSession(addModel(t), opt)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := NewTensor([]int64{1, 3}, []float32{1, 2, 3})
	if _, err := s.Run(context.Background(), map[string]Tensor{"x": x, "y": x}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // the trace is written when the session ends
		t.Fatal(err)
	}
	traces, _ := filepath.Glob(filepath.Join(dir, "trace*.json"))
	if len(traces) != 1 {
		t.Fatalf("profile files %v", traces)
	}
	if st, err := os.Stat(filepath.Join(dir, "opt.onnx")); err != nil || st.Size() == 0 {
		t.Fatalf("optimized model: %v", err)
	}
}
