//go:build cgo

package ort

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/model/onnx/pb"
)

// affineModel: y = x @ W + b with x [N,3] and W [3,2] inputs, b [2] =
// [0.5, -0.5] an initializer.
func affineModel(t testing.TB) []byte {
	return marshal(t, model(t, &pb.GraphProto{
		Node: []*pb.NodeProto{
			node("MatMul", []string{"x", "W"}, []string{"xw"}),
			node("Add", []string{"xw", "b"}, []string{"y"}),
		},
		Initializer: []*pb.TensorProto{f32Init("b", []int64{2}, []float32{0.5, -0.5})},
		Input:       []*pb.ValueInfoProto{vi("x", Float32, "batch", 3), vi("W", Float32, 3, 2)},
		Output:      []*pb.ValueInfoProto{vi("y", Float32, "batch", 2)},
	}))
}

func openMem(t testing.TB, rt *Runtime) *Mem {
	t.Helper()
	m, err := rt.OpenDevice(CPUDevice(), Options{})
	if err != nil {
		t.Fatalf("OpenDevice: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Mem.Close: %v", err)
		}
	})
	return m
}

func upload(t testing.TB, m *Mem, k Kind, x Tensor) *Value {
	t.Helper()
	v, err := m.Upload(k, x)
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	return v
}

func download(t testing.TB, m *Mem, k Kind, v *Value) Tensor {
	t.Helper()
	x, err := m.Download(k, v)
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	return x
}

