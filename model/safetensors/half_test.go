package safetensors

import (
	"slices"
	"strings"
	"testing"
)

// TestTensorHalf: a tensor stored in the requested half dtype is copied bit
// for bit (NaN payloads included); other dtypes are rounded through float32.
func TestTensorHalf(t *testing.T) {
	bits := []uint16{0x3f80, 0xc000, 0x7fc1, 0x0001}
	tb := Tensor{Name: "w", DType: BF16, Shape: []int64{4}, Data: HalfBytes(bits)}
	got, err := tb.Half(BF16)
	if err != nil || !slices.Equal(got, bits) {
		t.Fatalf("BF16 as BF16 = %x, %v", got, err)
	}
	f32, err := FromFloat32("w", F32, []int64{3}, []float32{1, -2, 0.1})
	if err != nil {
		t.Fatal(err)
	}
	got, err = f32.Half(BF16)
	if err != nil || !slices.Equal(got, []uint16{0x3f80, 0xc000, Float32ToBF16(0.1)}) {
		t.Fatalf("F32 as BF16 = %x, %v", got, err)
	}
	got, err = f32.Half(F16)
	if err != nil || !slices.Equal(got, []uint16{0x3c00, 0xc000, Float32ToF16(0.1)}) {
		t.Fatalf("F32 as F16 = %x, %v", got, err)
	}
	big, _ := FromFloat32("big", F32, []int64{2}, []float32{1, 70000})
	if _, err := big.Half(F16); err == nil || !strings.Contains(err.Error(), `"big"`) || !strings.Contains(err.Error(), "range of F16") {
		t.Fatalf("70000 as F16: %v", err)
	}
	if bits, err := big.Half(BF16); err != nil || BF16ToFloat32(bits[1]) != 70144 {
		t.Fatalf("70000 as BF16: %x, %v", bits, err)
	}
	if _, err := f32.Half(F32); err == nil {
		t.Fatal("Half(F32) accepted")
	}
	back, err := HalfToFloat32(BF16, []uint16{0x3f80, 0xc000})
	if err != nil || !slices.Equal(back, []float32{1, -2}) {
		t.Fatalf("HalfToFloat32 = %v, %v", back, err)
	}
	if _, err := HalfToFloat32(F32, nil); err == nil {
		t.Fatal("HalfToFloat32(F32) accepted")
	}
}
