// Package configs holds the YAML configurations of the trainer, embedded in
// the binary, and loads them (with viper) into one typed Config. Loading is
// strict: an unknown key or a bad value is an error naming the key.
package configs

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/videossr/videossr-go/tasks"
)

//go:embed *.yaml ablations/*.yaml
var files embed.FS

// Embedded returns the bytes of an embedded config file, e.g. "default.yaml"
// or "ablations/strict-reward.yaml".
func Embedded(name string) ([]byte, error) {
	b, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("no embedded config %q: %w", name, err)
	}
	return b, nil
}

// EmbeddedNames lists the embedded config files: default.yaml first, then
// the other top-level files and the ablations, sorted.
func EmbeddedNames() []string {
	names := []string{"default.yaml"}
	for _, dir := range []string{".", "ablations"} {
		ents, err := files.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			name := path.Join(dir, e.Name())
			if !e.IsDir() && name != "default.yaml" {
				names = append(names, name)
			}
		}
	}
	return names
}

// DeviceConfig says where ONNX Runtime runs.
type DeviceConfig struct {
	Provider       string `mapstructure:"provider" yaml:"provider"` // cpu | cuda
	DeviceID       int    `mapstructure:"device_id" yaml:"device_id"`
	Devices        []int  `mapstructure:"devices" yaml:"devices"` // data-parallel devices, one replica each (DeviceIDs); empty = [device_id]
	IntraOpThreads int    `mapstructure:"intra_op_threads" yaml:"intra_op_threads"`
	InterOpThreads int    `mapstructure:"inter_op_threads" yaml:"inter_op_threads"`
	RolloutThreads int    `mapstructure:"rollout_threads" yaml:"rollout_threads"` // intra-op threads of the vision/prefill/decode graphs (0 = intra_op_threads)
	Library        string `mapstructure:"library" yaml:"library"`                 // ONNX Runtime shared library; "" = auto
	// Resident keeps the policy on the device for the whole run: weights,
	// rollout KV cache, gradients and AdamW state live in ONNX Runtime
	// memory of the provider's device (CPU memory on cpu, device_id on
	// cuda) and only batches, logits and metrics cross (docs/device.md).
	// False feeds every graph the host store's weights at every run.
	Resident bool `mapstructure:"resident" yaml:"resident"`
}

// ModelConfig selects the policy.
type ModelConfig struct {
	Preset    string     `mapstructure:"preset" yaml:"preset"`       // tiny | hf
	Path      string     `mapstructure:"path" yaml:"path"`           // Hugging Face model folder (preset hf)
	Tokenizer string     `mapstructure:"tokenizer" yaml:"tokenizer"` // tiny | path to tokenizer.json or its folder
	InitSeed  uint64     `mapstructure:"init_seed" yaml:"init_seed"`
	LoRA      LoRAConfig `mapstructure:"lora" yaml:"lora"`
	// Recompute turns on activation recomputation (gradient checkpointing)
	// in the training graphs: only each layer's input is kept from the
	// forward pass.
	Recompute bool `mapstructure:"recompute" yaml:"recompute"`
}

// TokenizerName is the tokenizer a run uses (model.LoadTokenizer's name):
// tokenizer, or for a Hugging Face model whose tokenizer is left at "" or
// tiny, the folder's own tokenizer.json (path).
func (m ModelConfig) TokenizerName() string {
	if m.Preset == "hf" && (m.Tokenizer == "" || m.Tokenizer == "tiny") {
		return m.Path
	}
	return m.Tokenizer
}

