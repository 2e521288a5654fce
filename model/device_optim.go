package model

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/videossr/videossr-go/model/onnx"
	"github.com/videossr/videossr-go/model/optim"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
)

// DeviceAdamW trains a device-resident Policy without moving parameters or
// gradients: Micro runs a training graph whose gradient outputs are bound
// to device buffers and adds w × them into device accumulators, and Step
// runs the AdamW update graph (global-norm clip, non-finite guard, decay,
// moments; optim.BuildStepGraph) over the policy's own weight buffers. Per
// micro-batch only the batch goes in and the losses and log-probs come
// out; per step, seven float32 coefficients go in and the gradient norm
// comes out.
//
// Its counters, configuration and checkpoint format are those of the host
// optimizer (optim.AdamW), which it keeps as a mirror whose moments are
// filled only by Save. It is not safe for concurrent use.
type DeviceAdamW struct {
	p      *Policy
	res    *residency // the policy's device state (kept: the policy may close first)
	mirror *optim.AdamW
	params []devParam
	byName map[string]int

	train map[string]*devBinding // training graph bindings, by graph
	accS  *ort.Session
	acc   *ort.DeviceBinding
	stepS *ort.Session
	step  *ort.DeviceBinding
	small map[string]*ort.Value // coefficients, accumulation weight and reset, norm
	reset bool                  // the next Micro starts a new sum
	// pending counts micro-batches accumulated since the last Step.
	pending int
}

// devParam is one trainable parameter on the device.
type devParam struct {
	prm        *params.Param
	flat       *ort.Value // [N] view of the policy's weight buffer
	m, v, acc  *ort.Value // [N]
	grad       *ort.Value // the training graph's gradient output, parameter shape
	gradFlat   *ort.Value // [N] view of grad
	graphParam optim.GraphParam
}

// NewDeviceAdamW makes the device optimizer of a resident policy with
// fresh (zero) moments; cfg.Frozen parameters are not trained, as with
// optim.New. The trainable parameters are the policy's TrainableStore (with
// LoRA the adapters); they must be float32 and the policy's graphs Float32.
func NewDeviceAdamW(p *Policy, cfg optim.Config) (*DeviceAdamW, error) {
	if p.res == nil {
		return nil, fmt.Errorf("device optimizer: the policy is not device-resident (PolicyOptions.Device)")
	}
	if p.float != onnx.Float32 {
		return nil, fmt.Errorf("device optimizer: the policy's graphs are %s, the optimizer updates float32 weights", p.float)
	}
	trainable, err := p.Config.TrainableStore(p.Store)
	if err != nil {
		return nil, fmt.Errorf("device optimizer: %w", err)
	}
	mirror, err := optim.New(cfg, trainable)
	if err != nil {
		return nil, err
	}
	o := &DeviceAdamW{p: p, res: p.res, mirror: mirror, byName: map[string]int{}, train: map[string]*devBinding{}, small: map[string]*ort.Value{}, reset: true}
	if err := o.setup(); err != nil {
		o.Close()
		return nil, err
	}
	return o, nil
}

