package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// IndexFileName is the name of the shard index of a sharded Hugging Face checkpoint.
const IndexFileName = "model.safetensors.index.json"

// SingleFileName is the name of an unsharded Hugging Face checkpoint.
const SingleFileName = "model.safetensors"

// Index looks tensors up across the shards of a checkpoint directory. Only
// the headers are read when it is opened; tensor bytes are read on demand.
type Index struct {
	// Dir is the checkpoint directory.
	Dir string
	// Metadata is the "metadata" object of the index file (nil when absent
	// or when the checkpoint is a single file).
	Metadata map[string]any
	shards   map[string]*shard // by file name
	where    map[string]string // tensor name -> shard file name
}

type shard struct {
	path   string
	size   int64
	header *Header
}

type indexJSON struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// OpenIndex opens the checkpoint in dir: through model.safetensors.index.json
// when present ({"weight_map": {tensor: shard file}}), else the single file
// model.safetensors. It validates every shard header and checks that each
// tensor of the weight map exists in the shard it names.
func OpenIndex(dir string) (*Index, error) {
	ix := &Index{Dir: dir, shards: map[string]*shard{}, where: map[string]string{}}
	indexPath := filepath.Join(dir, IndexFileName)
	raw, err := os.ReadFile(indexPath)
	if errors.Is(err, fs.ErrNotExist) {
		single := filepath.Join(dir, SingleFileName)
		if _, serr := os.Stat(single); serr != nil {
			return nil, fmt.Errorf("safetensors: %s has neither %s nor %s", dir, IndexFileName, SingleFileName)
		}
		sh, err := ix.openShard(SingleFileName)
		if err != nil {
			return nil, err
		}
		for _, t := range sh.header.Tensors {
			ix.where[t.Name] = SingleFileName
		}
		return ix, nil
	}
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	var ij indexJSON
	if err := json.Unmarshal(raw, &ij); err != nil {
		return nil, fmt.Errorf("safetensors index %s: bad JSON: %w", indexPath, err)
	}
	if len(ij.WeightMap) == 0 {
		return nil, fmt.Errorf("safetensors index %s: empty or missing \"weight_map\"", indexPath)
	}
	ix.Metadata = ij.Metadata
	for name, file := range ij.WeightMap {
		if !filepath.IsLocal(file) || filepath.Base(file) != file {
			return nil, fmt.Errorf("safetensors index %s: tensor %q names shard %q outside the directory", indexPath, name, file)
		}
		sh, err := ix.openShard(file)
		if err != nil {
			return nil, fmt.Errorf("safetensors index %s: tensor %q: %w", indexPath, name, err)
		}
		if _, ok := sh.header.Lookup(name); !ok {
			return nil, fmt.Errorf("safetensors index %s: tensor %q is not in shard %s", indexPath, name, file)
		}
		ix.where[name] = file
	}
	return ix, nil
}

func (ix *Index) openShard(file string) (*shard, error) {
	if sh, ok := ix.shards[file]; ok {
		return sh, nil
	}
	path := filepath.Join(ix.Dir, file)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	h, err := ReadHeader(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("safetensors %s: %w", path, err)
	}
	sh := &shard{path: path, size: st.Size(), header: h}
	ix.shards[file] = sh
	return sh, nil
}

// Names returns every tensor name of the checkpoint, sorted.
func (ix *Index) Names() []string {
	out := make([]string, 0, len(ix.where))
	for n := range ix.where {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Shards returns the shard file names, sorted.
func (ix *Index) Shards() []string {
	out := make([]string, 0, len(ix.shards))
	for n := range ix.shards {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Info returns the dtype and shape of the named tensor and the shard file holding it.
func (ix *Index) Info(name string) (TensorInfo, string, bool) {
	file, ok := ix.where[name]
	if !ok {
		return TensorInfo{}, "", false
	}
	ti, _ := ix.shards[file].header.Lookup(name)
	return ti, file, true
}

// Tensor reads the named tensor's raw bytes from its shard.
func (ix *Index) Tensor(name string) (Tensor, error) {
	file, ok := ix.where[name]
	if !ok {
		return Tensor{}, fmt.Errorf("safetensors checkpoint %s: no tensor %q", ix.Dir, name)
	}
	sh := ix.shards[file]
	ti, _ := sh.header.Lookup(name)
	f, err := os.Open(sh.path)
	if err != nil {
		return Tensor{}, fmt.Errorf("safetensors: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.Size() != sh.size {
		return Tensor{}, fmt.Errorf("safetensors %s: file changed since its header was read", sh.path)
	}
	data := make([]byte, ti.End-ti.Begin)
	if _, err := f.ReadAt(data, sh.header.DataStart+ti.Begin); err != nil {
		return Tensor{}, fmt.Errorf("safetensors %s: reading tensor %q: %w", sh.path, name, err)
	}
	return Tensor{Name: name, DType: ti.DType, Shape: append([]int64{}, ti.Shape...), Data: data}, nil
}

// Float32 reads the named tensor converted to float32, and its shape.
func (ix *Index) Float32(name string) ([]float32, []int64, error) {
	t, err := ix.Tensor(name)
	if err != nil {
		return nil, nil, err
	}
	data, err := t.Float32()
	if err != nil {
		return nil, nil, fmt.Errorf("safetensors checkpoint %s: %w", ix.Dir, err)
	}
	return data, t.Shape, nil
}

// Shape returns the shape of the named tensor.
func (ix *Index) Shape(name string) ([]int64, bool) {
	ti, _, ok := ix.Info(name)
	return ti.Shape, ok
}
