package model

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/videossr/videossr-go/model/onnx"
	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/model/safetensors"
)

// LoRAConfig turns on low-rank adapters (Hu et al. 2021, as PEFT implements
// them): every targeted linear layer computes W x + b + (Alpha/Rank) * B(A(x))
// with A [Rank, in] and B [out, Rank]. Only the adapters are trained.
//
// Adapter parameters live in the store under <module>.lora_A.weight and
// <module>.lora_B.weight, where <module> is the in-store module path (the
// weight name without ".weight", e.g. model.layers.0.self_attn.q_proj).
// SaveAdapters writes them under PEFT's names,
// base_model.model.<hub module path>.lora_{A,B}.weight.
type LoRAConfig struct {
	// Rank is r, the inner width of the adapter.
	Rank int
	// Alpha is lora_alpha; the adapter output is scaled by Alpha/Rank
	// (Alpha/sqrt(Rank) with RSLoRA).
	Alpha float64
	// Dropout is lora_dropout, applied to the adapter input in the training
	// graphs (ONNX Dropout, seeded per module); inference graphs ignore it.
	Dropout float64
	// TargetModules are PEFT target_modules: a module is adapted when its
	// path equals an entry or ends with "." + entry (e.g. q_proj, v_proj,
	// attn.qkv). The single entry "all-linear" adapts every linear layer
	// except lm_head, as PEFT does.
	TargetModules []string
	// RSLoRA selects PEFT's use_rslora scaling Alpha/sqrt(Rank).
	RSLoRA bool
	// BaseDType is how the frozen base weights are held: "" or "F32" as
	// float32, "BF16" or "F16" as raw half-precision values (the store's
	// half parameters, see params.Store.AddHalf). Half base weights are
	// graph inputs of that type, cast to the compute type inside every
	// graph, so they take half the memory of float32 ones and a checkpoint
	// stored in that dtype is used bit for bit. The adapters stay float32.
	BaseDType string
}

// baseDType is the storage dtype of the frozen base weights under LoRA
// (safetensors.F32 without LoRA).
func (c Config) baseDType() string {
	if c.LoRA == nil || !safetensors.IsHalf(c.LoRA.BaseDType) {
		return safetensors.F32
	}
	return c.LoRA.BaseDType
}

// ParamDType returns the safetensors dtype the named parameter is held in:
// the LoRA base dtype for the frozen base weights, F32 otherwise.
func (c Config) ParamDType(name string) string {
	if IsLoRAParam(name) {
		return safetensors.F32
	}
	return c.baseDType()
}

// graphDType maps a safetensors float dtype to the ONNX one.
func graphDType(dtype string) onnx.DType {
	switch dtype {
	case safetensors.BF16:
		return onnx.BFloat16
	case safetensors.F16:
		return onnx.Float16
	}
	return onnx.Float32
}

// HoldBase converts the frozen base weights of store to the LoRA base
// dtype (c.LoRA.BaseDType): float32 values are rounded to nearest even,
// values already in that dtype are kept as they are. Without LoRA or with
// a float32 base it does nothing.
func (c Config) HoldBase(store *params.Store) error {
	dt := c.baseDType()
	if dt == safetensors.F32 {
		return nil
	}
	if err := store.Convert(dt, func(name string) bool { return !IsLoRAParam(name) }); err != nil {
		return fmt.Errorf("hold base weights as %s: %w", dt, err)
	}
	return nil
}

// specParam returns the parameter of store that spec s names, checking
// its shape.
func specParam(store *params.Store, s ParamSpec) (*params.Param, error) {
	p, ok := store.Get(s.Name)
	if !ok {
		return nil, fmt.Errorf("parameter %s is not in the store", s.Name)
	}
	if !p.HasShape(s.Shape) {
		return nil, fmt.Errorf("parameter %s has shape %v in the store, the model needs %v", s.Name, p.Shape, s.Shape)
	}
	return p, nil
}

