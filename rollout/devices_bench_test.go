package rollout

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/optim"
	"github.com/videossr/videossr-go/model/ort"
)

// BenchmarkDevices compares one CPU device (one intra-op thread) with two
// (two replicas, one thread each) on the default run's model and GRPO
// batch: the tiny Qwen2-VL of default.yaml (1024-token vocabulary), 8
// prompts of ~134 tokens (one 16-frame 56x56 video) x G=8, 12 new tokens
// at temperature 1, trained in 2 micro-batches of 32 rows (4 prompts).
//
//   - rollout/devices=N: a sharded rollout of the step (unit 0: each
//     device rolls its share out as one batch); reports the node's decoded
//     tokens per second of wall time (tok/s) and each device's.
//   - update/devices=N: the update of that step's samples: reference
//     log-probs (a frozen copy of the weights, as the KL loss of
//     default.yaml needs) and 2 micro-batches through ParallelAdamW and its
//     AdamW step, with the host all-reduce on two devices; reports steps/s.
//   - step/devices=N: rollout + update, the GRPO step; reports steps/s.
//
// Each also reports the process's CPU time per op (cpu-ms/op): the work
// done, whatever share of the cores the machine gave the benchmark.
//
// The machine must be otherwise idle for the ratios to mean anything:
// go test ./rollout -run '^$' -bench BenchmarkDevices -benchtime 3x -count 5.
func BenchmarkDevices(b *testing.B) {
	for _, n := range []int{1, 2} {
		for _, part := range []string{"rollout", "update", "step"} {
			b.Run(fmt.Sprintf("%s/devices=%d", part, n), func(b *testing.B) { benchDevices(b, n, part) })
		}
	}
}

// devBench is the default run's model and GRPO batch on n CPU devices.
type devBench struct {
	rollout func() ([]Sample, ShardStats)
	update  func([]Sample)
}

