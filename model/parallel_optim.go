package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/videossr/videossr-go/model/optim"
	"github.com/videossr/videossr-go/model/ort"
)

// GradientSet is one replica's accumulated gradients as an all-reduce sees
// them (DeviceAdamW implements it): one float32 vector per trainable
// parameter, read and written one parameter at a time so that a host
// reduction holds only one parameter's vectors at once.
type GradientSet interface {
	// GradientSizes lists the parameters and their element counts, in a
	// fixed order (the same on every replica).
	GradientSizes() ([]string, []int64)
	// ReadGradient copies one parameter's accumulated gradient into dst.
	ReadGradient(name string, dst []float32) error
	// WriteGradient replaces one parameter's accumulated gradient.
	WriteGradient(name string, src []float32) error
}

var _ GradientSet = (*DeviceAdamW)(nil)

// AllReducer sums the gradients of several replicas so that afterwards
// every replica holds the sum of all of them. The sets come in replica
// order and all take part (a replica without micro-batches holds zeros).
// HostAllReduce is the implementation today; a device collective (NCCL's
// ncclAllReduce over the accumulators, one call per device in a group)
// can replace it without changing ParallelAdamW or the training loop.
type AllReducer interface {
	AllReduce(ctx context.Context, sets []GradientSet) error
}

// HostAllReduce is the all-reduce through host memory, one parameter at a
// time: every replica's gradient of the parameter is copied out (the
// replicas in parallel), the copies are summed in float32 in replica
// order (a left fold: ((g0 + g1) + g2) + ...), and the sum is copied into
// every replica. Each copy goes through the replica's ledger as gradient
// bytes: 2 x the trainable parameters' float32 bytes per replica per step.
// The host holds one vector per replica of the largest parameter.
type HostAllReduce struct{}

var _ AllReducer = HostAllReduce{}

// AllReduce implements AllReducer.
func (HostAllReduce) AllReduce(ctx context.Context, sets []GradientSet) error {
	if len(sets) < 2 {
		return nil
	}
	names, sizes := sets[0].GradientSizes()
	for i, s := range sets[1:] {
		n2, s2 := s.GradientSizes()
		if !slices.Equal(names, n2) || !slices.Equal(sizes, s2) {
			return fmt.Errorf("all-reduce: replica %d has other parameters than replica 0 (%d and %d gradients)", i+1, len(n2), len(names))
		}
	}
	bufs := make([][]float32, len(sets))
	for k, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		for i := range bufs {
			bufs[i] = slices.Grow(bufs[i][:0], int(sizes[k]))[:sizes[k]]
		}
		if err := eachSet(len(sets), func(i int) error { return sets[i].ReadGradient(name, bufs[i]) }); err != nil {
			return err
		}
		sum := bufs[0]
		for _, part := range bufs[1:] {
			for j, x := range part {
				sum[j] += x
			}
		}
		if err := eachSet(len(sets), func(i int) error { return sets[i].WriteGradient(name, sum) }); err != nil {
			return err
		}
	}
	return nil
}

