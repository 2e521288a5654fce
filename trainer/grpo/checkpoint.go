package grpo

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/model/safetensors"
	"github.com/videossr/videossr-go/tasks"
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
)

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
		base, err := baseOf(t.store)
		if err != nil {
			return "", err
		}
		t.baseSum = base.Checksum()
	}
	return t.baseSum, nil
}

// baseRef describes the run's frozen LoRA base.
func (t *Trainer) baseRef() (model.BaseRef, error) {
	sum, err := t.baseChecksum()
	if err != nil {
		return model.BaseRef{}, err
	}
	ref := model.BaseRef{Preset: t.cfg.Model.Preset, InitSeed: t.cfg.Model.InitSeed, DType: t.mc.LoRA.BaseDType, Checksum: sum}
	if ref.DType == "" {
		ref.DType = safetensors.F32
	}
	if ref.Preset == "hf" {
		ref.Path = t.baseModelName()
	}
	return ref, nil
}

// writeFileAtomic writes path through a temporary file, flushed and renamed
// over it.
func writeFileAtomic(path string, data []byte) error {
	err := safetensors.WriteAtomic(path, func(w *os.File) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Suffixes of the folders a checkpoint write leaves while it runs: the new
// checkpoint being written, and the old one of the same name moved aside
// until the new one is in place.
const (
	tmpSuffix   = ".tmp"
	asideSuffix = ".old"
)

// swapDir moves the complete folder tmp to final. An existing final is
// renamed aside first and deleted only after the new one is in place (and
// after done, e.g. pointing latest at it), so a process killed at any
// moment leaves a complete folder under final's name or aside, which
// recoverDir puts back.
func (t *Trainer) swapDir(tmp, final string, done func() error) error {
	aside := final + asideSuffix
	if err := os.RemoveAll(aside); err != nil {
		return err
	}
	if fileExists(final) {
		if err := os.Rename(final, aside); err != nil {
			return err
		}
	}
	t.at("swap", t.state.GRPOStep)
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	syncDir(filepath.Dir(final))
	if done != nil {
		if err := done(); err != nil {
			return err
		}
	}
	return os.RemoveAll(aside)
}

// syncDir flushes a directory's entries (best effort: some filesystems
// refuse it).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// recoverDir undoes what an interrupted swapDir left of final: a folder
// moved aside comes back when final is missing and is deleted otherwise.
// It reports whether final was put back.
func recoverDir(final string) (bool, error) {
	aside := final + asideSuffix
	if !fileExists(aside) {
		return false, nil
	}
	if fileExists(final) {
		return false, os.RemoveAll(aside)
	}
	return true, os.Rename(aside, final)
}

// recoverCheckpoints cleans what interrupted checkpoint writes left in a run
// directory: checkpoints moved aside are put back where their name is
// missing, half-written .tmp folders and files are deleted, and so are the
// leftovers of final/. A checkpoint whose old protocol (delete, then rename)
// was killed between its two steps is completed from its .tmp folder when
// latest names it and the folder is complete.
func recoverCheckpoints(runDir string, log func(msg string, args ...any)) error {
	if _, err := recoverDir(filepath.Join(runDir, "final")); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	if err := os.RemoveAll(filepath.Join(runDir, "final"+tmpSuffix)); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	root := filepath.Join(runDir, ckptDir)
	ents, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), asideSuffix); ok && e.IsDir() {
			back, err := recoverDir(filepath.Join(root, name))
			if err != nil {
				return fmt.Errorf("recover: %w", err)
			}
			if back {
				log("checkpoint restored after an interrupted write", "dir", filepath.Join(root, name))
			}
		}
	}
	latest := ""
	if b, err := os.ReadFile(filepath.Join(root, latestFile)); err == nil {
		latest = strings.TrimSpace(string(b))
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), tmpSuffix)
		stray := strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), ".tmp-") // writeFileAtomic
		if !ok && !stray {
			continue
		}
		p := filepath.Join(root, e.Name())
		if ok && e.IsDir() && name == latest && !fileExists(filepath.Join(root, name)) && complete(p) {
			if err := os.Rename(p, filepath.Join(root, name)); err != nil {
				return fmt.Errorf("recover: %w", err)
			}
			log("checkpoint completed after an interrupted write", "dir", filepath.Join(root, name))
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("recover: %w", err)
		}
	}
	return nil
}

