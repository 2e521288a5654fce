package model

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/model/safetensors"
)

// Files of a PEFT adapter folder.
const (
	AdapterConfigFile  = "adapter_config.json"
	AdapterWeightsFile = "adapter_model.safetensors"
)

// peftPrefix starts every key of a PEFT adapter state dict of a model wrapped
// by PeftModelForCausalLM (base_model = LoraModel, .model = the HF model).
const peftPrefix = "base_model.model."

// peftConfig is the part of PEFT's LoraConfig this package reads and writes
// (adapter_config.json). Fields PEFT writes that change nothing here are
// written with their defaults; fields that would change the computation
// are checked on load.
type peftConfig struct {
	PeftType            string          `json:"peft_type"`
	TaskType            string          `json:"task_type"`
	BaseModelNameOrPath string          `json:"base_model_name_or_path"`
	R                   int             `json:"r"`
	LoraAlpha           float64         `json:"lora_alpha"`
	LoraDropout         float64         `json:"lora_dropout"`
	TargetModules       json.RawMessage `json:"target_modules"`
	Bias                string          `json:"bias"`
	FanInFanOut         bool            `json:"fan_in_fan_out"`
	UseRSLoRA           bool            `json:"use_rslora"`
	UseDoRA             bool            `json:"use_dora"`
	InferenceMode       bool            `json:"inference_mode"`
	InitLoraWeights     json.RawMessage `json:"init_lora_weights"`
	ModulesToSave       []string        `json:"modules_to_save"`
	LayersToTransform   json.RawMessage `json:"layers_to_transform"`
	LayersPattern       json.RawMessage `json:"layers_pattern"`
	RankPattern         map[string]any  `json:"rank_pattern"`
	AlphaPattern        map[string]any  `json:"alpha_pattern"`
	Revision            *string         `json:"revision"`
	AutoMapping         any             `json:"auto_mapping"`
	ExcludeModules      json.RawMessage `json:"exclude_modules,omitempty"`
	TargetParameters    json.RawMessage `json:"target_parameters,omitempty"`
	TrainableTokenIdxs  json.RawMessage `json:"trainable_token_indices,omitempty"`
	MegatronConfig      json.RawMessage `json:"megatron_config,omitempty"`
	LoftQConfig         map[string]any  `json:"loftq_config,omitempty"`
	UseQALoRA           bool            `json:"use_qalora,omitempty"`
	LayerReplication    json.RawMessage `json:"layer_replication,omitempty"`
	RuntimeConfig       map[string]any  `json:"runtime_config,omitempty"`
	LoraBias            bool            `json:"lora_bias,omitempty"`
	EVAConfig           json.RawMessage `json:"eva_config,omitempty"`
	CorDAConfig         json.RawMessage `json:"corda_config,omitempty"`
	MegatronCore        string          `json:"megatron_core,omitempty"`
	PeftVersion         string          `json:"peft_version,omitempty"`
}

func isNullJSON(r json.RawMessage) bool {
	s := strings.TrimSpace(string(r))
	return s == "" || s == "null" || s == "[]" || s == "{}"
}

