package model

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/videossr/videossr-go/model/onnx"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
)

// A device-resident Policy (PolicyOptions.Device) keeps its parameters in
// the memory of one device (ort.Mem) from load on: every graph's binding
// reads the same device values, uploaded once per parameter (a parameter
// shared by two stores, such as the frozen LoRA base of the policy and of
// its reference, is uploaded once). Per-batch inputs are copied in through
// the Mem, where the Ledger counts them; the parameters cross again only
// when SyncHost (checkpoint, export) or UploadWeights (after a host-side
// load) is called.

// residency is the device state of a resident Policy, shared by its views.
type residency struct {
	mem     *ort.Mem
	weights map[*params.Param]*ort.Value
	// byData finds the device value of a parameter by its host storage, so
	// that two Params over the same data (params.Store.AddShared: the
	// frozen LoRA base of the policy and of its reference) share one.
	byData map[storageKey]*ort.Value
	binds  map[bindID]*devBinding
	// dirty marks parameters changed on the device since the host store
	// was last synchronised (the device optimizer's updates).
	dirty map[*params.Param]bool
}

// bindID identifies a device binding: a graph over one parameter store,
// for one purpose ("" = the generic run).
type bindID struct {
	graph   string
	store   *params.Store
	purpose string
}

// devBinding is a DeviceBinding with the per-batch buffers it owns.
type devBinding struct {
	b    *ort.DeviceBinding
	bufs map[string]*ort.Value
}

// openResidency opens dev's memory and uploads every parameter of p.Store.
func (p *Policy) openResidency(rt *ort.Runtime, dev ort.Device, so ort.Options) error {
	so.ProfilePrefix, so.OptimizedModelPath = "", ""
	mem, err := rt.OpenDevice(dev, so)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	p.res = &residency{mem: mem, weights: map[*params.Param]*ort.Value{}, byData: map[storageKey]*ort.Value{}, binds: map[bindID]*devBinding{}, dirty: map[*params.Param]bool{}}
	return p.UploadNew()
}

// UploadNew uploads the parameters of the policy's store that are not on
// the device yet (counted as weights), so that a view over another store
// (WithStore: the frozen reference at the phase change) has its weights
// there in one go rather than at its first run. A parameter whose host
// storage is already on the device (a LoRA reference's frozen base shares
// the policy's, params.Store.AddShared) is not copied again. A host-fed
// policy has nothing to do.
func (p *Policy) UploadNew() error {
	if p.res == nil {
		return nil
	}
	for _, prm := range p.Store.Params() {
		if _, err := p.weight(prm); err != nil {
			return err
		}
	}
	return nil
}

// storageKey identifies a parameter's host storage: its first element and
// its length (float32 or half data).
type storageKey struct {
	f32  *float32
	half *uint16
	n    int
}

func storageOf(prm *params.Param) (storageKey, bool) {
	switch {
	case prm.IsHalf() && len(prm.Half) > 0:
		return storageKey{half: &prm.Half[0], n: len(prm.Half)}, true
	case !prm.IsHalf() && len(prm.Data) > 0:
		return storageKey{f32: &prm.Data[0], n: len(prm.Data)}, true
	}
	return storageKey{}, false
}

// close releases the bindings and the device memory (and every value in it).
func (r *residency) close() error {
	if r == nil {
		return nil
	}
	var errs []error
	for id, db := range r.binds {
		errs = append(errs, db.close())
		delete(r.binds, id)
	}
	errs = append(errs, r.mem.Close())
	return errors.Join(errs...)
}

func (db *devBinding) close() error {
	err := db.b.Close()
	for name, v := range db.bufs {
		v.Close()
		delete(db.bufs, name)
	}
	return err
}

// Resident reports whether the policy keeps its parameters on a device.
func (p *Policy) Resident() bool { return p.res != nil }

// Mem is the device memory of a resident policy (nil otherwise).
func (p *Policy) Mem() *ort.Mem {
	if p.res == nil {
		return nil
	}
	return p.res.mem
}

