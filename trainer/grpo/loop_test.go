package grpo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/optim"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/model/tokenizer"
	"github.com/videossr/videossr-go/reward"
	"github.com/videossr/videossr-go/rollout"
	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/trainer/metrics"
)

// The GRPO loop on pure-Go fakes of the policy, the rollout engine and the
// optimizer: no ONNX Runtime and no video decoding, so these tests run on
// any machine.

// fakeEngine answers prompt k (its text "question k") with the texts of
// answers[k], one per row; response row r has r+2 tokens whose sampling
// log-probs are -(k+1)/10 - t/100.
type fakeEngine struct {
	key     map[string]int // prompt ids -> k
	answers map[int][]string
	seeds   []uint64
	drawn   [][]int // the prompts' k of each call
}

func (e *fakeEngine) Generate(ctx context.Context, ps []rollout.Prompt, g int, s rollout.Sampling, seed uint64) ([]rollout.Sample, rollout.Stats, error) {
	return e.GenerateChunks(ctx, ps, g, s, seed, 0)
}

func (e *fakeEngine) GenerateChunks(_ context.Context, ps []rollout.Prompt, g int, _ rollout.Sampling, seed uint64, _ int) ([]rollout.Sample, rollout.Stats, error) {
	e.seeds = append(e.seeds, seed)
	e.drawn = append(e.drawn, nil)
	var out []rollout.Sample
	for i, p := range ps {
		k, ok := e.key[fmt.Sprint(p.IDs)]
		if !ok {
			return nil, rollout.Stats{}, fmt.Errorf("unknown prompt %v", p.IDs)
		}
		e.drawn[len(e.drawn)-1] = append(e.drawn[len(e.drawn)-1], k)
		for r := range g {
			smp := rollout.Sample{Prompt: i, Row: r, Text: e.answers[k][r], Finish: rollout.FinishStop}
			for t := range r + 2 {
				smp.Tokens = append(smp.Tokens, 10+t)
				smp.LogProbs = append(smp.LogProbs, -float64(k+1)/10-float64(t)/100)
			}
			out = append(out, smp)
		}
	}
	return out, rollout.Stats{DecodeTPS: 100}, nil
}

// trainCall is what one TrainStep call received.
type trainCall struct {
	B, R          int
	adv, old, ref []float64
	lens          []int // response length per row (from the mask)
}

// fakePolicy records its training calls and returns, for call c (from 0),
// the loss c+1 (NaN for the calls in nanLoss) and the gradient {"w":
// [c+1], "adv": [sum of the advantages]}. Reference log-probs are
// -1 - t/1000 at response position t.
type fakePolicy struct {
	calls   []trainCall
	nanLoss map[int]bool
	refRuns int
	// counted makes the fake count transfers: each training call moves
	// 100 bytes in and 10 out, each reference pass 1000 in.
	counted  bool
	moved    ort.Transfers
	prepared []*params.Store // PrepareReference's arguments
}

func (p *fakePolicy) TrainStep(_ context.Context, graph string, sb *model.SeqBatch, _ *model.VisionBatch, in model.StepInputs) (*model.StepResult, error) {
	if graph != model.GraphGRPO {
		return nil, fmt.Errorf("graph %s", graph)
	}
	c := len(p.calls)
	call := trainCall{B: sb.B, R: sb.R, adv: in.Advantages, old: in.OldLogProb, ref: in.RefLogProb}
	var sum float64
	for j := range sb.B {
		n := 0
		for t := range sb.R {
			n += int(sb.RespMask[j*sb.R+t])
		}
		call.lens = append(call.lens, n)
		sum += in.Advantages[j]
	}
	p.calls = append(p.calls, call)
	p.moved.H2D[ort.KindActivations] += 100
	p.moved.D2H[ort.KindMetrics] += 10
	loss := float64(c + 1)
	if p.nanLoss[c] {
		loss = math.NaN()
	}
	return &model.StepResult{Loss: loss, PGLoss: loss / 2, KLLoss: 0.25, Entropy: 1, ClipFrac: 0.5, ApproxKL: 0.125,
		Grads: map[string][]float32{"w": {float32(c + 1)}, "adv": {float32(sum)}}}, nil
}

func (p *fakePolicy) ReferenceLogProbs(_ context.Context, ref *params.Store, sb *model.SeqBatch, _ *model.VisionBatch) ([]float64, error) {
	if ref == nil {
		return nil, errors.New("no reference weights")
	}
	p.refRuns++
	p.moved.H2D[ort.KindActivations] += 1000
	lp := make([]float64, sb.B*sb.R)
	for j := range sb.B {
		for t := range sb.R {
			lp[j*sb.R+t] = -1 - float64(t)/1000
		}
	}
	return lp, nil
}