func newDevBench(b *testing.B, n int) *devBench {
	rt := openRuntime(b)
	c := model.Tiny(1024, model.TinyTokens{EndOfText: 1016, ImStart: 1017, ImEnd: 1018, VisionStart: 1019, VisionEnd: 1020, VisionPad: 1021, ImagePad: 1022, VideoPad: 1023})
	store, err := c.InitParams(1)
	if err != nil {
		b.Fatal(err)
	}
	devs, err := model.ReplicaDevices(ort.ProviderCPU, make([]int, n))
	if err != nil {
		b.Fatal(err)
	}
	graphs := []string{model.GraphVision, model.GraphPrefill, model.GraphLogProb, model.GraphGRPO}
	r, err := model.NewReplicas(rt, c, store, model.PolicyOptions{Graphs: graphs, Session: ort.Options{IntraOpThreads: 1, InterOpThreads: 1}}, devs)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	o, err := model.NewParallelAdamW(r, optim.Config{LR: 1e-6, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, MaxGradNorm: 1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { o.Close() })
	engines := make([]*Engine, n)
	for i := range engines {
		engines[i] = NewEngine(r.Policy(i), c, nil, c.BosTokenID)
	}
	sh, err := NewSharded(engines, r.Names())
	if err != nil {
		b.Fatal(err)
	}
	const G = 8
	ps, err := SyntheticPrompts(c, 8, 100, 16, 56, 1)
	if err != nil {
		b.Fatal(err)
	}
	s := Sampling{Temperature: 1, TopP: 1, MaxNewTokens: 12}
	ctx := context.Background()
	db := &devBench{}
	db.rollout = func() ([]Sample, ShardStats) {
		smp, st, err := sh.Generate(ctx, ps, G, s, 7, 0)
		if err != nil {
			b.Fatal(err)
		}
		return smp, st
	}
	ref := store.Clone() // the frozen reference of the KL loss (kl_coef 0.001 in default.yaml)
	db.update = func(smp []Sample) {
		mbs := benchMicros(b, c, ps, smp, G, 2)
		// Reference log-probs, each replica over its micro-batches.
		err := r.ForEach(ctx, len(mbs), func(ctx context.Context, _ int, p *model.Policy, items []int) error {
			rp := p.WithStore(ref)
			for _, k := range items {
				emb, err := rp.Encode(ctx, mbs[k].Vision)
				if err != nil {
					return err
				}
				lp, _, err := rp.LogProbs(ctx, mbs[k].Seq, emb)
				if err != nil {
					return err
				}
				mbs[k].Inputs.RefLogProb = lp
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := o.Micros(ctx, model.GraphGRPO, mbs); err != nil {
			b.Fatal(err)
		}
		if _, err := o.Step(ctx); err != nil {
			b.Fatal(err)
		}
	}
	smp, _ := db.rollout() // warm-up: allocations, first runs
	db.update(smp)
	return db
}

func benchDevices(b *testing.B, n int, part string) {
	db := newDevBench(b, n)
	smp, _ := db.rollout()
	var tokens int
	var wall time.Duration
	perDev := make([]float64, n)
	cpu0 := processCPU()
	b.ResetTimer()
	for b.Loop() {
		switch part {
		case "rollout":
			_, st := db.rollout()
			tokens += st.Total.DecodeTokens
			wall += st.Wall
			for i, d := range st.Devices {
				perDev[i] += d.TokensPerSec()
			}
		case "update":
			db.update(smp)
		case "step":
			db.update(func() []Sample { s, _ := db.rollout(); return s }())
		}
	}
	// CPU time per op: on a machine other processes share, the wall-clock
	// ratio says how many cores the scheduler gave; the CPU time says how
	// much work each setting does.
	b.ReportMetric(float64((processCPU()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
	switch part {
	case "rollout":
		b.ReportMetric(float64(tokens)/wall.Seconds(), "tok/s")
		for i := range perDev {
			b.ReportMetric(perDev[i]/float64(b.N), fmt.Sprintf("dev%d-tok/s", i))
		}
	default:
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
	}
}

// BenchmarkDevicesPaired holds one and two CPU devices (BenchmarkDevices'
// setup) in one process and runs them in turn, A B B A A B ..., so that
// each pair sees about the same machine: every iteration is one GRPO step
// (rollout, then update) on each. It reports the medians over the pairs
// of the two-device speed-ups (rollout tokens/s, update and step time)
// and of the CPU-time ratio (work done on two devices / on one), with the
// smallest and largest step speed-up. This is the figure to quote from a
// shared machine; it still needs the machine's cores to be free to mean
// what it says.
func BenchmarkDevicesPaired(b *testing.B) {
	one, two := newDevBench(b, 1), newDevBench(b, 2)
	type timing struct {
		tps          float64
		update, step time.Duration
		cpu          time.Duration
	}
	run := func(db *devBench) timing {
		c0, t0 := processCPU(), time.Now()
		smp, st := db.rollout()
		t1 := time.Now()
		db.update(smp)
		return timing{tps: st.TokensPerSec(), update: time.Since(t1), step: time.Since(t0), cpu: processCPU() - c0}
	}
	var roll, upd, step, cpu []float64
	i := 0
	for b.Loop() {
		var a, c timing
		if i%2 == 0 {
			a, c = run(one), run(two)
		} else {
			c, a = run(two), run(one)
		}
		i++
		roll = append(roll, c.tps/a.tps)
		upd = append(upd, a.update.Seconds()/c.update.Seconds())
		step = append(step, a.step.Seconds()/c.step.Seconds())
		cpu = append(cpu, c.cpu.Seconds()/a.cpu.Seconds())
	}
	b.ReportMetric(median(roll), "rollout-x")
	b.ReportMetric(median(upd), "update-x")
	b.ReportMetric(median(step), "step-x")
	b.ReportMetric(slices.Min(step), "step-x-min")
	b.ReportMetric(slices.Max(step), "step-x-max")
	b.ReportMetric(median(cpu), "cpu-ratio")
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// benchMicros lays a step's samples out as k training micro-batches of
// consecutive prompts (each prompt's video once per micro-batch), with
// random advantages and the sampling log-probs as the old ones.
func benchMicros(b *testing.B, c model.Config, ps []Prompt, smp []Sample, g, k int) []model.Micro {
	rng := rand.New(rand.NewPCG(3, 4))
	per := len(ps) / k
	out := make([]model.Micro, k)
	for m := range out {
		var videos []model.VisionInput
		var rows []model.Row
		var old [][]float64
		for i := m * per; i < (m+1)*per; i++ {
			videos = append(videos, ps[i].Videos...)
			for _, s := range smp[i*g : (i+1)*g] {
				rows = append(rows, model.Row{Prompt: ps[i].IDs, Response: s.Tokens, Videos: []int{i - m*per}})
				old = append(old, s.LogProbs)
			}
		}
		vb, err := c.NewVisionBatch(videos)
		if err != nil {
			b.Fatal(err)
		}
		sb, err := c.NewSeqBatch(rows, vb.Videos, c.BosTokenID)
		if err != nil {
			b.Fatal(err)
		}
		in := model.StepInputs{Advantages: make([]float64, sb.B), OldLogProb: make([]float64, sb.B*sb.R)}
		for j := range in.Advantages {
			in.Advantages[j] = rng.NormFloat64()
			copy(in.OldLogProb[j*sb.R:], old[j])
		}
		out[m] = model.Micro{Seq: sb, Vision: vb, Inputs: in, Weight: 1 / float64(k)}
	}
	return out
}
