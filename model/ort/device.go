package ort

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Device names the memory that ONNX Runtime-owned values live in: the
// host ("cpu", memory ONNX Runtime allocates apart from Go's) or a CUDA
// device by ordinal. The same code path serves both, so everything the
// device path does is exercised on CPU.
type Device struct {
	// Provider is ProviderCPU or ProviderCUDA.
	Provider string
	// ID is the CUDA device ordinal (0 on CPU).
	ID int
}

// CPUDevice is ONNX Runtime-allocated host memory.
func CPUDevice() Device { return Device{Provider: ProviderCPU} }

// CUDADevice is the memory of CUDA device id.
func CUDADevice(id int) Device { return Device{Provider: ProviderCUDA, ID: id} }

// String is "cpu" or "cuda:N".
func (d Device) String() string {
	if d.Provider == ProviderCUDA {
		return "cuda:" + strconv.Itoa(d.ID)
	}
	return ProviderCPU
}

// ParseDevice reads "cpu", "cuda" (device 0) or "cuda:N".
func ParseDevice(s string) (Device, error) {
	switch {
	case s == ProviderCPU:
		return CPUDevice(), nil
	case s == ProviderCUDA:
		return CUDADevice(0), nil
	case strings.HasPrefix(s, ProviderCUDA+":"):
		id, err := strconv.Atoi(strings.TrimPrefix(s, ProviderCUDA+":"))
		if err != nil || id < 0 {
			return Device{}, fmt.Errorf("ort: device %q: want cuda:N with N >= 0", s)
		}
		return CUDADevice(id), nil
	}
	return Device{}, fmt.Errorf("ort: unknown device %q (want cpu, cuda or cuda:N)", s)
}

// memInfoName is the ONNX Runtime allocator name of the device.
func (d Device) memInfoName() string {
	if d.Provider == ProviderCUDA {
		return "Cuda"
	}
	return "Cpu"
}

// validate checks the provider and id.
func (d Device) validate() error {
	switch d.Provider {
	case ProviderCPU:
		if d.ID != 0 {
			return fmt.Errorf("ort: cpu device with id %d (only 0)", d.ID)
		}
	case ProviderCUDA:
		if d.ID < 0 {
			return fmt.Errorf("ort: negative cuda device id %d", d.ID)
		}
	default:
		return fmt.Errorf("ort: unknown device provider %q (want %q or %q)", d.Provider, ProviderCPU, ProviderCUDA)
	}
	return nil
}

// Kind says what a host<->device copy carries; the Ledger counts bytes per
// kind and direction.
type Kind int

// Kinds of transferred data.
const (
	// KindWeights: model parameters (at load, checkpoint and export only).
	KindWeights Kind = iota
	// KindCache: the decoder's KV cache and its bookkeeping.
	KindCache
	// KindActivations: the per-batch inputs of a graph (token ids,
	// positions, masks, patches, advantages) and hidden states.
	KindActivations
	// KindLogits: next-token logits for sampling.
	KindLogits
	// KindGradients: gradients.
	KindGradients
	// KindOptimizer: optimizer moments and per-step coefficients.
	KindOptimizer
	// KindMetrics: losses, norms and other per-step scalars and log-probs.
	KindMetrics
	// NumKinds is the number of kinds.
	NumKinds
)

var kindNames = [NumKinds]string{"weights", "cache", "activations", "logits", "gradients", "optimizer", "metrics"}

// String is the kind's lower-case name.
func (k Kind) String() string {
	if k >= 0 && k < NumKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Transfers are byte counts of host->device (H2D) and device->host (D2H)
// copies per kind, and the number of copies.
type Transfers struct {
	H2D, D2H [NumKinds]int64
	Copies   int64
}

// Sub returns t - o (the traffic between two snapshots).
func (t Transfers) Sub(o Transfers) Transfers {
	for k := range NumKinds {
		t.H2D[k] -= o.H2D[k]
		t.D2H[k] -= o.D2H[k]
	}
	t.Copies -= o.Copies
	return t
}

// H2DBytes is the total host->device bytes.
func (t Transfers) H2DBytes() int64 { return sum(t.H2D[:]) }

// D2HBytes is the total device->host bytes.
func (t Transfers) D2HBytes() int64 { return sum(t.D2H[:]) }

// Bytes is the bytes of kind k in both directions.
func (t Transfers) Bytes(k Kind) int64 { return t.H2D[k] + t.D2H[k] }

func sum(xs []int64) int64 {
	var s int64
	for _, x := range xs {
		s += x
	}
	return s
}

// String lists the non-zero counts, e.g. "h2d weights=1024 d2h logits=64".
func (t Transfers) String() string {
	var parts []string
	for k := range NumKinds {
		if t.H2D[k] != 0 {
			parts = append(parts, fmt.Sprintf("h2d %s=%d", k, t.H2D[k]))
		}
	}
	for k := range NumKinds {
		if t.D2H[k] != 0 {
			parts = append(parts, fmt.Sprintf("d2h %s=%d", k, t.D2H[k]))
		}
	}
	if len(parts) == 0 {
		return "no transfers"
	}
	return strings.Join(parts, " ")
}

// Ledger counts every host<->device copy of a device memory (Mem.CopyIn,
// Mem.CopyOut and what is built on them are the only ways data crosses),
// and the device bytes held per kind. It is safe for concurrent use.
type Ledger struct {
	mu       sync.Mutex
	t        Transfers
	resident [NumKinds]int64
	peak     int64
}

// Snapshot returns the transfers so far.
func (l *Ledger) Snapshot() Transfers {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.t
}

// Resident returns the device bytes held now per kind, their total and
// the peak total so far.
func (l *Ledger) Resident() (perKind [NumKinds]int64, total, peak int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.resident, sum(l.resident[:]), l.peak
}

// record counts one copy.
func (l *Ledger) record(toDevice bool, k Kind, bytes int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if toDevice {
		l.t.H2D[k] += bytes
	} else {
		l.t.D2H[k] += bytes
	}
	l.t.Copies++
}

// hold adds (or with negative bytes releases) device memory of kind k.
func (l *Ledger) hold(k Kind, bytes int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.resident[k] += bytes
	if t := sum(l.resident[:]); t > l.peak {
		l.peak = t
	}
}

func (k Kind) valid() error {
	if k < 0 || k >= NumKinds {
		return fmt.Errorf("ort: unknown transfer kind %d", int(k))
	}
	return nil
}
