package ort

import (
	"strings"
	"testing"
)

func TestDTypeString(t *testing.T) {
	for d, want := range map[DType]string{Float32: "float32", Float64: "float64", Int64: "int64", Int32: "int32",
		Bool: "bool", Float16: "float16", BFloat16: "bfloat16", Undefined: "undefined", DType(2): "dtype(2)"} {
		if got := d.String(); got != want {
			t.Errorf("DType(%d).String() = %q, want %q", int(d), got, want)
		}
	}
	if DType(2).Supported() || !BFloat16.Supported() || Float16.Size() != 2 || Float64.Size() != 8 || Bool.Size() != 1 {
		t.Error("Supported/Size wrong")
	}
}

func TestNewTensorChecks(t *testing.T) {
	cases := []struct {
		name  string
		make  func() (Tensor, error)
		dtype DType
		err   string
	}{
		{"f32 ok", func() (Tensor, error) { return NewTensor([]int64{2, 3}, make([]float32, 6)) }, Float32, ""},
		{"f64 ok", func() (Tensor, error) { return NewTensor([]int64{1}, []float64{1}) }, Float64, ""},
		{"i64 scalar", func() (Tensor, error) { return NewTensor([]int64{}, []int64{7}) }, Int64, ""},
		{"nil shape scalar", func() (Tensor, error) { return NewTensor(nil, []int32{7}) }, Int32, ""},
		{"bool empty dim", func() (Tensor, error) { return NewTensor([]int64{0, 4}, []bool{}) }, Bool, ""},
		{"too short", func() (Tensor, error) { return NewTensor([]int64{2, 3}, make([]float32, 5)) }, 0, "needs 6 elements, data has 5"},
		{"too long", func() (Tensor, error) { return NewTensor([]int64{2}, make([]int64, 3)) }, 0, "needs 2 elements"},
		{"scalar empty", func() (Tensor, error) { return NewTensor([]int64{}, []float32{}) }, 0, "needs 1 elements"},
		{"negative dim", func() (Tensor, error) { return NewTensor([]int64{-1, 2}, make([]float32, 2)) }, 0, "negative"},
		{"overflow", func() (Tensor, error) { return NewTensor([]int64{1 << 40, 1 << 40}, []float32{}) }, 0, "overflow"},
		{"half ok", func() (Tensor, error) { return NewHalfTensor(BFloat16, []int64{2}, []uint16{1, 2}) }, BFloat16, ""},
		{"half bad dtype", func() (Tensor, error) { return NewHalfTensor(Float32, []int64{2}, []uint16{1, 2}) }, 0, "Float16 or BFloat16"},
		{"zeros", func() (Tensor, error) { return Zeros(Float16, []int64{3}) }, Float16, ""},
		{"zeros bad", func() (Tensor, error) { return Zeros(DType(2), []int64{3}) }, 0, "unsupported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x, err := c.make()
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if x.DType != c.dtype {
				t.Fatalf("DType = %s, want %s", x.DType, c.dtype)
			}
			if err := x.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestElemTypeAndData(t *testing.T) {
	if _, err := (Tensor{Data: []float32{1}, DType: Int64}).ElemType(); err == nil {
		t.Error("mismatched DType accepted")
	}
	if _, err := (Tensor{Data: []uint8{1}}).ElemType(); err == nil || !strings.Contains(err.Error(), "[]uint8") {
		t.Errorf("[]uint8: %v", err)
	}
	if _, err := (Tensor{}).ElemType(); err == nil {
		t.Error("nil data accepted")
	}
	if _, err := (Tensor{Data: []uint16{1}}).ElemType(); err == nil {
		t.Error("[]uint16 without DType accepted")
	}
	x, _ := NewTensor([]int64{2}, []int64{4, 5})
	if d, err := Data[int64](x); err != nil || d[1] != 5 {
		t.Errorf("Data[int64] = %v, %v", d, err)
	}
	if _, err := Data[float32](x); err == nil {
		t.Error("Data[float32] of int64 tensor succeeded")
	}
	z, _ := Zeros(Bool, []int64{2, 2})
	if z.Len() != 4 || (Tensor{Data: "x"}).Len() != 0 {
		t.Error("Len wrong")
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{{}, {Provider: "cpu"}, {Provider: "cuda", DeviceID: 1}, {IntraOpThreads: 4, InterOpThreads: 2}} {
		if err := o.validate(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
	for _, o := range []Options{{Provider: "CUDA"}, {Provider: "rocm"}, {DeviceID: -1}, {InterOpThreads: -1}} {
		if err := o.validate(); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
