package rollout

import (
	"context"
	"math"
	"testing"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/optim"
	"github.com/videossr/videossr-go/model/ort"
)

// TestResidentGenerateMatchesHost: a rollout on a device-resident policy
// (CPU device memory: parameters and KV cache stay there) draws the same
// tokens as the host path for the same seed, with the same log-probs (to
// 1e-6 relative: ONNX Runtime fuses the two decode graphs differently), over
// prompts with and without video and rows that stop at different steps;
// no weight byte and no cache byte comes back during the rollout.
func TestResidentGenerateMatchesHost(t *testing.T) {
	rt := openRuntime(t)
	graphs := []string{model.GraphVision, model.GraphPrefill, model.GraphDecodeStatic}
	host := tinyPolicy(t, rt, 1, graphs...)
	cpu := ort.CPUDevice()
	dev := tinyPolicyOn(t, rt, 1, &cpu, graphs...)
	c := host.Config
	ctx := context.Background()
	prompts := testPrompts(c)
	s := Sampling{Temperature: 1, TopP: 0.95, MaxNewTokens: 7, StopTokens: []int{30, 31, 32, 33}}
	want, _, err := NewEngine(host, c, nil, c.BosTokenID).Generate(ctx, prompts, 4, s, 11)
	if err != nil {
		t.Fatal(err)
	}
	before := dev.Ledger().Snapshot()
	got, _, err := NewEngine(dev, c, nil, c.BosTokenID).Generate(ctx, prompts, 4, s, 11)
	if err != nil {
		t.Fatal(err)
	}
	moved := dev.Ledger().Snapshot().Sub(before)
	if dev.Runs(model.GraphDecodeResident) == 0 || dev.Runs(model.GraphDecodeStatic) != 0 {
		t.Fatalf("resident rollout ran decode_resident %d times and the host-cache decode %d times", dev.Runs(model.GraphDecodeResident), dev.Runs(model.GraphDecodeStatic))
	}
	finish := map[string]int{}
	lens := map[int]bool{}
	for r := range want {
		w, g := want[r], got[r]
		if len(w.Tokens) != len(g.Tokens) || w.Finish != g.Finish {
			t.Fatalf("sample %d: host %v (%s), resident %v (%s)", r, w.Tokens, w.Finish, g.Tokens, g.Finish)
		}
		for k := range w.Tokens {
			if w.Tokens[k] != g.Tokens[k] || math.Abs(w.LogProbs[k]-g.LogProbs[k]) > 1e-6*(1+math.Abs(w.LogProbs[k])) {
				t.Fatalf("sample %d token %d: host %d (%g), resident %d (%g)", r, k, w.Tokens[k], w.LogProbs[k], g.Tokens[k], g.LogProbs[k])
			}
		}
		finish[g.Finish]++
		lens[len(g.Tokens)] = true
	}
	if finish[FinishStop] == 0 || finish[FinishLength] == 0 || len(lens) < 3 {
		t.Fatalf("rows not ragged enough to exercise dropping finished rows: %v, lengths %v", finish, lens)
	}
	if moved.Bytes(ort.KindWeights) != 0 || moved.D2H[ort.KindCache] != 0 {
		t.Fatalf("the rollout moved %v", moved)
	}
	t.Logf("rollout transfers: %v; finishes %v", moved, finish)
}

// TestResidentGRPOLoopMovesNoWeights: rollouts, reference log-probs and
// device-optimizer updates of a resident policy, step after step, move no
// weight byte once the policy and its reference are loaded; only a
// checkpoint (SyncHost) reads the trained parameters back.
func TestResidentGRPOLoopMovesNoWeights(t *testing.T) {
	rt := openRuntime(t)
	cpu := ort.CPUDevice()
	p := tinyPolicyOn(t, rt, 1, &cpu, model.GraphVision, model.GraphPrefill, model.GraphDecodeStatic, model.GraphLogProb, model.GraphGRPO)
	c := p.Config
	ref := p.WithStore(p.Store.Clone())
	opt, err := model.NewDeviceAdamW(p, optim.Config{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, MaxGradNorm: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Close()
	ctx := context.Background()
	pr := testPrompts(c)[0]
	vid := pr.Videos[0]
	e := NewEngine(p, c, nil, c.BosTokenID)
	s := Sampling{Temperature: 1, TopP: 1, MaxNewTokens: 5}
	led := p.Ledger()
	var loaded ort.Transfers
	for it := 0; it < 3; it++ {
		if it == 1 {
			loaded = led.Snapshot() // the reference's weights went up in iteration 0
		}
		out, _, err := e.Generate(ctx, []Prompt{pr}, 4, s, uint64(it))
		if err != nil {
			t.Fatal(err)
		}
		vids := make([]model.VisionInput, len(out))
		rows := make([]model.Row, len(out))
		for r, smp := range out {
			vids[r] = vid
			rows[r] = model.Row{Prompt: pr.IDs, Response: smp.Tokens, Videos: []int{r}}
		}
		vb := mustVB(t, c, vids)
		sb, err := c.NewSeqBatch(rows, vb.Videos, c.BosTokenID)
		if err != nil {
			t.Fatal(err)
		}
		emb, err := ref.Encode(ctx, vb)
		if err != nil {
			t.Fatal(err)
		}
		refLP, _, err := ref.LogProbs(ctx, sb, emb)
		if err != nil {
			t.Fatal(err)
		}
		in := model.StepInputs{Advantages: []float64{1, -1, 0.5, -0.5}, OldLogProb: make([]float64, sb.B*sb.R), RefLogProb: refLP}
		for r, smp := range out {
			copy(in.OldLogProb[r*sb.R:], smp.LogProbs)
		}
		if _, err := opt.Micro(ctx, model.GraphGRPO, sb, vb, in, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := opt.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	between := led.Snapshot().Sub(loaded)
	if between.Bytes(ort.KindWeights) != 0 || between.Bytes(ort.KindGradients) != 0 {
		t.Fatalf("two GRPO iterations moved %v", between)
	}
	if err := p.SyncHost(); err != nil {
		t.Fatal(err)
	}
	if got := led.Snapshot().Sub(loaded).D2H[ort.KindWeights]; got != 4*p.Store.NumParams() {
		t.Fatalf("the checkpoint read %d weight bytes, want the %d of the trained parameters", got, 4*p.Store.NumParams())
	}
	t.Logf("two iterations moved %v", between)
}