// CheckStore checks that store holds every parameter of c with its shape
// and storage dtype (ParamDType), naming the first one that does not.
func (c Config) CheckStore(store *params.Store) error {
	for _, s := range c.ParamSpecs() {
		p, err := specParam(store, s)
		if err != nil {
			return err
		}
		if want := c.ParamDType(s.Name); p.StorageDType() != want {
			return fmt.Errorf("parameter %s is held as %s, the model config wants %s (half-precision weights need LoRA with that base dtype)", s.Name, p.StorageDType(), want)
		}
	}
	return nil
}

// AllLinear is PEFT's target_modules shorthand for every linear layer but the output head.
const AllLinear = "all-linear"

// ErrBadLoRA is wrapped by every LoRA configuration error.
var ErrBadLoRA = errors.New("invalid lora config")

// Scale is the factor of the adapter output: Alpha/Rank, or Alpha/sqrt(Rank) with RSLoRA.
func (l LoRAConfig) Scale() float64 {
	if l.RSLoRA {
		return l.Alpha / math.Sqrt(float64(l.Rank))
	}
	return l.Alpha / float64(l.Rank)
}

// loraSuffixA and loraSuffixB end the in-store names of a module's adapters.
const (
	loraSuffixA = ".lora_A.weight"
	loraSuffixB = ".lora_B.weight"
)

// loraDropoutSeed is the seed of a module's LoRA dropout stream (FNV-1a of
// its path), so every module draws its own masks and a new session draws
// the same sequence again.
func loraDropoutSeed(path string) int64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(path); i++ {
		h ^= uint64(path[i])
		h *= 1099511628211
	}
	return int64(h >> 1)
}

// LoRAParamNames returns the in-store names of the A and B adapter weights of a module.
func LoRAParamNames(module string) (a, b string) { return module + loraSuffixA, module + loraSuffixB }

// IsLoRAParam reports whether a parameter name is an adapter weight.
func IsLoRAParam(name string) bool {
	return strings.HasSuffix(name, loraSuffixA) || strings.HasSuffix(name, loraSuffixB)
}

// linearModule is one linear layer of the base model.
type linearModule struct {
	path    string // in-store module path (weight name without ".weight")
	in, out int64
}

// nonLinearModules are weight-bearing modules LoRA cannot target here
// (embeddings and the convolutional patch embedding).
func (c Config) nonLinearModules() []string {
	return []string{"model.embed_tokens", "visual.patch_embed.proj", "visual.pos_embed"}
}

// linearModules lists the base model's linear layers in parameter order,
// with lm_head last (also when its weight is tied to the embeddings).
func (c Config) linearModules() []linearModule {
	var ms []linearModule
	skip := c.nonLinearModules()
	for _, s := range c.baseParamSpecs() {
		path, ok := strings.CutSuffix(s.Name, ".weight")
		if !ok || len(s.Shape) != 2 || slices.Contains(skip, path) || path == "lm_head" {
			continue
		}
		ms = append(ms, linearModule{path: path, in: s.Shape[1], out: s.Shape[0]})
	}
	return append(ms, linearModule{path: "lm_head", in: int64(c.HiddenSize), out: int64(c.VocabSize)})
}

// targetMatches is PEFT's rule for a list of target modules: the module
// path equals the target or ends with "." + target. Both the in-store path
// and the checkpoint's hub path are tried.
func (c Config) targetMatches(path, target string) bool {
	for _, p := range []string{path, c.HubModulePath(path)} {
		if p == target || strings.HasSuffix(p, "."+target) {
			return true
		}
	}
	return false
}

// LoRAModules returns the in-store paths of the modules the LoRA config
// adapts, in parameter order (nil without LoRA).
func (c Config) LoRAModules() ([]string, error) {
	ms, err := c.loraTargets()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.path
	}
	return out, nil
}

