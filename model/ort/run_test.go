//go:build cgo

package ort

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/videossr/videossr-go/model/onnx/pb"
)

var bg = context.Background()

func TestOpenDefaultAndVersion(t *testing.T) {
	rt := openRT(t)
	if v := rt.Version(); !strings.HasPrefix(v, "1.") {
		t.Fatalf("Version() = %q, want 1.x", v)
	}
	if !strings.HasSuffix(rt.LibraryPath(), DefaultLibraryRel) && os.Getenv(EnvLibraryPath) == "" {
		t.Fatalf("LibraryPath() = %q, want .../%s", rt.LibraryPath(), DefaultLibraryRel)
	}
}

func TestOpenMissingLibrary(t *testing.T) {
	_, err := Open("/nonexistent")
	if !errors.Is(err, ErrNoLibrary) {
		t.Fatalf("Open(/nonexistent) = %v, want ErrNoLibrary", err)
	}
	for _, want := range []string{"/nonexistent", "bash scripts/setup.sh", EnvLibraryPath} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestOpenEnvVariable(t *testing.T) {
	good, err := LibraryPath("")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvLibraryPath, "/no/such/libonnxruntime.so")
	if _, err := Open(""); !errors.Is(err, ErrNoLibrary) || !strings.Contains(err.Error(), "/no/such/libonnxruntime.so") {
		t.Fatalf("Open with bad env path = %v, want ErrNoLibrary naming it", err)
	}
	t.Setenv(EnvLibraryPath, good)
	rt, err := Open("")
	if err != nil {
		t.Fatalf("Open with env path: %v", err)
	}
	if rt.LibraryPath() != good {
		t.Errorf("LibraryPath() = %q, want %q", rt.LibraryPath(), good)
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenDifferentPathWhileLoaded(t *testing.T) {
	rt := openRT(t)
	// A second copy of the library under another name is a different path.
	other := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	if err := os.Symlink(rt.LibraryPath(), other); err != nil {
		t.Skip("cannot symlink:", err)
	}
	if rt2, err := Open(other); err == nil {
		rt2.Close()
		t.Fatal("Open of a second library path while one is loaded succeeded")
	}
}

func TestOpenCloseManyTimes(t *testing.T) {
	m := addModel(t)
	for i := range 3 {
		rt, err := Open("")
		if err != nil {
			t.Fatalf("round %d: Open: %v", i, err)
		}
		// A nested Runtime shares the library; closing it must not unload
		// the library under the outer one.
		inner, err := Open("")
		if err != nil {
			t.Fatalf("round %d: nested Open: %v", i, err)
		}
		if err := inner.Close(); err != nil {
			t.Fatal(err)
		}
		s, err := rt.NewSession(m, Options{})
		if err != nil {
			t.Fatalf("round %d: NewSession: %v", i, err)
		}
		x := mustTensor(t, []int64{1, 3}, []float32{1, 2, float32(i)})
		out, err := s.Run(bg, map[string]Tensor{"x": x, "y": x}, nil)
		if err != nil {
			t.Fatalf("round %d: Run: %v", i, err)
		}
		if got := out["z"].Data.([]float32); !slices.Equal(got, []float32{2, 4, 2 * float32(i)}) {
			t.Fatalf("round %d: z = %v", i, got)
		}
		// Runtime.Close closes the session it owns.
		if err := rt.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Run(bg, map[string]Tensor{"x": x, "y": x}, nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("round %d: Run after Runtime.Close = %v, want ErrClosed", i, err)
		}
		if err := rt.Close(); err != nil {
			t.Fatalf("second Runtime.Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Session.Close after Runtime.Close: %v", err)
		}
		if _, err := rt.NewSession(m, Options{}); !errors.Is(err, ErrClosed) {
			t.Fatalf("NewSession on closed Runtime = %v, want ErrClosed", err)
		}
	}
}

func TestCloseIdempotent(t *testing.T) {
	rt := openRT(t)
	s, err := rt.NewSession(matmulModel(t, Float32, 2, 2, 2), Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Bind(map[string]Tensor{"a": {Shape: []int64{2, 2}}, "b": {Shape: []int64{2, 2}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Run(bg); !errors.Is(err, ErrClosed) {
		t.Fatalf("Binding.Run after Close = %v, want ErrClosed", err)
	}
	for range 2 {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Bind(nil, nil); err == nil {
		t.Fatal("Bind on closed session succeeded")
	}
}

func TestAddDynamicDim(t *testing.T) {
	rt := openRT(t)
	s := newSession(t, rt, addModel(t))
	if got, want := s.Inputs(), []TensorInfo{{"x", Float32, []int64{-1, 3}}, {"y", Float32, []int64{-1, 3}}}; !infosEqual(got, want) {
		t.Fatalf("Inputs() = %v, want %v", got, want)
	}
	for _, n := range []int64{1, 4} {
		x := make([]float32, 3*n)
		y := make([]float32, 3*n)
		for i := range x {
			x[i], y[i] = float32(i), float32(100*i)
		}
		out, err := s.Run(bg, map[string]Tensor{"x": mustTensor(t, []int64{n, 3}, x), "y": mustTensor(t, []int64{n, 3}, y)}, []string{"z"})
		if err != nil {
			t.Fatal(err)
		}
		z := out["z"]
		if !slices.Equal(z.Shape, []int64{n, 3}) || z.DType != Float32 {
			t.Fatalf("z shape %v dtype %s", z.Shape, z.DType)
		}
		for i, v := range z.Data.([]float32) {
			if v != float32(101*i) {
				t.Fatalf("N=%d: z[%d] = %v, want %v", n, i, v, 101*i)
			}
		}
	}
}

func TestMatMulFloat64(t *testing.T) {
	rt := openRT(t)
	const m, k, n = 3, 4, 5
	s := newSession(t, rt, matmulModel(t, Float64, m, k, n))
	a := make([]float64, m*k)
	b := make([]float64, k*n)
	for i := range a {
		a[i] = math.Sin(float64(i))
	}
	for i := range b {
		b[i] = math.Cos(float64(i)) / 3
	}
	out, err := s.Run(bg, map[string]Tensor{"a": mustTensor(t, []int64{m, k}, a), "b": mustTensor(t, []int64{k, n}, b)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := out["c"].Data.([]float64)
	for i := range m {
		for j := range n {
			var want float64
			for l := range k {
				want += a[i*k+l] * b[l*n+j]
			}
			if math.Abs(c[i*n+j]-want) > 1e-12 {
				t.Fatalf("c[%d,%d] = %v, want %v", i, j, c[i*n+j], want)
			}
		}
	}
}

func TestGatherInt64(t *testing.T) {
	rt := openRT(t)
	s := newSession(t, rt, gatherModel(t))
	data := []int64{0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32}
	out, err := s.Run(bg, map[string]Tensor{
		"data": mustTensor(t, []int64{4, 3}, data),
		"idx":  mustTensor(t, []int64{3}, []int64{3, 0, -1}),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{30, 31, 32, 0, 1, 2, 30, 31, 32}
	if got := out["out"]; !slices.Equal(got.Data.([]int64), want) || !slices.Equal(got.Shape, []int64{3, 3}) {
		t.Fatalf("gather = %v %v, want [3 3] %v", got.Shape, got.Data, want)
	}
}

func TestInitializerGraph(t *testing.T) {
	rt := openRT(t)
	s := newSession(t, rt, linearModel(t))
	if got, want := s.Inputs(), []TensorInfo{{"x", Float32, []int64{-1, 3}}}; !infosEqual(got, want) {
		t.Fatalf("Inputs() = %v, want %v (initializer W excluded)", got, want)
	}
	out, err := s.Run(bg, map[string]Tensor{"x": mustTensor(t, []int64{2, 3}, []float32{1, 0, 0, 1, 1, 1})}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{1.5, 1.5, 9.5, 11.5}
	if got := out["y"].Data.([]float32); !slices.Equal(got, want) {
		t.Fatalf("y = %v, want %v", got, want)
	}
}

func TestMixedDTypesRankZeroAndHalf(t *testing.T) {
	rt := openRT(t)
	s := newSession(t, rt, mixedModel(t))
	hin, err := NewHalfTensor(Float16, []int64{2}, []uint16{0x3C00, 0xC000}) // 1, -2
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]Tensor{
		"a":    mustTensor(t, []int64{2}, []int32{1, -7}),
		"b":    mustTensor(t, []int64{2}, []int32{40, 7}),
		"flag": mustTensor(t, []int64{3}, []bool{true, false, true}),
		"x":    mustTensor(t, []int64{2, 2}, []float32{1, 2, 0.5, -4}),
		"s":    mustTensor(t, []int64{}, []float32{3}),
		"hin":  hin,
	}
	out, err := s.Run(bg, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, shape []int64, dt DType, want any) {
		t.Helper()
		got := out[name]
		if !slices.Equal(got.Shape, shape) || got.DType != dt {
			t.Errorf("%s: shape %v dtype %s, want %v %s", name, got.Shape, got.DType, shape, dt)
		}
		if !equalAny(got.Data, want) {
			t.Errorf("%s = %v, want %v", name, got.Data, want)
		}
	}
	check("isum", []int64{2}, Int32, []int32{41, 0})
	check("nota", []int64{3}, Bool, []bool{false, true, false})
	check("total", []int64{}, Float32, []float32{-0.5})
	check("scale", []int64{2, 2}, Float32, []float32{3, 6, 1.5, -12})
	check("h", []int64{2, 2}, Float16, []uint16{0x3C00, 0x4000, 0x3800, 0xC400})
	check("bf", []int64{2, 2}, BFloat16, []uint16{0x3F80, 0x4000, 0x3F00, 0xC080})
	check("back", []int64{2}, Float32, []float32{1, -2})
}

func equalAny(a, b any) bool {
	switch a := a.(type) {
	case []float32:
		return slices.Equal(a, b.([]float32))
	case []int32:
		return slices.Equal(a, b.([]int32))
	case []bool:
		return slices.Equal(a, b.([]bool))
	case []uint16:
		return slices.Equal(a, b.([]uint16))
	}
	return false
}

func infosEqual(a, b []TensorInfo) bool {
	return slices.EqualFunc(a, b, func(x, y TensorInfo) bool {
		return x.Name == y.Name && x.DType == y.DType && slices.Equal(x.Shape, y.Shape) && (x.Shape == nil) == (y.Shape == nil)
	})
}

func TestRunInputErrors(t *testing.T) {
	rt := openRT(t)
	s := newSession(t, rt, mixedModel(t))
	good := func() map[string]Tensor {
		hin, _ := NewHalfTensor(Float16, []int64{2}, []uint16{0, 0})
		return map[string]Tensor{
			"a":    mustTensor(t, []int64{2}, []int32{1, 2}),
			"b":    mustTensor(t, []int64{2}, []int32{1, 2}),
			"flag": mustTensor(t, []int64{3}, []bool{true, false, true}),
			"x":    mustTensor(t, []int64{2, 2}, []float32{1, 2, 3, 4}),
			"s":    mustTensor(t, []int64{}, []float32{3}),
			"hin":  hin,
		}
	}
	if _, err := s.Run(bg, good(), nil); err != nil {
		t.Fatalf("good inputs: %v", err)
	}
	cases := []struct {
		name   string
		edit   func(m map[string]Tensor)
		output []string
		want   []string
	}{
		{"extra input", func(m map[string]Tensor) { m["bogus"] = m["a"] }, nil, []string{`"bogus"`, "unknown input"}},
		{"missing input", func(m map[string]Tensor) { delete(m, "flag") }, nil, []string{`"flag"`, "missing input"}},
		{"wrong dtype", func(m map[string]Tensor) { m["a"] = mustTensor(t, []int64{2}, []int64{1, 2}) }, nil, []string{`"a"`, "int64", "int32"}},
		{"wrong rank", func(m map[string]Tensor) { m["x"] = mustTensor(t, []int64{4}, []float32{1, 2, 3, 4}) }, nil, []string{`"x"`, "rank"}},
		{"wrong dim", func(m map[string]Tensor) { m["flag"] = mustTensor(t, []int64{2}, []bool{true, false}) }, nil, []string{`"flag"`, "[3]"}},
		{"scalar given as [1]", func(m map[string]Tensor) { m["s"] = mustTensor(t, []int64{1}, []float32{3}) }, nil, []string{`"s"`, "rank"}},
		{"short data", func(m map[string]Tensor) { m["x"] = Tensor{Shape: []int64{2, 2}, Data: []float32{1}} }, nil, []string{`"x"`, "needs 4 elements"}},
		{"half without dtype", func(m map[string]Tensor) { m["hin"] = Tensor{Shape: []int64{2}, Data: []uint16{1, 2}} }, nil, []string{`"hin"`, "Float16"}},
		{"unknown output", func(m map[string]Tensor) {}, []string{"nope"}, []string{`"nope"`, "unknown output"}},
		{"duplicate output", func(m map[string]Tensor) {}, []string{"isum", "isum"}, []string{`"isum"`, "twice"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := good()
			c.edit(in)
			_, err := s.Run(bg, in, c.output)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
}

func TestRunCancelledContext(t *testing.T) {
	rt := openRT(t)
	s := newSession(t, rt, addModel(t))
	ctx, cancel := context.WithCancel(bg)
	cancel()
	x := mustTensor(t, []int64{1, 3}, []float32{1, 2, 3})
	if _, err := s.Run(ctx, map[string]Tensor{"x": x, "y": x}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with cancelled ctx = %v, want context.Canceled", err)
	}
	b, err := s.Bind(map[string]Tensor{"x": x, "y": x}, map[string][]int64{"z": {1, 3}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Binding.Run with cancelled ctx = %v, want context.Canceled", err)
	}
	// A live cancellable context runs normally.
	ctx2, cancel2 := context.WithTimeout(bg, time.Minute)
	defer cancel2()
	if err := b.Run(ctx2); err != nil {
		t.Fatal(err)
	}
	if got := b.Output("z").([]float32); !slices.Equal(got, []float32{2, 4, 6}) {
		t.Fatalf("z = %v", got)
	}
}

func TestLoopCancelMidRun(t *testing.T) {
	rt := openRT(t)
	s := newSession(t, rt, loopModel(t))
	v := mustTensor(t, []int64{1}, []float32{2})

	out, err := s.Run(bg, map[string]Tensor{"m": mustTensor(t, []int64{}, []int64{5}), "v": v}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := out["v_final"].Data.([]float32)[0]; got != 7 {
		t.Fatalf("loop of 5 from 2 = %v, want 7", got)
	}

	// A practically endless loop: only ONNX Runtime's terminate flag can
	// end it, so Run returning at all shows cancellation reached ORT.
	for _, bound := range []bool{false, true} {
		ctx, cancel := context.WithCancel(bg)
		done := make(chan error, 1)
		huge := map[string]Tensor{"m": mustTensor(t, []int64{}, []int64{math.MaxInt64}), "v": v}
		var b *Binding
		if bound {
			if b, err = s.Bind(huge, nil); err != nil {
				t.Fatal(err)
			}
		}
		go func() {
			if bound {
				done <- b.Run(ctx)
				return
			}
			_, err := s.Run(ctx, huge, nil)
			done <- err
		}()
		time.Sleep(20 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("bound=%v: cancelled run = %v, want context.Canceled", bound, err)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("bound=%v: run did not stop after its context was cancelled", bound)
		}
		if bound {
			// The binding's RunOptions are reusable after a terminate.
			b.Input("m").([]int64)[0] = 3
			if err := b.Run(bg); err != nil {
				t.Fatalf("binding run after cancel: %v", err)
			}
			if got := b.Output("v_final").([]float32)[0]; got != 5 {
				t.Fatalf("v_final = %v, want 5", got)
			}
			b.Close()
		}
	}
}

func TestExternalData(t *testing.T) {
	rt := openRT(t)
	dir := t.TempDir()
	w := f32Init("W", []int64{3, 2}, []float32{1, 2, 3, 4, 5, 6})
	const pad = 64
	if err := os.WriteFile(filepath.Join(dir, "weights.bin"), append(make([]byte, pad), w.RawData...), 0o644); err != nil {
		t.Fatal(err)
	}
	ext := pb.TensorProto_EXTERNAL
	wExt := &pb.TensorProto{
		Name: w.Name, Dims: w.Dims, DataType: w.DataType, DataLocation: &ext,
		ExternalData: []*pb.StringStringEntryProto{
			{Key: proto.String("location"), Value: proto.String("weights.bin")},
			{Key: proto.String("offset"), Value: proto.String("64")},
			{Key: proto.String("length"), Value: proto.String("24")},
		},
	}
	m := marshal(t, model(t, &pb.GraphProto{
		Node:        []*pb.NodeProto{node("MatMul", []string{"x", "W"}, []string{"y"})},
		Initializer: []*pb.TensorProto{wExt},
		Input:       []*pb.ValueInfoProto{vi("x", Float32, 1, 3)},
		Output:      []*pb.ValueInfoProto{vi("y", Float32, 1, 2)},
	}))
	path := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(path, m, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := rt.NewSessionFromFile(path, Options{DisableOptimizations: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run(bg, map[string]Tensor{"x": mustTensor(t, []int64{1, 3}, []float32{1, 1, 1})}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := out["y"].Data.([]float32); !slices.Equal(got, []float32{9, 12}) {
		t.Fatalf("y = %v, want [9 12]", got)
	}
	if _, err := rt.NewSessionFromFile(filepath.Join(dir, "missing.onnx"), Options{}); err == nil || !strings.Contains(err.Error(), "missing.onnx") {
		t.Fatalf("missing model file: %v", err)
	}
	if _, err := rt.NewSession([]byte("not a model"), Options{}); err == nil {
		t.Fatal("garbage model bytes accepted")
	}
}

func TestProviders(t *testing.T) {
	rt := openRT(t)
	_, err := rt.NewSession(addModel(t), Options{Provider: ProviderCUDA})
	if err == nil {
		t.Skip("CUDA provider available on this machine")
	}
	if !errors.Is(err, ErrProviderUnavailable) || !strings.Contains(strings.ToLower(err.Error()), "cuda") {
		t.Fatalf("CUDA on a CPU-only library = %v, want ErrProviderUnavailable mentioning cuda", err)
	}
	t.Log(err)
	for _, bad := range []Options{{Provider: "tpu"}, {DeviceID: -1}, {IntraOpThreads: -2}} {
		if _, err := rt.NewSession(addModel(t), bad); err == nil {
			t.Errorf("options %+v accepted", bad)
		}
	}
	s, err := rt.NewSession(addModel(t), Options{Provider: ProviderCPU, IntraOpThreads: 1, InterOpThreads: 1, DisableOptimizations: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

func TestConcurrentRuns(t *testing.T) {
	rt := openRT(t)
	s := newSession(t, rt, addModel(t))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				v := float32(g*100 + i)
				x := mustTensor(t, []int64{1, 3}, []float32{v, v, v})
				out, err := s.Run(bg, map[string]Tensor{"x": x, "y": x}, nil)
				if err != nil {
					errs <- err
					return
				}
				if got := out["z"].Data.([]float32); got[2] != 2*v {
					errs <- errors.New("wrong result under concurrency")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