// LoRAConfig selects low-rank adapters on a frozen base (rank 0 = full
// fine-tuning).
type LoRAConfig struct {
	Rank          int      `mapstructure:"rank" yaml:"rank"`
	Alpha         float64  `mapstructure:"alpha" yaml:"alpha"`
	Dropout       float64  `mapstructure:"dropout" yaml:"dropout"`
	TargetModules []string `mapstructure:"target_modules" yaml:"target_modules"`
	// BaseDType is how the frozen base weights are held in memory and fed
	// to the graphs: stored (the checkpoint's own dtype when it is bf16 or
	// f16, else float32; the tiny preset is float32), bfloat16, float16 or
	// float32. The graphs compute in float32 either way.
	BaseDType string `mapstructure:"base_dtype" yaml:"base_dtype"`
}

// BaseDTypes lists the values model.lora.base_dtype accepts.
var BaseDTypes = []string{"stored", "bfloat16", "float16", "float32"}

// DataConfig says which videos feed the pretext tasks and how samples are made.
type DataConfig struct {
	Videos          []string              `mapstructure:"videos" yaml:"videos"`
	UseSampleVideos bool                  `mapstructure:"use_sample_videos" yaml:"use_sample_videos"`
	SyntheticVideos int                   `mapstructure:"synthetic_videos" yaml:"synthetic_videos"`
	HeldoutVideos   int                   `mapstructure:"heldout_videos" yaml:"heldout_videos"`
	TrainSamples    int                   `mapstructure:"train_samples" yaml:"train_samples"`
	WarmupSamples   int                   `mapstructure:"warmup_samples" yaml:"warmup_samples"` // warm-up pool, disjoint from the GRPO prompts (0 = warm up on them)
	WarmupAnswers   string                `mapstructure:"warmup_answers" yaml:"warmup_answers"` // own | shuffled (formats only)
	Mix             map[string]float64    `mapstructure:"mix" yaml:"mix"`                       // data source -> weight
	Stratified      bool                  `mapstructure:"stratified" yaml:"stratified"`         // every step holds the mix's shares (else each draw picks its source by weight)
	Sampling        tasks.SamplingConfig  `mapstructure:"sampling" yaml:"sampling"`
	Grounding       tasks.GroundingConfig `mapstructure:"grounding" yaml:"grounding"`
	Counting        tasks.CountingConfig  `mapstructure:"counting" yaml:"counting"`
	Jigsaw          tasks.JigsawConfig    `mapstructure:"jigsaw" yaml:"jigsaw"`
	Reward          string                `mapstructure:"reward" yaml:"reward"` // smooth | strict
	Dir             string                `mapstructure:"dir" yaml:"dir"`       // where generated data goes ("" = <run_dir>/data)

	// TrainFiles, when set, are the training data instead of generated
	// samples: JSONL or Parquet files, globs or 'trainer gen' folders, in
	// our layout or verl's (dataset.LoadFiles). ValFiles are a held-out
	// set in the same layouts, scored with the training rewards at each
	// evaluation. SourceAliases renames data sources of those files
	// (from -> to) before they are checked.
	TrainFiles    []string          `mapstructure:"train_files" yaml:"train_files"`
	ValFiles      []string          `mapstructure:"val_files" yaml:"val_files"`
	SourceAliases map[string]string `mapstructure:"source_aliases" yaml:"source_aliases"`
	// Prompts is a YAML file with the wording of the questions and the
	// system prompt (tasks.LoadPrompts) for generated samples, VIUBench
	// and evaluation rows that carry only a question ("" = ours).
	Prompts string `mapstructure:"prompts" yaml:"prompts"`
}

// VIUBenchConfig sizes the held-out benchmark.
type VIUBenchConfig struct {
	PerSubtype int `mapstructure:"per_subtype" yaml:"per_subtype"`
	MaxPixels  int `mapstructure:"max_pixels" yaml:"max_pixels"`
}

