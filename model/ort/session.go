//go:build cgo

package ort

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	onnx "github.com/yalue/onnxruntime_go"
)

// Session is a loaded ONNX model ready to run. Run may be called from
// several goroutines at once (ONNX Runtime sessions are thread-safe); Close
// waits for runs in flight. A Session owns the Bindings made from it.
type Session struct {
	rt      *Runtime
	name    string // file path or "<memory>", for error messages
	opt     Options
	inputs  []TensorInfo
	outputs []TensorInfo
	inIdx   map[string]int
	outIdx  map[string]int

	mu     sync.RWMutex // read-held by runs, write-held by Close
	closed bool
	sess   *onnx.DynamicAdvancedSession

	bmu        sync.Mutex // guards bindings, dbindings and bindClosed
	bindings   map[*Binding]struct{}
	dbindings  map[*DeviceBinding]struct{}
	bindClosed bool
}

// NewSession loads a serialized ONNX model. Initializers stored as external
// data need NewSessionFromFile (they are resolved next to the model file).
func (r *Runtime) NewSession(model []byte, opt Options) (*Session, error) {
	return r.newSession("<memory>", model, "", opt)
}

// NewSessionFromFile loads the ONNX model at path. Initializers saved as
// external data are read from files next to it, as the model's
// external_data locations say.
func (r *Runtime) NewSessionFromFile(path string, opt Options) (*Session, error) {
	model, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ort: read model: %w", err)
	}
	return r.newSession(path, model, path, opt)
}

func (r *Runtime) newSession(name string, model []byte, path string, opt Options) (*Session, error) {
	if err := opt.validate(); err != nil {
		return nil, fmt.Errorf("%w (model %s)", err, name)
	}
	ins, outs, err := ModelIO(model)
	if err != nil {
		return nil, fmt.Errorf("%w (model %s)", err, name)
	}
	if len(ins) == 0 {
		return nil, fmt.Errorf("ort: model %s has no inputs; onnxruntime_go cannot run input-less graphs (add an input)", name)
	}
	if len(outs) == 0 {
		return nil, fmt.Errorf("ort: model %s has no outputs", name)
	}
	s := &Session{
		rt: r, name: name, opt: opt, inputs: ins, outputs: outs,
		inIdx: map[string]int{}, outIdx: map[string]int{},
		bindings: map[*Binding]struct{}{}, dbindings: map[*DeviceBinding]struct{}{},
	}
	inNames := make([]string, len(ins))
	for i, ti := range ins {
		inNames[i] = ti.Name
		s.inIdx[ti.Name] = i
	}
	outNames := make([]string, len(outs))
	for i, ti := range outs {
		outNames[i] = ti.Name
		s.outIdx[ti.Name] = i
	}

	r.life.RLock()
	defer r.life.RUnlock()
	if r.closed {
		return nil, fmt.Errorf("ort: new session %s: %w", name, ErrClosed)
	}
	so, err := sessionOptions(opt)
	if err != nil {
		return nil, fmt.Errorf("ort: new session %s: %w", name, err)
	}
	defer so.Destroy()
	if path != "" {
		s.sess, err = onnx.NewDynamicAdvancedSession(path, inNames, outNames, so)
	} else {
		s.sess, err = onnx.NewDynamicAdvancedSessionWithONNXData(model, inNames, outNames, so)
	}
	if err != nil {
		err = fmt.Errorf("ort: new session %s: %w", name, err)
		if opt.Provider == ProviderCUDA && strings.Contains(strings.ToLower(err.Error()), "cuda") {
			err = fmt.Errorf("%w: %w", ErrProviderUnavailable, err)
		}
		return nil, err
	}
	r.track(s)
	return s, nil
}

