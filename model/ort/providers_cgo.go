//go:build cgo

package ort

import "fmt"

// ProbeProviders reports which execution providers this library and machine
// can enable. CPU is always available. CUDA is probed by appending the CUDA
// execution provider for deviceID to fresh session options, which makes ONNX
// Runtime load libonnxruntime_providers_cuda.so (from the directory of the
// core library) and the CUDA, cuBLAS and cuDNN libraries it links; a CPU-only
// build, a missing provider library or a missing CUDA library makes CUDA
// unavailable with ONNX Runtime's message as the detail. The device ordinal
// itself is only checked when a session is created.
func (r *Runtime) ProbeProviders(deviceID int) ([]ProviderStatus, error) {
	if deviceID < 0 {
		return nil, fmt.Errorf("ort: probe providers: negative device id %d", deviceID)
	}
	r.life.RLock()
	defer r.life.RUnlock()
	if r.closed {
		return nil, fmt.Errorf("ort: probe providers: %w", ErrClosed)
	}
	out := []ProviderStatus{{Name: ProviderCPU, Available: true, Detail: "built into ONNX Runtime " + r.version}}
	cuda := ProviderStatus{Name: ProviderCUDA}
	so, err := sessionOptions(Options{Provider: ProviderCUDA, DeviceID: deviceID})
	if err != nil {
		cuda.Detail = err.Error()
	} else {
		so.Destroy()
		cuda.Available = true
		cuda.Detail = fmt.Sprintf("CUDA execution provider loaded (device %d is checked when a session is created)", deviceID)
	}
	return append(out, cuda), nil
}
