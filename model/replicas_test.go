package model

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/model/optim"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
)

// cpuReplicas opens n CPU replicas of the GRPO graph over store.
func cpuReplicas(t testing.TB, rt *ort.Runtime, c Config, store *params.Store, n int, graphs ...string) *Replicas {
	t.Helper()
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i
	}
	devs, err := ReplicaDevices(ort.ProviderCPU, ids)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReplicas(rt, c, store, PolicyOptions{Graphs: graphs, Session: ort.Options{IntraOpThreads: 1, InterOpThreads: 1}}, devs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// parallelMicros are n GRPO micro-batches of the tiny model, weighted 1/n,
// in the style of microBatches (different prompts, responses, videos and
// advantages per micro-batch).
func parallelMicros(t testing.TB, c Config, n int) []Micro {
	t.Helper()
	grid := Grid{GT: 1, GH: 4, GW: 4}
	out := make([]Micro, n)
	for k := range out {
		vb := randomVision(t, c, 2, grid, uint64(20+k))
		rows := []Row{
			{Prompt: videoPrompt(c, []int{9, 10 + k%5}, []int{11}, grid), Response: []int{20 + k%7, 21, 22}, Videos: []int{0}},
			{Prompt: videoPrompt(c, []int{12}, []int{13, 14 + k%3}, grid), Response: []int{25, 26 + k%4}, Videos: []int{1}},
		}
		sb, err := c.NewSeqBatch(rows, vb.Videos, c.BosTokenID)
		if err != nil {
			t.Fatal(err)
		}
		in := StepInputs{Advantages: []float64{1.1 - 0.5*float64(k), -0.6 + 0.4*float64(k)}, OldLogProb: make([]float64, sb.B*sb.R), RefLogProb: make([]float64, sb.B*sb.R)}
		for i := range in.OldLogProb {
			in.OldLogProb[i] = -3.5 + 0.1*float64((i+k)%5)
			in.RefLogProb[i] = -3.4 + 0.05*float64(i%3)
		}
		out[k] = Micro{Seq: sb, Vision: vb, Inputs: in, Weight: 1 / float64(n)}
	}
	return out
}

// trainParallel runs steps GRPO updates of the micro-batches on r (step 7
// poisoned with a NaN weight: every replica must skip it) and returns the
// per-step losses and gradient norms.
func trainParallel(t *testing.T, o *ParallelAdamW, mbs []Micro, from, steps int) (losses, norms []float64) {
	t.Helper()
	ctx := context.Background()
	for step := from; step < from+steps; step++ {
		batch := slices.Clone(mbs)
		if step == 7 {
			batch[len(batch)-1].Weight = math.NaN()
		}
		res, err := o.Micros(ctx, GraphGRPO, batch)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		var loss float64
		for k, r := range res {
			if r == nil || r.Grads != nil {
				t.Fatalf("step %d: result %d is %+v", step, k, r)
			}
			loss += r.Loss
		}
		st, err := o.Step(ctx)
		if step == 7 {
			if !errors.Is(err, optim.ErrNonFinite) {
				t.Fatalf("step %d: a NaN gradient gave %v", step, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		losses = append(losses, loss)
		norms = append(norms, st.GradNorm)
	}
	return losses, norms
}

// replicaRun is the outcome of trainReplicas.
type replicaRun struct {
	store         *params.Store
	losses, norms []float64
	moved         ort.Transfers
}

// trainReplicas trains n CPU replicas for steps updates over mbs (see
// trainParallel) and checks what the replicas are: separate sessions and
// memories, equal weights (checksums), no weight byte moved between load
// and checkpoint, and only the host all-reduce's gradient bytes.
func trainReplicas(t *testing.T, rt *ort.Runtime, c Config, n int, mbs []Micro, steps int) replicaRun {
	t.Helper()
	store := sharpParams(t, c, 3, 1)
	r := cpuReplicas(t, rt, c, store, n, GraphGRPO)
	o, err := NewParallelAdamW(r, optimTestConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	start := r.Transfers()
	losses, norms := trainParallel(t, o, mbs, 0, steps)
	moved := r.Transfers().Sub(start)
	if moved.Bytes(ort.KindWeights) != 0 {
		t.Errorf("%d devices: training moved %v", n, moved)
	}
	grads := moved.Bytes(ort.KindGradients)
	if n == 1 && grads != 0 {
		t.Errorf("one device moved %d gradient bytes", grads)
	}
	// Host all-reduce: every replica's gradients out and the sum in, at
	// every step (the skipped one too), and zeros into idle replicas.
	idle := max(0, n-len(mbs))
	if want := int64((2*n+idle)*steps) * trainableBytes(t, r.Policy(0)); n > 1 && grads != want {
		t.Errorf("%d devices: %d gradient bytes crossed, want %d", n, grads, want)
	}
	if n > 1 {
		mems := map[*ort.Mem]bool{}
		for i := range n {
			mems[r.Policy(i).Mem()] = true
		}
		if len(mems) != n || r.Policy(0).sess[GraphGRPO] == r.Policy(1).sess[GraphGRPO] {
			t.Fatalf("%d replicas share memory or sessions", n)
		}
		sums, err := r.Checksums()
		if err != nil {
			t.Fatal(err)
		}
		for i := range sums {
			if sums[i] != sums[0] {
				t.Errorf("replica %d checksum %x, replica 0 %x", i, sums[i], sums[0])
			}
		}
	}
	if err := r.SyncHost(); err != nil {
		t.Fatal(err)
	}
	return replicaRun{store, losses, norms, moved}
}

// worstRel is the largest relDiff over the parameters of two stores.
func worstRel(a, b *params.Store) float64 {
	worst := 0.0
	for _, p := range a.Params() {
		q, _ := b.Get(p.Name)
		worst = math.Max(worst, relDiff(p.Data, q.Data))
	}
	return worst
}

// TestReplicasMatchOneDevice: 20 GRPO updates of the same global batch
// (clipping, warmup + cosine schedule, decay exemptions, one non-finite
// step skipped by every replica) on 2 and 3 CPU devices leave every
// weight within 1e-6 (relative) of one device, with the same losses and
// gradient norms, when the contiguous deal keeps one device's summation
// order: each replica after the first gets at most one micro-batch (2 on
// 2 devices; 2 on 3, where the idle replica joins the all-reduce with
// zeros; 4 on 3). Measured: bit for bit.
func TestReplicasMatchOneDevice(t *testing.T) {
	rt := openRuntime(t)
	c := tinyTest()
	const steps = 20
	for _, tc := range []struct {
		micros  int
		devices []int
	}{{2, []int{2, 3}}, {4, []int{3}}} {
		mbs := parallelMicros(t, c, tc.micros)
		one := trainReplicas(t, rt, c, 1, mbs, steps)
		if moved := worstRel(one.store, sharpParams(t, c, 3, 1)); moved < 1e-3 {
			t.Fatalf("training moved the weights by %.3g only: the check is too weak", moved)
		}
		for _, n := range tc.devices {
			got := trainReplicas(t, rt, c, n, mbs, steps)
			for _, hp := range one.store.Params() {
				gp, _ := got.store.Get(hp.Name)
				if d := relDiff(hp.Data, gp.Data); d > 1e-6 {
					t.Errorf("%d micro-batches on %d devices: %s differs from one device by %.3g relative", tc.micros, n, hp.Name, d)
				}
			}
			for s := range one.losses {
				if math.Abs(one.losses[s]-got.losses[s]) > 1e-6*(1+math.Abs(one.losses[s])) || math.Abs(one.norms[s]-got.norms[s]) > 1e-6*one.norms[s] {
					t.Fatalf("%d devices, update %d: loss %g norm %g, one device %g %g", n, s, got.losses[s], got.norms[s], one.losses[s], one.norms[s])
				}
			}
			t.Logf("%d micro-batches on %d devices: worst relative weight difference to one device after %d steps: %.3g; transfers %v",
				tc.micros, n, steps, worstRel(one.store, got.store), got.moved)
		}
	}
}

// TestReplicasRegroupedSum: when a replica after the first gets several
// micro-batches (4 on 2 devices), the sum is regrouped ((g0+g1)+(g2+g3)
// instead of ((g0+g1)+g2)+g3): from the same weights the summed gradients
// agree with one device's to float32 rounding (1e-6 relative per tensor).
// Over 20 AdamW steps such rounding differences grow (AdamW divides each
// gradient by its own running scale, so an element whose micro-batch
// gradients cancel keeps only rounding); the test logs that drift beside
// the drift of one device fed the same micro-batches in another order,
// which is of the same size.
func TestReplicasRegroupedSum(t *testing.T) {
	rt := openRuntime(t)
	c := tinyTest()
	ctx := context.Background()
	mbs := parallelMicros(t, c, 4)
	grads := func(n int) map[string][]float32 {
		r := cpuReplicas(t, rt, c, sharpParams(t, c, 3, 1), n, GraphGRPO)
		o, err := NewParallelAdamW(r, optimTestConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		if _, err := o.Micros(ctx, GraphGRPO, mbs); err != nil {
			t.Fatal(err)
		}
		g, err := o.Gradients(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	g1, g2 := grads(1), grads(2)
	worst, differ := 0.0, 0
	for name, a := range g1 {
		d := relDiff(a, g2[name])
		worst = math.Max(worst, d)
		if d > 1e-6 {
			t.Errorf("%s: summed gradient differs from one device's by %.3g relative", name, d)
		}
		if !slices.Equal(a, g2[name]) {
			differ++
		}
	}
	t.Logf("gradients of 4 micro-batches on 2 devices vs 1: worst %.3g relative, %d of %d tensors not bit-equal", worst, differ, len(g1))
	if testing.Short() {
		return
	}
	const steps = 20
	one := trainReplicas(t, rt, c, 1, mbs, steps)
	two := trainReplicas(t, rt, c, 2, mbs, steps)
	swapped := slices.Clone(mbs)
	swapped[2], swapped[3] = swapped[3], swapped[2]
	reordered := trainReplicas(t, rt, c, 1, swapped, steps)
	t.Logf("after %d steps, worst relative weight difference to one device: 2 devices %.3g, one device with micro-batches 2 and 3 swapped %.3g",
		steps, worstRel(one.store, two.store), worstRel(one.store, reordered.store))
}

// TestReplicaMismatchNamesDevice: a replica whose weights drifted (one
// value changed on its device) fails the checkpoint's SyncHost with
// ErrReplicaMismatch naming that device, and the host store is untouched.
func TestReplicaMismatchNamesDevice(t *testing.T) {
	rt := openRuntime(t)
	c := tinyTest()
	store := sharpParams(t, c, 3, 1)
	r := cpuReplicas(t, rt, c, store, 3, GraphGRPO)
	o, err := NewParallelAdamW(r, optimTestConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	trainParallel(t, o, parallelMicros(t, c, 3), 0, 2)
	before := store.Checksum()
	// Replica 2's copy of one weight drifts by one ulp.
	p2 := r.Policy(2)
	prm := store.Params()[3]
	v := p2.res.weights[prm]
	tv, err := p2.res.mem.Download(ort.KindWeights, v)
	if err != nil {
		t.Fatal(err)
	}
	f := tv.Data.([]float32)
	f[0] = math.Nextafter32(f[0], 1)
	if err := p2.res.mem.CopyIn(ort.KindWeights, v, tv); err != nil {
		t.Fatal(err)
	}
	err = r.SyncHost()
	var de *DeviceError
	if !errors.Is(err, ErrReplicaMismatch) || !errors.As(err, &de) || de.Replica != 2 || !strings.Contains(err.Error(), "cpu#2") {
		t.Fatalf("SyncHost with a drifted replica 2: %v", err)
	}
	if store.Checksum() != before {
		t.Fatal("a failed SyncHost changed the host store")
	}
	t.Logf("mismatch: %v", err)
}

// TestReplicaFailureNamesDevice: a device lost in the middle of a step
// (replica 1's sessions and memory closed) fails the step with an error
// naming that device; no replica is updated, the host store and the last
// checkpoint on disk stay as they were.
func TestReplicaFailureNamesDevice(t *testing.T) {
	rt := openRuntime(t)
	c := tinyTest()
	store := sharpParams(t, c, 3, 1)
	r := cpuReplicas(t, rt, c, store, 2, GraphGRPO)
	o, err := NewParallelAdamW(r, optimTestConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	mbs := parallelMicros(t, c, 4)
	trainParallel(t, o, mbs, 0, 2)
	// The last checkpoint.
	if err := r.SyncHost(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	wpath, opath := filepath.Join(dir, "model.safetensors"), filepath.Join(dir, "optimizer.safetensors")
	if err := store.Save(wpath, nil); err != nil {
		t.Fatal(err)
	}
	if err := o.Save(opath); err != nil {
		t.Fatal(err)
	}
	wbytes, _ := os.ReadFile(wpath)
	obytes, _ := os.ReadFile(opath)
	hostSum := store.Checksum()
	dev0, err := r.Policy(0).weightChecksum()
	if err != nil {
		t.Fatal(err)
	}

	r.Policy(1).Close() // the device is gone
	_, err = o.Micros(context.Background(), GraphGRPO, mbs)
	var de *DeviceError
	if err == nil || !errors.As(err, &de) || de.Replica != 1 || de.Device != "cpu#1" || !strings.Contains(err.Error(), "device 1 (cpu#1)") {
		t.Fatalf("step with device 1 lost: %v", err)
	}
	t.Logf("failed step: %v", err)
	if _, err := o.Step(context.Background()); err == nil {
		t.Fatal("Step after a failed Micros applied an update")
	}
	if store.Checksum() != hostSum {
		t.Error("the failed step changed the host store")
	}
	if got, err := r.Policy(0).weightChecksum(); err != nil || got != dev0 {
		t.Errorf("the failed step changed device 0's weights (%v)", err)
	}
	w2, _ := os.ReadFile(wpath)
	o2, _ := os.ReadFile(opath)
	if !bytes.Equal(wbytes, w2) || !bytes.Equal(obytes, o2) {
		t.Error("the failed step changed the checkpoint files")
	}
	if err := r.SyncHost(); err == nil {
		t.Error("SyncHost over a lost device succeeded")
	}
}

// TestReplicaFailureInUpdate: a device lost between the micro-batches and
// the update fails the step naming it; replica 0 has applied the update
// (the replicas are now out of step), so every later call is refused
// until a checkpoint is restored, and SyncHost refuses to write the store.
func TestReplicaFailureInUpdate(t *testing.T) {
	rt := openRuntime(t)
	c := tinyTest()
	store := sharpParams(t, c, 3, 1)
	r := cpuReplicas(t, rt, c, store, 2, GraphGRPO)
	o, err := NewParallelAdamW(r, optimTestConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	mbs := parallelMicros(t, c, 2)
	ctx := context.Background()
	if _, err := o.Micros(ctx, GraphGRPO, mbs); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Gradients(ctx); err != nil { // the all-reduce, before the loss
		t.Fatal(err)
	}
	hostSum := store.Checksum()
	r.Policy(1).Close()
	_, err = o.Step(ctx)
	var de *DeviceError
	if !errors.As(err, &de) || de.Replica != 1 || !strings.Contains(err.Error(), "cpu#1") {
		t.Fatalf("update with device 1 lost: %v", err)
	}
	if _, err := o.Micros(ctx, GraphGRPO, mbs); err == nil || !strings.Contains(err.Error(), "out of step") {
		t.Fatalf("micro-batches after a failed update: %v", err)
	}
	if _, err := o.Step(ctx); err == nil {
		t.Fatal("a step after a failed update was accepted")
	}
	if err := r.SyncHost(); err == nil || store.Checksum() != hostSum {
		t.Fatalf("SyncHost after a failed update: %v (store changed: %v)", err, store.Checksum() != hostSum)
	}
}

// TestReplicasExactResume: two devices trained 10 steps, checkpointed
// (SyncHost, store, optimizer) and restored into new replicas continue
// bit for bit like the run that went on.
func TestReplicasExactResume(t *testing.T) {
	if testing.Short() {
		t.Skip("two 2-device runs")
	}
	rt := openRuntime(t)
	c := tinyTest()
	cfg := optimTestConfig()
	mbs := parallelMicros(t, c, 3)
	dir := t.TempDir()
	wpath, opath := filepath.Join(dir, "model.safetensors"), filepath.Join(dir, "optimizer.safetensors")

	store := sharpParams(t, c, 3, 1)
	r := cpuReplicas(t, rt, c, store, 2, GraphGRPO)
	o, err := NewParallelAdamW(r, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	trainParallel(t, o, mbs, 0, 10)
	if err := r.SyncHost(); err != nil {
		t.Fatal(err)
	}
	if err := store.Save(wpath, nil); err != nil {
		t.Fatal(err)
	}
	if err := o.Save(opath); err != nil {
		t.Fatal(err)
	}
	wantLoss, wantNorm := trainParallel(t, o, mbs, 10, 5)
	if err := r.SyncHost(); err != nil {
		t.Fatal(err)
	}

	// Resume: a fresh store and replicas (started from other weights),
	// the checkpoint loaded into them.
	store2 := sharpParams(t, c, 9, 1)
	r2 := cpuReplicas(t, rt, c, store2, 2, GraphGRPO)
	o2, err := NewParallelAdamW(r2, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o2.Close()
	if err := store2.LoadInto(wpath); err != nil {
		t.Fatal(err)
	}
	if err := r2.UploadWeights(); err != nil {
		t.Fatal(err)
	}
	if err := o2.Load(opath); err != nil {
		t.Fatal(err)
	}
	gotLoss, gotNorm := trainParallel(t, o2, mbs, 10, 5)
	if err := r2.SyncHost(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gotLoss, wantLoss) || !slices.Equal(gotNorm, wantNorm) {
		t.Fatalf("resumed losses %v norms %v, want %v %v", gotLoss, gotNorm, wantLoss, wantNorm)
	}
	if store.Checksum() != store2.Checksum() {
		t.Fatal("the resumed run's weights differ from the uninterrupted run's")
	}
}

// TestDealContiguous: items are split into runs in order, sizes differing
// by at most one.
func TestDealContiguous(t *testing.T) {
	for _, tc := range []struct {
		n, d int
		want [][]int
	}{
		{4, 1, [][]int{{0, 1, 2, 3}}},
		{4, 2, [][]int{{0, 1}, {2, 3}}},
		{4, 3, [][]int{{0, 1}, {2}, {3}}},
		{5, 3, [][]int{{0, 1}, {2, 3}, {4}}},
		{1, 3, [][]int{{0}, nil, nil}},
		{0, 2, [][]int{nil, nil}},
	} {
		got := dealContiguous(tc.n, tc.d)
		if len(got) != len(tc.want) {
			t.Fatalf("deal(%d, %d) = %v", tc.n, tc.d, got)
		}
		for i := range got {
			if !slices.Equal(got[i], tc.want[i]) {
				t.Errorf("deal(%d, %d) = %v, want %v", tc.n, tc.d, got, tc.want)
				break
			}
		}
	}
}

// fakeSet is a GradientSet in host memory.
type fakeSet struct {
	names []string
	g     map[string][]float32
}

func newFakeSet(g map[string][]float32) *fakeSet {
	f := &fakeSet{g: g}
	for name := range g {
		f.names = append(f.names, name)
	}
	slices.Sort(f.names)
	return f
}

func (f *fakeSet) GradientSizes() ([]string, []int64) {
	sizes := make([]int64, len(f.names))
	for i, n := range f.names {
		sizes[i] = int64(len(f.g[n]))
	}
	return f.names, sizes
}

func (f *fakeSet) ReadGradient(name string, dst []float32) error {
	copy(dst, f.g[name])
	return nil
}

func (f *fakeSet) WriteGradient(name string, src []float32) error {
	f.g[name] = slices.Clone(src)
	return nil
}

// TestHostAllReduce: every set ends with the float32 sum taken in set
// order (a left fold, which differs from other orders in the last bit
// here), and sets that do not match are refused.
func TestHostAllReduce(t *testing.T) {
	a, b, c := float32(1e8), float32(-1e8), float32(3)
	sets := []*fakeSet{
		newFakeSet(map[string][]float32{"w": {a, 1}, "v": {1}}),
		newFakeSet(map[string][]float32{"w": {b, 2}, "v": {2}}),
		newFakeSet(map[string][]float32{"w": {c, 3}, "v": {4}}),
	}
	gs := []GradientSet{sets[0], sets[1], sets[2]}
	if err := (HostAllReduce{}).AllReduce(context.Background(), gs); err != nil {
		t.Fatal(err)
	}
	want := (a + b) + c // 3; a + (b + c) would be 4 in float32
	for i, s := range sets {
		if s.g["w"][0] != want || s.g["w"][1] != 6 || s.g["v"][0] != 7 {
			t.Errorf("set %d holds %v, want w [%v 6] v [7]", i, s.g, want)
		}
	}
	if bc := b + c; a+bc == want {
		t.Fatal("the values do not tell the summation orders apart")
	}
	bad := []GradientSet{newFakeSet(map[string][]float32{"w": {1}}), newFakeSet(map[string][]float32{"w": {1, 2}})}
	if err := (HostAllReduce{}).AllReduce(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "replica 1 has other parameters") {
		t.Errorf("mismatched sets: %v", err)
	}
	other := []GradientSet{newFakeSet(map[string][]float32{"w": {1}}), newFakeSet(map[string][]float32{"v": {1}})}
	if err := (HostAllReduce{}).AllReduce(context.Background(), other); err == nil {
		t.Error("sets with different parameters were summed")
	}
}

// TestReplicaDevices: CPU entries become separate CPU devices, CUDA
// entries their ordinals; a repeated CUDA device and unknown providers are
// refused.
func TestReplicaDevices(t *testing.T) {
	d, err := ReplicaDevices(ort.ProviderCPU, []int{0, 1, 2})
	if err != nil || len(d) != 3 || d[2] != ort.CPUDevice() {
		t.Fatalf("cpu: %v %v", d, err)
	}
	d, err = ReplicaDevices(ort.ProviderCUDA, []int{2, 0})
	if err != nil || d[0] != ort.CUDADevice(2) || d[1] != ort.CUDADevice(0) {
		t.Fatalf("cuda: %v %v", d, err)
	}
	for _, tc := range []struct {
		provider string
		ids      []int
	}{{"tpu", []int{0}}, {ort.ProviderCPU, nil}, {ort.ProviderCUDA, []int{-1}}} {
		if _, err := ReplicaDevices(tc.provider, tc.ids); err == nil {
			t.Errorf("ReplicaDevices(%q, %v) accepted", tc.provider, tc.ids)
		}
	}
	if _, err := NewReplicas(nil, tinyTest(), nil, PolicyOptions{}, []ort.Device{ort.CUDADevice(1), ort.CUDADevice(1)}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("a CUDA device twice: %v", err)
	}
}
