//go:build !cgo

package ort

import "context"

// Mem is the memory of one device; it cannot exist without cgo.
type Mem struct{}

// OpenDevice fails with ErrNoCgo.
func (r *Runtime) OpenDevice(dev Device, opt Options) (*Mem, error) { return nil, ErrNoCgo }

// Device returns the zero Device.
func (m *Mem) Device() Device { return Device{} }

// Ledger returns an empty ledger.
func (m *Mem) Ledger() *Ledger { return &Ledger{} }

// Runtime returns nil.
func (m *Mem) Runtime() *Runtime { return nil }

// Alloc fails with ErrNoCgo.
func (m *Mem) Alloc(k Kind, dt DType, shape []int64) (*Value, error) { return nil, ErrNoCgo }

// Upload fails with ErrNoCgo.
func (m *Mem) Upload(k Kind, t Tensor) (*Value, error) { return nil, ErrNoCgo }

// Download fails with ErrNoCgo.
func (m *Mem) Download(k Kind, v *Value) (Tensor, error) { return Tensor{}, ErrNoCgo }

// CopyIn fails with ErrNoCgo.
func (m *Mem) CopyIn(k Kind, dst *Value, src Tensor) error { return ErrNoCgo }

// CopyOut fails with ErrNoCgo.
func (m *Mem) CopyOut(k Kind, dst Tensor, src *Value) error { return ErrNoCgo }

// Close does nothing.
func (m *Mem) Close() error { return nil }

// Value is a device tensor; it cannot exist without cgo.
type Value struct{}

// DType returns Undefined.
func (v *Value) DType() DType { return Undefined }

// Shape returns nil.
func (v *Value) Shape() []int64 { return nil }

// Bytes returns 0.
func (v *Value) Bytes() int64 { return 0 }

// Kind returns KindWeights.
func (v *Value) Kind() Kind { return KindWeights }

// Mem returns nil.
func (v *Value) Mem() *Mem { return nil }

// Reshape fails with ErrNoCgo.
func (v *Value) Reshape(shape []int64) (*Value, error) { return nil, ErrNoCgo }

// Rows fails with ErrNoCgo.
func (v *Value) Rows(lo, hi int64) (*Value, error) { return nil, ErrNoCgo }

// Close does nothing.
func (v *Value) Close() error { return nil }

// DeviceBinding is I/O binding to device values; it cannot exist without cgo.
type DeviceBinding struct{}

// BindDevice fails with ErrNoCgo.
func (s *Session) BindDevice(m *Mem) (*DeviceBinding, error) { return nil, ErrNoCgo }

// BindInput fails with ErrNoCgo.
func (b *DeviceBinding) BindInput(name string, v *Value) error { return ErrNoCgo }

// BindOutput fails with ErrNoCgo.
func (b *DeviceBinding) BindOutput(name string, v *Value) error { return ErrNoCgo }

// BindOutputToDevice fails with ErrNoCgo.
func (b *DeviceBinding) BindOutputToDevice(name string) error { return ErrNoCgo }

// Bound returns false.
func (b *DeviceBinding) Bound(name string) (*Value, bool) { return nil, false }

// Run fails with ErrNoCgo.
func (b *DeviceBinding) Run(ctx context.Context) error { return ErrNoCgo }

// Runs returns 0.
func (b *DeviceBinding) Runs() int { return 0 }

// TakeOutput fails with ErrNoCgo.
func (b *DeviceBinding) TakeOutput(name string, k Kind) (*Value, error) { return nil, ErrNoCgo }

// TakeOutputs fails with ErrNoCgo.
func (b *DeviceBinding) TakeOutputs(kind func(name string) Kind) (map[string]*Value, error) {
	return nil, ErrNoCgo
}

// Close does nothing.
func (b *DeviceBinding) Close() error { return nil }