func sessionOptions(opt Options) (*onnx.SessionOptions, error) {
	so, err := onnx.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("session options: %w", err)
	}
	fail := func(what string, err error) (*onnx.SessionOptions, error) {
		so.Destroy()
		return nil, fmt.Errorf("session options: %s: %w", what, err)
	}
	if opt.IntraOpThreads > 0 {
		if err := so.SetIntraOpNumThreads(opt.IntraOpThreads); err != nil {
			return fail("intra-op threads", err)
		}
	}
	if opt.InterOpThreads > 0 {
		if err := so.SetInterOpNumThreads(opt.InterOpThreads); err != nil {
			return fail("inter-op threads", err)
		}
	}
	if opt.DisableOptimizations {
		if err := so.SetGraphOptimizationLevel(onnx.GraphOptimizationLevelDisableAll); err != nil {
			return fail("graph optimization level", err)
		}
	}
	if opt.ProfilePrefix != "" {
		if err := so.EnableProfiling(opt.ProfilePrefix); err != nil {
			return fail("profiling", err)
		}
	}
	if opt.OptimizedModelPath != "" {
		if err := so.SetOptimizedModelFilePath(opt.OptimizedModelPath); err != nil {
			return fail("optimized model path", err)
		}
	}
	entries := spinEntries(opt.AllowSpinning)
	for k, v := range opt.ConfigEntries {
		entries[k] = v
	}
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := so.AddSessionConfigEntry(k, entries[k]); err != nil {
			return fail("config entry "+k, err)
		}
	}
	if opt.DisableCPUArena {
		if err := so.SetCpuMemArena(false); err != nil {
			return fail("cpu memory arena", err)
		}
	}
	if opt.Provider == ProviderCUDA {
		if err := appendCUDA(so, opt.DeviceID, opt.ProviderOptions); err != nil {
			so.Destroy()
			return nil, err
		}
	}
	return so, nil
}

func appendCUDA(so *onnx.SessionOptions, device int, extra map[string]string) error {
	co, err := onnx.NewCUDAProviderOptions()
	if err != nil {
		return fmt.Errorf("%w: cuda (device %d): %w", ErrProviderUnavailable, device, err)
	}
	defer co.Destroy()
	po := map[string]string{"device_id": strconv.Itoa(device)}
	for k, v := range extra {
		if k != "device_id" {
			po[k] = v
		}
	}
	if err := co.Update(po); err != nil {
		return fmt.Errorf("%w: cuda (device %d): %w", ErrProviderUnavailable, device, err)
	}
	if err := so.AppendExecutionProviderCUDA(co); err != nil {
		return fmt.Errorf("%w: cuda (device %d): %w", ErrProviderUnavailable, device, err)
	}
	return nil
}

// Inputs describes the graph inputs the model needs (initializers
// excluded), in graph order.
func (s *Session) Inputs() []TensorInfo { return cloneInfos(s.inputs) }

// Outputs describes the graph outputs, in graph order.
func (s *Session) Outputs() []TensorInfo { return cloneInfos(s.outputs) }

// Options returns the options the session was created with.
func (s *Session) Options() Options { return s.opt }

func cloneInfos(in []TensorInfo) []TensorInfo {
	out := make([]TensorInfo, len(in))
	for i, ti := range in {
		out[i] = TensorInfo{Name: ti.Name, DType: ti.DType, Shape: slices.Clone(ti.Shape)}
	}
	return out
}

