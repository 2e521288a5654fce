package model

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"slices"
	"strconv"
	"sync"

	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
)

// Several devices on one node (data parallelism): Replicas holds one
// device-resident Policy per device over one host parameter store, each
// with its own sessions, device memory (weights, KV cache, gradients,
// optimizer state) and transfer ledger. Work is dealt to the replicas and
// each replica's share runs in its own goroutine: rollouts by prompt
// (rollout.Sharded over one Engine per replica), training by micro-batch
// (ParallelAdamW: gradients summed across replicas by an AllReducer, the
// same AdamW update applied on every replica). See docs/multi-device.md.
//
// Memory plan per device: every replica holds the whole model (weights,
// gradients and AdamW moments of the trainable parameters), the KV cache
// of its share of a step's prompts (about ceil(batch_prompts/devices) x
// group_size rows, or chunk_prompts x group_size when the rollout is
// chunked) and the activations of one micro-batch. PlanMemory of one
// device is therefore the single-device plan with the batch cut to that
// share; the host additionally holds one float32 copy of the trainable
// parameters' gradients per replica during the host all-reduce.

// ErrReplicaMismatch is wrapped by Replicas.SyncHost (and ParallelAdamW.Step)
// when a replica's weights (or gradient norm) differ from replica 0's.
var ErrReplicaMismatch = errors.New("replicas differ")

// DeviceError is the error of one replica's device: the step it failed
// fails with it, naming the device.
type DeviceError struct {
	Replica int    // index in the replica set
	Device  string // e.g. "cuda:3" or "cpu#1"
	Err     error
}

func (e *DeviceError) Error() string {
	return fmt.Sprintf("device %d (%s): %v", e.Replica, e.Device, e.Err)
}

// Unwrap returns the device's error.
func (e *DeviceError) Unwrap() error { return e.Err }

// Replicas is one device-resident Policy per device, all over one host
// parameter store (read at load and by UploadWeights, written by SyncHost
// from replica 0 after the replicas are checked equal). Each replica is
// driven by at most one goroutine at a time (ForEach, ParallelAdamW,
// rollout.Sharded); the set itself is not safe for concurrent use.
type Replicas struct {
	store *params.Store
	devs  []ort.Device
	names []string
	pols  []*Policy
}

// ReplicaDevices maps a device list onto devices: for provider "cuda" the
// CUDA ordinals, for "cpu" one CPU device per entry (ONNX Runtime's CPU
// memory has only device 0, so the entries only name replicas: each is a
// separate set of sessions and memory).
func ReplicaDevices(provider string, ids []int) ([]ort.Device, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("replicas: no devices")
	}
	out := make([]ort.Device, len(ids))
	for i, id := range ids {
		if id < 0 {
			return nil, fmt.Errorf("replicas: device %d: negative id %d", i, id)
		}
		switch provider {
		case ort.ProviderCPU:
			out[i] = ort.CPUDevice()
		case ort.ProviderCUDA:
			out[i] = ort.CUDADevice(id)
		default:
			return nil, fmt.Errorf("replicas: unknown provider %q (want %s or %s)", provider, ort.ProviderCPU, ort.ProviderCUDA)
		}
	}
	return out, nil
}

