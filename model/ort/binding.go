//go:build cgo

package ort

import (
	"context"
	"fmt"
	"slices"
	"sync"

	onnx "github.com/yalue/onnxruntime_go"
)

// Binding is a preallocated run of a Session with fixed input and output
// shapes: the ONNX Runtime tensors are created once over Go slices, the
// caller writes inputs in place (Input) and reads outputs in place (Output),
// and Run reuses the same memory every time, so a training or decode step
// allocates no tensor memory. A Binding is not meant for concurrent Runs
// (they are serialized); use one Binding per goroutine.
//
// Rank-0 inputs are an exception to "no allocation": onnxruntime_go scalars
// copy their value, so each Run re-wraps them (one small native
// allocation); give such inputs shape [1] when that matters.
type Binding struct {
	s *Session

	mu       sync.Mutex
	closed   bool
	inVals   []onnx.Value // in model input order
	outVals  []onnx.Value // in model output order
	inData   []any
	outData  []any
	inShape  [][]int64
	outShape [][]int64
	scalarIn []int // inputs of rank 0, re-wrapped per run
	ro       *onnx.RunOptions
}

// Bind creates a Binding. inputs must hold every model input with its
// final shape; their Data slices become the Binding's input buffers (not
// copied: later writes to them are seen by the next Run). A Tensor with nil
// Data gets a zeroed buffer of its shape and DType (Undefined DType = the
// model's). outputs gives the shape of outputs whose declared shape is
// dynamic; outputs with a static declared shape may be omitted. Every
// model output gets a buffer, read with Output.
func (s *Session) Bind(inputs map[string]Tensor, outputs map[string][]int64) (*Binding, error) {
	in := make(map[string]Tensor, len(inputs))
	for name, t := range inputs {
		if t.Data == nil {
			i, ok := s.inIdx[name]
			if ok {
				dt := t.DType
				if dt == Undefined {
					dt = s.inputs[i].DType
				}
				z, err := Zeros(dt, t.Shape)
				if err != nil {
					return nil, fmt.Errorf("ort: bind %s: input %q: %w", s.name, name, err)
				}
				t = z
			}
		}
		in[name] = t
	}
	if err := s.checkInputs(in); err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	for name := range outputs {
		if _, ok := s.outIdx[name]; !ok {
			return nil, fmt.Errorf("ort: bind %s: unknown output %q (model outputs: %s)", s.name, name, s.outputList())
		}
	}

	s.bmu.Lock()
	defer s.bmu.Unlock()
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed || s.bindClosed {
		return nil, fmt.Errorf("ort: bind %s: %w", s.name, ErrClosed)
	}

	b := &Binding{
		s:        s,
		inVals:   make([]onnx.Value, len(s.inputs)),
		outVals:  make([]onnx.Value, len(s.outputs)),
		inData:   make([]any, len(s.inputs)),
		outData:  make([]any, len(s.outputs)),
		inShape:  make([][]int64, len(s.inputs)),
		outShape: make([][]int64, len(s.outputs)),
	}
	fail := func(err error) (*Binding, error) {
		b.release()
		return nil, err
	}
	for i, ti := range s.inputs {
		t := in[ti.Name]
		v, err := newValue(t.Shape, ti.DType, t.Data)
		if err != nil {
			return fail(fmt.Errorf("ort: bind %s: input %q: %w", s.name, ti.Name, err))
		}
		b.inVals[i], b.inData[i], b.inShape[i] = v, t.Data, slices.Clone(t.Shape)
		if len(t.Shape) == 0 {
			b.scalarIn = append(b.scalarIn, i)
		}
	}
	for i, ti := range s.outputs {
		shape, given := outputs[ti.Name]
		if !given {
			if !ti.Static() {
				return fail(fmt.Errorf("ort: bind %s: output %q has dynamic shape %s; give its shape in Bind's outputs", s.name, ti.Name, shapeString(ti.Shape)))
			}
			shape = ti.Shape
		}
		if !ti.DType.Supported() {
			return fail(fmt.Errorf("ort: bind %s: output %q has unsupported dtype %s", s.name, ti.Name, ti.DType))
		}
		if err := checkShape(ti.Shape, shape); err != nil {
			return fail(fmt.Errorf("ort: bind %s: output %q: %w", s.name, ti.Name, err))
		}
		n, err := NumElements(shape)
		if err != nil {
			return fail(fmt.Errorf("ort: bind %s: output %q: %w", s.name, ti.Name, err))
		}
		data, err := makeSlice(ti.DType, n)
		if err != nil {
			return fail(fmt.Errorf("ort: bind %s: output %q: %w", s.name, ti.Name, err))
		}
		v, err := newValue(shape, ti.DType, data)
		if err != nil {
			return fail(fmt.Errorf("ort: bind %s: output %q: %w", s.name, ti.Name, err))
		}
		b.outVals[i], b.outData[i], b.outShape[i] = v, data, slices.Clone(shape)
	}
	ro, err := onnx.NewRunOptions()
	if err != nil {
		return fail(fmt.Errorf("ort: bind %s: run options: %w", s.name, err))
	}
	b.ro = ro
	s.bindings[b] = struct{}{}
	return b, nil
}

