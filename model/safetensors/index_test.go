package safetensors

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeShard(t *testing.T, path string, m map[string]Float32Tensor, dtype string) {
	t.Helper()
	if err := WriteFloat32Map(path, dtype, m, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
}

func TestOpenIndexSharded(t *testing.T) {
	dir := t.TempDir()
	writeShard(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), map[string]Float32Tensor{
		"model.embed_tokens.weight": {Shape: []int64{2, 2}, Data: []float32{1, 2, 3, 4}},
	}, BF16)
	writeShard(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), map[string]Float32Tensor{
		"lm_head.weight":    {Shape: []int64{3}, Data: []float32{-1, 0.5, 8}},
		"model.norm.weight": {Shape: []int64{1}, Data: []float32{0.25}},
	}, F32)
	index := `{"metadata":{"total_size":26},"weight_map":{
		"model.embed_tokens.weight":"model-00001-of-00002.safetensors",
		"lm_head.weight":"model-00002-of-00002.safetensors",
		"model.norm.weight":"model-00002-of-00002.safetensors"}}`
	if err := os.WriteFile(filepath.Join(dir, IndexFileName), []byte(index), 0o644); err != nil {
		t.Fatal(err)
	}
	ix, err := OpenIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := ix.Names(); !reflect.DeepEqual(got, []string{"lm_head.weight", "model.embed_tokens.weight", "model.norm.weight"}) {
		t.Errorf("names %v", got)
	}
	if len(ix.Shards()) != 2 {
		t.Errorf("shards %v", ix.Shards())
	}
	v, shape, err := ix.Float32("model.embed_tokens.weight")
	if err != nil || !reflect.DeepEqual(v, []float32{1, 2, 3, 4}) || !reflect.DeepEqual(shape, []int64{2, 2}) {
		t.Errorf("embed = %v %v %v", v, shape, err)
	}
	raw, err := ix.Tensor("model.embed_tokens.weight")
	if err != nil || raw.DType != BF16 || len(raw.Data) != 8 {
		t.Errorf("raw embed = %+v %v", raw, err)
	}
	v, _, err = ix.Float32("lm_head.weight")
	if err != nil || !reflect.DeepEqual(v, []float32{-1, 0.5, 8}) {
		t.Errorf("lm_head = %v %v", v, err)
	}
	if ti, file, ok := ix.Info("model.norm.weight"); !ok || file != "model-00002-of-00002.safetensors" || ti.DType != F32 {
		t.Errorf("info = %+v %s %v", ti, file, ok)
	}
	if _, _, err := ix.Float32("nope"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing tensor error = %v", err)
	}
	if ix.Metadata["total_size"] != 26.0 {
		t.Errorf("metadata %v", ix.Metadata)
	}

	bad := []struct{ index, want string }{
		{`{"weight_map":{"x":"model-00002-of-00002.safetensors"}}`, `"x" is not in shard`},
		{`{"weight_map":{"lm_head.weight":"missing.safetensors"}}`, "missing.safetensors"},
		{`{"weight_map":{"lm_head.weight":"../evil.safetensors"}}`, "outside"},
		{`{"weight_map":{}}`, "weight_map"},
		{`{"weight_map":`, "bad JSON"},
	}
	for _, b := range bad {
		if err := os.WriteFile(filepath.Join(dir, IndexFileName), []byte(b.index), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenIndex(dir); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("index %s: error %v, want mention of %q", b.index, err, b.want)
		}
	}
}

func TestOpenIndexSingleFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenIndex(dir); err == nil {
		t.Error("empty directory accepted")
	}
	writeShard(t, filepath.Join(dir, SingleFileName), map[string]Float32Tensor{
		"a": {Shape: []int64{2}, Data: []float32{1, 2}},
	}, F16)
	ix, err := OpenIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := ix.Float32("a")
	if err != nil || !reflect.DeepEqual(v, []float32{1, 2}) {
		t.Errorf("a = %v %v", v, err)
	}
}
