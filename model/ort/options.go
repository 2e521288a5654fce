package ort

import "fmt"

// Execution providers accepted in Options.Provider.
const (
	ProviderCPU  = "cpu"
	ProviderCUDA = "cuda"
)

// Options configure a Session.
type Options struct {
	// Provider is "cpu" (the default when empty) or "cuda". With "cuda" the
	// CUDA execution provider is appended (CPU stays as the fallback for
	// nodes CUDA cannot run); if the library or machine has no CUDA the
	// session fails with an error wrapping ErrProviderUnavailable.
	Provider string
	// DeviceID is the CUDA device ordinal (ignored on CPU).
	DeviceID int
	// IntraOpThreads and InterOpThreads size ONNX Runtime's thread pools;
	// 0 keeps ONNX Runtime's default (one thread per physical core for
	// intra-op).
	IntraOpThreads, InterOpThreads int
	// DisableOptimizations turns off ONNX Runtime graph optimizations
	// (useful to debug numerics or to cut session creation time).
	DisableOptimizations bool
	// ProfilePrefix, when set, makes ONNX Runtime write a JSON trace of
	// every node run (chrome://tracing format) to PREFIX_<date>.json.
	ProfilePrefix string
	// OptimizedModelPath, when set, saves the graph as ONNX Runtime
	// optimised it (to see which fusions applied).
	OptimizedModelPath string
	// ConfigEntries are ONNX Runtime session config entries; they take
	// precedence over the entries the other fields set.
	ConfigEntries map[string]string
	// AllowSpinning lets ONNX Runtime's pool threads busy-wait for work
	// between kernels (its own default). Off (the default here), they
	// sleep: a little wake-up latency per parallel kernel on an idle
	// machine, but no core burnt waiting when other processes need it —
	// measured under contention (2 cores, load 6-7), a 2-thread training
	// step took 0.24-0.44 s spinning and 0.09-0.26 s not (docs/device.md).
	AllowSpinning bool
	// DisableCPUArena turns off ONNX Runtime's CPU memory arena (memory is
	// then allocated and freed per tensor). Device memory (OpenDevice)
	// uses it for long-lived values, which an arena would round up.
	DisableCPUArena bool
	// ProviderOptions are extra CUDA execution provider options (e.g.
	// "arena_extend_strategy": "kSameAsRequested"); ignored on CPU.
	ProviderOptions map[string]string
}

func (o Options) validate() error {
	switch o.Provider {
	case "", ProviderCPU, ProviderCUDA:
	default:
		return fmt.Errorf("ort: unknown provider %q (want %q or %q)", o.Provider, ProviderCPU, ProviderCUDA)
	}
	if o.DeviceID < 0 {
		return fmt.Errorf("ort: negative device id %d", o.DeviceID)
	}
	if o.IntraOpThreads < 0 || o.InterOpThreads < 0 {
		return fmt.Errorf("ort: negative thread count (intra %d, inter %d)", o.IntraOpThreads, o.InterOpThreads)
	}
	return nil
}

// Session config entries of ONNX Runtime's thread pools' busy-waiting.
const (
	EntryIntraOpSpinning = "session.intra_op.allow_spinning"
	EntryInterOpSpinning = "session.inter_op.allow_spinning"
)

// spinEntries are the config entries for Options.AllowSpinning.
func spinEntries(allow bool) map[string]string {
	v := "0"
	if allow {
		v = "1"
	}
	return map[string]string{EntryIntraOpSpinning: v, EntryInterOpSpinning: v}
}