func (p *fakePolicy) PrepareReference(ref *params.Store) error {
	p.prepared = append(p.prepared, ref)
	return nil
}
func (p *fakePolicy) SyncHost() error      { return nil }
func (p *fakePolicy) UploadWeights() error { return nil }
func (p *fakePolicy) Transfers() (ort.Transfers, bool) {
	return p.moved, p.counted
}

// fakeOptimizer records the gradients of each Step.
type fakeOptimizer struct{ steps []map[string][]float32 }

func (o *fakeOptimizer) Step(grads map[string][]float32) (optim.StepStats, error) {
	o.steps = append(o.steps, grads)
	return optim.StepStats{GradNorm: float64(grads["w"][0]), LR: 0.01 * float64(len(o.steps)), Step: len(o.steps)}, nil
}
func (o *fakeOptimizer) Save(string) error { return nil }
func (o *fakeOptimizer) Load(string) error { return nil }

// fakeLoop is a Trainer over fakes: nSamples counting samples, whose
// prompts are cached, answered as answers says.
type fakeLoop struct {
	t      *Trainer
	pol    *fakePolicy
	eng    *fakeEngine
	opt    *fakeOptimizer
	sample map[string]int // sample id -> k
}

func newFakeLoop(t *testing.T, nSamples int, answers map[int][]string, rewards *reward.Registry, sets ...string) *fakeLoop {
	t.Helper()
	cfg, err := configs.Load(nil, append([]string{"grpo.batch_prompts=4", "grpo.group_size=4", "grpo.micro_batch_rows=3",
		"grpo.mini_batches=1", "grpo.ppo_epochs=1", "grpo.kl_coef=0.001", "grpo.dynamic_sampling=true", "grpo.max_fill_rounds=0"}, sets...))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := model.LoadTokenizer("tiny")
	if err != nil {
		t.Fatal(err)
	}
	mc, err := model.TinyFor(tok)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeLoop{pol: &fakePolicy{nanLoss: map[int]bool{}}, eng: &fakeEngine{key: map[string]int{}, answers: answers}, opt: &fakeOptimizer{}, sample: map[string]int{}}
	cache := map[string]rollout.Prompt{}
	var pool []tasks.Sample
	for k := range nSamples {
		id := fmt.Sprintf("counting-%02d", k)
		ids := tok.Encode(fmt.Sprintf("%s%s question %d%s", tokenizer.ImStart, "user\n", k, tokenizer.ImEnd))
		cache[id] = rollout.Prompt{IDs: ids}
		f.eng.key[fmt.Sprint(ids)] = k
		f.sample[id] = k
		pool = append(pool, tasks.Sample{ID: id, DataSource: tasks.Counting, Answer: "1,2,3"})
	}
	draw, err := newSampler(cfg.Seed, map[tasks.DataSource][]tasks.Sample{tasks.Counting: pool}, cfg.Data.Mix)
	if err != nil {
		t.Fatal(err)
	}
	if rewards == nil {
		rewards = reward.DefaultRegistry()
	}
	f.t = &Trainer{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil)), tok: tok, mc: mc, pad: mc.BosTokenID,
		cache: cache, data: &Data{}, draw: draw, rewards: rewards, policy: f.pol, engine: f.eng, optim: &hostOptimizer{policy: f.pol, opt: f.opt}}
	if cfg.GRPO.KLCoef > 0 {
		f.t.ref = params.New()
	}
	return f
}