// Close releases the session and every Binding made from it. It waits for
// runs in flight and is idempotent.
func (s *Session) Close() error {
	s.bmu.Lock()
	s.bindClosed = true
	bs := make([]*Binding, 0, len(s.bindings))
	for b := range s.bindings {
		bs = append(bs, b)
	}
	dbs := make([]*DeviceBinding, 0, len(s.dbindings))
	for b := range s.dbindings {
		dbs = append(dbs, b)
	}
	s.bmu.Unlock()
	var firstErr error
	for _, b := range bs {
		if err := b.Close(); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	for _, b := range dbs {
		if err := b.Close(); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return firstErr
	}
	s.closed = true
	if err := s.sess.Destroy(); err != nil && firstErr == nil {
		firstErr = fmt.Errorf("ort: close session %s: %w", s.name, err)
	}
	s.sess = nil
	s.mu.Unlock()
	s.rt.forget(s)
	return firstErr
}

// Run feeds inputs (every model input, by name) and returns the requested
// outputs (nil = all) as Tensors in Go memory owned by the caller.
//
// Inputs are checked against the model before anything runs: a missing or
// unknown name, a wrong dtype, rank, static dimension or data length gives
// an error naming the input. Rank-0 inputs and outputs use Shape []int64{}.
// Outputs with a fully static declared shape are written by ONNX Runtime
// straight into fresh Go slices; dynamic ones are allocated by ONNX Runtime
// and copied. Every model output is computed whether requested or not.
//
// Cancelling ctx while the run is in flight sets ONNX Runtime's terminate
// flag (RunOptions.Terminate), so the run stops at the next node boundary
// and Run returns an error wrapping ctx.Err().
func (s *Session) Run(ctx context.Context, inputs map[string]Tensor, outputs []string) (map[string]Tensor, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ort: run %s: %w", s.name, err)
	}
	if err := s.checkInputs(inputs); err != nil {
		return nil, err
	}
	want, err := s.selectOutputs(outputs)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, fmt.Errorf("ort: run %s: %w", s.name, ErrClosed)
	}

	inVals := make([]onnx.Value, len(s.inputs))
	outVals := make([]onnx.Value, len(s.outputs))
	outData := make([]any, len(s.outputs))
	defer func() {
		for _, v := range inVals {
			destroyValue(v)
		}
		for _, v := range outVals {
			destroyValue(v)
		}
	}()
	for i, ti := range s.inputs {
		t := inputs[ti.Name]
		v, err := newValue(t.Shape, ti.DType, t.Data)
		if err != nil {
			return nil, fmt.Errorf("ort: run %s: input %q: %w", s.name, ti.Name, err)
		}
		inVals[i] = v
	}
	for i, ti := range s.outputs {
		if !ti.Static() || !ti.DType.Supported() {
			if ti.DType == Float16 || ti.DType == BFloat16 {
				return nil, fmt.Errorf("ort: run %s: output %q is %s with dynamic shape %v: onnxruntime_go v1.27 cannot copy ONNX Runtime-allocated half-precision outputs; give it a static shape or use Session.Bind", s.name, ti.Name, ti.DType, ti.Shape)
			}
			continue // ONNX Runtime allocates it
		}
		n, err := NumElements(ti.Shape)
		if err != nil {
			return nil, fmt.Errorf("ort: run %s: output %q: %w", s.name, ti.Name, err)
		}
		data, err := makeSlice(ti.DType, n)
		if err != nil {
			return nil, fmt.Errorf("ort: run %s: output %q: %w", s.name, ti.Name, err)
		}
		v, err := newValue(ti.Shape, ti.DType, data)
		if err != nil {
			return nil, fmt.Errorf("ort: run %s: output %q: %w", s.name, ti.Name, err)
		}
		outVals[i], outData[i] = v, data
	}

	if err := runWithContext(ctx, func(ro *onnx.RunOptions) error {
		return s.sess.RunWithOptions(inVals, outVals, ro)
	}); err != nil {
		if strings.Contains(err.Error(), "shape has no dimensions") {
			var unknown []string
			for i, ti := range s.outputs {
				if ti.Shape == nil && outData[i] == nil {
					unknown = append(unknown, ti.Name)
				}
			}
			return nil, fmt.Errorf("ort: run %s: %w (a rank-0 output of undeclared rank cannot be copied by onnxruntime_go; declare the shape of output(s) %s)", s.name, err, quoteAll(unknown))
		}
		return nil, fmt.Errorf("ort: run %s: %w", s.name, err)
	}

	res := make(map[string]Tensor, len(want))
	for _, i := range want {
		ti := s.outputs[i]
		if outData[i] != nil {
			readScalar(outVals[i], outData[i])
			res[ti.Name] = Tensor{Shape: slices.Clone(ti.Shape), DType: ti.DType, Data: outData[i]}
			continue
		}
		t, err := fromValue(outVals[i])
		if err != nil {
			return nil, fmt.Errorf("ort: run %s: output %q: %w", s.name, ti.Name, err)
		}
		res[ti.Name] = t
	}
	return res, nil
}