// NewReplicas opens one device-resident Policy per device over store, with
// opt's graphs and session options (opt.Device is ignored: each replica
// gets its own). On CPU with several replicas, sessions left at ONNX
// Runtime's default thread count (IntraOpThreads 0) get one intra-op
// thread each, so that the replicas share the cores instead of each
// spreading over all of them. A CUDA device may appear once only.
func NewReplicas(rt *ort.Runtime, c Config, store *params.Store, opt PolicyOptions, devices []ort.Device) (*Replicas, error) {
	if len(devices) == 0 {
		return nil, fmt.Errorf("replicas: no devices")
	}
	r := &Replicas{store: store}
	seen := map[ort.Device]bool{}
	names := make([]string, len(devices))
	for i, dev := range devices {
		names[i] = dev.String()
		if dev.Provider == ort.ProviderCPU {
			names[i] += "#" + strconv.Itoa(i)
		} else if seen[dev] {
			return nil, fmt.Errorf("replicas: device %s is listed twice", dev)
		}
		seen[dev] = true
	}
	for i, dev := range devices {
		name := names[i]
		o := opt
		o.Device = &devices[i]
		o.GraphSession = maps.Clone(opt.GraphSession) // NewPolicy writes the device into it
		if dev.Provider == ort.ProviderCPU && len(devices) > 1 {
			o.Session = oneThread(o.Session)
			for g, so := range o.GraphSession {
				o.GraphSession[g] = oneThread(so)
			}
		}
		p, err := NewPolicy(rt, c, store, o)
		if err != nil {
			r.Close()
			return nil, &DeviceError{Replica: i, Device: name, Err: err}
		}
		r.devs = append(r.devs, dev)
		r.names = append(r.names, name)
		r.pols = append(r.pols, p)
	}
	return r, nil
}

// oneThread sets ONNX Runtime's default intra-op thread count to one.
func oneThread(so ort.Options) ort.Options {
	if so.IntraOpThreads == 0 {
		so.IntraOpThreads = 1
	}
	return so
}

// Len is the number of replicas.
func (r *Replicas) Len() int { return len(r.pols) }

// Policy is replica i's policy.
func (r *Replicas) Policy(i int) *Policy { return r.pols[i] }

// Device is replica i's device.
func (r *Replicas) Device(i int) ort.Device { return r.devs[i] }

// Name is replica i's device as errors and metrics name it: "cuda:N", or
// "cpu#i" for the i-th CPU replica.
func (r *Replicas) Name(i int) string { return r.names[i] }

// Names lists every replica's Name.
func (r *Replicas) Names() []string { return slices.Clone(r.names) }

// Store is the host parameter store the replicas load from and SyncHost
// writes.
func (r *Replicas) Store() *params.Store { return r.store }