// numberReward scores a response as the number it is.
func numberReward(t *testing.T) *reward.Registry {
	r := reward.NewRegistry()
	err := r.Register(string(tasks.Counting), reward.ScoreFunc(func(_ context.Context, it reward.Item) (float64, error) {
		return strconv.ParseFloat(it.Response, 64)
	}))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestGRPOStepsOnFakes runs two GRPO steps on fakes and checks what
// reaches the policy and the optimizer: group advantages, zero-variance
// groups masked out under dynamic sampling, old and reference log-probs per
// row, micro-batch gradients averaged into each optimizer step, and a
// mini-batch with a non-finite loss skipped.
func TestGRPOStepsOnFakes(t *testing.T) {
	// Even samples: rewards 1, 0, 0.5, 0.5 (informative); odd: all 0.3.
	answers := map[int][]string{}
	for k := range 8 {
		answers[k] = []string{"1", "0", "0.5", "0.5"}
		if k%2 == 1 {
			answers[k] = []string{"0.3", "0.3", "0.3", "0.3"}
		}
	}
	f := newFakeLoop(t, 8, answers, numberReward(t), "grpo.mini_batches=2")
	g := f.t.cfg.GRPO
	std := math.Sqrt((0.25 + 0.25) / 3) // unbiased std of 1, 0, 0.5, 0.5
	wantAdv := []float64{0.5 / (std + g.AdvEps), -0.5 / (std + g.AdvEps), 0, 0}

	for step := range 2 {
		calls0, steps0 := len(f.pol.calls), len(f.opt.steps)
		if step == 1 {
			f.pol.nanLoss[calls0] = true // the first micro-batch of step 1
		}
		st, err := f.t.grpoStep(context.Background(), step)
		if err != nil {
			t.Fatal(err)
		}
		if want := f.t.cfg.Seed*1_000_003 + uint64(step); f.eng.seeds[step] != want {
			t.Errorf("step %d rolled out with seed %d, want %d", step, f.eng.seeds[step], want)
		}
		drawn := f.eng.drawn[step]
		informative := 0
		for _, k := range drawn {
			if k%2 == 0 {
				informative++
			}
		}
		if len(drawn) != g.BatchPrompts || informative == 0 || informative == len(drawn) {
			t.Fatalf("step %d drew samples %v: the test needs informative groups and others", step, drawn)
		}
		samples := drawn
		// Rewards and statistics.
		wantReward := (float64(informative)*2 + float64(len(samples)-informative)*1.2) / float64(4*len(samples))
		if math.Abs(st.Reward-wantReward) > 1e-12 || st.ZeroVarFrac != float64(len(samples)-informative)/float64(len(samples)) {
			t.Errorf("step %d: reward %v, zero-var %v; want %v, %v", step, st.Reward, st.ZeroVarFrac, wantReward, float64(len(samples)-informative)/float64(len(samples)))
		}
		// Masking: only the informative groups' rows reach the policy,
		// each with its advantage, old and reference log-probs.
		calls := f.pol.calls[calls0:]
		rows := 0
		var advs []float64
		for _, c := range calls {
			if c.B > g.MicroBatchRows {
				t.Errorf("step %d: a micro-batch of %d rows (micro_batch_rows %d)", step, c.B, g.MicroBatchRows)
			}
			for j := range c.B {
				rows++
				advs = append(advs, c.adv[j])
				n := c.lens[j]
				for tt := range n {
					old := c.old[j*c.R+tt]
					if k := int(math.Round(-10*(old+float64(tt)/100))) - 1; k < 0 || k%2 != 0 {
						t.Errorf("step %d: row %d carries the old log-prob %v of sample %d, which is not informative", step, j, old, k)
					}
					if ref := c.ref[j*c.R+tt]; ref != -1-float64(tt)/1000 {
						t.Errorf("step %d: reference log-prob %v at %d", step, ref, tt)
					}
				}
			}
		}
		if rows != 4*informative || st.RowsTrained != rows {
			t.Fatalf("step %d: %d rows trained (stats %d), want the %d of the informative groups", step, rows, st.RowsTrained, 4*informative)
		}
		count := map[float64]int{}
		for _, a := range advs {
			count[math.Round(a*1e9)/1e9]++
		}
		for i, a := range wantAdv {
			if want := informative; i < 2 && count[math.Round(a*1e9)/1e9] != want {
				t.Errorf("step %d: advantage %v on %d rows, want %d (all: %v)", step, a, count[math.Round(a*1e9)/1e9], want, advs)
			}
		}
		if count[0] != 2*informative {
			t.Errorf("step %d: %d zero advantages, want %d", step, count[0], 2*informative)
		}
		// Accumulation: each optimizer step gets the mean of its
		// micro-batches' gradients.
		minis := splitMini(make([]microBatch, len(calls)), g.MiniBatches)
		c := calls0
		var wantSteps []float32
		for m, mini := range minis {
			var sum float64
			nan := false
			for range mini {
				sum += float64(c + 1)
				nan = nan || f.pol.nanLoss[c]
				c++
			}
			if !nan {
				wantSteps = append(wantSteps, float32(sum/float64(len(mini))))
			} else if step != 1 || m != 0 {
				t.Fatalf("unexpected NaN in step %d mini-batch %d", step, m)
			}
		}
		got := f.opt.steps[steps0:]
		if len(got) != len(wantSteps) {
			t.Fatalf("step %d: %d optimizer steps, want %d", step, len(got), len(wantSteps))
		}
		for i := range got {
			if math.Abs(float64(got[i]["w"][0]-wantSteps[i])) > 1e-5 {
				t.Errorf("step %d optimizer step %d: gradient w = %v, want the micro-batch mean %v", step, i, got[i]["w"][0], wantSteps[i])
			}
		}
		// Skipping and the metrics of the update.
		wantSkipped := 0
		if step == 1 {
			wantSkipped = 1
		}
		if st.Updates != len(minis) || st.Skipped != wantSkipped {
			t.Errorf("step %d: %d updates, %d skipped; want %d, %d", step, st.Updates, st.Skipped, len(minis), wantSkipped)
		}
		m := st.Metrics()
		if _, ok := m[metrics.GradNorm]; !ok || m[metrics.Skipped] != float64(wantSkipped) || m[metrics.RowsTrained] != float64(rows) {
			t.Errorf("step %d metrics %v", step, m)
		}
	}
	if f.pol.refRuns == 0 {
		t.Error("no reference log-probs were computed with kl_coef > 0")
	}
}

// TestGRPOStepNoInformativeGroup: with dynamic sampling and every group of
// equal rewards, the step trains nothing and says so.
func TestGRPOStepNoInformativeGroup(t *testing.T) {
	answers := map[int][]string{}
	for k := range 4 {
		answers[k] = []string{"0.5", "0.5", "0.5", "0.5"}
	}
	f := newFakeLoop(t, 4, answers, numberReward(t))
	st, err := f.t.grpoStep(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.pol.calls) != 0 || len(f.opt.steps) != 0 || st.RowsTrained != 0 || st.Skipped != 1 || st.ZeroVarFrac != 1 {
		t.Fatalf("%d train calls, %d optimizer steps, stats %+v", len(f.pol.calls), len(f.opt.steps), st)
	}
	if _, ok := st.Metrics()[metrics.Loss]; ok {
		t.Error("a step without an update reports a loss")
	}
}

// TestScoringErrorStopsTheStep: a reward that fails (a plug-in crashing,
// answering garbage) stops the step with an error naming the sample, not
// a reward of 0.
func TestScoringErrorStopsTheStep(t *testing.T) {
	answers := map[int][]string{}
	for k := range 4 {
		answers[k] = []string{"1", "0", "garbage", "1"}
	}
	f := newFakeLoop(t, 4, answers, numberReward(t))
	_, err := f.t.grpoStep(context.Background(), 0)
	if err == nil || !strings.Contains(err.Error(), "sample counting-0") || !strings.Contains(err.Error(), "garbage") {
		t.Fatalf("error %v, want one naming the sample and the bad answer", err)
	}
	if len(f.pol.calls) != 0 {
		t.Error("the step trained after a scoring error")
	}
}

// TestStrictRewardOnFakes: with data.reward strict the responses are
// scored by the binary strict:<source> reward of the registry.
func TestStrictRewardOnFakes(t *testing.T) {
	answers := map[int][]string{}
	for k := range 4 {
		answers[k] = []string{"1,2,3", "1,2,4", "1,2,4", "1,2,4"} // exact once; two classes of three right
	}
	smooth := newFakeLoop(t, 4, answers, nil)
	strict := newFakeLoop(t, 4, answers, nil, "data.reward=strict")
	a, err := smooth.t.grpoStep(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := strict.t.grpoStep(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if b.Reward != 0.25 || a.Reward <= b.Reward {
		t.Fatalf("mean reward smooth %v, strict %v; want strict 0.25 (one exact answer in four) below smooth", a.Reward, b.Reward)
	}
}

// TestGroundTruthsCheckedAtLoad: a malformed ground truth is an error
// naming the sample before any step.
func TestGroundTruthsCheckedAtLoad(t *testing.T) {
	f := newFakeLoop(t, 1, nil, nil)
	good := tasks.Sample{ID: "counting-ok", DataSource: tasks.Counting, Answer: "1,2,3"}
	bad := tasks.Sample{ID: "counting-bad", DataSource: tasks.Counting, Answer: "three"}
	if err := f.t.checkGroundTruths(&Data{Train: map[tasks.DataSource][]tasks.Sample{tasks.Counting: {good}}}); err != nil {
		t.Fatal(err)
	}
	err := f.t.checkGroundTruths(&Data{Train: map[tasks.DataSource][]tasks.Sample{tasks.Counting: {good, bad}}})
	if err == nil || !strings.Contains(err.Error(), "counting-bad") || !errors.Is(err, reward.ErrBadGroundTruth) {
		t.Fatalf("error %v, want ErrBadGroundTruth naming counting-bad", err)
	}
	vb := tasks.Sample{ID: "viu-7", Subtype: "jigsaw_easy", Answer: "11"}
	if err := f.t.checkGroundTruths(&Data{Bench: []tasks.Sample{vb}}); err == nil || !strings.Contains(err.Error(), "viu-7") {
		t.Fatalf("bad VIUBench answer: %v", err)
	}
}

// recordingOptimizer is an Optimizer that keeps its gradients to itself,
// as the device one does: it records the calls the loop makes, and its
// micro-batch losses are those of its fakePolicy.
type recordingOptimizer struct {
	pol    *fakePolicy
	events []string
}

func (o *recordingOptimizer) Micros(ctx context.Context, graph string, mbs []Micro) ([]*model.StepResult, error) {
	var out []*model.StepResult
	ev := "micros"
	for _, mb := range mbs {
		res, err := o.pol.TrainStep(ctx, graph, mb.Seq, mb.Vision, mb.Inputs)
		if err != nil {
			return nil, err
		}
		out = append(out, &model.StepResult{Loss: res.Loss})
		ev += fmt.Sprintf(" %.3g", mb.Weight)
	}
	o.events = append(o.events, ev)
	return out, nil
}
func (o *recordingOptimizer) Discard() { o.events = append(o.events, "discard") }
func (o *recordingOptimizer) Step(ctx context.Context) (optim.StepStats, error) {
	if ctx.Done() != nil {
		return optim.StepStats{}, errors.New("the update was given a context that can be cancelled")
	}
	o.events = append(o.events, "step")
	return optim.StepStats{GradNorm: 1, LR: 0.5}, nil
}
func (o *recordingOptimizer) Save(string) error { return nil }
func (o *recordingOptimizer) Load(string) error { return nil }

// TestUpdateWithDeviceStyleOptimizer: with an optimizer whose gradients
// never reach the loop, each mini-batch is one Micros call with the
// micro-batch weights 1/#micro-batches, a mini-batch with a non-finite
// loss is discarded instead of stepped, the steps run on a context that
// cannot be cancelled, and the loop's statistics come from the results.
func TestUpdateWithDeviceStyleOptimizer(t *testing.T) {
	answers := map[int][]string{}
	for k := range 4 {
		answers[k] = []string{"1", "0", "0.5", "0.5"}
	}
	f := newFakeLoop(t, 4, answers, numberReward(t), "grpo.mini_batches=2", "grpo.micro_batch_rows=4")
	rec := &recordingOptimizer{pol: f.pol}
	f.t.optim = rec
	f.pol.nanLoss[0] = true // the first mini-batch's first micro-batch
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := f.t.grpoStep(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"micros 0.5 0.5", "discard", "micros 0.5 0.5", "step"}
	if !slices.Equal(rec.events, want) {
		t.Fatalf("optimizer calls %q, want %q", rec.events, want)
	}
	if st.Updates != 2 || st.Skipped != 1 || st.GradNorm != 1 || st.LR != 0.5 {
		t.Fatalf("stats %+v", st)
	}
}

// TestStepTransfersInMetrics: a step's host<->device bytes (the policy's
// count before and after it) are its h2d_bytes and d2h_bytes; a policy
// that counts nothing (the host-fed path) reports neither.
func TestStepTransfersInMetrics(t *testing.T) {
	answers := map[int][]string{}
	for k := range 4 {
		answers[k] = []string{"1", "0", "0.5", "0.5"}
	}
	for _, counted := range []bool{true, false} {
		f := newFakeLoop(t, 4, answers, numberReward(t))
		f.pol.counted = counted
		f.pol.moved.H2D[ort.KindWeights] = 1 << 20 // the load, before the step
		moved := f.t.transfersSince()
		st, err := f.t.grpoStep(context.Background(), 0)
		if err != nil {
			t.Fatal(err)
		}
		st.Moved = moved()
		m := st.Metrics()
		h2d, okIn := m[metrics.H2DBytes]
		d2h, okOut := m[metrics.D2HBytes]
		if !counted {
			if okIn || okOut || st.Moved != nil {
				t.Fatalf("uncounted transfers reported: %v", m)
			}
			continue
		}
		calls := float64(len(f.pol.calls))
		if want := 100*calls + 1000*float64(f.pol.refRuns); h2d != want || d2h != 10*calls || calls == 0 {
			t.Fatalf("h2d_bytes %v, d2h_bytes %v; want %v and %v", h2d, d2h, want, 10*calls)
		}
		sft := SFTStats{Loss: 1, Moved: st.Moved}
		if sm := sft.Metrics(); sm[metrics.H2DBytes] != h2d || sm[metrics.D2HBytes] != d2h {
			t.Fatalf("SFT metrics %v", sm)
		}
	}
}