// checkShape checks a concrete shape against a declared one (nil = any).
func checkShape(declared, shape []int64) error {
	if declared == nil {
		return nil
	}
	if len(shape) != len(declared) {
		return fmt.Errorf("shape %v has rank %d, model wants rank %d %s", shape, len(shape), len(declared), shapeString(declared))
	}
	for i, d := range declared {
		if d >= 0 && shape[i] != d {
			return fmt.Errorf("shape %v, model wants %s (dimension %d)", shape, shapeString(declared), i)
		}
	}
	return nil
}

func shapeString(shape []int64) string {
	if shape == nil {
		return "[?]"
	}
	return fmt.Sprint(shape)
}

// Input returns the Go slice backing the named input ([]float32, []int64,
// ...; []uint16 for half types), or nil for an unknown name. Write it in
// place between Runs; do not replace it.
func (b *Binding) Input(name string) any {
	i, ok := b.s.inIdx[name]
	if !ok {
		return nil
	}
	return b.inData[i]
}

// Output returns the Go slice the named output is written into, or nil for
// an unknown name. Its contents are overwritten by each Run.
func (b *Binding) Output(name string) any {
	i, ok := b.s.outIdx[name]
	if !ok {
		return nil
	}
	return b.outData[i]
}

// OutputTensor returns the named output as a Tensor sharing the Binding's
// buffer, and false for an unknown name.
func (b *Binding) OutputTensor(name string) (Tensor, bool) {
	i, ok := b.s.outIdx[name]
	if !ok {
		return Tensor{}, false
	}
	return Tensor{Shape: slices.Clone(b.outShape[i]), DType: b.s.outputs[i].DType, Data: b.outData[i]}, true
}

// Run runs the session on the bound buffers. Cancelling ctx stops ONNX
// Runtime at the next node boundary (RunOptions.Terminate) and Run returns
// an error wrapping ctx.Err(); output contents are then unspecified.
func (b *Binding) Run(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return fmt.Errorf("ort: binding run %s: %w", b.s.name, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ort: binding run %s: %w", b.s.name, err)
	}
	b.s.mu.RLock()
	defer b.s.mu.RUnlock()
	if b.s.closed {
		return fmt.Errorf("ort: binding run %s: %w", b.s.name, ErrClosed)
	}
	for _, i := range b.scalarIn {
		v, err := newValue(nil, b.s.inputs[i].DType, b.inData[i])
		if err != nil {
			return fmt.Errorf("ort: binding run %s: input %q: %w", b.s.name, b.s.inputs[i].Name, err)
		}
		b.inVals[i].Destroy()
		b.inVals[i] = v
	}
	run := func(ro *onnx.RunOptions) error { return b.s.sess.RunWithOptions(b.inVals, b.outVals, ro) }
	var err error
	if ctx.Done() == nil {
		err = run(nil)
	} else {
		err = runCancellable(ctx, b.ro, run)
	}
	if err != nil {
		return fmt.Errorf("ort: binding run %s: %w", b.s.name, err)
	}
	for i, v := range b.outVals {
		readScalar(v, b.outData[i])
	}
	return nil
}

// Close releases the Binding's native tensors. The Go slices returned by
// Input and Output stay valid as ordinary Go memory. Idempotent.
func (b *Binding) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.release()
	b.mu.Unlock()
	b.s.bmu.Lock()
	delete(b.s.bindings, b)
	b.s.bmu.Unlock()
	return nil
}

// release destroys every native value held by b.
func (b *Binding) release() {
	for i, v := range b.inVals {
		destroyValue(v)
		b.inVals[i] = nil
	}
	for i, v := range b.outVals {
		destroyValue(v)
		b.outVals[i] = nil
	}
	if b.ro != nil {
		b.ro.Destroy()
		b.ro = nil
	}
}