func (c Config) loraTargets() ([]linearModule, error) {
	l := c.LoRA
	if l == nil {
		return nil, nil
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrBadLoRA, fmt.Sprintf(format, a...))
	}
	if l.Rank <= 0 {
		return nil, bad("rank %d must be positive", l.Rank)
	}
	if d := l.BaseDType; d != "" && d != safetensors.F32 && !safetensors.IsHalf(d) {
		return nil, bad("base dtype %q is not supported (F32, BF16 or F16)", d)
	}
	if !(l.Alpha > 0) {
		return nil, bad("alpha %g must be positive", l.Alpha)
	}
	if l.Dropout < 0 || l.Dropout >= 1 {
		return nil, bad("dropout %g must be in [0, 1)", l.Dropout)
	}
	if len(l.TargetModules) == 0 {
		return nil, bad("target_modules is empty")
	}
	allLinear := slices.Contains(l.TargetModules, AllLinear)
	if allLinear && len(l.TargetModules) > 1 {
		return nil, bad("%q must be the only target module, got %v", AllLinear, l.TargetModules)
	}
	if !allLinear {
		for _, t := range l.TargetModules {
			if t == "" {
				return nil, bad("empty target module name")
			}
			for _, m := range c.nonLinearModules() {
				if c.targetMatches(m, t) {
					return nil, bad("target %q matches %s, which is not a linear layer (LoRA on embeddings and convolutions is not supported)", t, m)
				}
			}
		}
	}
	var out []linearModule
	for _, m := range c.linearModules() {
		if allLinear {
			if m.path != "lm_head" {
				out = append(out, m)
			}
			continue
		}
		if slices.ContainsFunc(l.TargetModules, func(t string) bool { return c.targetMatches(m.path, t) }) {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil, bad("target modules %v match no linear layer of %s (e.g. q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)", l.TargetModules, c.ModelType)
	}
	return out, nil
}

// loraSpecs lists the adapter parameters: A [r,in] (Kaiming-uniform, as
// PEFT initialises it) and B [out,r] (zeros, so a fresh adapter changes nothing).
func (c Config) loraSpecs() []ParamSpec {
	ms, err := c.loraTargets()
	if err != nil || c.LoRA == nil {
		return nil // Validate reports errors
	}
	r := int64(c.LoRA.Rank)
	var ps []ParamSpec
	for _, m := range ms {
		a, b := LoRAParamNames(m.path)
		ps = append(ps, ParamSpec{Name: a, Shape: []int64{r, m.in}, Init: InitKaimingUniform})
		ps = append(ps, ParamSpec{Name: b, Shape: []int64{m.out, r}, Init: InitZeros})
	}
	return ps
}

// TrainableSpecs lists the parameters the optimizer updates: the adapters
// with LoRA, else every parameter. The training graphs output a gradient
// for exactly these.
func (c Config) TrainableSpecs() []ParamSpec {
	if c.LoRA != nil {
		return c.loraSpecs()
	}
	return c.ParamSpecs()
}