// OptimConfig configures AdamW.
type OptimConfig struct {
	LR          float64 `mapstructure:"lr" yaml:"lr"`
	Beta1       float64 `mapstructure:"beta1" yaml:"beta1"`
	Beta2       float64 `mapstructure:"beta2" yaml:"beta2"`
	Eps         float64 `mapstructure:"eps" yaml:"eps"`
	WeightDecay float64 `mapstructure:"weight_decay" yaml:"weight_decay"`
	GradClip    float64 `mapstructure:"grad_clip" yaml:"grad_clip"`
	Schedule    string  `mapstructure:"schedule" yaml:"schedule"` // constant | warmup-cosine
	Warmup      int     `mapstructure:"warmup_steps" yaml:"warmup_steps"`
	MinLRRatio  float64 `mapstructure:"min_lr_ratio" yaml:"min_lr_ratio"`
}

// SFTConfig configures the supervised warm-up.
type SFTConfig struct {
	Steps     int         `mapstructure:"steps" yaml:"steps"`
	BatchSize int         `mapstructure:"batch_size" yaml:"batch_size"`
	Optim     OptimConfig `mapstructure:"optim" yaml:"optim"`
}

// GRPOConfig configures the GRPO loop (grpo-math.md gives verl's semantics).
type GRPOConfig struct {
	Steps           int         `mapstructure:"steps" yaml:"steps"`
	BatchPrompts    int         `mapstructure:"batch_prompts" yaml:"batch_prompts"`
	GroupSize       int         `mapstructure:"group_size" yaml:"group_size"`
	PPOEpochs       int         `mapstructure:"ppo_epochs" yaml:"ppo_epochs"`
	MiniBatches     int         `mapstructure:"mini_batches" yaml:"mini_batches"`
	MicroBatchRows  int         `mapstructure:"micro_batch_rows" yaml:"micro_batch_rows"`
	NormAdvByStd    bool        `mapstructure:"norm_adv_by_std" yaml:"norm_adv_by_std"`
	AdvEps          float64     `mapstructure:"adv_eps" yaml:"adv_eps"`
	ClipLow         float64     `mapstructure:"clip_low" yaml:"clip_low"`
	ClipHigh        float64     `mapstructure:"clip_high" yaml:"clip_high"`
	ClipC           float64     `mapstructure:"clip_c" yaml:"clip_c"`
	KLType          string      `mapstructure:"kl_type" yaml:"kl_type"`
	KLCoef          float64     `mapstructure:"kl_coef" yaml:"kl_coef"`
	EntropyCoef     float64     `mapstructure:"entropy_coef" yaml:"entropy_coef"`
	LossAgg         string      `mapstructure:"loss_agg" yaml:"loss_agg"`
	DynamicSampling bool        `mapstructure:"dynamic_sampling" yaml:"dynamic_sampling"`
	Optim           OptimConfig `mapstructure:"optim" yaml:"optim"`
	// MaxFillRounds caps the extra rollout rounds of dynamic sampling
	// (DAPO): while the batch holds fewer than batch_prompts informative
	// groups, more prompts are drawn, rolled out and scored, at most this
	// many times a step (0 = only drop the zero-variance groups).
	MaxFillRounds int `mapstructure:"max_fill_rounds" yaml:"max_fill_rounds"`
}

// CurriculumConfig configures the adaptive difficulty curriculum: per data
// source a difficulty level (0 easiest, 1 the data section's settings, 2
// hardest; each level a pool generated before training) and a mix weight,
// moved every few GRPO steps so that the groups stay informative.
type CurriculumConfig struct {
	Enabled bool `mapstructure:"enabled" yaml:"enabled"`
	// StartLevel is every source's level at the first GRPO step.
	StartLevel int `mapstructure:"start_level" yaml:"start_level"`
	// TargetReward is the mean reward a source is held near; Band the
	// distance from it within which its level stays.
	TargetReward float64 `mapstructure:"target_reward" yaml:"target_reward"`
	Band         float64 `mapstructure:"band" yaml:"band"`
	// MaxZeroVar is the share of zero-variance groups above which a source
	// moves away (easier when its reward is below the target, else harder).
	MaxZeroVar float64 `mapstructure:"max_zero_var" yaml:"max_zero_var"`
	// Every is the window, in GRPO steps, over which the statistics are
	// gathered before the knobs move.
	Every int `mapstructure:"every" yaml:"every"`
	// Step is the relative change of a mix weight per window (down for a
	// source off target, up towards its data.mix weight otherwise);
	// MinWeight the floor, as a fraction of the data.mix weight.
	Step      float64 `mapstructure:"step" yaml:"step"`
	MinWeight float64 `mapstructure:"min_weight" yaml:"min_weight"`
}

