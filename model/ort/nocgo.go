//go:build !cgo

package ort

import (
	"context"
	"fmt"
)

// Runtime is an open handle on the ONNX Runtime library. This build has no
// cgo, so Open always fails with ErrNoCgo.
type Runtime struct{}

// Open fails with an error wrapping ErrNoCgo: the binary was built with
// CGO_ENABLED=0. A missing library still reports ErrNoLibrary first.
func Open(libPath string) (*Runtime, error) {
	path, err := LibraryPath(libPath)
	if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("ort: open %s: %w (rebuild with CGO_ENABLED=1)", path, ErrNoCgo)
}

// Close does nothing.
func (r *Runtime) Close() error { return nil }

// Version returns "".
func (r *Runtime) Version() string { return "" }

// LibraryPath returns "".
func (r *Runtime) LibraryPath() string { return "" }

// NewSession fails with ErrNoCgo.
func (r *Runtime) NewSession(model []byte, opt Options) (*Session, error) { return nil, ErrNoCgo }

// NewSessionFromFile fails with ErrNoCgo.
func (r *Runtime) NewSessionFromFile(path string, opt Options) (*Session, error) {
	return nil, ErrNoCgo
}

// Session is a loaded model; it cannot exist without cgo.
type Session struct{}

// Inputs returns nil.
func (s *Session) Inputs() []TensorInfo { return nil }

// Outputs returns nil.
func (s *Session) Outputs() []TensorInfo { return nil }

// Options returns the zero Options.
func (s *Session) Options() Options { return Options{} }

// Run fails with ErrNoCgo.
func (s *Session) Run(ctx context.Context, inputs map[string]Tensor, outputs []string) (map[string]Tensor, error) {
	return nil, ErrNoCgo
}

// Bind fails with ErrNoCgo.
func (s *Session) Bind(inputs map[string]Tensor, outputs map[string][]int64) (*Binding, error) {
	return nil, ErrNoCgo
}

// Close does nothing.
func (s *Session) Close() error { return nil }

// Binding is a preallocated run; it cannot exist without cgo.
type Binding struct{}

// Input returns nil.
func (b *Binding) Input(name string) any { return nil }

// Output returns nil.
func (b *Binding) Output(name string) any { return nil }

// OutputTensor returns false.
func (b *Binding) OutputTensor(name string) (Tensor, bool) { return Tensor{}, false }

// Run fails with ErrNoCgo.
func (b *Binding) Run(ctx context.Context) error { return ErrNoCgo }

// Close does nothing.
func (b *Binding) Close() error { return nil }
