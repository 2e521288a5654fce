package model

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/model/safetensors"
)

// LoadHF reads a Hugging Face model folder of a supported architecture
// (SupportedModels): config.json and the weights, from model.safetensors or
// the shards named by model.safetensors.index.json, in F32, F16 or BF16
// (converted to float32). Weight names may be in the hub layout
// (visual.*, model.layers.*) or transformers' remapped layout
// (model.visual.*, model.language_model.*); the store uses the hub layout
// (see StoreWeightName). A tied model may omit lm_head.weight (an lm_head
// stored anyway is ignored); any other missing, unexpected or misshapen
// tensor is an error naming it. The pixel normalisation comes from the
// folder's processor settings when it has them (LoadProcessor).
func LoadHF(dir string) (Config, *params.Store, error) {
	return LoadHFAs(dir, safetensors.F32)
}

// StoredDType asks LoadHFAs to keep the checkpoint's own precision.
const StoredDType = "stored"

// LoadHFAs is LoadHF with the storage dtype of the weights: F32 converts
// every tensor to float32 (LoadHF); BF16 or F16 holds them as raw 16-bit
// values (a tensor stored in that dtype is kept bit for bit, others are
// rounded), for a frozen LoRA base (LoRAConfig.BaseDType); StoredDType
// picks the checkpoint's dtype (CheckpointDType). The store never holds a
// float32 copy of a half-precision model.
func LoadHFAs(dir, dtype string) (Config, *params.Store, error) {
	fail := func(err error) (Config, *params.Store, error) {
		return Config{}, nil, fmt.Errorf("load hf model %s: %w", dir, err)
	}
	c, err := LoadJSON(filepath.Join(dir, ConfigFile))
	if err != nil {
		return fail(err)
	}
	if err := c.checkGraphSupport(); err != nil {
		return fail(err)
	}
	if c.Processor, err = LoadProcessor(dir, c); err != nil {
		return fail(err)
	}
	ix, err := safetensors.OpenIndex(dir)
	if err != nil {
		return fail(err)
	}
	if dtype == StoredDType {
		dtype = CheckpointDType(ix)
	}
	if dtype != safetensors.F32 && !safetensors.IsHalf(dtype) {
		return fail(fmt.Errorf("cannot hold weights as %q (F32, BF16, F16 or %s)", dtype, StoredDType))
	}
	store, err := c.loadWeights(ix, dtype)
	if err != nil {
		return fail(err)
	}
	return c, store, nil
}

// CheckpointDType is the dtype most of a checkpoint's values are stored
// in when it is BF16 or F16, else F32.
func CheckpointDType(ix *safetensors.Index) string {
	count := map[string]int64{}
	for _, name := range ix.Names() {
		if ti, _, ok := ix.Info(name); ok {
			count[ti.DType] += ti.NumElements()
		}
	}
	best := safetensors.F32
	for _, dt := range []string{safetensors.BF16, safetensors.F16} {
		if count[dt] > count[best] {
			best = dt
		}
	}
	return best
}

// ignoredWeight reports checkpoint tensors that are not parameters (rotary
// buffers some older saves include).
func ignoredWeight(name string) bool { return strings.HasSuffix(name, "rotary_emb.inv_freq") }

// loadWeights reads every base parameter of c from a checkpoint, held as
// dtype (F32, BF16 or F16).
func (c Config) loadWeights(ix *safetensors.Index, dtype string) (*params.Store, error) {
	byStore := map[string]string{}
	var unexpected []string
	specs := map[string]bool{}
	for _, s := range c.baseParamSpecs() {
		specs[s.Name] = true
	}
	for _, key := range ix.Names() {
		name := StoreWeightName(key)
		if prev, dup := byStore[name]; dup {
			return nil, fmt.Errorf("checkpoint holds both %s and %s for %s", prev, key, name)
		}
		byStore[name] = key
		if !specs[name] && !ignoredWeight(key) && !(name == "lm_head.weight" && c.TieWordEmbeddings) {
			unexpected = append(unexpected, key)
		}
	}
	if len(unexpected) > 0 {
		return nil, fmt.Errorf("checkpoint holds %d tensors that %s with this config.json has no place for: %s", len(unexpected), c.ModelType, listSome(unexpected))
	}
	var missing []string
	for _, s := range c.baseParamSpecs() {
		if _, ok := byStore[s.Name]; !ok {
			missing = append(missing, c.HubWeightName(s.Name))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("checkpoint lacks %d tensors of %s: %s", len(missing), c.ModelType, listSome(missing))
	}
	store := params.New()
	for _, s := range c.baseParamSpecs() {
		key := byStore[s.Name]
		shape, _ := ix.Shape(key)
		if !slices.Equal(shape, s.Shape) {
			return nil, fmt.Errorf("%s has shape %v, config.json implies %v", key, shape, s.Shape)
		}
		ishape := make([]int, len(shape))
		for i, d := range shape {
			ishape[i] = int(d)
		}
		if safetensors.IsHalf(dtype) {
			t, err := ix.Tensor(key)
			if err != nil {
				return nil, err
			}
			bits, err := t.Half(dtype)
			if err != nil {
				return nil, fmt.Errorf("safetensors checkpoint %s: %w", ix.Dir, err)
			}
			if _, err := store.AddHalf(s.Name, ishape, dtype, bits); err != nil {
				return nil, err
			}
			continue
		}
		data, _, err := ix.Float32(key)
		if err != nil {
			return nil, err
		}
		if _, err := store.Add(s.Name, ishape, data); err != nil {
			return nil, err
		}
	}
	return store, nil
}

// listSome formats at most 8 names.
func listSome(names []string) string {
	if len(names) <= 8 {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:8], ", ") + fmt.Sprintf(" and %d more", len(names)-8)
}

// checkGraphSupport reports configurations whose graphs this package
// cannot build.
func (c Config) checkGraphSupport() error {
	return checkArchitecture(c.ModelType, c.Architectures)
}