// RolloutConfig configures sampling.
type RolloutConfig struct {
	Temperature  float64  `mapstructure:"temperature" yaml:"temperature"`
	TopP         float64  `mapstructure:"top_p" yaml:"top_p"`
	TopK         int      `mapstructure:"top_k" yaml:"top_k"`
	MaxNewTokens int      `mapstructure:"max_new_tokens" yaml:"max_new_tokens"`
	MaxPrompt    int      `mapstructure:"max_prompt_tokens" yaml:"max_prompt_tokens"`
	Stop         []string `mapstructure:"stop" yaml:"stop"`
	// ChunkPrompts rolls a step's prompts out this many at a time (0 = all
	// at once): the KV cache then holds chunk_prompts x group_size rows,
	// and the samples are the same.
	ChunkPrompts int `mapstructure:"chunk_prompts" yaml:"chunk_prompts"`
}

// EvalConfig configures evaluation.
type EvalConfig struct {
	Every        int  `mapstructure:"every" yaml:"every"`
	Before       bool `mapstructure:"before" yaml:"before"`
	MaxNewTokens int  `mapstructure:"max_new_tokens" yaml:"max_new_tokens"`
	// Files are evaluation files (JSONL or Parquet paths or globs: VIUBench,
	// multiple choice, temporal grounding, pretext rows) answered and
	// scored with the held-out VIUBench, each under eval/<name>/.
	Files []string `mapstructure:"files" yaml:"files"`
}

// CheckpointConfig configures checkpoints.
type CheckpointConfig struct {
	Every int `mapstructure:"every" yaml:"every"`
	Keep  int `mapstructure:"keep" yaml:"keep"`
}

// RewardConfig adds rewards to the built-in ones.
type RewardConfig struct {
	// Plugins are reward functions run as external commands (reward/plugin).
	Plugins []PluginConfig `mapstructure:"plugins" yaml:"plugins"`
}

// PluginConfig is one reward plug-in: a command that scores the responses
// of its data sources, speaking JSON lines on stdin/stdout.
type PluginConfig struct {
	// DataSources are the data sources it scores; a built-in one
	// (grounding, counting, jigsaw) is replaced.
	DataSources []string `mapstructure:"data_sources" yaml:"data_sources"`
	// Command is the program and its arguments, run directly (no shell)
	// from the trainer's working directory.
	Command []string `mapstructure:"command" yaml:"command"`
	// Timeout bounds one batch, as a duration ("60s", "2m"; "" = 60s).
	Timeout string `mapstructure:"timeout" yaml:"timeout"`
	// Batch caps the responses sent in one exchange (0 = a sample's whole
	// group at once).
	Batch int `mapstructure:"batch" yaml:"batch"`
}

// TimeoutDuration returns Timeout parsed (0 when empty: the plug-in
// package's default).
func (p PluginConfig) TimeoutDuration() (time.Duration, error) {
	if p.Timeout == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(p.Timeout)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q, want a positive duration such as 60s or 2m", p.Timeout)
	}
	return d, nil
}

// PluginSources returns the data sources of the reward plug-ins.
func (c *Config) PluginSources() []string {
	var out []string
	for _, p := range c.Reward.Plugins {
		out = append(out, p.DataSources...)
	}
	return out
}

