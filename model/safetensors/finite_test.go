package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
)

func TestFirstNonFinite(t *testing.T) {
	i64 := make([]byte, 16)
	binary.LittleEndian.PutUint64(i64, math.Float64bits(math.NaN())) // an integer, not a NaN
	f64 := make([]byte, 24)
	binary.LittleEndian.PutUint64(f64[8:], 0x400921fb54442d18)
	big := make([]float32, 300_000) // spans several read chunks
	nan := float32(math.NaN())
	inf := float32(math.Inf(-1))
	cases := []struct {
		name  string
		bad   func() []Tensor
		want  string
		index int64
	}{
		{"all finite", func() []Tensor { return nil }, "", 0},
		{"F32 NaN past the first chunk", func() []Tensor {
			b := append([]float32(nil), big...)
			b[290_001] = nan
			return []Tensor{must(FromFloat32("w.big", F32, []int64{300_000}, b))}
		}, "w.big", 290_001},
		{"F32 -Inf", func() []Tensor {
			return []Tensor{must(FromFloat32("w.inf", F32, []int64{2, 2}, []float32{1, 2, 3, inf}))}
		}, "w.inf", 3},
		{"BF16 NaN", func() []Tensor {
			return []Tensor{must(FromFloat32("h.bf16", BF16, []int64{3}, []float32{0, nan, 1}))}
		}, "h.bf16", 1},
		{"F16 Inf (overflow)", func() []Tensor {
			return []Tensor{must(FromFloat32("h.f16", F16, []int64{2}, []float32{1e6, 0}))}
		}, "h.f16", 0},
		{"F64 Inf", func() []Tensor {
			b := append([]byte(nil), f64...)
			binary.LittleEndian.PutUint64(b[16:], math.Float64bits(math.Inf(1)))
			return []Tensor{{Name: "d.f64", DType: F64, Shape: []int64{3}, Data: b}}
		}, "d.f64", 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := []Tensor{
				must(FromFloat32("a.ok", F32, []int64{300_000}, big)),
				{Name: "ids", DType: I64, Shape: []int64{2}, Data: i64},
				{Name: "d.ok", DType: F64, Shape: []int64{3}, Data: f64},
				must(FromFloat32("h.ok", BF16, []int64{2}, []float32{1, -2})),
			}
			raw, err := Encode(append(ts, c.bad()...), nil)
			if err != nil {
				t.Fatal(err)
			}
			h, err := ReadHeader(bytes.NewReader(raw), int64(len(raw)))
			if err != nil {
				t.Fatal(err)
			}
			name, index, found, err := FirstNonFinite(bytes.NewReader(raw), h)
			if err != nil {
				t.Fatal(err)
			}
			if found != (c.want != "") || name != c.want || index != c.index {
				t.Fatalf("got %q[%d] (found %v), want %q[%d]", name, index, found, c.want, c.index)
			}
		})
	}
}

func must(t Tensor, err error) Tensor {
	if err != nil {
		panic(err)
	}
	return t
}
