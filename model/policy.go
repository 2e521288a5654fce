package model

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/videossr/videossr-go/model/onnx"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
)

// Graph names of a Policy.
const (
	GraphVision  = "vision"
	GraphPrefill = "prefill"
	GraphDecode  = "decode"
	// GraphDecodeStatic decodes over fixed-size cache buffers (BuildDecodeStatic).
	GraphDecodeStatic = "decode_static"
	GraphLogProb      = "logprob"
	GraphGRPO         = "train_grpo"
	GraphSFT          = "train_sft"
)

// PolicyOptions selects the graphs a Policy loads and how they run.
type PolicyOptions struct {
	// Graphs to build and load (default: all six).
	Graphs []string
	// Loss of the GRPO training graph (default DefaultGRPOLoss()).
	Loss LossConfig
	// Session options of every ONNX Runtime session.
	Session ort.Options
	// GraphSession overrides Session for some graphs (e.g. one intra-op
	// thread for the small decode graph, whose kernels are too short to
	// gain from a thread pool).
	GraphSession map[string]ort.Options
	// Float is the graph float type (default Float32; Float64 for checks).
	Float onnx.DType
	// Device, when set, makes the policy device-resident: its parameters
	// are uploaded once to the memory of this device and every graph reads
	// them there through I/O binding, the rollout's KV cache stays there
	// (PrefillResident), and gradients and the optimizer can stay there
	// too (NewDeviceAdamW). The sessions run on the device's provider
	// (Session.Provider and DeviceID are set from it). Nil keeps today's
	// host path: parameters fed from the host store at every run.
	Device *ort.Device
}

// Policy runs the model's graphs on ONNX Runtime. Every graph takes the
// parameters of Store as inputs, so an optimizer step that updates the store
// in place is seen by the next call with no re-export.
type Policy struct {
	Config Config
	Store  *params.Store
	float  onnx.DType
	loss   LossConfig
	so     ort.Options // session options (device graphs such as the optimizer's use them)
	sess   map[string]*ort.Session
	inputs map[string]map[string]bool // input names per graph
	binds  *bindings                  // bound runs (decode), shared with views
	res    *residency                 // device state of a resident policy (nil on the host path)
	// Counters of graph runs, for tests and metrics (e.g. prefill once per prompt).
	runs map[string]int
}

// AllGraphs lists every graph a Policy can load.
func AllGraphs() []string {
	return []string{GraphVision, GraphPrefill, GraphDecode, GraphDecodeStatic, GraphLogProb, GraphGRPO, GraphSFT}
}

// BuildGraph emits one named graph of the model.
func BuildGraph(c Config, name string, float onnx.DType, loss LossConfig) (*Built, error) {
	switch name {
	case GraphVision:
		return BuildVision(c, float)
	case GraphPrefill:
		return BuildPrefill(c, float)
	case GraphDecode:
		return BuildDecode(c, float)
	case GraphDecodeStatic:
		return BuildDecodeStatic(c, float)
	case GraphLogProb:
		return BuildLogProb(c, float, loss.Temperature)
	case GraphGRPO:
		return BuildTrain(c, float, loss)
	case GraphDecodeResident:
		return BuildDecodeResident(c, float)
	case GraphCacheSelect:
		return BuildCacheSelect(c, float)
	case GraphAttnBias:
		return BuildAttnBias(float)
	case GraphSFT:
		sft := SFTLoss()
		sft.Temperature = 1
		sft.Recompute = loss.Recompute
		return BuildTrain(c, float, sft)
	}
	return nil, fmt.Errorf("unknown graph %q (have %v)", name, AllGraphs())
}

