package rollout

import (
	"context"
	"math"
	"testing"

	"github.com/videossr/videossr-go/model"
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