// ParseAdapterConfig parses PEFT adapter_config.json bytes into a LoRA
// configuration and the base model name. Settings this package does not
// implement (DoRA, trained biases, modules_to_save, per-layer patterns,
// regex targets, fan_in_fan_out) are errors, not silently ignored.
func ParseAdapterConfig(b []byte) (LoRAConfig, string, error) {
	var pc peftConfig
	if err := json.Unmarshal(b, &pc); err != nil {
		return LoRAConfig{}, "", fmt.Errorf("%w: parse %s: %w", ErrBadLoRA, AdapterConfigFile, err)
	}
	unsupported := func(format string, a ...any) (LoRAConfig, string, error) {
		return LoRAConfig{}, "", fmt.Errorf("%w: %s: %s", ErrBadLoRA, AdapterConfigFile, fmt.Sprintf(format, a...))
	}
	if pc.PeftType != "LORA" {
		return unsupported("peft_type %q is not supported (LORA)", pc.PeftType)
	}
	if pc.Bias != "" && pc.Bias != "none" {
		return unsupported("bias %q is not supported (none)", pc.Bias)
	}
	if pc.UseDoRA || pc.FanInFanOut || pc.UseQALoRA || pc.LoraBias {
		return unsupported("use_dora, fan_in_fan_out, use_qalora and lora_bias are not supported")
	}
	if len(pc.ModulesToSave) > 0 {
		return unsupported("modules_to_save %v is not supported", pc.ModulesToSave)
	}
	if !isNullJSON(pc.LayersToTransform) || !isNullJSON(pc.ExcludeModules) || !isNullJSON(pc.TargetParameters) ||
		!isNullJSON(pc.TrainableTokenIdxs) || !isNullJSON(pc.LayerReplication) {
		return unsupported("layers_to_transform, exclude_modules, target_parameters, trainable_token_indices and layer_replication are not supported")
	}
	switch strings.TrimSpace(string(pc.InitLoraWeights)) {
	case "", "null", "true", "false", `"gaussian"`:
	default:
		// PiSSA, OLoRA, LoftQ, CorDA... change the base weights at init.
		return unsupported("init_lora_weights %s changes the base weights and is not supported", pc.InitLoraWeights)
	}
	if len(pc.RankPattern) > 0 || len(pc.AlphaPattern) > 0 {
		return unsupported("rank_pattern and alpha_pattern are not supported")
	}
	var targets []string
	if err := json.Unmarshal(pc.TargetModules, &targets); err != nil {
		var one string
		if err2 := json.Unmarshal(pc.TargetModules, &one); err2 != nil {
			return unsupported("target_modules must be a list of names or \"all-linear\": %v", err)
		}
		if one != AllLinear {
			return unsupported("target_modules %q: regular expressions are not supported (give a list of names)", one)
		}
		targets = []string{one}
	}
	slices.Sort(targets)
	l := LoRAConfig{Rank: pc.R, Alpha: pc.LoraAlpha, Dropout: pc.LoraDropout, TargetModules: targets, RSLoRA: pc.UseRSLoRA}
	return l, pc.BaseModelNameOrPath, nil
}

// MarshalAdapterConfig returns the adapter_config.json of a LoRA
// configuration as PEFT writes it (task CAUSAL_LM).
func MarshalAdapterConfig(l LoRAConfig, baseModel string) ([]byte, error) {
	targets := slices.Clone(l.TargetModules)
	slices.Sort(targets)
	tm, err := json.Marshal(targets)
	if err != nil {
		return nil, err
	}
	if len(targets) == 1 && targets[0] == AllLinear {
		tm, _ = json.Marshal(AllLinear)
	}
	pc := peftConfig{
		PeftType: "LORA", TaskType: "CAUSAL_LM", BaseModelNameOrPath: baseModel,
		R: l.Rank, LoraAlpha: l.Alpha, LoraDropout: l.Dropout, TargetModules: tm,
		Bias: "none", UseRSLoRA: l.RSLoRA, InferenceMode: true, InitLoraWeights: json.RawMessage("true"),
		LayersToTransform: json.RawMessage("null"), LayersPattern: json.RawMessage("null"),
		RankPattern: map[string]any{}, AlphaPattern: map[string]any{},
	}
	b, err := json.MarshalIndent(pc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal %s: %w", AdapterConfigFile, err)
	}
	return append(b, '\n'), nil
}

// PEFTKey is the adapter_model.safetensors key of an in-store adapter
// weight: base_model.model.<hub module path>.lora_{A,B}.weight, the names
// PEFT saves for the model's released checkpoint layout.
func (c Config) PEFTKey(name string) string {
	for _, suf := range []string{loraSuffixA, loraSuffixB} {
		if mod, ok := strings.CutSuffix(name, suf); ok {
			return peftPrefix + c.HubModulePath(mod) + suf
		}
	}
	return peftPrefix + c.HubWeightName(name)
}

// storeAdapterName maps a PEFT key (either module layout, with or without
// the adapter name "default") back to the in-store name.
func storeAdapterName(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, peftPrefix)
	if !ok {
		return "", false
	}
	for _, ab := range []string{"lora_A", "lora_B"} {
		for _, suf := range []string{"." + ab + ".weight", "." + ab + ".default.weight"} {
			if mod, ok := strings.CutSuffix(rest, suf); ok {
				return StoreWeightName(mod) + "." + ab + ".weight", true
			}
		}
	}
	return "", false
}