// complete reports whether a checkpoint folder was written to its end: its
// manifest verifies, or (older checkpoints, without one) it has the
// state.json written last.
func complete(dir string) bool {
	ok, err := verifyManifest(dir)
	if ok {
		return err == nil
	}
	return fileExists(filepath.Join(dir, "state.json"))
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

// checkpoint writes the run state atomically and keeps the last k. A
// device-resident policy's trained weights are copied to the host store
// first (the optimizer's moments come with its Save).
func (t *Trainer) checkpoint() error {
	if err := t.policy.SyncHost(); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
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
	if t.mc.LoRA != nil {
		ref, err := t.baseRef()
		if err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		b, err := json.MarshalIndent(ref, "", "  ")
		if err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		if err := os.WriteFile(filepath.Join(tmp, model.BaseRefFile), b, 0o644); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	for _, w := range []struct {
		file  string
		store *params.Store
	}{{"model.safetensors", t.store}, {"reference.safetensors", t.ref}} {
		if w.store == nil {
			continue // no reference before the GRPO phase or without KL
		}
		part, err := t.mc.TrainableStore(w.store)
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
	if err := t.mc.SaveJSON(filepath.Join(tmp, "config.json")); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := t.saveProcessor(tmp); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if t.mc.LoRA != nil {
		if err := model.SaveAdapters(filepath.Join(tmp, "adapter"), t.mc, t.store, t.baseModelName()); err != nil {
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
	if err := WriteManifest(tmp); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	// The complete folder replaces one of the same name only once it is
	// in place (see swapDir); latest moves after that.
	err = t.swapDir(tmp, final, func() error {
		return writeFileAtomic(filepath.Join(root, latestFile), []byte(name+"\n"))
	})
	if err != nil {
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
	latest, err := LatestCheckpoint(t.cfg.RunDir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() && checkpointNameOK(e.Name()) && e.Name() != filepath.Base(latest) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for len(names) > keep-1 {
		if err := os.RemoveAll(filepath.Join(root, names[0])); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		names = names[1:]
	}
	return nil
}

// checkpointNameOK reports whether name can be a checkpoint folder's name:
// one plain path element, not a folder of an unfinished write.
func checkpointNameOK(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, `/\`) &&
		!strings.HasPrefix(name, ".") && !strings.HasSuffix(name, tmpSuffix) && !strings.HasSuffix(name, asideSuffix)
}

// LatestCheckpoint returns the newest complete checkpoint of a run: the
// folder RUN_DIR/checkpoints/latest names, which must be a checkpoint folder
// directly inside RUN_DIR/checkpoints.
func LatestCheckpoint(runDir string) (string, error) {
	lp := filepath.Join(runDir, ckptDir, latestFile)
	b, err := os.ReadFile(lp)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("resume: %s has no checkpoint (no %s)", runDir, filepath.Join(ckptDir, latestFile))
	}
	if err != nil {
		return "", fmt.Errorf("resume: %w", err)
	}
	name := strings.TrimSpace(string(b))
	if !checkpointNameOK(name) {
		return "", fmt.Errorf("resume: %s names %q, which is not a checkpoint folder inside %s", lp, name, filepath.Join(runDir, ckptDir))
	}
	dir := filepath.Join(runDir, ckptDir, name)
	st, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("resume: %s names %q, but %s does not exist", lp, name, dir)
	}
	if err != nil {
		return "", fmt.Errorf("resume: %w", err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("resume: %s names %q, but %s is not a folder (a link or a file)", lp, name, dir)
	}
	return dir, nil
}

// ReadCheckpointState checks the newest checkpoint of a run before it is
// resumed, and returns its folder and state: checkpoints/latest names a
// checkpoint folder inside the run directory, every file matches its
// manifest.json, every weight is finite, and state.json agrees with cfg
// (see State.validate). Errors name the file and the field.
func ReadCheckpointState(cfg *configs.Config) (dir string, st State, hasManifest bool, err error) {
	if dir, err = LatestCheckpoint(cfg.RunDir); err != nil {
		return "", st, false, err
	}
	if hasManifest, err = VerifyCheckpoint(dir); err != nil {
		return "", st, false, fmt.Errorf("resume: %w", err)
	}
	sp := filepath.Join(dir, "state.json")
	b, err := os.ReadFile(sp)
	if err != nil {
		return "", st, false, fmt.Errorf("resume: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return "", st, false, fmt.Errorf("resume: %s: %w", sp, err)
	}
	if st.Cursors == nil {
		st.Cursors = map[string]int{}
	}
	if err := st.validate(cfg); err != nil {
		return "", st, false, fmt.Errorf("resume: %s: %w", sp, err)
	}
	return dir, st, hasManifest, nil
}

// checkResume reads and checks the checkpoint to resume (before the data
// and the model are prepared, so a bad one fails at once).
func (t *Trainer) checkResume() error {
	dir, st, hasManifest, err := ReadCheckpointState(t.cfg)
	if err != nil {
		return err
	}
	if !hasManifest {
		t.log.Warn("checkpoint without "+ManifestFile+" (an older trainer's): its files cannot be checked for damage", "dir", dir)
	}
	t.resume = &resumePoint{dir: dir, state: st}
	return nil
}

// resumePoint is the checked checkpoint a run resumes from.
type resumePoint struct {
	dir   string
	state State
}

// restore loads the checkpoint checkResume checked and returns its global
// step.
func (t *Trainer) restore() (int, error) {
	if t.resume == nil {
		if err := t.checkResume(); err != nil {
			return 0, err
		}
	}
	dir, st := t.resume.dir, t.resume.state
	weights := t.store
	if bp := filepath.Join(dir, model.BaseRefFile); t.mc.LoRA != nil && fileExists(bp) {
		// Adapters only: the base loaded from the config must be the one
		// the checkpoint was trained on.
		saved, err := model.ReadBaseRef(bp)
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
		if weights, err = t.mc.TrainableStore(weights); err != nil {
			return 0, fmt.Errorf("resume: %w", err)
		}
	}
	if err := weights.LoadInto(filepath.Join(dir, "model.safetensors")); err != nil {
		return 0, fmt.Errorf("resume: %w", err)
	}
	if err := t.policy.UploadWeights(); err != nil { // a resident policy's device copy
		return 0, fmt.Errorf("resume: %w", err)
	}
	if p := filepath.Join(dir, "reference.safetensors"); fileExists(p) {
		ref, err := t.loadReference(p)
		if err != nil {
			return 0, fmt.Errorf("resume: %w", err)
		}
		if err := t.policy.PrepareReference(ref); err != nil {
			return 0, fmt.Errorf("resume: %w", err)
		}
		t.ref = ref
	}
	t.state = st
	t.draw.cursors = maps.Clone(st.Cursors)
	t.draw.perms = map[string][]int{}
	t.applyCurriculum()
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

// validate checks a checkpoint's state against the run's config: a known
// phase, step counts in range, a reward per GRPO step, and data cursors that
// are non-negative, name data sources and count no more draws than the
// recorded steps make. Errors name the field.
func (st *State) validate(cfg *configs.Config) error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("field %q: %s", field, fmt.Sprintf(format, args...))
	}
	switch st.Phase {
	case "sft", "grpo", "done":
	default:
		return bad("phase", "%q is not a phase (want sft, grpo or done)", st.Phase)
	}
	if st.SFTStep < 0 {
		return bad("sft_step", "%d is negative", st.SFTStep)
	}
	if st.GRPOStep < 0 {
		return bad("grpo_step", "%d is negative", st.GRPOStep)
	}
	if st.Phase == "sft" {
		if st.SFTStep > cfg.SFT.Steps {
			return bad("sft_step", "%d is beyond the config's sft.steps %d", st.SFTStep, cfg.SFT.Steps)
		}
		if st.GRPOStep != 0 {
			return bad("grpo_step", "%d GRPO steps in the warm-up phase", st.GRPOStep)
		}
	}
	if st.GRPOStep > cfg.GRPO.Steps {
		return bad("grpo_step", "%d is beyond the config's grpo.steps %d", st.GRPOStep, cfg.GRPO.Steps)
	}
	if len(st.Rewards) != st.GRPOStep {
		return bad("rewards", "%d values for %d GRPO steps", len(st.Rewards), st.GRPOStep)
	}
	if len(st.ZeroVar) != st.GRPOStep {
		return bad("zero_var", "%d values for %d GRPO steps", len(st.ZeroVar), st.GRPOStep)
	}
	perStep := cfg.GRPO.BatchPrompts
	if cfg.GRPO.DynamicSampling {
		perStep *= 1 + cfg.GRPO.MaxFillRounds // refill rounds draw at most batch_prompts each
	}
	draws := st.SFTStep*cfg.SFT.BatchSize + st.GRPOStep*perStep
	sum := 0
	for _, k := range slices.Sorted(maps.Keys(st.Cursors)) {
		c := st.Cursors[k]
		if err := checkCursorKey(k); err != nil {
			return bad("cursors", "%q: %v", k, err)
		}
		if c < 0 {
			return bad("cursors", "%s: %d is negative", k, c)
		}
		sum += c
		if sum < 0 || sum > draws {
			return bad("cursors", "%s: %d, with the others more samples than the %d that %d warm-up steps of sft.batch_size %d and %d GRPO steps of at most %d prompts draw", k, c, draws, st.SFTStep, cfg.SFT.BatchSize, st.GRPOStep, perStep)
		}
	}
	switch {
	case cfg.Curriculum.Enabled && st.Curriculum == nil:
		return bad("curriculum", "missing, but curriculum.enabled is on (the run was started without it)")
	case !cfg.Curriculum.Enabled && st.Curriculum != nil:
		return bad("curriculum", "present, but curriculum.enabled is off (the run was started with it)")
	case st.Curriculum != nil:
		base := map[tasks.DataSource]float64{}
		for src, w := range cfg.Data.Mix {
			if w > 0 {
				base[tasks.DataSource(src)] = w
			}
		}
		if err := st.Curriculum.validate(base); err != nil {
			return bad("curriculum", "%v", err)
		}
	}
	return nil
}

// checkCursorKey checks a sampler cursor's key: a data source, prefixed by
// the phase of its own pool ("sft/counting") or by a curriculum level
// other than the base one ("L0/jigsaw").
func checkCursorKey(k string) error {
	prefix, src := "", k
	if i := strings.LastIndex(k, "/"); i >= 0 {
		prefix, src = k[:i], k[i+1:]
	}
	if _, err := tasks.ParseDataSource(src); err != nil {
		return err
	}
	switch prefix {
	case "", "sft":
		return nil
	}
	for l := range curriculumLevels {
		if l != baseLevel && prefix == fmt.Sprintf("L%d", l) {
			return nil
		}
	}
	return fmt.Errorf("%q is neither a phase with its own pool (sft) nor a curriculum level (L0, L2)", prefix)
}

// loadReference reads a checkpoint's reference.safetensors: the whole
// reference, or with LoRA its adapters over the policy's frozen base.
func (t *Trainer) loadReference(path string) (*params.Store, error) {
	if t.mc.LoRA == nil {
		return params.Load(path)
	}
	ref, err := t.referenceStore()
	if err != nil {
		return nil, err
	}
	adapters, err := t.mc.TrainableStore(ref)
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

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
