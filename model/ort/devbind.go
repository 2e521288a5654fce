//go:build cgo

package ort

/*
#include <stdlib.h>
#include "devapi.h"
*/
import "C"

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"unsafe"
)

// DeviceBinding is ONNX Runtime I/O binding of a Session to device Values:
// inputs and outputs are bound once and stay bound across Runs, so a run
// moves no data between Go memory and the device. Rebinding a name
// replaces its value (e.g. after a cache shrinks). Only Values of the
// binding's Mem (or of another Mem on the same device) can be bound: host
// data must enter through Mem.CopyIn, where the Ledger counts it.
//
// An output can instead be bound to the device without a value
// (BindOutputToDevice) when its shape is only known after the run; ONNX
// Runtime then allocates it on the device at each Run and TakeOutput hands
// it over. A DeviceBinding is not for concurrent Runs (they are
// serialised). Closing the Session closes its DeviceBindings.
type DeviceBinding struct {
	s *Session
	m *Mem
	h *C.OrtSession

	mu     sync.Mutex
	closed bool
	b      *C.OrtIoBinding
	ro     *C.OrtRunOptions
	in     map[string]*Value
	out    map[string]*Value
	toDev  map[string]bool
	order  []string // output names in binding order (ONNX Runtime's order of bound outputs)
	runs   int
}