// eachSet runs fn(0..n-1) in parallel and returns the errors (as
// "replica i: ...").
func eachSet(n int, fn func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(i); err != nil {
				errs[i] = fmt.Errorf("all-reduce: replica %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// GradientSizes implements GradientSet: the trainable parameters in the
// optimizer's order.
func (o *DeviceAdamW) GradientSizes() ([]string, []int64) {
	names := make([]string, len(o.params))
	sizes := make([]int64, len(o.params))
	for i, dp := range o.params {
		names[i], sizes[i] = dp.graphParam.Name, dp.graphParam.Size
	}
	return names, sizes
}

// gradParam returns the trainable parameter name and checks n values fit.
func (o *DeviceAdamW) gradParam(name string, n int) (*devParam, error) {
	i, ok := o.byName[name]
	if !ok {
		return nil, fmt.Errorf("device optimizer: no trainable parameter %s", name)
	}
	dp := &o.params[i]
	if int64(n) != dp.graphParam.Size {
		return nil, fmt.Errorf("device optimizer: gradient of %s has %d values, want %d", name, n, dp.graphParam.Size)
	}
	return dp, nil
}

// ReadGradient implements GradientSet: one accumulator copied out
// (counted as gradients).
func (o *DeviceAdamW) ReadGradient(name string, dst []float32) error {
	dp, err := o.gradParam(name, len(dst))
	if err != nil {
		return err
	}
	return o.res.mem.CopyOut(ort.KindGradients, ort.Tensor{Shape: []int64{int64(len(dst))}, Data: dst}, dp.acc)
}

// WriteGradient implements GradientSet: one accumulator replaced (counted
// as gradients); the next Step applies it.
func (o *DeviceAdamW) WriteGradient(name string, src []float32) error {
	dp, err := o.gradParam(name, len(src))
	if err != nil {
		return err
	}
	if err := o.res.mem.CopyIn(ort.KindGradients, dp.acc, ort.Tensor{Shape: []int64{int64(len(src))}, Data: src}); err != nil {
		return err
	}
	o.reset = false
	o.pending = max(o.pending, 1)
	return nil
}

// Micro is one micro-batch of ParallelAdamW.Micros: a training graph's
// batch and the weight of its gradients in the sum (e.g. 1/#micro-batches
// of the mini-batch).
type Micro struct {
	Seq    *SeqBatch
	Vision *VisionBatch
	Inputs StepInputs
	Weight float64
}

// ParallelAdamW trains Replicas as one model: Micros deals a mini-batch's
// micro-batches to the replicas (contiguous runs, Replicas.Deal), each
// replica's DeviceAdamW accumulates its share on its device in its own
// goroutine; Step sums the accumulators across replicas (the AllReducer)
// and applies the same AdamW update on every replica, checking that all
// replicas computed the same gradient norm. With one replica it is
// DeviceAdamW with no extra copy.
//
// The summation order is fixed: each replica sums its micro-batches in
// order, then the all-reduce adds the replicas' sums in replica order, so
// with the contiguous deal the sum is the one-device sum regrouped
// (identical when each replica has at most one micro-batch after the
// first).
//
// A failure on one device fails the call with a *DeviceError naming it.
// Micros failing changes no weight (the accumulators are discarded); a
// failure inside Step may leave the replicas out of step, and every later
// call fails until Load restores a checkpoint (after
// Replicas.UploadWeights). It is not safe for concurrent use.
type ParallelAdamW struct {
	r      *Replicas
	opts   []*DeviceAdamW
	reduce AllReducer
	// used marks the replicas that accumulated micro-batches since the
	// last Step or Discard; reduced is set once the all-reduce ran.
	used    []bool
	pending int
	reduced bool
	broken  error
}

// NewParallelAdamW makes one DeviceAdamW per replica (fresh moments, cfg)
// and sums gradients with reduce (nil: HostAllReduce).
func NewParallelAdamW(r *Replicas, cfg optim.Config, reduce AllReducer) (*ParallelAdamW, error) {
	if reduce == nil {
		reduce = HostAllReduce{}
	}
	o := &ParallelAdamW{r: r, reduce: reduce, used: make([]bool, r.Len())}
	for i := range r.Len() {
		d, err := NewDeviceAdamW(r.Policy(i), cfg)
		if err != nil {
			o.Close()
			return nil, r.deviceErr(i, err)
		}
		o.opts = append(o.opts, d)
	}
	return o, nil
}

// Close releases every replica's optimizer state. Idempotent.
func (o *ParallelAdamW) Close() error {
	var errs []error
	for _, d := range o.opts {
		errs = append(errs, d.Close())
	}
	return errors.Join(errs...)
}

// Replica is replica i's device optimizer.
func (o *ParallelAdamW) Replica(i int) *DeviceAdamW { return o.opts[i] }

// Micros runs a training graph (GraphGRPO or GraphSFT) over micro-batches
// dealt to the replicas, adding each one's gradients × its Weight into its
// replica's accumulators, and returns the results in the order of mbs
// (StepResult.Grads nil). It may be called several times before Step, but
// not after Gradients has reduced the sums.
func (o *ParallelAdamW) Micros(ctx context.Context, graph string, mbs []Micro) ([]*StepResult, error) {
	if o.broken != nil {
		return nil, o.broken
	}
	if o.reduced {
		return nil, fmt.Errorf("parallel optimizer: micro-batches after the gradients were reduced (call Step or Discard first)")
	}
	out := make([]*StepResult, len(mbs))
	err := o.r.ForEach(ctx, len(mbs), func(ctx context.Context, i int, _ *Policy, items []int) error {
		for _, k := range items {
			mb := mbs[k]
			res, err := o.opts[i].Micro(ctx, graph, mb.Seq, mb.Vision, mb.Inputs, mb.Weight)
			if err != nil {
				return fmt.Errorf("micro-batch %d: %w", k, err)
			}
			out[k] = res
		}
		o.used[i] = true
		return nil
	})
	if err != nil {
		o.Discard()
		return nil, err
	}
	o.pending += len(mbs)
	return out, nil
}

// Discard forgets the accumulated gradients of every replica.
func (o *ParallelAdamW) Discard() {
	for i, d := range o.opts {
		d.Discard()
		o.used[i] = false
	}
	o.pending, o.reduced = 0, false
}

// allReduce makes every replica hold the sum of all replicas' gradients
// (once per step): replicas that had no micro-batch are zeroed first.
func (o *ParallelAdamW) allReduce(ctx context.Context) error {
	if o.reduced || len(o.opts) == 1 {
		o.reduced = true
		return nil
	}
	sets := make([]GradientSet, len(o.opts))
	for i, d := range o.opts {
		sets[i] = d
		if !o.used[i] {
			if err := d.zeroGradients(); err != nil {
				return o.r.deviceErr(i, err)
			}
		}
	}
	if err := o.reduce.AllReduce(ctx, sets); err != nil {
		return fmt.Errorf("parallel optimizer: %w", err)
	}
	o.reduced = true
	return nil
}

// zeroGradients sets every accumulator to zero (a replica that had no
// micro-batch takes part in the all-reduce with zeros).
func (o *DeviceAdamW) zeroGradients() error {
	var zeros []float32
	for _, dp := range o.params {
		zeros = slices.Grow(zeros[:0], int(dp.graphParam.Size))[:dp.graphParam.Size]
		clear(zeros)
		if err := o.WriteGradient(dp.graphParam.Name, zeros); err != nil {
			return err
		}
	}
	return nil
}

// Gradients reduces the accumulated gradients across replicas (the
// all-reduce Step would run; Step then does not repeat it) and returns the
// sum, read from replica 0 (counted as gradients), for the test-only
// gradient hook.
func (o *ParallelAdamW) Gradients(ctx context.Context) (map[string][]float32, error) {
	if o.broken != nil {
		return nil, o.broken
	}
	if o.pending == 0 {
		return nil, fmt.Errorf("parallel optimizer: no accumulated gradients")
	}
	if err := o.allReduce(ctx); err != nil {
		return nil, err
	}
	return o.opts[0].Gradients()
}

// Step sums the gradients across replicas and applies one AdamW update on
// every replica, as DeviceAdamW.Step does on one: on optim.ErrNonFinite
// (every replica sees the same non-finite norm) only the schedule moves.
// Replicas whose gradient norm or outcome differ from replica 0's fail the
// step with ErrReplicaMismatch, naming the device.
func (o *ParallelAdamW) Step(ctx context.Context) (optim.StepStats, error) {
	if o.broken != nil {
		return optim.StepStats{}, o.broken
	}
	if o.pending == 0 {
		return optim.StepStats{}, fmt.Errorf("parallel optimizer: step without accumulated gradients")
	}
	if err := o.allReduce(ctx); err != nil {
		o.Discard()
		return optim.StepStats{}, err
	}
	stats := make([]optim.StepStats, len(o.opts))
	errs := make([]error, len(o.opts))
	// The update runs to its end on every replica, whatever happens to
	// ctx or to another replica (stopping some would leave the replicas
	// out of step).
	uctx := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	for i, d := range o.opts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stats[i], errs[i] = d.Step(uctx)
		}()
	}
	wg.Wait()
	o.pending, o.reduced = 0, false
	for i := range o.used {
		o.used[i] = false
	}
	var err error
	for i, e := range errs {
		if e != nil && !errors.Is(e, optim.ErrNonFinite) {
			err = o.r.deviceErr(i, e)
			break
		}
	}
	if err != nil {
		o.broken = fmt.Errorf("parallel optimizer: the replicas are out of step since a failed update (%w); restore a checkpoint (Replicas.UploadWeights, then Load)", err)
		return optim.StepStats{}, err
	}
	for i := 1; i < len(o.opts); i++ {
		a, b := stats[0], stats[i]
		same := errors.Is(errs[i], optim.ErrNonFinite) == errors.Is(errs[0], optim.ErrNonFinite) &&
			(a.GradNorm == b.GradNorm || math.IsNaN(a.GradNorm) && math.IsNaN(b.GradNorm)) && a.Step == b.Step && a.LR == b.LR
		if !same {
			err := o.r.deviceErr(i, fmt.Errorf("%w: gradient norm %v (step %d), device 0 (%s) %v (step %d)", ErrReplicaMismatch, b.GradNorm, b.Step, o.r.Name(0), a.GradNorm, a.Step))
			o.broken = fmt.Errorf("parallel optimizer: the replicas are out of step (%w); restore a checkpoint (Replicas.UploadWeights, then Load)", err)
			return optim.StepStats{}, err
		}
	}
	return stats[0], errs[0]
}

// Save writes the optimizer state (replica 0's moments; every replica
// holds the same) in optim.AdamW's format. Call Replicas.SyncHost first:
// it checks the replicas' weights equal and saves them into the store.
func (o *ParallelAdamW) Save(path string) error {
	if err := o.opts[0].Save(path); err != nil {
		return o.r.deviceErr(0, err)
	}
	return nil
}

// Load restores a state written by Save into every replica and clears a
// failed update's mark; restore the weights with Replicas.UploadWeights.
func (o *ParallelAdamW) Load(path string) error {
	err := o.r.parallel(context.Background(), func(_ context.Context, i int) error { return o.opts[i].Load(path) })
	if err != nil {
		return err
	}
	o.Discard()
	o.broken = nil
	return nil
}

// Config returns the optimizer configuration.
func (o *ParallelAdamW) Config() optim.Config { return o.opts[0].Config() }

// StepCount returns the number of updates applied.
func (o *ParallelAdamW) StepCount() int { return o.opts[0].StepCount() }

// ScheduleStep returns the schedule position (skipped steps included).
func (o *ParallelAdamW) ScheduleStep() int { return o.opts[0].ScheduleStep() }

// NextLR returns the learning rate of the next Step.
func (o *ParallelAdamW) NextLR() float64 { return o.opts[0].NextLR() }

// Trainable returns the names of the optimized parameters.
func (o *ParallelAdamW) Trainable() []string { return o.opts[0].Trainable() }