// setup allocates the device state and loads the two update graphs.
func (o *DeviceAdamW) setup() error {
	p, mem := o.p, o.p.res.mem
	gps := o.mirror.GraphParams()
	for i, gp := range gps {
		prm, ok := p.Store.Get(gp.Name)
		if !ok {
			return fmt.Errorf("device optimizer: parameter %s is not in the policy's store", gp.Name)
		}
		w, err := p.weight(prm)
		if err != nil {
			return err
		}
		dp := devParam{prm: prm, graphParam: gp}
		if dp.flat, err = w.Reshape([]int64{gp.Size}); err != nil {
			return err
		}
		zeros := ort.Tensor{Shape: []int64{gp.Size}, Data: make([]float32, gp.Size)}
		for _, dst := range []**ort.Value{&dp.m, &dp.v} {
			if *dst, err = mem.Upload(ort.KindOptimizer, zeros); err != nil {
				return err
			}
		}
		if dp.acc, err = mem.Alloc(ort.KindGradients, ort.Float32, []int64{gp.Size}); err != nil {
			return err
		}
		if dp.grad, err = mem.Alloc(ort.KindGradients, ort.Float32, w.Shape()); err != nil {
			return err
		}
		if dp.gradFlat, err = dp.grad.Reshape([]int64{gp.Size}); err != nil {
			return err
		}
		o.byName[gp.Name] = i
		o.params = append(o.params, dp)
	}
	load := func(g *onnx.Graph) (*ort.Session, *ort.DeviceBinding, error) {
		m, err := g.Build(onnx.ExportOptions{})
		if err != nil {
			return nil, nil, err
		}
		raw, err := onnx.MarshalModel(m)
		if err != nil {
			return nil, nil, err
		}
		s, err := mem.Runtime().NewSession(raw, p.so)
		if err != nil {
			return nil, nil, err
		}
		b, err := s.BindDevice(mem)
		if err != nil {
			s.Close()
			return nil, nil, err
		}
		return s, b, nil
	}
	sg, err := optim.BuildStepGraph(o.mirror.Config(), gps)
	if err != nil {
		return err
	}
	if o.stepS, o.step, err = load(sg); err != nil {
		return fmt.Errorf("device optimizer: step graph: %w", err)
	}
	ag, err := optim.BuildAccumulateGraph(gps)
	if err != nil {
		return err
	}
	if o.accS, o.acc, err = load(ag); err != nil {
		return fmt.Errorf("device optimizer: accumulation graph: %w", err)
	}
	for name, spec := range map[string]struct {
		dt    ort.DType
		n     int64
		k     ort.Kind
		graph *ort.DeviceBinding
		out   bool
	}{
		optim.InCoef:        {ort.Float32, 7, ort.KindOptimizer, o.step, false},
		optim.OutGradNorm:   {ort.Float64, 1, ort.KindMetrics, o.step, true},
		optim.InAccumWeight: {ort.Float32, 1, ort.KindOptimizer, o.acc, false},
		optim.InAccumReset:  {ort.Bool, 1, ort.KindOptimizer, o.acc, false},
	} {
		v, err := mem.Alloc(spec.k, spec.dt, []int64{spec.n})
		if err != nil {
			return err
		}
		o.small[name] = v
		if spec.out {
			err = spec.graph.BindOutput(name, v)
		} else {
			err = spec.graph.BindInput(name, v)
		}
		if err != nil {
			return err
		}
	}
	// Both graphs update their buffers in place: outputs bound to inputs.
	for _, dp := range o.params {
		n := dp.graphParam.Name
		binds := []struct {
			b      *ort.DeviceBinding
			in, on string
			v      *ort.Value
		}{
			{o.step, optim.PrefixParam + n, optim.PrefixParamOut + n, dp.flat},
			{o.step, optim.PrefixM + n, optim.PrefixMOut + n, dp.m},
			{o.step, optim.PrefixV + n, optim.PrefixVOut + n, dp.v},
			{o.acc, optim.PrefixGrad + n, optim.PrefixGradOut + n, dp.acc},
		}
		for _, bd := range binds {
			if err := bd.b.BindInput(bd.in, bd.v); err != nil {
				return err
			}
			if err := bd.b.BindOutput(bd.on, bd.v); err != nil {
				return err
			}
		}
		if err := o.step.BindInput(optim.PrefixGrad+n, dp.acc); err != nil {
			return err
		}
		if err := o.acc.BindInput(optim.PrefixMicroGrad+n, dp.gradFlat); err != nil {
			return err
		}
	}
	return nil
}

// Close releases the optimizer's device state and sessions. Idempotent.
func (o *DeviceAdamW) Close() error {
	var errs []error
	for g, db := range o.train {
		errs = append(errs, db.close())
		delete(o.train, g)
	}
	for _, s := range []*ort.Session{o.stepS, o.accS} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	o.stepS, o.accS, o.step, o.acc = nil, nil, nil, nil
	for _, dp := range o.params {
		for _, v := range []*ort.Value{dp.flat, dp.m, dp.v, dp.acc, dp.gradFlat, dp.grad} {
			if v != nil {
				v.Close()
			}
		}
	}
	o.params = nil
	closeValues(o.small)
	o.small = map[string]*ort.Value{}
	return errors.Join(errs...)
}

