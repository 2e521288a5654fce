package grpo

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/model/safetensors"
)

// Checkpoint layout, in RUN_DIR/checkpoints/<name>/:
//
//	model.safetensors      policy parameters (HF names); LoRA runs: the adapters only
//	base.json              LoRA runs: where the frozen base comes from, and its checksum
//	reference.safetensors  frozen reference policy (GRPO phase, KL on)
//	optimizer.safetensors  AdamW moments, step and config
//	state.json             phase, steps, data cursors, rewards, first evaluation
//	config.json            model config (HF keys)
//	preprocessor_config.json  pixel normalisation and frame area bounds
//	tokenizer.json         the tokenizer
//	adapter/               LoRA runs: the adapters in the PEFT layout
//
// RUN_DIR/checkpoints/latest names the newest complete checkpoint; it is
// written (atomically) only after the checkpoint directory is complete.
const (
	ckptDir    = "checkpoints"
	latestFile = "latest"
	baseFile   = "base.json"
)

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

// baseOf returns a store sharing the frozen (non-adapter) weights of store.
func baseOf(store *params.Store) (*params.Store, error) {
	base := params.New()
	for _, p := range store.Params() {
		if model.IsLoRAParam(p.Name) {
			continue
		}
		if _, err := base.AddShared(p); err != nil {
			return nil, err
		}
	}
	return base, nil
}

// baseChecksum is the checksum of the policy's frozen LoRA base.
func (t *Trainer) baseChecksum() (string, error) {
	if t.baseSum == "" {
		base, err := baseOf(t.policy.Store)
		if err != nil {
			return "", err
		}
		t.baseSum = base.Checksum()
	}
	return t.baseSum, nil
}

// baseRef describes the run's frozen LoRA base.
func (t *Trainer) baseRef() (BaseRef, error) {
	sum, err := t.baseChecksum()
	if err != nil {
		return BaseRef{}, err
	}
	ref := BaseRef{Preset: t.cfg.Model.Preset, InitSeed: t.cfg.Model.InitSeed, DType: t.policy.Config.LoRA.BaseDType, Checksum: sum}
	if ref.DType == "" {
		ref.DType = safetensors.F32
	}
	if ref.Preset == "hf" {
		ref.Path = t.baseModelName()
	}
	return ref, nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// checkpointName orders checkpoints: warm-up ones before GRPO ones.
func (t *Trainer) checkpointName() string {
	switch t.state.Phase {
	case "sft":
		return fmt.Sprintf("0-sft-%06d", t.state.SFTStep)
	case "grpo":
		return fmt.Sprintf("1-grpo-%06d", t.state.GRPOStep)
	}
	return fmt.Sprintf("2-done-%06d", t.state.GRPOStep)
}

// commit makes the step just completed part of the run's state: the data
// sampler's cursors as they stand after the step's draws. Until then a
// checkpoint records the cursors of the last completed step, so a run
// stopped inside a step redraws that step's batch when resumed.
func (t *Trainer) commit() {
	t.state.Cursors = maps.Clone(t.draw.cursors)
	t.unsaved = true
}

// saveStop writes the checkpoint of a stopped run: the state as of the last
// completed step (the weights and optimizer are untouched by an unfinished
// step; see grpoStep). When the newest checkpoint already holds that state,
// nothing is written, so a complete checkpoint is never replaced.
func (t *Trainer) saveStop() error {
	t.draw.cursors = maps.Clone(t.state.Cursors) // drop the unfinished step's draws
	if !t.unsaved {
		dir, _ := LatestCheckpoint(t.cfg.RunDir)
		t.log.Info("stopped; the last completed step is in the latest checkpoint", "dir", dir)
		return nil
	}
	return t.checkpoint()
}

// checkpoint writes the run state atomically and keeps the last k.
func (t *Trainer) checkpoint() error {
	root := filepath.Join(t.cfg.RunDir, ckptDir)
	name := t.checkpointName()
	final := filepath.Join(root, name)
	tmp := final + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	// A LoRA run saves the adapters of the policy and of the reference,
	// and where the frozen base comes from, not a copy of the base (16 GB
	// in BF16 for an 8B model).
	if t.policy.Config.LoRA != nil {
		ref, err := t.baseRef()
		if err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		b, err := json.MarshalIndent(ref, "", "  ")
		if err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		if err := os.WriteFile(filepath.Join(tmp, baseFile), b, 0o644); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	for _, w := range []struct {
		file  string
		store *params.Store
	}{{"model.safetensors", t.policy.Store}, {"reference.safetensors", t.ref}} {
		if w.store == nil {
			continue // no reference before the GRPO phase or without KL
		}
		part, err := t.policy.Config.TrainableStore(w.store)
		if err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		if err := part.Save(filepath.Join(tmp, w.file), nil); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	if err := t.optim.Save(filepath.Join(tmp, "optimizer.safetensors")); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := t.policy.Config.SaveJSON(filepath.Join(tmp, "config.json")); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := t.saveProcessor(tmp); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if t.policy.Config.LoRA != nil {
		if err := model.SaveAdapters(filepath.Join(tmp, "adapter"), t.policy.Config, t.policy.Store, t.baseModelName()); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	tj, err := t.tok.Marshal()
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "tokenizer.json"), tj, 0o644); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	st, err := json.MarshalIndent(t.state, "", "  ")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "state.json"), st, 0o644); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	os.RemoveAll(final)
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(root, latestFile), []byte(name+"\n")); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	t.unsaved = false
	t.log.Info("checkpoint", "dir", final)
	if err := t.prune(root); err != nil {
		return err
	}
	t.at("checkpoint", t.state.GRPOStep)
	return nil
}

