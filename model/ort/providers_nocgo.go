//go:build !cgo

package ort

// ProbeProviders fails with ErrNoCgo: without cgo no provider can run.
func (r *Runtime) ProbeProviders(deviceID int) ([]ProviderStatus, error) { return nil, ErrNoCgo }