// LoggingConfig says where the run's metrics go besides metrics.jsonl.
type LoggingConfig struct {
	// Backends are the metric writers: jsonl (RUN_DIR/metrics.jsonl,
	// required: plots, inspect and --resume read it) and tensorboard
	// (event files in RUN_DIR/tb).
	Backends []string `mapstructure:"backends" yaml:"backends"`
	// RolloutsEvery writes every N GRPO steps each prompt's G responses
	// with their rewards, advantages and lengths to
	// RUN_DIR/rollouts/step-XXXXXX.jsonl (0 = never).
	RolloutsEvery int `mapstructure:"rollouts_every" yaml:"rollouts_every"`
}

// LoggingBackends lists the values logging.backends accepts.
var LoggingBackends = []string{"jsonl", "tensorboard"}

// Config is the whole trainer configuration.
type Config struct {
	Seed       uint64           `mapstructure:"seed" yaml:"seed"`
	RunDir     string           `mapstructure:"run_dir" yaml:"run_dir"`
	Device     DeviceConfig     `mapstructure:"device" yaml:"device"`
	Model      ModelConfig      `mapstructure:"model" yaml:"model"`
	Data       DataConfig       `mapstructure:"data" yaml:"data"`
	VIUBench   VIUBenchConfig   `mapstructure:"viubench" yaml:"viubench"`
	SFT        SFTConfig        `mapstructure:"sft" yaml:"sft"`
	GRPO       GRPOConfig       `mapstructure:"grpo" yaml:"grpo"`
	Rollout    RolloutConfig    `mapstructure:"rollout" yaml:"rollout"`
	Eval       EvalConfig       `mapstructure:"eval" yaml:"eval"`
	Checkpoint CheckpointConfig `mapstructure:"checkpoint" yaml:"checkpoint"`
	Reward     RewardConfig     `mapstructure:"reward" yaml:"reward"`
	Logging    LoggingConfig    `mapstructure:"logging" yaml:"logging"`
	Curriculum CurriculumConfig `mapstructure:"curriculum" yaml:"curriculum"`
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("config")

// Load builds the configuration: the embedded default.yaml, then each file
// of paths merged in order (a path may name an embedded file, e.g.
// "ablations/strict-reward.yaml", when no such file exists on disk), then
// each "key=value" override of sets (value parsed as YAML). Unknown keys and
// invalid values are errors naming the key.
func Load(paths, sets []string) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	def, err := Embedded("default.yaml")
	if err != nil {
		return nil, err
	}
	if err := v.ReadConfig(bytes.NewReader(def)); err != nil {
		return nil, fmt.Errorf("%w: embedded default.yaml: %v", ErrConfig, err)
	}
	known := map[string]bool{}
	for _, k := range v.AllKeys() {
		known[k] = true
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			if eb, eerr := Embedded(p); eerr == nil {
				b, err = eb, nil
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%w: read %s: %v", ErrConfig, p, err)
		}
		layer := viper.New()
		layer.SetConfigType("yaml")
		if err := layer.ReadConfig(bytes.NewReader(b)); err != nil {
			return nil, fmt.Errorf("%w: parse %s: %v", ErrConfig, p, err)
		}
		if err := checkKnown(layer.AllKeys(), known, p, nil); err != nil {
			return nil, err
		}
		if err := v.MergeConfigMap(layer.AllSettings()); err != nil {
			return nil, fmt.Errorf("%w: merge %s: %v", ErrConfig, p, err)
		}
	}
	for _, s := range sets {
		key, val, ok := strings.Cut(s, "=")
		key = strings.ToLower(strings.TrimSpace(key))
		if !ok || key == "" {
			return nil, fmt.Errorf("%w: --set %q: want key=value", ErrConfig, s)
		}
		var parsed any
		if err := yaml.Unmarshal([]byte(val), &parsed); err != nil {
			return nil, fmt.Errorf("%w: --set %s: value %q: %v", ErrConfig, key, val, err)
		}
		if err := checkKnown([]string{key}, known, "--set", parsed); err != nil {
			return nil, err
		}
		if parsed == nil {
			// An empty value clears a string or a list; a number or a
			// boolean needs one.
			switch v.Get(key).(type) {
			case string:
				parsed = ""
			case []any, []string:
				parsed = []any{}
			default:
				return nil, fmt.Errorf("%w: --set %s: no value (want --set %s=VALUE)", ErrConfig, key, key)
			}
		}
		v.Set(key, parsed)
	}
	var c Config
	if err := v.UnmarshalExact(&c, strictNumbers); err != nil {
		return nil, decodeErrors(err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// checkKnown rejects keys the default config does not have. Map-valued
// sections (data.mix) accept new entries. A section given a value (--set
// 'eval={every: 1}', or "eval: 1" in a file) gets a message that says how
// to set its keys; value is the --set value as parsed (nil for files).
func checkKnown(keys []string, known map[string]bool, where string, value any) error {
	for _, k := range keys {
		if known[k] || strings.HasPrefix(k, "data.mix.") || k == "data.source_aliases" || strings.HasPrefix(k, "data.source_aliases.") {
			continue
		}
		if sub := sectionKeys(known, k); len(sub) > 0 {
			example := sub[0] + "=..."
			if m, ok := value.(map[string]any); ok && len(m) > 0 {
				names := make([]string, 0, len(m))
				for n := range m {
					names = append(names, n)
				}
				slices.Sort(names)
				example = fmt.Sprintf("%s=%v", names[0], m[names[0]])
			}
			if where == "--set" {
				return fmt.Errorf("%w: --set %s: %q is a section, not a value: set its keys one at a time, e.g. --set %s.%s (its keys: %s)",
					ErrConfig, k, k, k, example, strings.Join(sub, ", "))
			}
			return fmt.Errorf("%w: %s: %q is a section, not a value: give its keys under it (its keys: %s)", ErrConfig, where, k, strings.Join(sub, ", "))
		}
		return fmt.Errorf("%w: %s: unknown key %q", ErrConfig, where, k)
	}
	return nil
}

// sectionKeys lists the names directly under section in the known keys
// (sorted; nil when section is not a section).
func sectionKeys(known map[string]bool, section string) []string {
	seen := map[string]bool{}
	for k := range known {
		if rest, ok := strings.CutPrefix(k, section+"."); ok {
			first, _, _ := strings.Cut(rest, ".")
			seen[first] = true
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// decodeErrors rewrites a decoding error as one "config: KEY: problem"
// line per key (mapstructure's own text quotes the key after a header).
func decodeErrors(err error) error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		var de *mapstructure.DecodeError
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
			return
		case *mapstructure.DecodeError:
			de = u
		}
		if de != nil {
			// A map entry is named data.mix[jigsaw]; the key is data.mix.jigsaw.
			name := mapEntry.ReplaceAllString(de.Name(), ".$1")
			out = append(out, fmt.Errorf("%w: %s: %v", ErrConfig, name, de.Unwrap()))
			return
		}
		if w := errors.Unwrap(e); w != nil {
			walk(w)
			return
		}
		out = append(out, fmt.Errorf("%w: %v", ErrConfig, e))
	}
	walk(err)
	return errors.Join(out...)
}

// unjoin splits a joined error into one ErrConfig error per line, each
// prefixed with the section's key prefix.
func unjoin(prefix string, err error) []error {
	var out []error
	for _, line := range strings.Split(err.Error(), "\n") {
		if line != "" {
			out = append(out, fmt.Errorf("%w: %s%s", ErrConfig, prefix, line))
		}
	}
	return out
}

// mapEntry matches a map entry in a mapstructure field name.
var mapEntry = regexp.MustCompile(`\[([A-Za-z_][A-Za-z0-9_-]*)\]`)

// strictNumbers makes decoding refuse what viper's weak typing would
// quietly convert: a fraction, a boolean or a non-finite number given to
// an integer key (2.9 would become 2, true 1), a negative number given to
// an unsigned one (-1 would become 18446744073709551615), a number given
// to a boolean key, and a number given to a list (device.devices=3 would
// become [3]). The error names the key (mapstructure prefixes it).
var strictNumbers = viper.DecoderConfigOption(func(dc *mapstructure.DecoderConfig) {
	dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(strictNumberHook, dc.DecodeHook)
})

func strictNumberHook(from, to reflect.Type, data any) (any, error) {
	if data == nil {
		return data, nil
	}
	src := reflect.ValueOf(data)
	isInt := func(k reflect.Kind) bool { return k >= reflect.Int && k <= reflect.Int64 }
	isUint := func(k reflect.Kind) bool { return k >= reflect.Uint && k <= reflect.Uintptr }
	isFloat := func(k reflect.Kind) bool { return k == reflect.Float32 || k == reflect.Float64 }
	switch tk, fk := to.Kind(), from.Kind(); {
	case isInt(tk) || isUint(tk):
		switch {
		case fk == reflect.Bool:
			return nil, fmt.Errorf("%v is a boolean, want an integer", data)
		case isFloat(fk):
			f := src.Float()
			if f != math.Trunc(f) || math.IsInf(f, 0) || math.Abs(f) >= 1<<63 {
				return nil, fmt.Errorf("%v is not an integer", data)
			}
			if isUint(tk) && f < 0 {
				return nil, fmt.Errorf("%v, want an integer >= 0", data)
			}
			return int64(f), nil
		case isInt(fk) && isUint(tk) && src.Int() < 0:
			return nil, fmt.Errorf("%v, want an integer >= 0", data)
		}
	case isFloat(tk):
		if fk == reflect.Bool {
			return nil, fmt.Errorf("%v is a boolean, want a number", data)
		}
	case tk == reflect.Bool:
		if isInt(fk) || isUint(fk) || isFloat(fk) {
			return nil, fmt.Errorf("%v is a number, want true or false", data)
		}
	case tk == reflect.Slice:
		// device.devices=3 would quietly become [3] (device 3, not three
		// devices).
		if isInt(fk) || isUint(fk) || isFloat(fk) {
			return nil, fmt.Errorf("%v is a number, want a list such as [%v]", data, data)
		}
	}
	return data, nil
}

// YAML renders the resolved configuration (saved in each run directory).
func (c *Config) YAML() ([]byte, error) {
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	return b, nil
}

// Validate checks values and names the key at fault: every numeric key
// against its range (ranges; NaN and ±Inf are refused everywhere), the
// named choices, and the relations between keys.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrConfig, key, fmt.Sprintf(format, a...)))
	}
	c.checkRanges(bad)
	c.Device.checkDevices(bad)
	switch c.Device.Provider {
	case "cpu", "cuda":
	default:
		bad("device.provider", "%q, want cpu or cuda", c.Device.Provider)
	}
	switch c.Model.Preset {
	case "tiny":
	case "hf":
		if c.Model.Path == "" {
			bad("model.path", "required when model.preset is hf")
		}
	default:
		bad("model.preset", "%q, want tiny or hf", c.Model.Preset)
	}
	if l := c.Model.LoRA; l.Rank > 0 && (l.Alpha <= 0 || len(l.TargetModules) == 0) {
		bad("model.lora", "rank %d, alpha %g, %d target modules: want rank 0 (off) or rank > 0 with alpha > 0 and target_modules", l.Rank, l.Alpha, len(l.TargetModules))
	}
	if l := c.Model.LoRA; !slices.Contains(BaseDTypes, l.BaseDType) {
		bad("model.lora.base_dtype", "%q, want one of %s", l.BaseDType, strings.Join(BaseDTypes, ", "))
	} else if l.Rank == 0 && (l.BaseDType == "bfloat16" || l.BaseDType == "float16") {
		bad("model.lora.base_dtype", "%s needs model.lora.rank > 0: without LoRA every weight is trained, in float32", l.BaseDType)
	}
	if c.RunDir == "" {
		bad("run_dir", "must not be empty")
	}
	if d := c.Data; d.HeldoutVideos > 0 && d.HeldoutVideos >= d.SyntheticVideos {
		bad("data.heldout_videos", "%d held-out videos need data.synthetic_videos >= %d (it is %d): the held-out videos are the last synthetic ones "+
			"and at least one stays for training; set data.heldout_videos=0 to train without the held-out VIUBench", d.HeldoutVideos, d.HeldoutVideos+1, d.SyntheticVideos)
	}
	if c.Data.WarmupSamples < 0 {
		bad("data.warmup_samples", "%d, want >= 0 (0 = the warm-up draws from the GRPO prompts)", c.Data.WarmupSamples)
	}
	if c.Data.WarmupAnswers != "own" && c.Data.WarmupAnswers != "shuffled" {
		bad("data.warmup_answers", "%q, want own or shuffled", c.Data.WarmupAnswers)
	}
	if len(c.Data.Mix) == 0 {
		bad("data.mix", "no data source has a weight")
	}
	total := 0.0
	for k, w := range c.Data.Mix {
		switch {
		case k == "grounding" || k == "counting" || k == "jigsaw":
		case slices.Contains(c.PluginSources(), k):
		default:
			bad("data.mix."+k, "unknown data source (want grounding, counting, jigsaw or a data source of reward.plugins)")
		}
		total += w
	}
	c.validateFiles(bad)
	if len(c.Data.Mix) > 0 && !(total > 0) {
		bad("data.mix", "weights sum to zero")
	}
	// The generators' own checks, with the relations between their knobs
	// (grounding.max_len <= sampling.frames, jigsaw.clips dividing it).
	gen := tasks.GenConfig{Sampling: c.Data.Sampling, Grounding: c.Data.Grounding, Counting: c.Data.Counting, Jigsaw: c.Data.Jigsaw}
	if err := gen.Validate(); err != nil {
		errs = append(errs, unjoin("data.", err)...)
	}
	if c.Data.Reward != "smooth" && c.Data.Reward != "strict" {
		bad("data.reward", "%q, want smooth or strict", c.Data.Reward)
	}
	validOptim := func(key string, o OptimConfig) {
		if o.Schedule != "constant" && o.Schedule != "warmup-cosine" {
			bad(key+".schedule", "%q, want constant or warmup-cosine", o.Schedule)
		}
		if o.LR*o.WeightDecay >= 1 {
			bad(key+".weight_decay", "%g with lr %g: AdamW multiplies the weights by 1 - lr x weight_decay each step, want lr x weight_decay < 1", o.WeightDecay, o.LR)
		}
	}
	validOptim("sft.optim", c.SFT.Optim)
	validOptim("grpo.optim", c.GRPO.Optim)
	g := c.GRPO
	if g.MiniBatches > 0 && g.BatchPrompts%g.MiniBatches != 0 {
		bad("grpo.mini_batches", "%d does not divide batch_prompts %d", g.MiniBatches, g.BatchPrompts)
	}
	switch g.KLType {
	case "none", "k1", "abs", "k2", "k3":
	default:
		bad("grpo.kl_type", "%q, want none, k1, abs, k2 or k3", g.KLType)
	}
	switch g.LossAgg {
	case "token-mean", "seq-mean-token-sum", "seq-mean-token-mean":
	default:
		bad("grpo.loss_agg", "%q, want token-mean, seq-mean-token-sum or seq-mean-token-mean", g.LossAgg)
	}
	if c.Curriculum.Enabled && len(c.Data.TrainFiles) > 0 {
		bad("curriculum.enabled", "needs generated data: its difficulty levels are pools the generators make (data.train_files is set)")
	}
	if g.ClipC != 0 && g.ClipC <= 1 {
		bad("grpo.clip_c", "%g, want > 1 (or 0 to disable the dual clip)", g.ClipC)
	}
	return errors.Join(errs...)
}
