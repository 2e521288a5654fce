package optim

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/model/params"
)

// refAdamW is an independent float64 AdamW (textbook form with mhat/vhat).
type refAdamW struct {
	cfg  Config
	p    map[string][]float64
	m, v map[string][]float64
	t    int
}

func newRef(cfg Config, s *params.Store) *refAdamW {
	r := &refAdamW{cfg: cfg, p: map[string][]float64{}, m: map[string][]float64{}, v: map[string][]float64{}}
	for _, p := range s.Params() {
		r.p[p.Name] = make([]float64, len(p.Data))
		for i, x := range p.Data {
			r.p[p.Name][i] = float64(x)
		}
		r.m[p.Name] = make([]float64, len(p.Data))
		r.v[p.Name] = make([]float64, len(p.Data))
	}
	return r
}

// step returns the pre-clip norm and whether it clipped.
func (r *refAdamW) step(grads map[string][]float32, lr float64, decay map[string]bool) (float64, bool) {
	var ss float64
	for _, g := range grads {
		for _, x := range g {
			ss += float64(x) * float64(x)
		}
	}
	norm := math.Sqrt(ss)
	scale, clipped := 1.0, false
	if r.cfg.MaxGradNorm > 0 && norm > r.cfg.MaxGradNorm {
		scale, clipped = r.cfg.MaxGradNorm/(norm+1e-6), true
	}
	r.t++
	b1, b2 := r.cfg.Beta1, r.cfg.Beta2
	for name, g := range grads {
		p, m, v := r.p[name], r.m[name], r.v[name]
		for i := range p {
			gi := float64(g[i]) * scale
			if decay[name] {
				p[i] -= lr * r.cfg.WeightDecay * p[i]
			}
			m[i] = b1*m[i] + (1-b1)*gi
			v[i] = b2*v[i] + (1-b2)*gi*gi
			mhat := m[i] / (1 - math.Pow(b1, float64(r.t)))
			vhat := v[i] / (1 - math.Pow(b2, float64(r.t)))
			p[i] -= lr * mhat / (math.Sqrt(vhat) + r.cfg.Eps)
		}
	}
	return norm, clipped
}

