package ort

// ProviderStatus says whether an execution provider can be enabled with the
// loaded ONNX Runtime library on this machine.
type ProviderStatus struct {
	// Name is the provider as Options.Provider spells it ("cpu", "cuda").
	Name string
	// Available is true when the provider could be enabled.
	Available bool
	// Detail says what was checked, or why the provider is unavailable
	// (for CUDA, ONNX Runtime's own message naming the library that failed
	// to load).
	Detail string
}
