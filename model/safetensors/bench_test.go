package safetensors

import (
	"path/filepath"
	"testing"
)

func benchData(n int) []float32 {
	d := make([]float32, n)
	for i := range d {
		d[i] = float32(i%1000)*0.001 - 0.5
	}
	return d
}

func BenchmarkEncodeBF16(b *testing.B) {
	d := benchData(1 << 20)
	b.SetBytes(4 << 20)
	for b.Loop() {
		if _, err := EncodeFloat32(BF16, d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteReadF32(b *testing.B) {
	d := benchData(1 << 22)
	path := filepath.Join(b.TempDir(), "bench.safetensors")
	b.SetBytes(16 << 20)
	for b.Loop() {
		if err := WriteFloat32Map(path, F32, map[string]Float32Tensor{"w": {Shape: []int64{1 << 22}, Data: d}}, nil); err != nil {
			b.Fatal(err)
		}
		f, err := Read(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := f.Float32("w"); err != nil {
			b.Fatal(err)
		}
	}
}