// prune keeps the newest checkpoint.keep checkpoints.
func (t *Trainer) prune(root string) error {
	keep := t.cfg.Checkpoint.Keep
	if keep < 1 {
		return nil
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasSuffix(e.Name(), ".tmp") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for len(names) > keep {
		if err := os.RemoveAll(filepath.Join(root, names[0])); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		names = names[1:]
	}
	return nil
}

// LatestCheckpoint returns the newest complete checkpoint of a run.
func LatestCheckpoint(runDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(runDir, ckptDir, latestFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("resume: %s has no checkpoint (no %s)", runDir, filepath.Join(ckptDir, latestFile))
	}
	if err != nil {
		return "", fmt.Errorf("resume: %w", err)
	}
	return filepath.Join(runDir, ckptDir, strings.TrimSpace(string(b))), nil
}

// restore loads the newest checkpoint and returns its global step.
func (t *Trainer) restore() (int, error) {
	dir, err := LatestCheckpoint(t.cfg.RunDir)
	if err != nil {
		return 0, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return 0, fmt.Errorf("resume: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return 0, fmt.Errorf("resume: %s: %w", filepath.Join(dir, "state.json"), err)
	}
	if st.Cursors == nil {
		st.Cursors = map[string]int{}
	}
	weights := t.policy.Store
	if bp := filepath.Join(dir, baseFile); t.policy.Config.LoRA != nil && fileExists(bp) {
		// Adapters only: the base loaded from the config must be the one
		// the checkpoint was trained on.
		saved, err := ReadBaseRef(bp)
		if err != nil {
			return 0, fmt.Errorf("resume: %w", err)
		}
		sum, err := t.baseChecksum()
		if err != nil {
			return 0, fmt.Errorf("resume: %w", err)
		}
		if sum != saved.Checksum {
			return 0, fmt.Errorf("resume: the frozen base weights differ from those %s was trained on (%s base %s); model.path, model.init_seed and model.lora.base_dtype must match the run's", dir, saved.Preset, cmp.Or(saved.Path, "-"))
		}
		if weights, err = t.policy.Config.TrainableStore(weights); err != nil {
			return 0, fmt.Errorf("resume: %w", err)
		}
	}
	if err := weights.LoadInto(filepath.Join(dir, "model.safetensors")); err != nil {
		return 0, fmt.Errorf("resume: %w", err)
	}
	if p := filepath.Join(dir, "reference.safetensors"); fileExists(p) {
		ref, err := t.loadReference(p)
		if err != nil {
			return 0, fmt.Errorf("resume: %w", err)
		}
		t.ref = ref
	}
	t.state = st
	t.draw.cursors = maps.Clone(st.Cursors)
	t.draw.perms = map[string][]int{}
	t.unsaved = false
	if err := t.newOptimizer(); err != nil {
		return 0, err
	}
	if err := t.optim.Load(filepath.Join(dir, "optimizer.safetensors")); err != nil {
		return 0, fmt.Errorf("resume: %w", err)
	}
	t.log.Info("resumed", "checkpoint", dir, "phase", st.Phase, "sft_step", st.SFTStep, "grpo_step", st.GRPOStep)
	return t.globalStep(), nil
}

// loadReference reads a checkpoint's reference.safetensors: the whole
// reference, or with LoRA its adapters over the policy's frozen base.
func (t *Trainer) loadReference(path string) (*params.Store, error) {
	if t.policy.Config.LoRA == nil {
		return params.Load(path)
	}
	ref, err := t.referenceStore()
	if err != nil {
		return nil, err
	}
	adapters, err := t.policy.Config.TrainableStore(ref)
	if err != nil {
		return nil, err
	}
	if err := adapters.LoadInto(path); err != nil {
		return nil, err
	}
	return ref, nil
}

// baseModelName is the adapters' base_model_name_or_path (PEFT): the
// Hugging Face folder the run started from, or the tiny preset's name.
func (t *Trainer) baseModelName() string {
	if t.cfg.Model.Preset == "hf" {
		if abs, err := filepath.Abs(t.cfg.Model.Path); err == nil {
			return abs
		}
		return t.cfg.Model.Path
	}
	return "videossr-tiny"
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

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