// NewPolicy builds the requested graphs and opens one session for each.
func NewPolicy(rt *ort.Runtime, c Config, store *params.Store, opt PolicyOptions) (*Policy, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := c.CheckStore(store); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if opt.Float == 0 {
		opt.Float = onnx.Float32
	}
	if opt.Loss.Mode == "" {
		opt.Loss = DefaultGRPOLoss()
	}
	if len(opt.Graphs) == 0 {
		opt.Graphs = AllGraphs()
	}
	if opt.Float == onnx.Float64 {
		opt.Session.DisableOptimizations = true // fused kernels are float32-only
	}
	if opt.Device != nil {
		opt.Graphs = residentGraphList(opt.Graphs)
		opt.Session.Provider, opt.Session.DeviceID = opt.Device.Provider, opt.Device.ID
		for name, o := range opt.GraphSession {
			o.Provider, o.DeviceID = opt.Device.Provider, opt.Device.ID
			opt.GraphSession[name] = o
		}
	}
	p := &Policy{Config: c, Store: store, float: opt.Float, loss: opt.Loss, sess: map[string]*ort.Session{}, inputs: map[string]map[string]bool{}, binds: &bindings{}, runs: map[string]int{}}
	for _, name := range opt.Graphs {
		b, err := BuildGraph(c, name, opt.Float, opt.Loss)
		if err != nil {
			p.Close()
			return nil, err
		}
		m, err := b.Graph.Build(onnx.ExportOptions{ParamsAsInputs: true})
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("export %s graph: %w", name, err)
		}
		raw, err := onnx.MarshalModel(m)
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("marshal %s graph: %w", name, err)
		}
		so := opt.Session
		if o, ok := opt.GraphSession[name]; ok {
			so = o
			if opt.Float == onnx.Float64 {
				so.DisableOptimizations = true
			}
		}
		s, err := rt.NewSession(raw, so)
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("load %s graph: %w", name, err)
		}
		p.sess[name] = s
		p.inputs[name] = inputNames(s)
	}
	p.so = opt.Session
	if opt.Device != nil {
		if err := p.openResidency(rt, *opt.Device, opt.Session); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

// residentGraphList adds to graphs what a resident policy needs: the
// attention-bias graph, and with the prefill the resident decode graphs.
func residentGraphList(graphs []string) []string {
	out := slices.Clone(graphs)
	add := func(names ...string) {
		for _, n := range names {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	add(GraphAttnBias)
	if slices.Contains(graphs, GraphPrefill) {
		add(residentGraphs()...)
	}
	return out
}

// Close releases every session; it is idempotent.
func (p *Policy) Close() error {
	var errs []error
	if err := p.binds.close(); err != nil {
		errs = append(errs, fmt.Errorf("close decode binding: %w", err))
	}
	if err := p.res.close(); err != nil {
		errs = append(errs, fmt.Errorf("close device memory: %w", err))
	}
	p.res = nil
	for name, s := range p.sess {
		if err := s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", name, err))
		}
	}
	p.sess = map[string]*ort.Session{}
	return errors.Join(errs...)
}

// Float is the graph float type.
func (p *Policy) Float() onnx.DType { return p.float }

// Loaded reports whether the named graph has a session.
func (p *Policy) Loaded(graph string) bool { _, ok := p.sess[graph]; return ok }

// Runs returns how many times the named graph has run.
func (p *Policy) Runs(graph string) int { return p.runs[graph] }

// run executes a graph with the parameters added to feeds.
func (p *Policy) run(ctx context.Context, graph string, feeds map[string]ort.Tensor, outputs []string) (map[string]ort.Tensor, error) {
	return p.runValid(ctx, graph, feeds, outputs, nil)
}

// runValid is run with the key validity the attention bias was made from
// (nil: none), which a resident policy uses to make the bias on its
// device instead of copying it in.
func (p *Policy) runValid(ctx context.Context, graph string, feeds map[string]ort.Tensor, outputs []string, valid [][]bool) (map[string]ort.Tensor, error) {
	if p.res != nil {
		return p.runOnDevice(ctx, graph, feeds, outputs, valid)
	}
	s, err := p.prepare(graph, feeds)
	if err != nil {
		return nil, err
	}
	p.runs[graph]++
	out, err := s.Run(ctx, feeds, outputs)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", graph, err)
	}
	return out, nil
}

// prepare returns a graph's session and completes feeds for it: the
// parameters are added and inputs the graph does not use are dropped
// (e.g. the KL reference when KL is off).
func (p *Policy) prepare(graph string, feeds map[string]ort.Tensor) (*ort.Session, error) {
	s, ok := p.sess[graph]
	if !ok {
		return nil, fmt.Errorf("policy: graph %q is not loaded", graph)
	}
	AddParamFeeds(feeds, p.Store, p.float)
	in := p.inputs[graph]
	for name := range feeds {
		if !in[name] {
			delete(feeds, name)
		}
	}
	return s, nil
}

// inputNames is the set of a session's input names.
func inputNames(s *ort.Session) map[string]bool {
	m := map[string]bool{}
	for _, ti := range s.Inputs() {
		m[ti.Name] = true
	}
	return m
}

// VisionBatch is the vision input of a batch: the patch rows of several
// videos stacked along the temporal-slice axis (all with the same frame
// size) and their 2-D rotary tables.
type VisionBatch struct {
	Videos  Videos
	T, S    int
	Patches []float32
	Cos     []float64
	Sin     []float64
}

// NewVisionBatch stacks videos; they must share one patch grid per slice.
func (c Config) NewVisionBatch(videos []VisionInput) (*VisionBatch, error) {
	if len(videos) == 0 {
		return nil, fmt.Errorf("vision batch: no videos")
	}
	S := videos[0].Grid.PatchesPerSlice()
	vb := &VisionBatch{S: S}
	grids := make([]Grid, len(videos))
	for i, v := range videos {
		if v.Grid.GH != videos[0].Grid.GH || v.Grid.GW != videos[0].Grid.GW {
			return nil, fmt.Errorf("vision batch: video %d has a %dx%d patch grid, video 0 %dx%d (one batch needs one frame size)",
				i, v.Grid.GH, v.Grid.GW, videos[0].Grid.GH, videos[0].Grid.GW)
		}
		grids[i] = v.Grid
		vb.T += v.Grid.GT
		vb.Patches = append(vb.Patches, v.Patches...)
	}
	vb.Videos = c.NewVideos(grids)
	vb.Cos, vb.Sin = c.VisionRotary(grids[0])
	return vb, nil
}

// Feeds returns the vision tower inputs.
func (vb *VisionBatch) Feeds(c Config, dt onnx.DType) map[string]ort.Tensor {
	hd := int64(c.VisionHeadDim())
	feeds := map[string]ort.Tensor{
		InPatches:   Float32Tensor(dt, []int64{int64(vb.T), int64(vb.S), int64(c.PatchDim())}, vb.Patches),
		InVisionCos: FloatTensor(dt, []int64{int64(vb.S), hd}, vb.Cos),
		InVisionSin: FloatTensor(dt, []int64{int64(vb.S), hd}, vb.Sin),
	}
	if len(vb.Videos.Grids) > 0 { // Qwen2.5-VL window bias, Qwen3-VL position taps
		for k, v := range c.VisionExtraFeeds(vb.Videos.Grids[0], dt) {
			feeds[k] = v
		}
	}
	return feeds
}

// Encode runs the vision graph: merged vision tokens [N, H] of the batch.
func (p *Policy) Encode(ctx context.Context, vb *VisionBatch) (ort.Tensor, error) {
	out, err := p.run(ctx, GraphVision, vb.Feeds(p.Config, p.float), []string{OutVisionEmbed})
	if err != nil {
		return ort.Tensor{}, err
	}
	return out[OutVisionEmbed], nil
}

// KVCache is the decoder cache of a batch: per layer key and value tensors.
type KVCache struct {
	Keys, Values []ort.Tensor
}

// Prefill runs the prompts and returns the last-position logits [B*V] and
// the KV cache.
func (p *Policy) Prefill(ctx context.Context, pb *PromptBatch, embeds ort.Tensor) ([]float32, KVCache, error) {
	feeds := pb.Feeds(p.float)
	feeds[InVisionEmbeds] = embeds
	out, err := p.runValid(ctx, GraphPrefill, feeds, nil, pb.Valid)
	if err != nil {
		return nil, KVCache{}, err
	}
	return p.logitsAndCache(out)
}

// Decode runs one decode step over tokens [B] at positions pos [B]; valid
// must already include the new position.
func (p *Policy) Decode(ctx context.Context, tokens, pos []int64, valid [][]bool, cache KVCache) ([]float32, KVCache, error) {
	out, err := p.run(ctx, GraphDecode, decodeCacheFeeds(p.float, tokens, pos, valid, cache), nil)
	if err != nil {
		return nil, KVCache{}, err
	}
	return p.logitsAndCache(out)
}

// DecodeStatic runs one step of the static-cache decode graph: cache holds
// fixed-size buffers [B,kv_heads,C,head_dim]; valid[b] has C+1 entries,
// the filled slots and, last, the new token. It returns the logits and
// only the new token's keys and values [B,kv_heads,1,head_dim] per layer.
//
// The run is bound (ort.Binding): while the batch size, the cache buffers
// and the parameter store stay the same, a step creates no tensors. The
// returned logits and keys/values are the binding's output buffers, valid
// until the next DecodeStatic call.
func (p *Policy) DecodeStatic(ctx context.Context, tokens, pos []int64, valid [][]bool, cache KVCache) ([]float32, KVCache, error) {
	if len(tokens) == 0 || len(valid) != len(tokens) {
		return nil, KVCache{}, fmt.Errorf("policy %s: %d tokens, %d attention rows", GraphDecodeStatic, len(tokens), len(valid))
	}
	if p.res != nil { // the cache is on the host here: PrefillResident keeps it on the device
		out, err := p.run(ctx, GraphDecodeStatic, decodeCacheFeeds(p.float, tokens, pos, valid, cache), nil)
		if err != nil {
			return nil, KVCache{}, err
		}
		return p.logitsAndCache(out)
	}
	return p.decodeStaticBound(ctx, tokens, pos, valid, cache)
}

// decodeCacheFeeds are a decode step's inputs: DecodeFeeds plus the cache.
func decodeCacheFeeds(dt onnx.DType, tokens, pos []int64, valid [][]bool, cache KVCache) map[string]ort.Tensor {
	feeds := DecodeFeeds(dt, tokens, pos, valid)
	for i := range cache.Keys {
		feeds[PastKey(i)] = cache.Keys[i]
		feeds[PastValue(i)] = cache.Values[i]
	}
	return feeds
}

func (p *Policy) logitsAndCache(out map[string]ort.Tensor) ([]float32, KVCache, error) {
	n := p.Config.NumHiddenLayers
	cache := KVCache{Keys: make([]ort.Tensor, n), Values: make([]ort.Tensor, n)}
	for i := 0; i < n; i++ {
		cache.Keys[i], cache.Values[i] = out[PresentKey(i)], out[PresentValue(i)]
	}
	logits, err := toFloat32(out[OutLogits])
	return logits, cache, err
}

func toFloat32(t ort.Tensor) ([]float32, error) {
	switch d := t.Data.(type) {
	case []float32:
		return d, nil
	case []float64:
		f := make([]float32, len(d))
		for i, v := range d {
			f[i] = float32(v)
		}
		return f, nil
	}
	return nil, fmt.Errorf("tensor of %T is not float", t.Data)
}

func toFloat64(t ort.Tensor) ([]float64, error) {
	switch d := t.Data.(type) {
	case []float64:
		return d, nil
	case []float32:
		f := make([]float64, len(d))
		for i, v := range d {
			f[i] = float64(v)
		}
		return f, nil
	}
	return nil, fmt.Errorf("tensor of %T is not float", t.Data)
}

// LogProbs returns the per-token log-probs and entropies [B*R] of the
// responses of sb under the policy (temperature-scaled as the loss is).
func (p *Policy) LogProbs(ctx context.Context, sb *SeqBatch, embeds ort.Tensor) (logp, entropy []float64, err error) {
	feeds := sb.Feeds(p.float)
	feeds[InVisionEmbeds] = embeds
	out, err := p.runValid(ctx, GraphLogProb, feeds, []string{OutLogProbs, OutEntropy}, sb.Valid)
	if err != nil {
		return nil, nil, err
	}
	if logp, err = toFloat64(out[OutLogProbs]); err != nil {
		return nil, nil, err
	}
	entropy, err = toFloat64(out[OutEntropy])
	return logp, entropy, err
}

// StepInputs are the per-row training inputs of the GRPO graph.
type StepInputs struct {
	Advantages []float64 // [B]
	OldLogProb []float64 // [B*R]
	RefLogProb []float64 // [B*R] (ignored when the KL loss is off)
}

// StepResult is what one training-graph run returns.
type StepResult struct {
	Loss, PGLoss, KLLoss, Entropy, ClipFrac, ApproxKL float64
	LogProbs                                          []float64
	Grads                                             map[string][]float32
}

// TrainStep runs a training graph (GraphGRPO or GraphSFT) over one
// micro-batch and returns the loss, diagnostics and one gradient per
// parameter. It does not change the parameters.
func (p *Policy) TrainStep(ctx context.Context, graph string, sb *SeqBatch, vb *VisionBatch, in StepInputs) (*StepResult, error) {
	feeds, err := p.trainFeeds(graph, sb, vb, in)
	if err != nil {
		return nil, err
	}
	out, err := p.runValid(ctx, graph, feeds, nil, sb.Valid)
	if err != nil {
		return nil, err
	}
	res, err := stepResult(out)
	if err != nil {
		return nil, err
	}
	res.Grads = map[string][]float32{}
	for _, prm := range p.Config.TrainableSpecs() { // with LoRA: the adapters only
		g, ok := out[GradPrefix+prm.Name]
		if !ok {
			return nil, fmt.Errorf("train step: no gradient output for %s", prm.Name)
		}
		if res.Grads[prm.Name], err = toFloat32(g); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// trainFeeds are the inputs of a training graph over one micro-batch.
func (p *Policy) trainFeeds(graph string, sb *SeqBatch, vb *VisionBatch, in StepInputs) (map[string]ort.Tensor, error) {
	feeds := sb.Feeds(p.float)
	for k, v := range vb.Feeds(p.Config, p.float) {
		feeds[k] = v
	}
	if graph == GraphGRPO {
		B, R := int64(sb.B), int64(sb.R)
		if len(in.Advantages) != sb.B || len(in.OldLogProb) != sb.B*sb.R {
			return nil, fmt.Errorf("train step: %d advantages and %d old log-probs for a %dx%d batch", len(in.Advantages), len(in.OldLogProb), sb.B, sb.R)
		}
		feeds[InAdvantages] = FloatTensor(p.float, []int64{B}, in.Advantages)
		feeds[InOldLogProbs] = FloatTensor(p.float, []int64{B, R}, in.OldLogProb)
		if p.loss.KLType != KLNone {
			if len(in.RefLogProb) != sb.B*sb.R {
				return nil, fmt.Errorf("train step: %d reference log-probs for a %dx%d batch", len(in.RefLogProb), sb.B, sb.R)
			}
			feeds[InRefLogProbs] = FloatTensor(p.float, []int64{B, R}, in.RefLogProb)
		}
	}
	return feeds, nil
}

// stepResult reads a training graph's loss, diagnostics and log-probs.
func stepResult(out map[string]ort.Tensor) (*StepResult, error) {
	res := &StepResult{}
	scalar := func(name string) float64 {
		t, ok := out[name]
		if !ok {
			return 0
		}
		v, err := toFloat64(t)
		if err != nil || len(v) == 0 {
			return 0
		}
		return v[0]
	}
	res.Loss, res.PGLoss, res.KLLoss = scalar(OutLoss), scalar(OutPGLoss), scalar(OutKLLoss)
	res.Entropy, res.ClipFrac, res.ApproxKL = scalar(OutEntropy), scalar(OutClipFrac), scalar(OutApproxKL)
	var err error
	if res.LogProbs, err = toFloat64(out[OutLogProbs]); err != nil {
		return nil, err
	}
	return res, nil
}

// WithStore returns a view of p that runs the same sessions with another
// parameter store (e.g. the frozen reference policy). The view shares p's
// sessions and run counters; close only p.
func (p *Policy) WithStore(store *params.Store) *Policy {
	v := *p
	v.Store = store
	return &v
}