// trainBinding returns the binding of a training graph whose gradient
// outputs are the optimizer's gradient buffers (gradients of parameters
// the optimizer does not train are allocated on the device and dropped).
func (o *DeviceAdamW) trainBinding(graph string) (*devBinding, error) {
	if db, ok := o.train[graph]; ok {
		return db, nil
	}
	db, err := o.p.newDevBinding(graph)
	if err != nil {
		return nil, err
	}
	for _, ti := range o.p.sess[graph].Outputs() {
		name := ti.Name
		if len(name) > len(GradPrefix) && name[:len(GradPrefix)] == GradPrefix {
			if i, ok := o.byName[name[len(GradPrefix):]]; ok {
				err = db.b.BindOutput(name, o.params[i].grad)
			} else {
				err = db.b.BindOutputToDevice(name)
			}
		} else {
			err = db.b.BindOutputToDevice(name)
		}
		if err != nil {
			db.close()
			return nil, fmt.Errorf("device optimizer: %w", err)
		}
	}
	o.train[graph] = db
	return db, nil
}

// Micro runs a training graph (GraphGRPO or GraphSFT) over one
// micro-batch and adds w × its gradients into the accumulators (the first
// Micro after a Step or Discard starts a new sum). It returns the loss,
// diagnostics and log-probs; StepResult.Grads is nil (the gradients stay
// on the device: Gradients reads them).
func (o *DeviceAdamW) Micro(ctx context.Context, graph string, sb *SeqBatch, vb *VisionBatch, in StepInputs, w float64) (*StepResult, error) {
	p := o.p
	if p.res != o.res {
		return nil, fmt.Errorf("device optimizer: the policy is closed")
	}
	feeds, err := p.trainFeeds(graph, sb, vb, in)
	if err != nil {
		return nil, err
	}
	db, err := o.trainBinding(graph)
	if err != nil {
		return nil, err
	}
	if err := p.feedAll(ctx, graph, db, feeds, sb.Valid); err != nil {
		return nil, err
	}
	p.runs[graph]++
	if err := db.b.Run(ctx); err != nil {
		return nil, fmt.Errorf("policy %s: %w", graph, err)
	}
	devOut, err := db.b.TakeOutputs(outputKind)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", graph, err)
	}
	defer closeValues(devOut)
	out := map[string]ort.Tensor{}
	for name, v := range devOut {
		if len(name) > len(GradPrefix) && name[:len(GradPrefix)] == GradPrefix {
			continue // a frozen parameter's gradient
		}
		if out[name], err = p.res.mem.Download(ort.KindMetrics, v); err != nil {
			return nil, err
		}
	}
	res, err := stepResult(out)
	if err != nil {
		return nil, err
	}
	mem := p.res.mem
	if err := mem.CopyIn(ort.KindOptimizer, o.small[optim.InAccumWeight], ort.Tensor{Shape: []int64{1}, Data: []float32{float32(w)}}); err != nil {
		return nil, err
	}
	if err := mem.CopyIn(ort.KindOptimizer, o.small[optim.InAccumReset], ort.Tensor{Shape: []int64{1}, Data: []bool{o.reset}}); err != nil {
		return nil, err
	}
	if err := o.acc.Run(ctx); err != nil {
		return nil, fmt.Errorf("device optimizer: accumulate: %w", err)
	}
	o.reset = false
	o.pending++
	return res, nil
}

// Discard forgets the accumulated gradients (the next Micro starts a new
// sum), e.g. when a non-finite loss skips the update.
func (o *DeviceAdamW) Discard() {
	o.reset = true
	o.pending = 0
}

// Step applies one AdamW update with the accumulated gradients, as
// optim.AdamW.Step would with them: on ErrNonFinite (non-finite gradient
// norm) only the schedule position changes. The accumulators are cleared
// either way.
func (o *DeviceAdamW) Step(ctx context.Context) (optim.StepStats, error) {
	if o.pending == 0 {
		return optim.StepStats{}, fmt.Errorf("device optimizer: step without accumulated gradients")
	}
	cfg := o.mirror.Config()
	k := cfg.Coefficients(o.mirror.StepCount(), o.mirror.ScheduleStep())
	mem := o.res.mem
	if err := mem.CopyIn(ort.KindOptimizer, o.small[optim.InCoef], ort.Tensor{Shape: []int64{7}, Data: optim.CoefVector(k)}); err != nil {
		return optim.StepStats{}, err
	}
	if err := o.step.Run(ctx); err != nil {
		return optim.StepStats{}, fmt.Errorf("device optimizer: step: %w", err)
	}
	normT := ort.Tensor{Shape: []int64{1}, Data: make([]float64, 1)}
	if err := mem.CopyOut(ort.KindMetrics, normT, o.small[optim.OutGradNorm]); err != nil {
		return optim.StepStats{}, err
	}
	o.Discard()
	norm := normT.Data.([]float64)[0]
	st := optim.StepStats{GradNorm: norm, LR: k.LR, Step: o.mirror.StepCount()}
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		o.mirror.Record(false)
		return st, optim.ErrNonFinite
	}
	_, st.Clipped = cfg.ClipScale(norm)
	o.mirror.Record(true)
	st.Step = o.mirror.StepCount()
	for _, dp := range o.params {
		o.res.dirty[dp.prm] = true
	}
	return st, nil
}

