package model

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/model/safetensors"
	"github.com/videossr/videossr-go/model/tokenizer"
)

// Loading what every command starts from: a model folder (LoadFolder), a
// tokenizer (LoadTokenizer) and the tiny model sized by its tokenizer
// (TinyFor).

// BaseRefFile is the file of a LoRA checkpoint that names its frozen base
// (see BaseRef).
const BaseRefFile = "base.json"

// BaseRef is base.json: a LoRA checkpoint holds the adapters only, and the
// frozen base is read again from where the run took it (a Hugging Face
// folder, or the tiny model's seeded initialisation), then checked against
// Checksum, so a base that changed since is an error rather than a silently
// different model.
type BaseRef struct {
	// Preset is model.preset: tiny or hf.
	Preset string `json:"preset"`
	// Path is the Hugging Face folder (preset hf), absolute.
	Path string `json:"path,omitempty"`
	// InitSeed is model.init_seed (preset tiny).
	InitSeed uint64 `json:"init_seed"`
	// DType is the storage dtype of the base weights: F32, BF16 or F16.
	DType string `json:"dtype"`
	// Checksum is params.Store.Checksum of the base weights as held.
	Checksum string `json:"checksum"`
}

// ReadBaseRef reads a LoRA checkpoint's base.json, checking that it names
// a preset and a checksum.
func ReadBaseRef(path string) (BaseRef, error) {
	var ref BaseRef
	b, err := os.ReadFile(path)
	if err != nil {
		return ref, err
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		return ref, fmt.Errorf("%s: %w", path, err)
	}
	if ref.Checksum == "" || (ref.Preset != "tiny" && ref.Preset != "hf") {
		return ref, fmt.Errorf("%s: preset %q, checksum %q: not a base reference", path, ref.Preset, ref.Checksum)
	}
	return ref, nil
}

// LoadFolder reads the model of a folder written by the trainer or by
// export (final/, a checkpoint, an export): config.json and
// model.safetensors. A weights file that holds LoRA adapters (a checkpoint
// of a LoRA run) gets its adapter settings from adapter/adapter_config.json
// and, when it holds only the adapters, its frozen base from where base.json
// says (checked against the recorded checksum); a merged model (final/ of
// a LoRA run) loads as a plain model.
func LoadFolder(dir string) (Config, *params.Store, error) {
	wpath := filepath.Join(dir, WeightsFile)
	f, err := safetensors.Read(wpath)
	if err != nil || !slices.ContainsFunc(f.Names(), IsLoRAParam) {
		// A plain model: any Hugging Face layout LoadHF reads (sharded
		// weights, F16/BF16, Qwen2-VL, Qwen2.5-VL, Qwen3-VL).
		return LoadHF(dir)
	}
	c, err := LoadJSON(filepath.Join(dir, ConfigFile))
	if err != nil {
		return c, nil, err
	}
	if c.Processor, err = LoadProcessor(dir, c); err != nil {
		return c, nil, err
	}
	raw, err := os.ReadFile(filepath.Join(dir, "adapter", AdapterConfigFile))
	if err != nil {
		return c, nil, fmt.Errorf("%s holds LoRA adapters but their settings are missing: %w", wpath, err)
	}
	l, _, err := ParseAdapterConfig(raw)
	if err != nil {
		return c, nil, fmt.Errorf("%s: %w", dir, err)
	}
	var store *params.Store
	if bp := filepath.Join(dir, BaseRefFile); fileExists(bp) {
		if c, store, err = loadLoRABase(c, l, bp); err != nil {
			return c, nil, err
		}
		tr, err := c.TrainableStore(store)
		if err != nil {
			return c, nil, err
		}
		if err := tr.LoadFrom(f, true); err != nil {
			return c, nil, fmt.Errorf("%w (file %s)", err, wpath)
		}
		return c, store, nil
	}
	// An older checkpoint with the base inside: it stays in the precision
	// the file holds it in.
	for _, name := range f.Names() {
		if ti, ok := f.Info(name); ok && !IsLoRAParam(name) {
			if safetensors.IsHalf(ti.DType) {
				l.BaseDType = ti.DType
			}
			break
		}
	}
	c.LoRA = &l
	if store, err = c.InitParams(0); err != nil {
		return c, nil, err
	}
	if err := c.HoldBase(store); err != nil {
		return c, nil, err
	}
	if err := store.LoadFrom(f, true); err != nil {
		return c, nil, fmt.Errorf("%w (file %s)", err, wpath)
	}
	return c, store, nil
}

// loadLoRABase rebuilds the frozen base a LoRA checkpoint's base.json names
// (the Hugging Face folder, or the tiny model initialised from its seed),
// checks it against the recorded checksum, and adds zeroed adapters of l
// for the checkpoint's to be loaded into.
func loadLoRABase(c Config, l LoRAConfig, path string) (Config, *params.Store, error) {
	ref, err := ReadBaseRef(path)
	if err != nil {
		return c, nil, err
	}
	l.BaseDType = ref.DType
	var store *params.Store
	switch ref.Preset {
	case "hf":
		if _, store, err = LoadHFAs(ref.Path, ref.DType); err != nil {
			return c, nil, fmt.Errorf("the LoRA base of %s: %w", filepath.Dir(path), err)
		}
	default:
		if store, err = c.InitParams(ref.InitSeed); err != nil {
			return c, nil, err
		}
	}
	c.LoRA = &l
	if err := c.HoldBase(store); err != nil {
		return c, nil, err
	}
	if sum := store.Checksum(); sum != ref.Checksum {
		return c, nil, fmt.Errorf("the LoRA base of %s (%s %s) differs from the one it was trained on (checksum %.12s, recorded %.12s)", filepath.Dir(path), ref.Preset, cmp.Or(ref.Path, "-"), sum, ref.Checksum)
	}
	if err := c.AddLoRA(store, 0); err != nil {
		return c, nil, err
	}
	return c, store, nil
}

// LoadTokenizer returns the tokenizer a name gives: "" or "tiny" for the
// embedded tokenizer of the tiny model, otherwise a tokenizer.json file or
// a folder holding one (a Hugging Face model folder).
func LoadTokenizer(name string) (*tokenizer.Tokenizer, error) {
	if name == "" || name == "tiny" {
		return tokenizer.Tiny()
	}
	return tokenizer.Load(name)
}

// TinyFor returns the tiny model configuration over a tokenizer: its
// vocabulary size and the ids of the Qwen2-VL special tokens, which the
// tokenizer must have.
func TinyFor(tok *tokenizer.Tokenizer) (Config, error) {
	names := tokenizer.QwenSpecials()
	ids := make([]int, len(names))
	for i, name := range names {
		id, ok := tok.TokenID(name)
		if !ok {
			return Config{}, fmt.Errorf("tokenizer lacks the special token %s", name)
		}
		ids[i] = id
	}
	return Tiny(tok.VocabSize(), TinyTokens{
		EndOfText: ids[0], ImStart: ids[1], ImEnd: ids[2], VisionStart: ids[3],
		VisionEnd: ids[4], VisionPad: ids[5], ImagePad: ids[6], VideoPad: ids[7],
	}), nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