func testStore(t testing.TB, seed uint64, sizes map[string]int) *params.Store {
	t.Helper()
	s := params.New()
	rng := params.NewRNG(seed)
	for _, name := range sortedKeys(sizes) {
		if _, err := s.AddNormal(name, []int{sizes[name]}, rng, 1); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func sortedKeys(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func randGrads(s *params.Store, seed uint64, std float64, skip ...string) map[string][]float32 {
	rng := params.NewRNG(seed)
	g := map[string][]float32{}
	for _, p := range s.Params() {
		if len(skip) > 0 && strings.HasPrefix(p.Name, skip[0]) {
			continue
		}
		g[p.Name] = make([]float32, len(p.Data))
		params.FillNormal(g[p.Name], rng, 0, std)
	}
	return g
}

func TestFirstStepClosedForm(t *testing.T) {
	// At t=1, mhat = g and vhat = g², so p1 = p0*(1-lr*wd) - lr*g/(|g|+eps).
	s := params.New()
	_, _ = s.Add("w", []int{4}, []float32{1, -2, 0.5, 3})
	cfg := Config{LR: 0.1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.5}
	o, err := New(cfg, s)
	if err != nil {
		t.Fatal(err)
	}
	g := []float32{0.3, -0.01, 0, 2}
	st, err := o.Step(map[string][]float32{"w": g})
	if err != nil {
		t.Fatal(err)
	}
	// Written out by hand: decay factor 1 - 0.1*0.5 = 0.95.
	want := []float64{
		1*0.95 - 0.1*0.3/(0.3+1e-8),
		-2*0.95 + 0.1*0.01/(0.01+1e-8),
		0.5 * 0.95,
		3*0.95 - 0.1*2/(2+1e-8),
	}
	w, _ := s.Get("w")
	for i := range want {
		if math.Abs(float64(w.Data[i])-want[i]) > 1e-6 {
			t.Errorf("w[%d] = %.9g, want %.9g", i, w.Data[i], want[i])
		}
	}
	if wantNorm := math.Sqrt(0.09 + 0.0001 + 4); math.Abs(st.GradNorm-wantNorm) > 1e-6 || st.Clipped || st.LR != 0.1 || st.Step != 1 {
		t.Errorf("stats %+v (want norm %g)", st, wantNorm)
	}
	m, v, _ := o.Moments("w")
	if math.Abs(float64(m[3])-0.2) > 1e-7 || math.Abs(float64(v[3])-0.004) > 1e-9 {
		t.Errorf("moments m=%v v=%v", m, v)
	}
}

func TestMatchesReferenceSeveralSteps(t *testing.T) {
	for _, tc := range []struct {
		name    string
		maxNorm float64
		gradStd float64
		clipped bool
	}{
		{"no clipping", 0, 0.5, false},
		{"clip inactive", 1e6, 0.5, false},
		{"clipping", 1.0, 0.5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sizes := map[string]int{"layer.weight": 40000, "layer.bias": 7, "norm.weight": 1, "frozen.weight": 5}
			s := testStore(t, 11, sizes)
			frozenBefore := append([]float32{}, mustGet(t, s, "frozen.weight").Data...)
			cfg := Config{LR: 0.02, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1, MaxGradNorm: tc.maxNorm,
				NoDecay: []string{"*.bias"}, Frozen: []string{"frozen.*"}}
			o, err := New(cfg, s)
			if err != nil {
				t.Fatal(err)
			}
			o.SetWorkers(2)
			ref := newRef(cfg, s)
			decay := map[string]bool{"layer.weight": true, "norm.weight": true}
			for step := 1; step <= 5; step++ {
				grads := randGrads(s, uint64(100+step), tc.gradStd)
				keep := append([]float32{}, grads["layer.weight"]...)
				refGrads := map[string][]float32{}
				for k, g := range grads {
					if k != "frozen.weight" {
						refGrads[k] = g
					}
				}
				wantNorm, wantClip := ref.step(refGrads, cfg.LR, decay)
				st, err := o.Step(grads)
				if err != nil {
					t.Fatal(err)
				}
				if st.Clipped != wantClip || wantClip != tc.clipped || math.Abs(st.GradNorm-wantNorm) > 1e-9*wantNorm || st.Step != step {
					t.Fatalf("step %d: stats %+v, want norm %g clipped %v", step, st, wantNorm, wantClip)
				}
				for i := range keep {
					if math.Float32bits(keep[i]) != math.Float32bits(grads["layer.weight"][i]) {
						t.Fatal("Step modified the caller's gradients")
					}
				}
				var moved float64
				for name, want := range ref.p {
					if name == "frozen.weight" {
						continue
					}
					p := mustGet(t, s, name)
					m, v, _ := o.Moments(name)
					for i := range want {
						if d := math.Abs(float64(p.Data[i]) - want[i]); d > 2e-6*(1+math.Abs(want[i])) {
							t.Fatalf("step %d %s[%d] = %.9g, want %.9g", step, name, i, p.Data[i], want[i])
						}
						// lerp rounds on the scale of the gradients seen so far (their
						// RMS is sqrt(vhat)), not of the possibly much smaller m.
						rms := math.Sqrt(ref.v[name][i] / (1 - math.Pow(cfg.Beta2, float64(step))))
						if d := math.Abs(float64(m[i]) - ref.m[name][i]); d > 1e-6*(rms+math.Abs(ref.m[name][i]))+1e-12 {
							t.Fatalf("step %d m %s[%d] = %g, want %g", step, name, i, m[i], ref.m[name][i])
						}
						if d := math.Abs(float64(v[i]) - ref.v[name][i]); d > 1e-5*(1e-6+math.Abs(ref.v[name][i])) {
							t.Fatalf("step %d v %s[%d] = %g, want %g", step, name, i, v[i], ref.v[name][i])
						}
					}
					moved += math.Abs(want[0] - float64(frozenBefore[0]))
				}
				if moved == 0 {
					t.Fatal("reference did not move")
				}
			}
			if f := mustGet(t, s, "frozen.weight"); !equalBits(f.Data, frozenBefore) {
				t.Error("frozen parameter changed")
			}
		})
	}
}

func mustGet(t testing.TB, s *params.Store, name string) *params.Param {
	t.Helper()
	p, ok := s.Get(name)
	if !ok {
		t.Fatalf("no param %q", name)
	}
	return p
}

func equalBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func TestSchedules(t *testing.T) {
	c := Config{LR: 2, Schedule: ScheduleConstant, WarmupSteps: 4}
	for k, want := range map[int]float64{0: 0, 1: 0.5, 2: 1, 3: 1.5, 4: 2, 100: 2} {
		if got := c.LRAt(k); math.Abs(got-want) > 1e-12 {
			t.Errorf("constant LRAt(%d) = %g, want %g", k, got, want)
		}
	}
	if got := (Config{LR: 1e-6}).LRAt(0); got != 1e-6 {
		t.Errorf("no-warmup constant LRAt(0) = %g", got)
	}
	cos := Config{LR: 1, Schedule: ScheduleCosine, WarmupSteps: 2, TotalSteps: 10, MinLRRatio: 0.1}
	for k, want := range map[int]float64{
		0:  0.1,
		1:  0.55,
		2:  1,
		4:  0.55 + 0.45*math.Sqrt(0.5), // progress 1/4: cos(pi/4)
		6:  0.55,                       // progress 1/2
		8:  0.55 - 0.45*math.Sqrt(0.5),
		10: 0.1,
		50: 0.1,
	} {
		if got := cos.LRAt(k); math.Abs(got-want) > 1e-12 {
			t.Errorf("cosine LRAt(%d) = %.15g, want %.15g", k, got, want)
		}
	}
	// Step uses the schedule, one position per call.
	s := testStore(t, 1, map[string]int{"w": 3})
	cos.Beta1, cos.Beta2, cos.Eps = 0.9, 0.999, 1e-8
	o, err := New(cos, s)
	if err != nil {
		t.Fatal(err)
	}
	for k := range 4 {
		if got := o.NextLR(); got != cos.LRAt(k) {
			t.Errorf("NextLR at %d = %g", k, got)
		}
		st, err := o.Step(randGrads(s, uint64(k), 1))
		if err != nil || st.LR != cos.LRAt(k) {
			t.Errorf("step %d LR %g err %v", k, st.LR, err)
		}
	}
}

func TestNonFiniteSkipsStep(t *testing.T) {
	s := testStore(t, 5, map[string]int{"a": 20000, "b": 3})
	o, err := New(DefaultConfig(), s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Step(randGrads(s, 1, 1)); err != nil {
		t.Fatal(err)
	}
	sum := s.Checksum()
	m0, v0, _ := o.Moments("a")
	m0, v0 = append([]float32{}, m0...), append([]float32{}, v0...)
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		g := randGrads(s, 2, 1)
		g["a"][12345] = bad
		st, err := o.Step(g)
		if !errors.Is(err, ErrNonFinite) {
			t.Fatalf("grad %g: err %v, want ErrNonFinite", bad, err)
		}
		if !math.IsNaN(st.GradNorm) && !math.IsInf(st.GradNorm, 0) {
			t.Errorf("grad %g: norm %g", bad, st.GradNorm)
		}
		if s.Checksum() != sum {
			t.Fatalf("grad %g: params changed", bad)
		}
		m, v, _ := o.Moments("a")
		if !equalBits(m, m0) || !equalBits(v, v0) {
			t.Fatalf("grad %g: moments changed", bad)
		}
	}
	if o.StepCount() != 1 || o.ScheduleStep() != 4 {
		t.Errorf("counts: step %d schedule %d", o.StepCount(), o.ScheduleStep())
	}
	// A huge but finite gradient has a finite float64 norm: it is clipped, not skipped.
	g := randGrads(s, 4, 1)
	g["b"][0] = 3e38
	if st, err := o.Step(g); err != nil || !st.Clipped || st.Step != 2 || !s.AllFinite() {
		t.Errorf("huge finite gradient: %+v %v finite=%v", st, err, s.AllFinite())
	}
	// A finite step afterwards works and uses bias correction for t=3.
	if st, err := o.Step(randGrads(s, 3, 1)); err != nil || st.Step != 3 {
		t.Errorf("recovery step: %+v %v", st, err)
	}
}

func TestBadInput(t *testing.T) {
	s := testStore(t, 5, map[string]int{"a": 4, "b": 3})
	o, err := New(DefaultConfig(), s)
	if err != nil {
		t.Fatal(err)
	}
	sum := s.Checksum()
	g := randGrads(s, 1, 1)
	delete(g, "b")
	if _, err := o.Step(g); err == nil || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("missing grad: %v", err)
	}
	g = randGrads(s, 1, 1)
	g["a"] = g["a"][:3]
	if _, err := o.Step(g); err == nil || !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("short grad: %v", err)
	}
	g = randGrads(s, 1, 1)
	g["zzz"] = []float32{1}
	if _, err := o.Step(g); err == nil || !strings.Contains(err.Error(), `"zzz"`) {
		t.Errorf("unknown grad: %v", err)
	}
	if s.Checksum() != sum || o.StepCount() != 0 || o.ScheduleStep() != 0 {
		t.Error("rejected steps changed state")
	}
	bad := []Config{
		{LR: -1, Beta1: 0.9, Beta2: 0.999},
		{LR: 1, Beta1: 1, Beta2: 0.999},
		{LR: 1, Beta1: 0.9, Beta2: -0.1},
		{LR: math.NaN(), Beta1: 0.9, Beta2: 0.999},
		{LR: 1, Beta1: 0.9, Beta2: 0.999, Eps: -1},
		{LR: 1, Beta1: 0.9, Beta2: 0.999, WeightDecay: -1},
		{LR: 1, Beta1: 0.9, Beta2: 0.999, MaxGradNorm: -1},
		{LR: 1, Beta1: 0.9, Beta2: 0.999, Schedule: "linear"},
		{LR: 1, Beta1: 0.9, Beta2: 0.999, Schedule: ScheduleCosine, WarmupSteps: 5, TotalSteps: 5},
		{LR: 1, Beta1: 0.9, Beta2: 0.999, MinLRRatio: 2},
		{LR: 1, Beta1: 0.9, Beta2: 0.999, NoDecay: []string{"["}},
		{LR: 1, Beta1: 0.9, Beta2: 0.999, Frozen: []string{"*"}}, // nothing left to train
	}
	for _, c := range bad {
		if _, err := New(c, s); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}

func TestWorkersDoNotChangeResults(t *testing.T) {
	sizes := map[string]int{"big": 3*chunkSize + 17, "small": 5}
	var sums []string
	for _, w := range []int{1, 2, 3} {
		s := testStore(t, 9, sizes)
		cfg := DefaultConfig()
		cfg.LR = 1e-2
		o, err := New(cfg, s)
		if err != nil {
			t.Fatal(err)
		}
		o.SetWorkers(w)
		for k := range 3 {
			if _, err := o.Step(randGrads(s, uint64(k), 2)); err != nil {
				t.Fatal(err)
			}
		}
		sums = append(sums, s.Checksum())
	}
	if sums[0] != sums[1] || sums[0] != sums[2] {
		t.Errorf("checksums differ by worker count: %v", sums)
	}
}

func TestResumeBitExact(t *testing.T) {
	sizes := map[string]int{"enc.weight": 2*chunkSize + 3, "enc.bias": 9, "head": 100}
	cfg := Config{LR: 3e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, MaxGradNorm: 1,
		Schedule: ScheduleCosine, WarmupSteps: 2, TotalSteps: 8, MinLRRatio: 0.1, NoDecay: []string{"*.bias"}}
	grads := func(s *params.Store, k int) map[string][]float32 {
		g := randGrads(s, uint64(1000+k), 0.3)
		if k == 3 {
			g["head"][7] = float32(math.NaN()) // a skipped step inside the run
		}
		return g
	}
	run := func(o *AdamW, s *params.Store, from, to int) {
		for k := from; k < to; k++ {
			_, err := o.Step(grads(s, k))
			if err != nil && !(k == 3 && errors.Is(err, ErrNonFinite)) {
				t.Fatalf("step %d: %v", k, err)
			}
		}
	}
	// Uninterrupted.
	s1 := testStore(t, 21, sizes)
	o1, err := New(cfg, s1)
	if err != nil {
		t.Fatal(err)
	}
	run(o1, s1, 0, 8)

	// Interrupted after 5 calls, saved, reloaded into fresh objects.
	dir := t.TempDir()
	s2 := testStore(t, 21, sizes)
	o2, err := New(cfg, s2)
	if err != nil {
		t.Fatal(err)
	}
	run(o2, s2, 0, 5)
	if err := s2.Save(filepath.Join(dir, "model.safetensors"), nil); err != nil {
		t.Fatal(err)
	}
	if err := o2.Save(filepath.Join(dir, "optim.safetensors")); err != nil {
		t.Fatal(err)
	}
	saved, err := ReadConfig(filepath.Join(dir, "optim.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	s3 := testStore(t, 999, sizes) // different init, overwritten by the load
	if err := s3.LoadInto(filepath.Join(dir, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	o3, err := New(saved, s3)
	if err != nil {
		t.Fatal(err)
	}
	if err := o3.Load(filepath.Join(dir, "optim.safetensors")); err != nil {
		t.Fatal(err)
	}
	if o3.StepCount() != 4 || o3.ScheduleStep() != 5 {
		t.Fatalf("restored counts %d %d", o3.StepCount(), o3.ScheduleStep())
	}
	run(o3, s3, 5, 8)
	if s1.Checksum() != s3.Checksum() {
		t.Fatal("resumed run differs from uninterrupted run")
	}
	for _, name := range o1.Trainable() {
		m1, v1, _ := o1.Moments(name)
		m3, v3, _ := o3.Moments(name)
		if !equalBits(m1, m3) || !equalBits(v1, v3) {
			t.Fatalf("moments of %s differ after resume", name)
		}
	}

	// Loading into a mismatched optimizer fails and names the problem.
	other := cfg
	other.LR = 1
	o4, _ := New(other, testStore(t, 21, sizes))
	if err := o4.Load(filepath.Join(dir, "optim.safetensors")); err == nil || !strings.Contains(err.Error(), "LR") {
		t.Errorf("config mismatch: %v", err)
	}
	o5, _ := New(cfg, testStore(t, 21, map[string]int{"enc.weight": 5, "enc.bias": 9, "head": 100}))
	if err := o5.Load(filepath.Join(dir, "optim.safetensors")); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("shape mismatch: %v", err)
	}
	if o5.StepCount() != 0 {
		t.Error("failed load changed the step count")
	}
	if err := o5.Load(filepath.Join(dir, "model.safetensors")); err == nil || !strings.Contains(err.Error(), "not an optimizer state") {
		t.Errorf("wrong file: %v", err)
	}
}

func BenchmarkAdamWStep(b *testing.B) {
	const tensors, per = 10, 1 << 20 // 10,485,760 parameters
	sizes := map[string]int{}
	for i := range tensors {
		sizes[string(rune('a'+i))] = per
	}
	s := testStore(b, 1, sizes)
	cfg := DefaultConfig()
	o, err := New(cfg, s)
	if err != nil {
		b.Fatal(err)
	}
	g := randGrads(s, 2, 1) // norm ~3200 > 1: the clipping path runs too
	b.ResetTimer()
	for b.Loop() {
		if _, err := o.Step(g); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(tensors*per), "ns/param")
}