// Every dtype makes the round trip Go -> device -> Go, and the ledger
// counts exactly the bytes of each copy under its kind and direction.
func TestDeviceRoundTripAndLedger(t *testing.T) {
	rt := openRT(t)
	m := openMem(t, rt)
	cases := []struct {
		kind Kind
		x    Tensor
	}{
		{KindWeights, Tensor{Shape: []int64{2, 3}, Data: []float32{1, -2, 3.5, 4, 5, 6e-8}}},
		{KindCache, Tensor{Shape: []int64{3}, Data: []float64{1e-300, -2, 3}}},
		{KindActivations, Tensor{Shape: []int64{2, 2}, Data: []int64{1 << 40, -1, 0, 7}}},
		{KindLogits, Tensor{Shape: []int64{1}, Data: []int32{-5}}},
		{KindMetrics, Tensor{Shape: []int64{4}, Data: []bool{true, false, false, true}}},
		{KindGradients, Tensor{Shape: []int64{2}, DType: Float16, Data: []uint16{0x3c00, 0xc000}}},
		{KindOptimizer, Tensor{Shape: []int64{3}, DType: BFloat16, Data: []uint16{0x3f80, 0x4000, 0x7f80}}},
		{KindMetrics, Tensor{Shape: []int64{}, Data: []float32{42}}},
	}
	var want Transfers
	for _, c := range cases {
		v := upload(t, m, c.kind, c.x)
		got := download(t, m, c.kind, v)
		if !reflect.DeepEqual(got.Data, c.x.Data) || len(got.Shape) != len(c.x.Shape) {
			t.Errorf("%s round trip: got %v %v, want %v %v", c.kind, got.Shape, got.Data, c.x.Shape, c.x.Data)
		}
		n, _ := NumElements(c.x.Shape)
		dt, _ := c.x.ElemType()
		want.H2D[c.kind] += int64(n * dt.Size())
		want.D2H[c.kind] += int64(n * dt.Size())
		want.Copies += 2
		if err := v.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Ledger().Snapshot(); got != want {
		t.Errorf("ledger %v (%d copies), want %v (%d copies)", got, got.Copies, want, want.Copies)
	}
	if _, total, _ := m.Ledger().Resident(); total != 0 {
		t.Errorf("%d bytes resident after closing every value", total)
	}
}

// A device binding runs with inputs and outputs bound once: runs move no
// data (the ledger only sees the explicit copies), an input rewritten in
// place with CopyIn is seen by the next run, and outputs are read back only
// by CopyOut.
func TestDeviceBindingRunsWithoutCopies(t *testing.T) {
	rt := openRT(t)
	m := openMem(t, rt)
	s := newSession(t, rt, affineModel(t))
	b, err := s.BindDevice(m)
	if err != nil {
		t.Fatal(err)
	}
	W := upload(t, m, KindWeights, mustTensor(t, []int64{3, 2}, []float32{1, 0, 0, 1, 1, 1}))
	x := upload(t, m, KindActivations, mustTensor(t, []int64{2, 3}, []float32{1, 2, 3, 4, 5, 6}))
	y, err := m.Alloc(KindActivations, Float32, []int64{2, 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{b.BindInput("x", x), b.BindInput("W", W), b.BindOutput("y", y)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	before := m.Ledger().Snapshot()
	for range 3 {
		if err := b.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if d := m.Ledger().Snapshot().Sub(before); d != (Transfers{}) {
		t.Fatalf("runs moved data: %v", d)
	}
	out := make([]float32, 4)
	if err := m.CopyOut(KindLogits, Tensor{Shape: []int64{2, 2}, Data: out}, y); err != nil {
		t.Fatal(err)
	}
	// x @ W + b, b = [0.5, -0.5]
	want := []float32{1 + 3 + 0.5, 2 + 3 - 0.5, 4 + 6 + 0.5, 5 + 6 - 0.5}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("y = %v, want %v", out, want)
	}
	if err := m.CopyIn(KindActivations, x, mustTensor(t, []int64{2, 3}, []float32{0, 0, 0, 1, 1, 1})); err != nil {
		t.Fatal(err)
	}
	if err := b.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := download(t, m, KindLogits, y).Data.([]float32), []float32{0.5, -0.5, 2.5, 1.5}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after CopyIn y = %v, want %v", got, want)
	}
	d := m.Ledger().Snapshot().Sub(before)
	if d.D2H[KindLogits] != 32 || d.H2D[KindActivations] != 24 || d.Copies != 3 {
		t.Fatalf("ledger after two reads and one write: %v (%d copies)", d, d.Copies)
	}
	if b.Runs() != 4 {
		t.Errorf("Runs = %d, want 4", b.Runs())
	}
}

// An output bound to the device without a value is allocated by ONNX
// Runtime at each run and handed over by TakeOutput; outputs can also be
// written into row views of one buffer.
func TestDeviceOutputToDeviceAndViews(t *testing.T) {
	rt := openRT(t)
	m := openMem(t, rt)
	s := newSession(t, rt, gatherModel(t))
	b, err := s.BindDevice(m)
	if err != nil {
		t.Fatal(err)
	}
	data := upload(t, m, KindCache, mustTensor(t, []int64{4, 3}, []int64{0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32}))
	idx := upload(t, m, KindCache, mustTensor(t, []int64{3}, []int64{3, 0, 3}))
	if err := b.BindInput("data", data); err != nil {
		t.Fatal(err)
	}
	if err := b.BindInput("idx", idx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.TakeOutput("out", KindCache); err == nil {
		t.Fatal("TakeOutput of an output bound to no device accepted")
	}
	if err := b.BindOutputToDevice("out"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.TakeOutput("out", KindCache); err == nil {
		t.Fatal("TakeOutput before any run accepted")
	}
	if err := b.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	out, err := b.TakeOutput("out", KindCache)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Shape(); !reflect.DeepEqual(got, []int64{3, 3}) {
		t.Fatalf("taken output shape %v", got)
	}
	if got := download(t, m, KindCache, out).Data.([]int64); !reflect.DeepEqual(got, []int64{30, 31, 32, 0, 1, 2, 30, 31, 32}) {
		t.Fatalf("taken output %v", got)
	}
	// A second run with another output shape.
	if err := m.CopyIn(KindCache, idx, mustTensor(t, []int64{3}, []int64{1, 1, 2})); err != nil {
		t.Fatal(err)
	}
	if err := b.BindInput("idx", upload(t, m, KindCache, mustTensor(t, []int64{1}, []int64{2}))); err != nil {
		t.Fatal(err)
	}
	if err := b.Run(context.Background()); err != nil {
		t.Fatalf("run with a new output shape: %v", err)
	}
	if err := b.BindInput("idx", idx); err != nil {
		t.Fatal(err)
	}
	if err := m.CopyIn(KindCache, idx, mustTensor(t, []int64{3}, []int64{3, 0, 3})); err != nil {
		t.Fatal(err)
	}
	if err := b.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	all, err := b.TakeOutputs(func(string) Kind { return KindActivations })
	if err != nil || len(all) != 1 {
		t.Fatalf("TakeOutputs = %v, %v", all, err)
	}
	if got := download(t, m, KindCache, all["out"]).Data.([]int64); !reflect.DeepEqual(got, []int64{30, 31, 32, 0, 1, 2, 30, 31, 32}) {
		t.Fatalf("TakeOutputs output %v", got)
	}
	all["out"].Close()
	held, _, _ := m.Ledger().Resident()
	if held[KindCache] != 12*8+3*8+9*8+8 || held[KindActivations] != 0 {
		t.Errorf("resident cache bytes %d, want %d", held[KindCache], 12*8+3*8+9*8+8)
	}

	// Two runs write two halves of one [4,3] buffer through row views.
	buf, err := m.Alloc(KindCache, Int64, []int64{4, 3})
	if err != nil {
		t.Fatal(err)
	}
	two := upload(t, m, KindCache, mustTensor(t, []int64{2}, []int64{1, 2}))
	if err := b.BindInput("idx", two); err != nil {
		t.Fatal(err)
	}
	for i, lo := range []int64{0, 2} {
		view, err := buf.Rows(lo, lo+2)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.BindOutput("out", view); err != nil {
			t.Fatal(err)
		}
		if err := b.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		view.Close()
		if i == 0 {
			if err := m.CopyIn(KindCache, two, mustTensor(t, []int64{2}, []int64{3, 0})); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := buf.Close(); err != nil { // after its views: releases the memory
		t.Fatal(err)
	}
	if _, err := m.Download(KindCache, buf); !errors.Is(err, ErrClosed) {
		t.Fatalf("download of a closed value: %v", err)
	}
	buf2, _ := m.Alloc(KindCache, Int64, []int64{4, 3})
	v1, _ := buf2.Rows(0, 2)
	v2, _ := buf2.Reshape([]int64{12})
	if err := b.BindOutput("out", v1); err != nil {
		t.Fatal(err)
	}
	if err := b.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	buf2.Close() // the views keep the memory
	flat := download(t, m, KindCache, v2).Data.([]int64)
	if !reflect.DeepEqual(flat[:6], []int64{30, 31, 32, 0, 1, 2}) {
		t.Fatalf("reshaped view reads %v", flat)
	}
	v1.Close()
	v2.Close()
	held, _, _ = m.Ledger().Resident()
	if held[KindCache] != 12*8+3*8+9*8+8+2*8 {
		t.Errorf("resident cache bytes %d after closing the buffers, want %d", held[KindCache], 12*8+3*8+9*8+8+2*8)
	}
}

func TestDeviceBindingErrors(t *testing.T) {
	rt := openRT(t)
	m := openMem(t, rt)
	s := newSession(t, rt, affineModel(t))
	b, err := s.BindDevice(m)
	if err != nil {
		t.Fatal(err)
	}
	f64 := upload(t, m, KindActivations, mustTensor(t, []int64{2, 3}, []float64{1, 2, 3, 4, 5, 6}))
	bad := upload(t, m, KindActivations, mustTensor(t, []int64{2, 4}, []float32{1, 2, 3, 4, 5, 6, 7, 8}))
	x := upload(t, m, KindActivations, mustTensor(t, []int64{2, 3}, []float32{1, 2, 3, 4, 5, 6}))
	for _, c := range []struct {
		err  error
		want string
	}{
		{b.BindInput("nope", x), `unknown input "nope"`},
		{b.BindInput("x", f64), "value is float64, model wants float32"},
		{b.BindInput("x", bad), "dimension 1"},
		{b.BindOutput("x", x), `unknown output "x"`},
		{b.BindInput("x", nil), "nil value"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("error %v, want one containing %q", c.err, c.want)
		}
	}
	if err := b.BindInput("x", x); err != nil {
		t.Fatal(err)
	}
	if err := b.Run(context.Background()); err == nil || !strings.Contains(err.Error(), `"input W"`) || !strings.Contains(err.Error(), `"output y"`) {
		t.Errorf("run with unbound W and y: %v", err)
	}
	if _, err := m.Upload(KindActivations, Tensor{Shape: []int64{2}, Data: []float32{1}}); err == nil {
		t.Error("upload of a tensor whose data does not fill its shape accepted")
	}
	if err := m.CopyIn(KindActivations, x, mustTensor(t, []int64{3}, []float32{1, 2, 3})); err == nil {
		t.Error("CopyIn of a smaller tensor accepted")
	}
	if err := m.CopyIn(Kind(99), x, mustTensor(t, []int64{2, 3}, make([]float32, 6))); err == nil {
		t.Error("unknown kind accepted")
	}
	other := openMem(t, rt)
	if err := m.CopyIn(KindActivations, upload(t, other, KindActivations, mustTensor(t, []int64{1}, []float32{1})), mustTensor(t, []int64{1}, []float32{1})); err == nil {
		t.Error("copy into another memory's value accepted")
	}
	if _, err := s.BindDevice(nil); err == nil {
		t.Error("binding to nil memory accepted")
	}
	cuda, err := rt.NewSession(affineModel(t), Options{Provider: ProviderCUDA})
	if err == nil {
		defer cuda.Close()
		if _, err := cuda.BindDevice(m); err == nil {
			t.Error("cuda session bound to cpu memory")
		}
	}
	// Closing the session closes its device bindings.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("run after session close: %v", err)
	}
}

// Closing the runtime closes its device memories (values included) before
// its sessions.
func TestDeviceClosedWithRuntime(t *testing.T) {
	rt, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	m, err := rt.OpenDevice(CPUDevice(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := m.Upload(KindWeights, mustTensor(t, []int64{2}, []float32{1, 2}))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Download(KindWeights, v); !errors.Is(err, ErrClosed) {
		t.Fatalf("download after runtime close: %v", err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.OpenDevice(CPUDevice(), Options{}); err == nil {
		t.Fatal("device opened on a closed runtime")
	}
}

func TestParseDevice(t *testing.T) {
	for in, want := range map[string]Device{"cpu": CPUDevice(), "cuda": CUDADevice(0), "cuda:3": CUDADevice(3)} {
		got, err := ParseDevice(in)
		if err != nil || got != want {
			t.Errorf("ParseDevice(%q) = %v, %v", in, got, err)
		}
		if back, err := ParseDevice(got.String()); err != nil || back != got {
			t.Errorf("ParseDevice(%q) = %v, %v", got.String(), back, err)
		}
	}
	for _, bad := range []string{"gpu", "cuda:-1", "cuda:x", ""} {
		if _, err := ParseDevice(bad); err == nil {
			t.Errorf("ParseDevice(%q) accepted", bad)
		}
	}
}

// Closing a memory first closes the bindings over it, which hold
// references to its values: a session closed later (here by the runtime)
// does not release them through a freed allocator.
func TestDeviceMemClosedBeforeBindings(t *testing.T) {
	rt, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	m, err := rt.OpenDevice(CPUDevice(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := rt.NewSession(affineModel(t), Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.BindDevice(m)
	if err != nil {
		t.Fatal(err)
	}
	W := upload(t, m, KindWeights, mustTensor(t, []int64{3, 2}, []float32{1, 0, 0, 1, 1, 1}))
	x := upload(t, m, KindActivations, mustTensor(t, []int64{1, 3}, []float32{1, 2, 3}))
	y, _ := m.Alloc(KindActivations, Float32, []int64{1, 2})
	for _, err := range []error{b.BindInput("W", W), b.BindInput("x", x), b.BindOutput("y", y), b.Run(context.Background())} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("run of a binding over a closed memory: %v", err)
	}
	if _, err := s.BindDevice(m); !errors.Is(err, ErrClosed) {
		t.Fatalf("binding to a closed memory: %v", err)
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
}

// Sessions sleep between kernels unless AllowSpinning; an explicit config
// entry wins.
func TestSpinningDefault(t *testing.T) {
	rt := openRT(t)
	_ = rt
	for _, c := range []struct {
		opt  Options
		want string
	}{
		{Options{}, "0"},
		{Options{AllowSpinning: true}, "1"},
		{Options{ConfigEntries: map[string]string{EntryIntraOpSpinning: "1"}}, "1"},
	} {
		so, err := sessionOptions(c.opt)
		if err != nil {
			t.Fatal(err)
		}
		got, err := so.GetSessionConfigEntry(EntryIntraOpSpinning)
		so.Destroy()
		if err != nil || got != c.want {
			t.Errorf("%+v: intra-op spinning %q (%v), want %q", c.opt, got, err, c.want)
		}
	}
}