// Ledger counts a resident policy's host<->device transfers (nil when
// the policy is not resident).
func (p *Policy) Ledger() *ort.Ledger {
	if p.res == nil {
		return nil
	}
	return p.res.mem.Ledger()
}

// paramTensor is a parameter as the graphs of float type dt take it (see
// AddParamFeeds): half-precision weights as their raw bits, float32 ones
// in dt.
func paramTensor(prm *params.Param, dt onnx.DType) ort.Tensor {
	shape := make([]int64, len(prm.Shape))
	for i, d := range prm.Shape {
		shape[i] = int64(d)
	}
	if prm.IsHalf() {
		return ort.Tensor{Shape: shape, DType: ort.DType(graphDType(prm.DType)), Data: prm.Half}
	}
	return Float32Tensor(dt, shape, prm.Data)
}

// weight returns the device copy of a parameter, uploading it (counted as
// weights) the first time.
func (p *Policy) weight(prm *params.Param) (*ort.Value, error) {
	if v, ok := p.res.weights[prm]; ok {
		return v, nil
	}
	key, keyed := storageOf(prm)
	if v, ok := p.res.byData[key]; ok && keyed {
		p.res.weights[prm] = v
		return v, nil
	}
	v, err := p.res.mem.Upload(ort.KindWeights, paramTensor(prm, p.float))
	if err != nil {
		return nil, fmt.Errorf("policy: upload parameter %s: %w", prm.Name, err)
	}
	p.res.weights[prm] = v
	if keyed {
		p.res.byData[key] = v
	}
	return v, nil
}

// UploadWeights copies every parameter of the store (and of any other
// store whose parameters are on the device) from the host again, after
// they were changed there (a checkpoint restored with LoadInto, a
// reference reset). It is a load: the bytes count as weights.
func (p *Policy) UploadWeights() error {
	if p.res == nil {
		return nil
	}
	for _, prm := range p.Store.Params() {
		v, ok := p.res.weights[prm]
		if !ok {
			// Another Param over resident host storage (a store of
			// params.Store.AddShared views) refreshes that device value.
			key, keyed := storageOf(prm)
			if v, ok = p.res.byData[key]; !ok || !keyed {
				if _, err := p.weight(prm); err != nil {
					return err
				}
				continue
			}
			p.res.weights[prm] = v
		}
		if err := p.res.mem.CopyIn(ort.KindWeights, v, paramTensor(prm, p.float)); err != nil {
			return fmt.Errorf("policy: upload parameter %s: %w", prm.Name, err)
		}
		delete(p.res.dirty, prm)
	}
	return nil
}

// SyncHost copies the parameters changed on the device (by the device
// optimizer) into the host store, for a checkpoint or an export; the bytes
// count as weights. A host-only policy has nothing to do.
func (p *Policy) SyncHost() error {
	if p.res == nil {
		return nil
	}
	prms := slices.Collect(maps.Keys(p.res.dirty))
	slices.SortFunc(prms, func(a, b *params.Param) int { return strings.Compare(a.Name, b.Name) })
	for _, prm := range prms {
		v := p.res.weights[prm]
		t, err := p.res.mem.Download(ort.KindWeights, v)
		if err != nil {
			return fmt.Errorf("policy: download parameter %s: %w", prm.Name, err)
		}
		f, err := toFloat32(t)
		if err != nil {
			return fmt.Errorf("policy: download parameter %s: %w", prm.Name, err)
		}
		copy(prm.Data, f)
		delete(p.res.dirty, prm)
	}
	return nil
}

// devBind returns (creating once) the device binding of a graph over the
// policy's store for a purpose, with every parameter input bound to its
// device value.
func (p *Policy) devBind(graph, purpose string) (*devBinding, error) {
	id := bindID{graph: graph, store: p.Store, purpose: purpose}
	if db, ok := p.res.binds[id]; ok {
		return db, nil
	}
	db, err := p.newDevBinding(graph)
	if err != nil {
		return nil, err
	}
	p.res.binds[id] = db
	return db, nil
}