// SaveAdapters writes the adapters of store in the PEFT layout to dir
// (created if missing): adapter_config.json and adapter_model.safetensors
// (float32, keys from PEFTKey), so PeftModel.from_pretrained and
// transformers' load_adapter read them. baseModel is recorded as
// base_model_name_or_path.
func SaveAdapters(dir string, c Config, store *params.Store, baseModel string) error {
	if c.LoRA == nil {
		return fmt.Errorf("save adapters: %w: config has no lora settings", ErrBadLoRA)
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("save adapters: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save adapters: %w", err)
	}
	tensors := map[string]safetensors.Float32Tensor{}
	for _, s := range c.loraSpecs() {
		p, err := specParam(store, s)
		if err != nil {
			return fmt.Errorf("save adapters: %w", err)
		}
		tensors[c.PEFTKey(s.Name)] = safetensors.Float32Tensor{Shape: slices.Clone(s.Shape), Data: p.Data}
	}
	if err := safetensors.WriteFloat32Map(filepath.Join(dir, AdapterWeightsFile), safetensors.F32, tensors, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("save adapters: %w", err)
	}
	cfg, err := MarshalAdapterConfig(*c.LoRA, baseModel)
	if err != nil {
		return fmt.Errorf("save adapters: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, AdapterConfigFile), cfg)
}

// LoadAdapters reads a PEFT adapter folder for the base model c: it returns
// c with LoRA set from adapter_config.json and writes the adapter weights
// into store (added when missing, overwritten when present). Every adapter
// the config implies must be in the file, with its shape, and the file may
// hold nothing else; on error the store is unchanged.
func LoadAdapters(dir string, c Config, store *params.Store) (Config, error) {
	raw, err := os.ReadFile(filepath.Join(dir, AdapterConfigFile))
	if err != nil {
		return Config{}, fmt.Errorf("load adapters: %w", err)
	}
	l, _, err := ParseAdapterConfig(raw)
	if err != nil {
		return Config{}, fmt.Errorf("load adapters: %w", err)
	}
	c.LoRA = &l
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("load adapters: %w", err)
	}
	f, err := safetensors.Read(filepath.Join(dir, AdapterWeightsFile))
	if err != nil {
		return Config{}, fmt.Errorf("load adapters: %w", err)
	}
	specs := map[string]ParamSpec{}
	for _, s := range c.loraSpecs() {
		specs[s.Name] = s
	}
	found := map[string]string{} // store name -> key
	for _, key := range f.Names() {
		name, ok := storeAdapterName(key)
		if !ok || specs[name].Name == "" {
			return Config{}, fmt.Errorf("load adapters: %s holds %s, which is no adapter of the configured target modules %v", AdapterWeightsFile, key, l.TargetModules)
		}
		if prev, dup := found[name]; dup {
			return Config{}, fmt.Errorf("load adapters: %s and %s name the same adapter", prev, key)
		}
		shape, _ := f.Shape(key)
		if !slices.Equal(shape, specs[name].Shape) {
			return Config{}, fmt.Errorf("load adapters: %s has shape %v, the model needs %v", key, shape, specs[name].Shape)
		}
		found[name] = key
	}
	data := map[string][]float32{}
	for name, s := range specs {
		key, ok := found[name]
		if !ok {
			return Config{}, fmt.Errorf("load adapters: %s lacks %s", AdapterWeightsFile, c.PEFTKey(s.Name))
		}
		if data[name], _, err = f.Float32(key); err != nil {
			return Config{}, fmt.Errorf("load adapters: %w", err)
		}
	}
	for _, s := range c.loraSpecs() {
		if p, ok := store.Get(s.Name); ok {
			if !p.HasShape(s.Shape) {
				return Config{}, fmt.Errorf("load adapters: store holds %s with shape %v, want %v", s.Name, p.Shape, s.Shape)
			}
		}
	}
	for _, s := range c.loraSpecs() {
		if p, ok := store.Get(s.Name); ok {
			copy(p.Data, data[s.Name])
			continue
		}
		shape := make([]int, len(s.Shape))
		for i, d := range s.Shape {
			shape[i] = int(d)
		}
		if _, err := store.Add(s.Name, shape, data[s.Name]); err != nil {
			return Config{}, fmt.Errorf("load adapters: %w", err)
		}
	}
	return c, nil
}