// runWithContext runs fn with RunOptions whose terminate flag is raised
// when ctx is cancelled. Contexts that can never be cancelled skip the
// RunOptions. A run stopped by cancellation returns an error wrapping
// ctx.Err().
func runWithContext(ctx context.Context, fn func(*onnx.RunOptions) error) error {
	if ctx.Done() == nil {
		return fn(nil)
	}
	ro, err := onnx.NewRunOptions()
	if err != nil {
		return fmt.Errorf("run options: %w", err)
	}
	defer ro.Destroy()
	return runCancellable(ctx, ro, fn)
}

// runCancellable runs fn(ro) while a context.AfterFunc raises ro's
// terminate flag on cancellation; it waits for that callback to finish
// before returning, so ro can be destroyed or reused safely.
func runCancellable(ctx context.Context, ro *onnx.RunOptions, fn func(*onnx.RunOptions) error) error {
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(done)
		ro.Terminate()
	})
	err := fn(ro)
	if !stop() {
		<-done // the terminate callback ran (or is running)
		ro.UnsetTerminate()
	}
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("cancelled: %w (onnxruntime: %v)", ctx.Err(), err)
	}
	// A run that completed before ONNX Runtime saw the flag has complete
	// results, so it is not an error.
	return err
}

// checkInputs validates a full input map against the model.
func (s *Session) checkInputs(inputs map[string]Tensor) error {
	var unknown, missing []string
	for name := range inputs {
		if _, ok := s.inIdx[name]; !ok {
			unknown = append(unknown, name)
		}
	}
	for _, ti := range s.inputs {
		if _, ok := inputs[ti.Name]; !ok {
			missing = append(missing, ti.Name)
		}
	}
	var errs []error
	if len(unknown) > 0 {
		sort.Strings(unknown)
		errs = append(errs, fmt.Errorf("ort: run %s: unknown input(s) %s (model inputs: %s)", s.name, quoteAll(unknown), s.inputList()))
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("ort: run %s: missing input(s) %s", s.name, quoteAll(missing)))
	}
	for _, ti := range s.inputs {
		if t, ok := inputs[ti.Name]; ok {
			if err := checkTensor(ti, t); err != nil {
				errs = append(errs, fmt.Errorf("ort: run %s: input %q: %w", s.name, ti.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// checkTensor checks dtype, rank, static dimensions and data length of t
// against the model's declaration ti.
func checkTensor(ti TensorInfo, t Tensor) error {
	dt, err := t.ElemType()
	if err != nil {
		return err
	}
	if dt != ti.DType {
		return fmt.Errorf("dtype %s, model wants %s", dt, ti.DType)
	}
	if err := t.Validate(); err != nil {
		return err
	}
	if ti.Shape == nil {
		return nil
	}
	if len(t.Shape) != len(ti.Shape) {
		return fmt.Errorf("shape %v has rank %d, model wants rank %d %v", t.Shape, len(t.Shape), len(ti.Shape), ti.Shape)
	}
	for i, d := range ti.Shape {
		if d >= 0 && t.Shape[i] != d {
			return fmt.Errorf("shape %v, model wants %v (dimension %d)", t.Shape, ti.Shape, i)
		}
	}
	return nil
}

func (s *Session) selectOutputs(names []string) ([]int, error) {
	if names == nil {
		idx := make([]int, len(s.outputs))
		for i := range idx {
			idx[i] = i
		}
		return idx, nil
	}
	idx := make([]int, 0, len(names))
	seen := map[string]bool{}
	for _, n := range names {
		i, ok := s.outIdx[n]
		if !ok {
			return nil, fmt.Errorf("ort: run %s: unknown output %q (model outputs: %s)", s.name, n, s.outputList())
		}
		if seen[n] {
			return nil, fmt.Errorf("ort: run %s: output %q requested twice", s.name, n)
		}
		seen[n] = true
		idx = append(idx, i)
	}
	return idx, nil
}

func (s *Session) inputList() string  { return infoList(s.inputs) }
func (s *Session) outputList() string { return infoList(s.outputs) }

func infoList(infos []TensorInfo) string {
	parts := make([]string, len(infos))
	for i, ti := range infos {
		parts[i] = ti.String()
	}
	return strings.Join(parts, ", ")
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}