// BindDevice creates a DeviceBinding of s on the device of m. s must run on
// that device (its Options.Provider and DeviceID).
func (s *Session) BindDevice(m *Mem) (*DeviceBinding, error) {
	if m == nil {
		return nil, fmt.Errorf("ort: bind %s to device: nil memory", s.name)
	}
	if s.opt.Provider != m.dev.Provider && !(s.opt.Provider == "" && m.dev.Provider == ProviderCPU) {
		return nil, fmt.Errorf("ort: bind %s to device %s: the session runs on provider %q", s.name, m.dev, s.opt.Provider)
	}
	if m.dev.Provider == ProviderCUDA && s.opt.DeviceID != m.dev.ID {
		return nil, fmt.Errorf("ort: bind %s to device %s: the session runs on cuda device %d", s.name, m.dev, s.opt.DeviceID)
	}
	if err := initCAPI(s.rt.path); err != nil {
		return nil, err
	}
	s.bmu.Lock()
	defer s.bmu.Unlock()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed || s.bindClosed {
		return nil, fmt.Errorf("ort: bind %s to device: %w", s.name, ErrClosed)
	}
	h, err := sessionHandle(s.sess)
	if err != nil {
		return nil, fmt.Errorf("ort: bind %s to device: %w", s.name, err)
	}
	b := &DeviceBinding{s: s, m: m, h: h, in: map[string]*Value{}, out: map[string]*Value{}, toDev: map[string]bool{}}
	if err := cErr(C.vs_binding(h, &b.b)); err != nil {
		return nil, fmt.Errorf("ort: bind %s to device: %w", s.name, err)
	}
	if err := cErr(C.vs_run_options(&b.ro)); err != nil {
		C.vs_release_binding(b.b)
		return nil, fmt.Errorf("ort: bind %s to device: run options: %w", s.name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		C.vs_release_binding(b.b)
		C.vs_release_run_options(b.ro)
		return nil, fmt.Errorf("ort: bind %s to device %s: %w", s.name, m.dev, ErrClosed)
	}
	m.binds[b] = struct{}{}
	s.dbindings[b] = struct{}{}
	return b, nil
}

// checkValue checks v against the declared tensor ti.
func (b *DeviceBinding) checkValue(what string, ti TensorInfo, v *Value) error {
	if v == nil {
		return fmt.Errorf("ort: bind %s %s %q: nil value", b.s.name, what, ti.Name)
	}
	if v.m.dev != b.m.dev || v.m.rt != b.m.rt {
		return fmt.Errorf("ort: bind %s %s %q: value lives on %s, binding on %s", b.s.name, what, ti.Name, v.m.dev, b.m.dev)
	}
	if v.dt != ti.DType {
		return fmt.Errorf("ort: bind %s %s %q: value is %s, model wants %s", b.s.name, what, ti.Name, v.dt, ti.DType)
	}
	if err := checkShape(ti.Shape, v.shape); err != nil {
		return fmt.Errorf("ort: bind %s %s %q: %w", b.s.name, what, ti.Name, err)
	}
	return nil
}

// BindInput binds the device value v to the named input. The binding
// holds its own reference to v's memory until rebound or closed.
func (b *DeviceBinding) BindInput(name string, v *Value) error {
	i, ok := b.s.inIdx[name]
	if !ok {
		return fmt.Errorf("ort: bind %s: unknown input %q (model inputs: %s)", b.s.name, name, b.s.inputList())
	}
	if err := b.checkValue("input", b.s.inputs[i], v); err != nil {
		return err
	}
	h, err := v.handle()
	if err != nil {
		return fmt.Errorf("ort: bind %s input %q: %w", b.s.name, name, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return fmt.Errorf("ort: bind %s: %w", b.s.name, ErrClosed)
	}
	if b.in[name] == v {
		return nil
	}
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	if err := cErr(C.vs_bind_input(b.b, cn, h)); err != nil {
		return fmt.Errorf("ort: bind %s input %q: %w", b.s.name, name, err)
	}
	b.in[name] = v
	return nil
}

// BindOutput binds the named output to the preallocated device value v:
// each Run writes it in place.
func (b *DeviceBinding) BindOutput(name string, v *Value) error {
	i, ok := b.s.outIdx[name]
	if !ok {
		return fmt.Errorf("ort: bind %s: unknown output %q (model outputs: %s)", b.s.name, name, b.s.outputList())
	}
	if err := b.checkValue("output", b.s.outputs[i], v); err != nil {
		return err
	}
	h, err := v.handle()
	if err != nil {
		return fmt.Errorf("ort: bind %s output %q: %w", b.s.name, name, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return fmt.Errorf("ort: bind %s: %w", b.s.name, ErrClosed)
	}
	if b.out[name] == v {
		return nil
	}
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	if err := cErr(C.vs_bind_output(b.b, cn, h)); err != nil {
		return fmt.Errorf("ort: bind %s output %q: %w", b.s.name, name, err)
	}
	b.out[name] = v
	delete(b.toDev, name)
	b.noteOrder(name)
	return nil
}

// BindOutputToDevice binds the named output to the binding's device with
// no value: ONNX Runtime allocates it there at each Run (for outputs whose
// shape is known only then); TakeOutput returns it.
func (b *DeviceBinding) BindOutputToDevice(name string) error {
	if _, ok := b.s.outIdx[name]; !ok {
		return fmt.Errorf("ort: bind %s: unknown output %q (model outputs: %s)", b.s.name, name, b.s.outputList())
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return fmt.Errorf("ort: bind %s: %w", b.s.name, ErrClosed)
	}
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	if err := cErr(C.vs_bind_output_device(b.b, cn, b.m.info)); err != nil {
		return fmt.Errorf("ort: bind %s output %q to %s: %w", b.s.name, name, b.m.dev, err)
	}
	delete(b.out, name)
	b.toDev[name] = true
	b.noteOrder(name)
	return nil
}

// noteOrder records the first binding of an output name: ONNX Runtime
// keeps bound outputs in that order and a rebinding keeps its place.
func (b *DeviceBinding) noteOrder(name string) {
	if !slices.Contains(b.order, name) {
		b.order = append(b.order, name)
	}
}

// Bound reports the value bound to a name (input first, then output), if any.
func (b *DeviceBinding) Bound(name string) (*Value, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if v, ok := b.in[name]; ok {
		return v, true
	}
	v, ok := b.out[name]
	return v, ok
}

// Run runs the session over the bound values. Every model input and
// output must be bound. Cancelling ctx stops ONNX Runtime at the next node
// boundary and Run returns an error wrapping ctx.Err().
func (b *DeviceBinding) Run(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return fmt.Errorf("ort: device run %s: %w", b.s.name, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ort: device run %s: %w", b.s.name, err)
	}
	var missing []string
	for _, ti := range b.s.inputs {
		if _, ok := b.in[ti.Name]; !ok {
			missing = append(missing, "input "+ti.Name)
		}
	}
	for _, ti := range b.s.outputs {
		if _, ok := b.out[ti.Name]; !ok && !b.toDev[ti.Name] {
			missing = append(missing, "output "+ti.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("ort: device run %s: unbound %s", b.s.name, quoteAll(missing))
	}
	b.s.mu.RLock()
	defer b.s.mu.RUnlock()
	if b.s.closed {
		return fmt.Errorf("ort: device run %s: %w", b.s.name, ErrClosed)
	}
	// After a run ONNX Runtime keeps the values it allocated as the
	// outputs of the next one; binding them to the device again lets
	// their shapes change from run to run.
	for _, name := range b.order {
		if !b.toDev[name] || b.runs == 0 {
			continue
		}
		cn := C.CString(name)
		err := cErr(C.vs_bind_output_device(b.b, cn, b.m.info))
		C.free(unsafe.Pointer(cn))
		if err != nil {
			return fmt.Errorf("ort: device run %s: output %q: %w", b.s.name, name, err)
		}
	}
	run := func() error { return cErr(C.vs_run(b.h, b.ro, b.b)) }
	var err error
	if ctx.Done() == nil {
		err = run()
	} else {
		done := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			defer close(done)
			C.vs_terminate(b.ro)
		})
		err = run()
		if !stop() {
			<-done
			C.vs_unset_terminate(b.ro)
		}
		if err != nil && ctx.Err() != nil {
			err = fmt.Errorf("cancelled: %w (onnxruntime: %v)", ctx.Err(), err)
		}
	}
	if err != nil {
		return fmt.Errorf("ort: device run %s: %w", b.s.name, err)
	}
	b.runs++
	return nil
}

// Runs is the number of completed Runs.
func (b *DeviceBinding) Runs() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.runs
}

// TakeOutput returns the value ONNX Runtime allocated on the device for an
// output bound with BindOutputToDevice in the last Run, as a Value the
// caller owns (counted as resident memory of kind k).
func (b *DeviceBinding) TakeOutput(name string, k Kind) (*Value, error) {
	if err := k.valid(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, fmt.Errorf("ort: take output %s: %w", b.s.name, ErrClosed)
	}
	if !b.toDev[name] {
		return nil, fmt.Errorf("ort: take output %s: %q is not bound to the device without a value", b.s.name, name)
	}
	if b.runs == 0 {
		return nil, fmt.Errorf("ort: take output %s %q: nothing has run", b.s.name, name)
	}
	idx := slices.Index(b.order, name)
	m := b.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("ort: take output %s: %w", b.s.name, ErrClosed)
	}
	v := &Value{m: m, kind: k}
	if err := cErr(C.vs_bound_output(b.b, m.alloc, C.size_t(idx), &v.v)); err != nil {
		return nil, fmt.Errorf("ort: take output %s %q: %w", b.s.name, name, err)
	}
	dt, shape, err := valueShape(v.v)
	if err != nil {
		C.vs_release_value(v.v)
		return nil, fmt.Errorf("ort: take output %s %q: %w", b.s.name, name, err)
	}
	n, _ := NumElements(shape)
	v.dt, v.shape, v.bytes = dt, shape, int64(n)*int64(dt.Size())
	m.values[v] = struct{}{}
	m.ledger.hold(k, v.bytes)
	return v, nil
}

// TakeOutputs returns every output bound with BindOutputToDevice, as
// produced by the last Run, as Values the caller owns; kind(name) gives
// each one's Ledger kind.
func (b *DeviceBinding) TakeOutputs(kind func(name string) Kind) (map[string]*Value, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, fmt.Errorf("ort: take outputs %s: %w", b.s.name, ErrClosed)
	}
	if b.runs == 0 {
		return nil, fmt.Errorf("ort: take outputs %s: nothing has run", b.s.name)
	}
	m := b.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("ort: take outputs %s: %w", b.s.name, ErrClosed)
	}
	var arr **C.OrtValue
	var n C.size_t
	if err := cErr(C.vs_bound_outputs(b.b, m.alloc, &arr, &n)); err != nil {
		return nil, fmt.Errorf("ort: take outputs %s: %w", b.s.name, err)
	}
	vals := unsafe.Slice(arr, int(n))
	defer C.vs_free_array(m.alloc, unsafe.Pointer(arr))
	if int(n) != len(b.order) {
		for _, v := range vals {
			C.vs_release_value(v)
		}
		return nil, fmt.Errorf("ort: take outputs %s: %d bound outputs, %d recorded", b.s.name, n, len(b.order))
	}
	out := map[string]*Value{}
	var firstErr error
	for i, name := range b.order {
		if !b.toDev[name] || firstErr != nil {
			C.vs_release_value(vals[i])
			continue
		}
		k := kind(name)
		dt, shape, err := valueShape(vals[i])
		if err == nil {
			err = k.valid()
		}
		if err != nil {
			C.vs_release_value(vals[i])
			firstErr = fmt.Errorf("ort: take output %s %q: %w", b.s.name, name, err)
			continue
		}
		cnt, _ := NumElements(shape)
		v := &Value{m: m, v: vals[i], dt: dt, shape: shape, kind: k, bytes: int64(cnt) * int64(dt.Size())}
		m.values[v] = struct{}{}
		m.ledger.hold(k, v.bytes)
		out[name] = v
	}
	if firstErr != nil {
		for _, v := range out {
			v.free()
			delete(m.values, v)
		}
		return nil, firstErr
	}
	return out, nil
}

// Close releases the binding (not the bound values). Idempotent.
func (b *DeviceBinding) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	if b.b != nil {
		C.vs_release_binding(b.b)
		b.b = nil
	}
	if b.ro != nil {
		C.vs_release_run_options(b.ro)
		b.ro = nil
	}
	b.in, b.out = nil, nil
	b.mu.Unlock()
	b.s.bmu.Lock()
	delete(b.s.dbindings, b)
	b.s.bmu.Unlock()
	b.m.mu.Lock()
	delete(b.m.binds, b)
	b.m.mu.Unlock()
	return nil
}
