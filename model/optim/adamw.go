package optim

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"gorgonia.org/tensor"

	"github.com/videossr/videossr-go/model/params"
)

// chunkSize is the number of elements updated per work item: small enough
// that the arrays of one item stay in cache across the dozen element-wise
// passes, large enough to amortise the per-op overhead.
const chunkSize = 1 << 14

// StepStats describes one call to Step.
type StepStats struct {
	// GradNorm is the global L2 norm of the gradients before clipping.
	GradNorm float64
	// LR is the learning rate used (or that would have been used, when skipped).
	LR float64
	// Clipped reports whether the gradients were scaled down.
	Clipped bool
	// Step is the number of updates applied so far, this one included.
	Step int
}

// slot is one trainable parameter with its moment buffers.
type slot struct {
	p     *params.Param
	m, v  *tensor.Dense // first and second moments, shape [len(p.Data)]
	decay bool
}

// job is one chunk [lo, hi) of one slot.
type job struct{ slot, lo, hi int }

// scratch holds one worker's temporary buffers.
type scratch struct{ a, b, g []float32 }

// AdamW is the optimizer. It is not safe for concurrent use.
type AdamW struct {
	cfg     Config
	slots   []slot
	byName  map[string]int
	frozen  map[string]bool
	jobs    []job
	partial []float64 // per-job sums of squares, reused
	step    int       // updates applied (bias correction)
	calls   int       // Step calls including skipped ones (schedule position)
	workers int
	scratch []scratch
}

// New creates an optimizer for every parameter of store not matched by
// cfg.Frozen. Parameters added to the store later are not seen. The
// optimizer updates the parameters' Data slices in place, so every
// trainable parameter must be float32: a half-precision one (a frozen
// weight kept at its stored precision) is an error naming it.
func New(cfg Config, store *params.Store) (*AdamW, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Schedule == "" {
		cfg.Schedule = ScheduleConstant
	}
	o := &AdamW{cfg: cfg, byName: map[string]int{}, frozen: map[string]bool{}}
	for _, p := range store.Params() {
		if matchAny(cfg.Frozen, p.Name) {
			o.frozen[p.Name] = true
			continue
		}
		if p.IsHalf() {
			return nil, fmt.Errorf("optim: parameter %q is held in %s: only float32 parameters can be trained (freeze it, or keep the weights in float32)", p.Name, p.DType)
		}
		n := len(p.Data)
		s := slot{
			p:     p,
			m:     tensor.New(tensor.WithBacking(make([]float32, max(n, 1))), tensor.WithShape(max(n, 1))),
			v:     tensor.New(tensor.WithBacking(make([]float32, max(n, 1))), tensor.WithShape(max(n, 1))),
			decay: !matchAny(cfg.NoDecay, p.Name),
		}
		o.byName[p.Name] = len(o.slots)
		o.slots = append(o.slots, s)
		for lo := 0; lo < n; lo += chunkSize {
			o.jobs = append(o.jobs, job{slot: len(o.slots) - 1, lo: lo, hi: min(lo+chunkSize, n)})
		}
	}
	if len(o.slots) == 0 {
		return nil, fmt.Errorf("optim: no trainable parameters (store has %d, all frozen or empty)", store.Len())
	}
	o.partial = make([]float64, len(o.jobs))
	o.SetWorkers(runtime.GOMAXPROCS(0))
	return o, nil
}

// SetWorkers sets how many goroutines share the element-wise work (at least
// 1). The results do not depend on it.
func (o *AdamW) SetWorkers(n int) {
	n = max(1, min(n, len(o.jobs)))
	o.workers = n
	o.scratch = make([]scratch, n)
	for i := range o.scratch {
		o.scratch[i] = scratch{a: make([]float32, chunkSize), b: make([]float32, chunkSize), g: make([]float32, chunkSize)}
	}
}

// Config returns the configuration.
func (o *AdamW) Config() Config { return o.cfg }

// StepCount returns the number of updates applied (skipped steps excluded).
func (o *AdamW) StepCount() int { return o.step }

// ScheduleStep returns the schedule position: the number of Step calls so
// far, skipped ones included (verl advances its LR scheduler even when a
// non-finite gradient skips the optimizer step).
func (o *AdamW) ScheduleStep() int { return o.calls }

// NextLR returns the learning rate the next Step will use.
func (o *AdamW) NextLR() float64 { return o.cfg.LRAt(o.calls) }

// Trainable returns the names of the optimized parameters in store order.
func (o *AdamW) Trainable() []string {
	out := make([]string, len(o.slots))
	for i, s := range o.slots {
		out[i] = s.p.Name
	}
	return out
}

