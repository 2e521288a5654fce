package params

import (
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/model/safetensors"
)

var (
	_ Source = (*safetensors.File)(nil)
	_ Source = (*safetensors.Index)(nil)
)

func buildStore(t *testing.T, seed uint64) *Store {
	t.Helper()
	s := New()
	rng := NewRNG(seed)
	if _, err := s.AddNormal("model.embed_tokens.weight", []int{10, 4}, rng, 0.02); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddOnes("model.norm.weight", []int{4}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddZeros("model.layers.0.mlp.bias", []int{3}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddTruncNormal("lm_head.weight", []int{4, 10}, rng, 0.5, 2); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreBasics(t *testing.T) {
	s := buildStore(t, 7)
	if got, want := s.Names(), []string{"model.embed_tokens.weight", "model.norm.weight", "model.layers.0.mlp.bias", "lm_head.weight"}; !reflect.DeepEqual(got, want) {
		t.Errorf("names %v", got)
	}
	if s.NumParams() != 40+4+3+40 || s.Len() != 4 {
		t.Errorf("NumParams %d Len %d", s.NumParams(), s.Len())
	}
	p, ok := s.Get("model.norm.weight")
	if !ok || !reflect.DeepEqual(p.Data, []float32{1, 1, 1, 1}) || !reflect.DeepEqual(p.Shape, []int{4}) {
		t.Errorf("norm %+v", p)
	}
	if _, ok := s.Get("nope"); ok {
		t.Error("Get(nope) found something")
	}
	lm, _ := s.Get("lm_head.weight")
	for _, v := range lm.Data {
		if math.Abs(float64(v)) > 1.0 {
			t.Fatalf("truncated normal value %g outside [-1, 1]", v)
		}
	}
	emb, _ := s.Get("model.embed_tokens.weight")
	var nonzero int
	for _, v := range emb.Data {
		if v != 0 {
			nonzero++
		}
	}
	if nonzero != len(emb.Data) {
		t.Errorf("normal init has %d zeros", len(emb.Data)-nonzero)
	}
	for _, bad := range []struct {
		name  string
		shape []int
		data  []float32
	}{
		{"", []int{1}, nil},
		{"model.norm.weight", []int{4}, nil},
		{"x", []int{2}, []float32{1}},
		{"y", []int{-1}, nil},
	} {
		if _, err := s.Add(bad.name, bad.shape, bad.data); err == nil {
			t.Errorf("Add(%q, %v, %v) succeeded", bad.name, bad.shape, bad.data)
		}
	}
	if err := FillTruncNormal(make([]float32, 1), NewRNG(1), 0, 1, 50, 51); err == nil {
		t.Error("truncated normal far in the tail should fail, not hang")
	}
	if err := FillTruncNormal(make([]float32, 1), NewRNG(1), 0, 1, 1, -1); err == nil {
		t.Error("empty interval accepted")
	}
}

func TestDeterministicInitAndChecksum(t *testing.T) {
	a, b, c := buildStore(t, 7), buildStore(t, 7), buildStore(t, 8)
	if a.Checksum() != b.Checksum() {
		t.Error("same seed, different checksum")
	}
	if a.Checksum() == c.Checksum() {
		t.Error("different seed, same checksum")
	}
	d := a.Clone()
	if d.Checksum() != a.Checksum() {
		t.Error("clone checksum differs")
	}
	p, _ := d.Get("model.norm.weight")
	p.Data[2] = math.Nextafter32(1, 2)
	if d.Checksum() == a.Checksum() {
		t.Error("one-ulp change not seen by the checksum")
	}
	if q, _ := a.Get("model.norm.weight"); q.Data[2] != 1 {
		t.Error("Clone shares data")
	}
	// The checksum covers names and shapes, not only bytes.
	x, y := New(), New()
	_, _ = x.Add("a", []int{2, 1}, []float32{1, 2})
	_, _ = y.Add("a", []int{1, 2}, []float32{1, 2})
	if x.Checksum() == y.Checksum() {
		t.Error("shape not covered by the checksum")
	}
	if err := a.CopyFrom(c); err != nil {
		t.Fatal(err)
	}
	if a.Checksum() != c.Checksum() {
		t.Error("CopyFrom did not copy")
	}
	if err := a.CopyFrom(x); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("CopyFrom mismatched store: %v", err)
	}
}

func TestAllFinite(t *testing.T) {
	s := buildStore(t, 1)
	if !s.AllFinite() {
		t.Fatal("fresh store not finite")
	}
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(-1))} {
		c := s.Clone()
		p, _ := c.Get("model.layers.0.mlp.bias")
		p.Data[1] = bad
		name, idx, found := c.FirstNonFinite()
		if c.AllFinite() || !found || name != "model.layers.0.mlp.bias" || idx != 1 {
			t.Errorf("%g: AllFinite %v, first %q %d %v", bad, c.AllFinite(), name, idx, found)
		}
	}
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	s := buildStore(t, 3)
	p, _ := s.Get("model.layers.0.mlp.bias")
	p.Data[0] = float32(math.Copysign(0, -1))
	p.Data[1] = math.Float32frombits(0x7fc00123)
	path := filepath.Join(dir, "model.safetensors")
	if err := s.Save(path, map[string]string{"step": "12"}); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata()["format"] != "pt" || f.Metadata()["step"] != "12" {
		t.Errorf("metadata %v", f.Metadata())
	}

	// LoadInto an existing store: bit-exact.
	other := buildStore(t, 99)
	if err := other.LoadInto(path); err != nil {
		t.Fatal(err)
	}
	if other.Checksum() != s.Checksum() {
		t.Error("LoadInto not bit-exact")
	}
	// Load into a fresh store: same tensors, name order.
	fresh, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Len() != s.Len() || fresh.NumParams() != s.NumParams() {
		t.Fatalf("Load: %d tensors", fresh.Len())
	}
	if err := fresh.CopyFrom(s); err != nil {
		t.Fatal(err)
	}

	// Missing and unexpected keys are named; shape mismatch is named.
	small := New()
	_, _ = small.AddZeros("model.norm.weight", []int{4})
	_, _ = small.AddZeros("extra.weight", []int{2})
	err = small.LoadInto(path)
	if err == nil || !strings.Contains(err.Error(), `"extra.weight"`) || !strings.Contains(err.Error(), `"lm_head.weight"`) || !strings.Contains(err.Error(), path) {
		t.Errorf("mismatch error = %v", err)
	}
	if q, _ := small.Get("model.norm.weight"); q.Data[0] != 0 {
		t.Error("failed load changed the store")
	}
	// Non-strict: unexpected keys ignored, missing still reported.
	sub := New()
	_, _ = sub.AddZeros("model.norm.weight", []int{4})
	if err := sub.LoadFrom(f, false); err != nil {
		t.Fatal(err)
	}
	if q, _ := sub.Get("model.norm.weight"); q.Data[0] != 1 {
		t.Error("non-strict load did not load")
	}
	wrong := New()
	_, _ = wrong.AddZeros("model.norm.weight", []int{2, 2})
	if err := wrong.LoadFrom(f, false); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("shape mismatch error = %v", err)
	}

	// BF16 save then load converts (values rounded to bf16).
	bpath := filepath.Join(dir, "bf16.safetensors")
	if err := s.SaveAs(bpath, safetensors.BF16, nil); err != nil {
		t.Fatal(err)
	}
	b, err := Load(bpath)
	if err != nil {
		t.Fatal(err)
	}
	bp, _ := b.Get("lm_head.weight")
	sp, _ := s.Get("lm_head.weight")
	for i := range sp.Data {
		if d := math.Abs(float64(bp.Data[i] - sp.Data[i])); d > math.Abs(float64(sp.Data[i]))/256 {
			t.Fatalf("bf16 value %g vs %g", bp.Data[i], sp.Data[i])
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.safetensors")); err == nil {
		t.Error("loading a missing file succeeded")
	}
}