// newDevBinding makes a device binding of a graph with every parameter
// input bound; the caller closes it.
func (p *Policy) newDevBinding(graph string) (*devBinding, error) {
	s, ok := p.sess[graph]
	if !ok {
		return nil, fmt.Errorf("policy: graph %q is not loaded", graph)
	}
	b, err := s.BindDevice(p.res.mem)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", graph, err)
	}
	db := &devBinding{b: b, bufs: map[string]*ort.Value{}}
	in := p.inputs[graph]
	for _, prm := range p.Store.Params() {
		if !in[prm.Name] {
			continue
		}
		v, err := p.weight(prm)
		if err == nil {
			err = b.BindInput(prm.Name, v)
		}
		if err != nil {
			db.close()
			return nil, fmt.Errorf("policy %s: %w", graph, err)
		}
	}
	return db, nil
}

// feed copies a host tensor into the binding's buffer for an input
// (reallocated and rebound when its shape changes), counted as kind k.
func (p *Policy) feed(db *devBinding, k ort.Kind, name string, t ort.Tensor) error {
	v, err := p.buffer(db, k, name, t.DType, t.Shape, true)
	if err != nil {
		return err
	}
	return p.res.mem.CopyIn(k, v, t)
}

// buffer returns the binding's device buffer for an input (in) or output
// of the given dtype and shape, allocating and binding a new one when the
// shape changed.
func (p *Policy) buffer(db *devBinding, k ort.Kind, name string, dt ort.DType, shape []int64, in bool) (*ort.Value, error) {
	if dt == ort.Undefined {
		dt = ort.DType(p.float)
	}
	if v, ok := db.bufs[name]; ok && v.DType() == dt && slices.Equal(v.Shape(), shape) {
		return v, nil
	}
	v, err := p.res.mem.Alloc(k, dt, shape)
	if err != nil {
		return nil, err
	}
	if in {
		err = db.b.BindInput(name, v)
	} else {
		err = db.b.BindOutput(name, v)
	}
	if err != nil {
		v.Close()
		return nil, err
	}
	if old, ok := db.bufs[name]; ok {
		old.Close()
	}
	db.bufs[name] = v
	return v, nil
}

// feedKind is the ledger kind of a graph input fed from the host.
func feedKind(name string) ort.Kind {
	if strings.HasPrefix(name, "past.") {
		return ort.KindCache
	}
	return ort.KindActivations
}

// outputKind is the ledger kind of a graph output.
func outputKind(name string) ort.Kind {
	switch {
	case name == OutLogits:
		return ort.KindLogits
	case strings.HasPrefix(name, "present."), strings.HasPrefix(name, "cache."):
		return ort.KindCache
	case strings.HasPrefix(name, GradPrefix):
		return ort.KindGradients
	case name == OutVisionEmbed:
		return ort.KindActivations
	}
	return ort.KindMetrics
}

// runOnDevice is Policy.run for a resident policy: the host feeds are
// copied in (the parameters are already bound), the attention bias is
// computed on the device from valid when given, and the requested outputs
// (nil = all) are copied out; the others never leave the device.
func (p *Policy) runOnDevice(ctx context.Context, graph string, feeds map[string]ort.Tensor, outputs []string, valid [][]bool) (map[string]ort.Tensor, error) {
	devOut, err := p.runDeviceOutputs(ctx, graph, feeds, valid)
	if err != nil {
		return nil, err
	}
	defer closeValues(devOut)
	if outputs == nil {
		outputs = slices.Collect(maps.Keys(devOut))
	}
	res := make(map[string]ort.Tensor, len(outputs))
	for _, name := range outputs {
		v, ok := devOut[name]
		if !ok {
			return nil, fmt.Errorf("policy %s: no output %q", graph, name)
		}
		t, err := p.res.mem.Download(outputKind(name), v)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", graph, err)
		}
		res[name] = t
	}
	return res, nil
}

