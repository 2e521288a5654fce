//go:build cgo

package ort

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"
)

func matmulRef(a, b []float32, m, k, n int) []float32 {
	c := make([]float32, m*n)
	for i := range m {
		for l := range k {
			av := a[i*k+l]
			for j := range n {
				c[i*n+j] += av * b[l*n+j]
			}
		}
	}
	return c
}

func closeTo(got, want []float32, tol float32) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		d := got[i] - want[i]
		if d > tol || d < -tol {
			return false
		}
	}
	return true
}

func TestBindingReuse(t *testing.T) {
	rt := openRT(t)
	const m, k, n = 4, 5, 3
	s := newSession(t, rt, matmulModel(t, Float32, m, k, n))
	aData := make([]float32, m*k)
	b, err := s.Bind(map[string]Tensor{
		"a": mustTensor(t, []int64{m, k}, aData),
		"b": {Shape: []int64{k, n}}, // allocated by Bind
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a := b.Input("a").([]float32)
	if unsafe.SliceData(a) != unsafe.SliceData(aData) {
		t.Fatal("Input(a) is not the caller's slice")
	}
	bb := b.Input("b").([]float32)
	if len(bb) != k*n {
		t.Fatalf("Input(b) has %d elements, want %d", len(bb), k*n)
	}
	out := b.Output("c").([]float32)
	outPtr := unsafe.SliceData(out)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 4 {
		for i := range a {
			a[i] = rng.Float32()*2 - 1
		}
		for i := range bb {
			bb[i] = rng.Float32()*2 - 1
		}
		if err := b.Run(bg); err != nil {
			t.Fatal(err)
		}
		got := b.Output("c").([]float32)
		if unsafe.SliceData(got) != outPtr || unsafe.SliceData(b.Input("a").([]float32)) != unsafe.SliceData(aData) {
			t.Fatalf("round %d: buffers were reallocated", round)
		}
		if want := matmulRef(a, bb, m, k, n); !closeTo(got, want, 1e-5) {
			t.Fatalf("round %d: c = %v, want %v", round, got, want)
		}
	}
	ct, ok := b.OutputTensor("c")
	if !ok || ct.DType != Float32 || len(ct.Shape) != 2 || unsafe.SliceData(ct.Data.([]float32)) != outPtr {
		t.Fatalf("OutputTensor(c) = %+v, %v", ct.Shape, ok)
	}
	if b.Input("zzz") != nil || b.Output("zzz") != nil {
		t.Fatal("unknown names should give nil")
	}
	if _, ok := b.OutputTensor("zzz"); ok {
		t.Fatal("OutputTensor of unknown name reported ok")
	}
}

func TestBindingDynamicAndScalar(t *testing.T) {
	rt := openRT(t)
	s := newSession(t, rt, mixedModel(t))
	hin, _ := NewHalfTensor(Float16, []int64{2}, []uint16{0x3C00, 0x4000})
	b, err := s.Bind(map[string]Tensor{
		"a": {Shape: []int64{2}}, "b": {Shape: []int64{2}},
		"flag": {Shape: []int64{3}}, "x": {Shape: []int64{2, 2}},
		"s": {Shape: []int64{}}, "hin": hin,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	x := b.Input("x").([]float32)
	copy(x, []float32{1, 2, 3, 4})
	for _, sv := range []float32{2, -1} {
		b.Input("s").([]float32)[0] = sv // rank-0 input, written in place
		if err := b.Run(bg); err != nil {
			t.Fatal(err)
		}
		if got, want := b.Output("scale").([]float32), []float32{sv, 2 * sv, 3 * sv, 4 * sv}; !closeTo(got, want, 0) {
			t.Fatalf("scale = %v, want %v", got, want)
		}
		if got := b.Output("total").([]float32); len(got) != 1 || got[0] != 10 {
			t.Fatalf("rank-0 output total = %v, want [10]", got)
		}
		if got := b.Output("back").([]float32); !closeTo(got, []float32{1, 2}, 0) {
			t.Fatalf("back = %v", got)
		}
		if got := b.Output("h").([]uint16); got[3] != 0x4400 {
			t.Fatalf("h = %#x", got)
		}
	}

	// Dynamic output shapes must be given.
	as := newSession(t, rt, addModel(t))
	x2 := mustTensor(t, []int64{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	if _, err := as.Bind(map[string]Tensor{"x": x2, "y": x2}, nil); err == nil || !strings.Contains(err.Error(), `"z"`) {
		t.Fatalf("Bind without dynamic output shape = %v, want error naming z", err)
	}
	if _, err := as.Bind(map[string]Tensor{"x": x2, "y": x2}, map[string][]int64{"z": {2, 4}}); err == nil || !strings.Contains(err.Error(), `"z"`) {
		t.Fatalf("Bind with wrong output shape = %v, want error naming z", err)
	}
	if _, err := as.Bind(map[string]Tensor{"x": x2, "y": x2}, map[string][]int64{"z": {2, 3}, "w": {1}}); err == nil || !strings.Contains(err.Error(), `"w"`) {
		t.Fatalf("Bind with unknown output = %v, want error naming w", err)
	}
	if _, err := as.Bind(map[string]Tensor{"x": x2}, map[string][]int64{"z": {2, 3}}); err == nil || !strings.Contains(err.Error(), `"y"`) {
		t.Fatalf("Bind with missing input = %v, want error naming y", err)
	}
	ab, err := as.Bind(map[string]Tensor{"x": x2, "y": x2}, map[string][]int64{"z": {2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ab.Run(bg); err != nil {
		t.Fatal(err)
	}
	if got := ab.Output("z").([]float32); !closeTo(got, []float32{2, 4, 6, 8, 10, 12}, 0) {
		t.Fatalf("z = %v", got)
	}
	// Closing the session closes its bindings.
	if err := as.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ab.Run(bg); err == nil {
		t.Fatal("binding ran after its session was closed")
	}
}

// BenchmarkRunSmall compares Session.Run (fresh tensors every call) with
// Binding.Run (preallocated) on a 256x256 float32 MatMul, one ORT thread.
func BenchmarkRunSmall(bm *testing.B) {
	rt := openRT(bm)
	const n = 256
	s := newSession(bm, rt, matmulModel(bm, Float32, n, n, n))
	rng := rand.New(rand.NewPCG(3, 4))
	a := make([]float32, n*n)
	b := make([]float32, n*n)
	for i := range a {
		a[i], b[i] = rng.Float32(), rng.Float32()
	}
	bm.Run("Session", func(bm *testing.B) {
		bm.ReportAllocs()
		for bm.Loop() {
			in := map[string]Tensor{"a": mustTensor(bm, []int64{n, n}, a), "b": mustTensor(bm, []int64{n, n}, b)}
			if _, err := s.Run(bg, in, nil); err != nil {
				bm.Fatal(err)
			}
		}
	})
	bm.Run("Binding", func(bm *testing.B) {
		bind, err := s.Bind(map[string]Tensor{"a": mustTensor(bm, []int64{n, n}, a), "b": mustTensor(bm, []int64{n, n}, b)}, nil)
		if err != nil {
			bm.Fatal(err)
		}
		defer bind.Close()
		bm.ReportAllocs()
		for bm.Loop() {
			if err := bind.Run(bg); err != nil {
				bm.Fatal(err)
			}
		}
	})
}