// Gradients copies the accumulated gradients to the host (counted as
// gradients), for inspection and tests.
func (o *DeviceAdamW) Gradients() (map[string][]float32, error) {
	out := map[string][]float32{}
	for _, dp := range o.params {
		t, err := o.res.mem.Download(ort.KindGradients, dp.acc)
		if err != nil {
			return nil, err
		}
		out[dp.graphParam.Name] = t.Data.([]float32)
	}
	return out, nil
}

// SetGradients replaces the accumulated gradients with grads (every
// trainable parameter, copied in and counted as gradients), as a host
// all-reduce of several devices' Gradients does before Step.
func (o *DeviceAdamW) SetGradients(grads map[string][]float32) error {
	if len(grads) != len(o.params) {
		return fmt.Errorf("device optimizer: %d gradients for %d trainable parameters", len(grads), len(o.params))
	}
	for _, dp := range o.params {
		g, ok := grads[dp.graphParam.Name]
		if !ok || int64(len(g)) != dp.graphParam.Size {
			return fmt.Errorf("device optimizer: gradient of %s missing or of %d values (want %d)", dp.graphParam.Name, len(g), dp.graphParam.Size)
		}
		if err := o.res.mem.CopyIn(ort.KindGradients, dp.acc, ort.Tensor{Shape: []int64{dp.graphParam.Size}, Data: g}); err != nil {
			return err
		}
	}
	o.reset = false
	o.pending = max(o.pending, 1)
	return nil
}

// Config returns the optimizer configuration.
func (o *DeviceAdamW) Config() optim.Config { return o.mirror.Config() }

// StepCount returns the number of updates applied.
func (o *DeviceAdamW) StepCount() int { return o.mirror.StepCount() }

// ScheduleStep returns the schedule position (skipped steps included).
func (o *DeviceAdamW) ScheduleStep() int { return o.mirror.ScheduleStep() }

// NextLR returns the learning rate of the next Step.
func (o *DeviceAdamW) NextLR() float64 { return o.mirror.NextLR() }

// Trainable returns the names of the optimized parameters.
func (o *DeviceAdamW) Trainable() []string { return o.mirror.Trainable() }

// Save writes the optimizer state in optim.AdamW's format (moments copied
// from the device, counted as optimizer bytes). The parameters themselves
// are saved from the policy's store after Policy.SyncHost.
func (o *DeviceAdamW) Save(path string) error {
	for _, dp := range o.params {
		m, v, _ := o.mirror.Moments(dp.graphParam.Name)
		for _, mv := range []struct {
			dst []float32
			src *ort.Value
		}{{m, dp.m}, {v, dp.v}} {
			if err := o.res.mem.CopyOut(ort.KindOptimizer, ort.Tensor{Shape: []int64{int64(len(mv.dst))}, Data: mv.dst}, mv.src); err != nil {
				return fmt.Errorf("device optimizer: save %s: %w", dp.graphParam.Name, err)
			}
		}
	}
	return o.mirror.Save(path)
}

// Load restores a state written by Save (or by optim.AdamW.Save) and copies
// the moments to the device. The parameters are restored into the policy's
// store and uploaded with Policy.UploadWeights.
func (o *DeviceAdamW) Load(path string) error {
	if err := o.mirror.Load(path); err != nil {
		return err
	}
	for _, dp := range o.params {
		m, v, _ := o.mirror.Moments(dp.graphParam.Name)
		for _, mv := range []struct {
			src []float32
			dst *ort.Value
		}{{m, dp.m}, {v, dp.v}} {
			if err := o.res.mem.CopyIn(ort.KindOptimizer, mv.dst, ort.Tensor{Shape: []int64{int64(len(mv.src))}, Data: mv.src}); err != nil {
				return fmt.Errorf("device optimizer: load %s: %w", dp.graphParam.Name, err)
			}
		}
	}
	o.Discard()
	return nil
}