// TrainableStore returns a store holding the trainable parameters of store
// (TrainableSpecs) that shares their data with store, for the optimizer:
// its in-place updates are seen through store.
func (c Config) TrainableStore(store *params.Store) (*params.Store, error) {
	specs := c.TrainableSpecs()
	if len(specs) == store.Len() {
		return store, nil
	}
	out := params.New()
	for _, s := range specs {
		p, ok := store.Get(s.Name)
		if !ok {
			return nil, fmt.Errorf("trainable parameter %s is not in the store (add adapters with AddLoRA)", s.Name)
		}
		if _, err := out.AddShared(p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// AddLoRA adds freshly initialised adapters (c.LoRA) to a store of base
// weights: A Kaiming-uniform from a PCG generator seeded with seed, B zero.
// Adapters already present are left alone.
func (c Config) AddLoRA(store *params.Store, seed uint64) error {
	if c.LoRA == nil {
		return fmt.Errorf("%w: config has no lora settings", ErrBadLoRA)
	}
	if _, err := c.loraTargets(); err != nil {
		return err
	}
	rng := params.NewRNG(seed)
	for _, s := range c.loraSpecs() {
		if _, ok := store.Get(s.Name); ok {
			continue
		}
		if _, err := addInit(store, s, rng); err != nil {
			return fmt.Errorf("add lora %s: %w", s.Name, err)
		}
	}
	return nil
}

// MergeLoRA folds the adapters into the base weights, W' = W + scale * B A,
// and returns the configuration without LoRA and a store of base weights
// only (for export --merge). Unadapted weights share their data with store;
// adapted ones are new slices, so store itself is not modified. An adapted
// lm_head of a tied model unties it (the merged head gets its own weight).
// A half-precision base is merged in float32 and the merged weights are
// rounded back to the base dtype; unadapted half weights stay as they are.
func MergeLoRA(c Config, store *params.Store) (Config, *params.Store, error) {
	ms, err := c.loraTargets()
	if err != nil {
		return Config{}, nil, err
	}
	if c.LoRA == nil {
		return c, store, nil
	}
	scale := c.LoRA.Scale()
	r := c.LoRA.Rank
	merged := map[string][]float32{}
	base := c
	base.LoRA = nil
	for _, m := range ms {
		an, bn := LoRAParamNames(m.path)
		a, okA := store.Get(an)
		b, okB := store.Get(bn)
		if !okA || !okB {
			return Config{}, nil, fmt.Errorf("merge lora: store lacks the adapters of %s", m.path)
		}
		wn := m.path + ".weight"
		if m.path == "lm_head" && c.TieWordEmbeddings {
			base.TieWordEmbeddings = false
			wn = "model.embed_tokens.weight"
		}
		w, ok := store.Get(wn)
		if !ok {
			return Config{}, nil, fmt.Errorf("merge lora: store lacks %s", wn)
		}
		in, out := int(m.in), int(m.out)
		if w.Size() != in*out || len(a.Data) != r*in || len(b.Data) != out*r {
			return Config{}, nil, fmt.Errorf("merge lora: %s: weight %v, A %v, B %v do not fit rank %d", m.path, w.Shape, a.Shape, b.Shape, r)
		}
		nw := slices.Clone(w.Float32())
		row := make([]float64, in)
		for o := 0; o < out; o++ {
			clear(row)
			for k := 0; k < r; k++ {
				bk := float64(b.Data[o*r+k])
				if bk == 0 {
					continue
				}
				ak := a.Data[k*in : (k+1)*in]
				for i, v := range ak {
					row[i] += bk * float64(v)
				}
			}
			for i := range row {
				nw[o*in+i] += float32(scale * row[i])
			}
		}
		merged[m.path+".weight"] = nw
	}
	dt := c.baseDType()
	out := params.New()
	for _, s := range base.ParamSpecs() {
		data, ok := merged[s.Name]
		if !ok {
			src := s.Name
			if s.Name == "lm_head.weight" && c.TieWordEmbeddings {
				src = "model.embed_tokens.weight"
			}
			p, found := store.Get(src)
			if !found {
				return Config{}, nil, fmt.Errorf("merge lora: store lacks %s", src)
			}
			q := *p
			q.Name = s.Name
			if _, err := out.AddShared(&q); err != nil {
				return Config{}, nil, fmt.Errorf("merge lora: %w", err)
			}
			continue
		}
		shape := make([]int, len(s.Shape))
		for i, d := range s.Shape {
			shape[i] = int(d)
		}
		var err error
		if dt == safetensors.F32 {
			_, err = out.Add(s.Name, shape, data)
		} else {
			var bits []uint16
			if bits, err = safetensors.Float32ToHalf(dt, data); err == nil {
				_, err = out.AddHalf(s.Name, shape, dt, bits)
			}
		}
		if err != nil {
			return Config{}, nil, fmt.Errorf("merge lora: %w", err)
		}
	}
	return base, out, nil
}