// runDeviceOutputs runs a graph on the device and returns every output as
// a device value the caller closes.
func (p *Policy) runDeviceOutputs(ctx context.Context, graph string, feeds map[string]ort.Tensor, valid [][]bool) (map[string]*ort.Value, error) {
	db, err := p.devBind(graph, "")
	if err != nil {
		return nil, err
	}
	if err := p.feedAll(ctx, graph, db, feeds, valid); err != nil {
		return nil, err
	}
	if db.b.Runs() == 0 {
		for _, ti := range p.sess[graph].Outputs() {
			if err := db.b.BindOutputToDevice(ti.Name); err != nil {
				return nil, fmt.Errorf("policy %s: %w", graph, err)
			}
		}
	}
	p.runs[graph]++
	if err := db.b.Run(ctx); err != nil {
		return nil, fmt.Errorf("policy %s: %w", graph, err)
	}
	out, err := db.b.TakeOutputs(outputKind)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", graph, err)
	}
	return out, nil
}

// feedAll copies a run's host inputs into the binding's buffers: feeds the
// graph does not take are ignored, parameters are never fed, and with valid
// the attention bias is made on the device.
func (p *Policy) feedAll(ctx context.Context, graph string, db *devBinding, feeds map[string]ort.Tensor, valid [][]bool) error {
	in := p.inputs[graph]
	params := map[string]bool{}
	for _, prm := range p.Store.Params() {
		params[prm.Name] = true
	}
	names := slices.Sorted(maps.Keys(feeds))
	for _, name := range names {
		if !in[name] || params[name] {
			continue
		}
		if name == InAttnBias && valid != nil {
			continue
		}
		if err := p.feed(db, feedKind(name), name, feeds[name]); err != nil {
			return fmt.Errorf("policy %s: input %q: %w", graph, name, err)
		}
	}
	if valid != nil && in[InAttnBias] {
		bias, err := p.attnBias(ctx, valid)
		if err != nil {
			return fmt.Errorf("policy %s: %w", graph, err)
		}
		if err := db.b.BindInput(InAttnBias, bias); err != nil {
			return fmt.Errorf("policy %s: %w", graph, err)
		}
	}
	return nil
}

// attnBias makes the causal attention bias [B,1,L,L] of key validity valid
// [B][L] on the device (the attn_bias graph), so only the B*L validity
// crosses instead of the B*L*L bias. The returned value is the bias
// graph's output buffer, valid until the next call.
func (p *Policy) attnBias(ctx context.Context, valid [][]bool) (*ort.Value, error) {
	B, L := len(valid), len(valid[0])
	v := make([]float64, 0, B*L)
	for _, row := range valid {
		if len(row) != L {
			return nil, fmt.Errorf("attention validity rows of %d and %d keys", L, len(row))
		}
		for _, ok := range row {
			v = append(v, boolFloat(ok))
		}
	}
	db, err := p.biasBinding()
	if err != nil {
		return nil, err
	}
	if err := p.feed(db, ort.KindActivations, InKeyValid, FloatTensor(p.float, []int64{int64(B), int64(L)}, v)); err != nil {
		return nil, err
	}
	out, err := p.buffer(db, ort.KindActivations, InAttnBias, ort.DType(p.float), []int64{int64(B), 1, int64(L), int64(L)}, false)
	if err != nil {
		return nil, err
	}
	p.runs[GraphAttnBias]++
	if err := db.b.Run(ctx); err != nil {
		return nil, err
	}
	return out, nil
}

// biasBinding returns the attn_bias graph's binding (its session is
// loaded with the policy's device graphs).
func (p *Policy) biasBinding() (*devBinding, error) {
	return p.devBind(GraphAttnBias, "")
}

func closeValues(vs map[string]*ort.Value) {
	for _, v := range vs {
		v.Close()
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