// Moments returns the first and second moment buffers of a trainable
// parameter: the optimizer's own slices, which the next Step reads and
// Save writes (an optimizer whose moments live on a device copies them
// here before Save and from here after Load).
func (o *AdamW) Moments(name string) (m, v []float32, ok bool) {
	i, ok := o.byName[name]
	if !ok {
		return nil, nil, false
	}
	return o.slots[i].m.Data().([]float32)[:len(o.slots[i].p.Data)], o.slots[i].v.Data().([]float32)[:len(o.slots[i].p.Data)], true
}

// checkGrads returns the gradient slice of every slot, or an error naming
// missing, mis-sized or unknown gradients.
func (o *AdamW) checkGrads(grads map[string][]float32) ([][]float32, error) {
	gs := make([][]float32, len(o.slots))
	var missing []string
	for i, s := range o.slots {
		g, ok := grads[s.p.Name]
		if !ok {
			missing = append(missing, s.p.Name)
			continue
		}
		if len(g) != len(s.p.Data) {
			return nil, fmt.Errorf("optim: gradient of %q has %d values, parameter has %d", s.p.Name, len(g), len(s.p.Data))
		}
		gs[i] = g
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("optim: missing gradients for %d trainable parameters: %s", len(missing), firstNames(missing))
	}
	if len(grads) > len(o.slots) {
		var unknown []string
		for name := range grads {
			if _, ok := o.byName[name]; !ok && !o.frozen[name] {
				unknown = append(unknown, name)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return nil, fmt.Errorf("optim: gradients for unknown parameters: %s", firstNames(unknown))
		}
	}
	return gs, nil
}

func firstNames(names []string) string {
	if len(names) > 8 {
		return fmt.Sprintf("%q and %d more", names[:8], len(names)-8)
	}
	return fmt.Sprintf("%q", names)
}

// parallel runs fn(worker, jobIndex) for every job on o.workers goroutines.
func (o *AdamW) parallel(fn func(w, j int) error) error {
	if o.workers == 1 {
		for j := range o.jobs {
			if err := fn(0, j); err != nil {
				return err
			}
		}
		return nil
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, o.workers)
	for w := range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j := int(next.Add(1) - 1)
				if j >= len(o.jobs) {
					return
				}
				if err := fn(w, j); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// GradNorm returns the global L2 norm of grads over the trainable
// parameters, accumulated in float64 in a fixed order (independent of the
// number of workers).
func (o *AdamW) GradNorm(grads map[string][]float32) (float64, error) {
	gs, err := o.checkGrads(grads)
	if err != nil {
		return 0, err
	}
	return o.gradNorm(gs), nil
}

func (o *AdamW) gradNorm(gs [][]float32) float64 {
	_ = o.parallel(func(_, j int) error {
		jb := o.jobs[j]
		var s float64
		for _, x := range gs[jb.slot][jb.lo:jb.hi] {
			s += float64(x) * float64(x)
		}
		o.partial[j] = s
		return nil
	})
	var total float64
	for _, s := range o.partial {
		total += s
	}
	return math.Sqrt(total)
}

// Step applies one AdamW update with the gradients grads (one slice per
// trainable parameter, by name; gradients of frozen parameters are ignored).
// grads are not modified. On ErrNonFinite nothing but the schedule position
// changes; on any other error nothing changes.
func (o *AdamW) Step(grads map[string][]float32) (StepStats, error) {
	gs, err := o.checkGrads(grads)
	if err != nil {
		return StepStats{}, err
	}
	cfg := o.cfg
	norm := o.gradNorm(gs)
	st := StepStats{GradNorm: norm, LR: cfg.LRAt(o.calls), Step: o.step}
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		o.calls++
		return st, ErrNonFinite
	}
	scale, clipped := cfg.ClipScale(norm)
	st.Clipped = clipped
	t := o.step + 1
	cf := cfg.Coefficients(o.step, o.calls)
	k := coeffs{
		clip:      st.Clipped,
		scale:     float32(scale),
		decay:     cf.Decay,
		useDecay:  cfg.WeightDecay != 0,
		w1:        cf.W1,
		beta2:     cf.Beta2,
		c2:        cf.C2,
		bc2sqrt:   cf.BC2Sqrt,
		eps:       cf.Eps,
		negStepSz: cf.NegStepSize,
	}
	err = o.parallel(func(w, j int) error { return o.update(&o.scratch[w], o.jobs[j], gs, &k) })
	if err != nil {
		return st, fmt.Errorf("optim: update: %w", err)
	}
	o.step = t
	o.calls++
	st.Step = t
	return st, nil
}

// Coefficients are the float32 scalars of one AdamW update, computed in
// float64 and rounded once; the host update and the device update graph
// (BuildStepGraph) use the same values.
type Coefficients struct {
	// LR is the learning rate of the update.
	LR float64
	// Decay is 1 - lr*weight_decay.
	Decay float32
	// W1 is 1 - β1, C2 is 1 - β2, Beta2 is β2.
	W1, Beta2, C2 float32
	// BC2Sqrt is sqrt(1 - β2^t).
	BC2Sqrt float32
	// Eps is ε.
	Eps float32
	// NegStepSize is -lr / (1 - β1^t).
	NegStepSize float32
}

// Coefficients returns the scalars of the update that follows step
// applied updates at schedule position calls (t = step+1).
func (c Config) Coefficients(step, calls int) Coefficients {
	lr := c.LRAt(calls)
	t := float64(step + 1)
	bc1 := 1 - math.Pow(c.Beta1, t)
	bc2 := 1 - math.Pow(c.Beta2, t)
	return Coefficients{
		LR:          lr,
		Decay:       float32(1 - lr*c.WeightDecay),
		W1:          float32(1 - c.Beta1),
		Beta2:       float32(c.Beta2),
		C2:          float32(1 - c.Beta2),
		BC2Sqrt:     float32(math.Sqrt(bc2)),
		Eps:         float32(c.Eps),
		NegStepSize: float32(-(lr / bc1)),
	}
}

// ClipScale is the factor gradients of global norm norm are multiplied
// by (torch's clip_grad_norm_: max/(norm+1e-6) above the maximum) and
// whether it clips.
func (c Config) ClipScale(norm float64) (float64, bool) {
	if c.MaxGradNorm > 0 && norm > c.MaxGradNorm {
		return c.MaxGradNorm / (norm + 1e-6), true
	}
	return 1, false
}

// Record advances the step counters as Step does without touching the
// parameters or moments: an applied update counts as a step, and every
// call moves the schedule. An optimizer that updates the parameters
// elsewhere (on a device) keeps its counters here.
func (o *AdamW) Record(applied bool) {
	if applied {
		o.step++
	}
	o.calls++
}

// coeffs are the per-step float32 scalars of the update.
type coeffs struct {
	clip      bool
	scale     float32
	decay     float32
	useDecay  bool
	w1        float32
	beta2     float32
	c2        float32
	bc2sqrt   float32
	eps       float32
	negStepSz float32
}

func dense(x []float32) *tensor.Dense {
	return tensor.New(tensor.WithBacking(x), tensor.WithShape(len(x)))
}

// update applies the AdamW update to one chunk using gorgonia dense ops.
func (o *AdamW) update(sc *scratch, jb job, gs [][]float32, k *coeffs) error {
	s := &o.slots[jb.slot]
	n := jb.hi - jb.lo
	p := dense(s.p.Data[jb.lo:jb.hi])
	m := dense(s.m.Data().([]float32)[jb.lo:jb.hi])
	v := dense(s.v.Data().([]float32)[jb.lo:jb.hi])
	a := dense(sc.a[:n])
	b := dense(sc.b[:n])
	var g *tensor.Dense
	if k.clip { // g = grad * scale, into scratch (the caller's slice is not modified)
		g = dense(sc.g[:n])
		if _, err := dense(gs[jb.slot][jb.lo:jb.hi]).MulScalar(k.scale, true, tensor.WithReuse(g)); err != nil {
			return err
		}
	} else {
		g = dense(gs[jb.slot][jb.lo:jb.hi])
	}
	unsafe := tensor.UseUnsafe()
	steps := []func() error{
		// p *= 1 - lr*wd
		func() error {
			if !k.useDecay || !s.decay {
				return nil
			}
			_, err := p.MulScalar(k.decay, true, unsafe)
			return err
		},
		// m += (1-β1) * (g - m)
		func() error { _, err := g.Sub(m, tensor.WithReuse(a)); return err },
		func() error { _, err := a.MulScalar(k.w1, true, unsafe); return err },
		func() error { _, err := m.Add(a, unsafe); return err },
		// v = v*β2 + (1-β2)*g*g
		func() error { _, err := v.MulScalar(k.beta2, true, unsafe); return err },
		func() error { _, err := g.MulScalar(k.c2, true, tensor.WithReuse(a)); return err },
		func() error { _, err := a.Mul(g, unsafe); return err },
		func() error { _, err := v.Add(a, unsafe); return err },
		// a = sqrt(v)/sqrt(bc2) + eps
		func() error { _, err := tensor.Sqrt(v, tensor.WithReuse(a)); return err },
		func() error { _, err := a.DivScalar(k.bc2sqrt, true, unsafe); return err },
		func() error { _, err := a.AddScalar(k.eps, true, unsafe); return err },
		// p += (-lr/bc1) * (m / a)
		func() error { _, err := m.Div(a, tensor.WithReuse(b)); return err },
		func() error { _, err := b.MulScalar(k.negStepSz, true, unsafe); return err },
		func() error { _, err := p.Add(b, unsafe); return err },
	}
	for _, f := range steps {
		if err := f(); err != nil {
			return fmt.Errorf("parameter %q: %w", s.p.Name, err)
		}
	}
	return nil
}
