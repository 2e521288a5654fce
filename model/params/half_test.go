package params

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/model/safetensors"
)

// TestHalfParams: converting parameters to BF16/F16 rounds them to nearest
// even, halves their memory, and back to F32 is exact; checksums, clones,
// copies and the non-finite scan see the half values.
func TestHalfParams(t *testing.T) {
	for _, dtype := range []string{safetensors.BF16, safetensors.F16} {
		t.Run(dtype, func(t *testing.T) {
			s := buildStore(t, 1)
			f32 := s.Clone()
			isEmbed := func(n string) bool { return n == "model.embed_tokens.weight" }
			if err := s.Convert(dtype, isEmbed); err != nil {
				t.Fatal(err)
			}
			p, _ := s.Get("model.embed_tokens.weight")
			q, _ := f32.Get(p.Name)
			if !p.IsHalf() || p.Data != nil || p.Size() != q.Size() || p.Bytes() != 2*int64(q.Size()) || p.StorageDType() != dtype {
				t.Fatalf("converted param: half %v, size %d, bytes %d, dtype %s", p.IsHalf(), p.Size(), p.Bytes(), p.StorageDType())
			}
			if n, _ := s.Get("model.norm.weight"); n.IsHalf() {
				t.Fatal("a param that keep rejected was converted")
			}
			if s.NumParams() != f32.NumParams() || s.Bytes() != f32.Bytes()-2*int64(q.Size()) {
				t.Fatalf("NumParams %d/%d, Bytes %d/%d", s.NumParams(), f32.NumParams(), s.Bytes(), f32.Bytes())
			}
			want, _ := safetensors.Float32ToHalf(dtype, q.Data)
			if !slices.Equal(p.Half, want) {
				t.Fatal("half bits are not the rounded float32 values")
			}
			back := p.Float32()
			maxRel := 0.0
			for i, v := range back {
				maxRel = math.Max(maxRel, math.Abs(float64(v-q.Data[i]))/math.Max(1e-3, math.Abs(float64(q.Data[i]))))
			}
			if maxRel == 0 || maxRel > 1.0/128 {
				t.Fatalf("rounding error %g", maxRel)
			}
			if f32.Checksum() == s.Checksum() {
				t.Fatal("checksum ignores the conversion")
			}
			c := s.Clone()
			if c.Checksum() != s.Checksum() {
				t.Fatal("clone has another checksum")
			}
			cp, _ := c.Get(p.Name)
			cp.Half[0] ^= 1
			if c.Checksum() == s.Checksum() || p.Half[0] == cp.Half[0] {
				t.Fatal("clone shares the half values or checksum misses them")
			}
			if err := c.CopyFrom(s); err != nil || c.Checksum() != s.Checksum() {
				t.Fatalf("CopyFrom: %v", err)
			}
			if err := f32.CopyFrom(s); err == nil || !strings.Contains(err.Error(), dtype) {
				t.Fatalf("CopyFrom across dtypes: %v", err)
			}
			sh := New()
			shared, err := sh.AddShared(p)
			if err != nil || &shared.Half[0] != &p.Half[0] {
				t.Fatalf("AddShared: %v", err)
			}
			cp.Half[3] = 0x7f80 | 0x7c00 // Inf in BF16 and F16 alike
			if name, i, bad := c.FirstNonFinite(); !bad || name != p.Name || i != 3 {
				t.Fatalf("FirstNonFinite = %s %d %v", name, i, bad)
			}
			if err := s.Convert(safetensors.F32, isEmbed); err != nil {
				t.Fatal(err)
			}
			if p.IsHalf() || !slices.Equal(p.Data, back) {
				t.Fatal("back to F32 is not exact")
			}
		})
	}
}

// TestHalfSaveLoad: Save writes half parameters as their own dtype, bit
// for bit, and LoadInto reads them back exactly; SaveAs converts.
func TestHalfSaveLoad(t *testing.T) {
	s := buildStore(t, 2)
	if err := s.Convert(safetensors.BF16, func(n string) bool { return n != "model.norm.weight" }); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "w.safetensors")
	if err := s.Save(path, nil); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range s.Params() {
		ti, _ := f.Info(p.Name)
		if ti.DType != p.StorageDType() {
			t.Fatalf("%s saved as %s, held as %s", p.Name, ti.DType, p.StorageDType())
		}
	}
	dst := buildStore(t, 3)
	if err := dst.Convert(safetensors.BF16, func(n string) bool { return n != "model.norm.weight" }); err != nil {
		t.Fatal(err)
	}
	if err := dst.LoadInto(path); err != nil {
		t.Fatal(err)
	}
	if dst.Checksum() != s.Checksum() {
		t.Fatal("BF16 round trip is not exact")
	}
	// A float32 file loads into half parameters rounded.
	all := filepath.Join(t.TempDir(), "f32.safetensors")
	if err := s.SaveAs(all, safetensors.F32, nil); err != nil {
		t.Fatal(err)
	}
	if err := dst.LoadInto(all); err != nil || dst.Checksum() != s.Checksum() {
		t.Fatalf("F32 file into BF16 params: %v", err)
	}
	if err := New().Convert("F8", func(string) bool { return true }); err == nil {
		t.Fatal("Convert to F8 accepted")
	}
	if _, err := New().AddHalf("x", []int{2}, safetensors.F32, []uint16{1, 2}); err == nil {
		t.Fatal("AddHalf with F32 accepted")
	}
	if _, err := New().AddHalf("x", []int{3}, safetensors.BF16, []uint16{1, 2}); err == nil {
		t.Fatal("AddHalf with a short slice accepted")
	}
}