// Close closes every replica's policy; it is idempotent.
func (r *Replicas) Close() error {
	var errs []error
	for _, p := range r.pols {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}

// Transfers is the sum of every replica's ledger (host<->device bytes by
// kind), for metrics.jsonl's h2d_bytes and d2h_bytes.
func (r *Replicas) Transfers() ort.Transfers {
	var t ort.Transfers
	for _, p := range r.pols {
		s := p.Ledger().Snapshot()
		for k := range ort.NumKinds {
			t.H2D[k] += s.H2D[k]
			t.D2H[k] += s.D2H[k]
		}
		t.Copies += s.Copies
	}
	return t
}

// Deal splits items 0..n-1 into Len() contiguous runs of sizes that differ
// by at most one (the first replicas get the larger ones; with fewer items
// than replicas the last replicas get none). Contiguous runs keep a sum
// over the items, taken per replica and then across replicas in replica
// order, in the order of one device's sum.
func (r *Replicas) Deal(n int) [][]int { return dealContiguous(n, r.Len()) }

func dealContiguous(n, d int) [][]int {
	out := make([][]int, d)
	lo := 0
	for i := range d {
		size := n / d
		if i < n%d {
			size++
		}
		for k := lo; k < lo+size; k++ {
			out[i] = append(out[i], k)
		}
		lo += size
	}
	return out
}

// ForEach deals items 0..n-1 to the replicas (Deal) and runs fn once per
// replica that got any, each in its own goroutine, with that replica's
// index, policy and items. The first failure cancels the others' context
// and is returned as a *DeviceError naming the device (a failure caused
// by that cancellation is not reported over it).
func (r *Replicas) ForEach(ctx context.Context, n int, fn func(ctx context.Context, replica int, p *Policy, items []int) error) error {
	deal := r.Deal(n)
	return r.parallel(ctx, func(ctx context.Context, i int) error {
		if len(deal[i]) == 0 {
			return nil
		}
		return fn(ctx, i, r.pols[i], deal[i])
	})
}

// parallel runs fn for every replica in its own goroutine; see ForEach.
func (r *Replicas) parallel(ctx context.Context, fn func(ctx context.Context, i int) error) error {
	if len(r.pols) == 1 {
		if err := fn(ctx, 0); err != nil {
			return r.deviceErr(0, err)
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	for i := range r.pols {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := fn(ctx, i)
			if err == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			// The root cause wins over the failures it cancelled.
			if first == nil || (isCancel(first) && !isCancel(err)) {
				first = r.deviceErr(i, err)
			}
			cancel()
		}()
	}
	wg.Wait()
	return first
}

func isCancel(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func (r *Replicas) deviceErr(i int, err error) error {
	var de *DeviceError
	if errors.As(err, &de) {
		return err
	}
	return &DeviceError{Replica: i, Device: r.names[i], Err: err}
}

// UploadWeights copies the host store into every replica (after a
// checkpoint was restored into it with LoadInto).
func (r *Replicas) UploadWeights() error {
	return r.parallel(context.Background(), func(_ context.Context, i int) error { return r.pols[i].UploadWeights() })
}

// Checksums reads every replica's trainable parameters back from its
// device (counted as weights) and returns one FNV-1a hash per replica over
// their names and float32 bits, in the store's order. Frozen parameters (a LoRA
// base) are left out: nothing writes them on the device.
func (r *Replicas) Checksums() ([]uint64, error) {
	sums := make([]uint64, len(r.pols))
	err := r.parallel(context.Background(), func(_ context.Context, i int) error {
		var err error
		sums[i], err = r.pols[i].weightChecksum()
		return err
	})
	return sums, err
}

// SyncHost checks that every replica holds the same trainable weights
// (Checksums) and copies replica 0's changes into the host store, for a
// checkpoint or an export. A replica that differs from replica 0 gives an
// error wrapping ErrReplicaMismatch that names its device, and the host
// store is left as it was.
func (r *Replicas) SyncHost() error {
	if len(r.pols) > 1 {
		sums, err := r.Checksums()
		if err != nil {
			return fmt.Errorf("replicas: checksum: %w", err)
		}
		for i := 1; i < len(sums); i++ {
			if sums[i] != sums[0] {
				return &DeviceError{Replica: i, Device: r.names[i], Err: fmt.Errorf("%w: trainable weights hash to %016x, device %d (%s) to %016x",
					ErrReplicaMismatch, sums[i], 0, r.names[0], sums[0])}
			}
		}
	}
	if err := r.pols[0].SyncHost(); err != nil {
		return r.deviceErr(0, err)
	}
	// The others hold the same values: nothing of theirs is left to sync.
	for _, p := range r.pols[1:] {
		clear(p.res.dirty)
	}
	return nil
}

// weightChecksum hashes the device copy of the policy's trainable
// parameters (see Replicas.Checksums).
func (p *Policy) weightChecksum() (uint64, error) {
	if p.res == nil {
		return 0, fmt.Errorf("replicas: the policy is not device-resident")
	}
	trainable, err := p.Config.TrainableStore(p.Store)
	if err != nil {
		return 0, err
	}
	h := fnv.New64a()
	var buf []byte
	for _, name := range trainable.Names() {
		prm, _ := p.Store.Get(name)
		v, ok := p.res.weights[prm]
		if !ok {
			return 0, fmt.Errorf("replicas: parameter %s is not on the device", name)
		}
		t, err := p.res.mem.Download(ort.KindWeights, v)
		if err != nil {
			return 0, fmt.Errorf("replicas: read %s: %w", name, err)
		}
		f, err := toFloat32(t)
		if err != nil {
			return 0, fmt.Errorf("replicas: read %s: %w", name, err)
		}
		buf = append(buf[:0], name...)
		buf = append(buf, 0)
		for _, x := range f {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		}
		h.Write(buf)
	}
	return h.Sum64(), nil
}
