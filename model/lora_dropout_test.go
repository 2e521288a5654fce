package model

import (
	"context"
	"testing"
)

// TestLoRADropoutInTraining: with lora dropout the training graph draws a
// new mask per run (the adapter gradients change from run to run while the
// loss, with B = 0, does not); without it two runs give the same gradients.
func TestLoRADropoutInTraining(t *testing.T) {
	rt := openRuntime(t)
	for _, p := range []float64{0, 0.5} {
		c := tinyTest()
		c.LoRA = &LoRAConfig{Rank: 2, Alpha: 4, Dropout: p, TargetModules: []string{"q_proj"}}
		pol := newPolicy(t, rt, c, 3, 2, GraphSFT)
		sb, vb := grpoFixture(t, c)
		ctx := context.Background()
		a, err := pol.TrainStep(ctx, GraphSFT, sb, vb, StepInputs{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := pol.TrainStep(ctx, GraphSFT, sb, vb, StepInputs{})
		if err != nil {
			t.Fatal(err)
		}
		if a.Loss != b.Loss {
			t.Fatalf("dropout %g: loss changed between runs with B = 0: %v, %v", p, a.Loss, b.Loss)
		}
		name := "model.layers.0.self_attn.q_proj.lora_B.weight"
		ga, gb := a.Grads[name], b.Grads[name]
		if len(ga) == 0 {
			t.Fatalf("no gradient for %s", name)
		}
		same := true
		for i := range ga {
			same = same && ga[i] == gb[i]
		}
		if p == 0 && !same {
			t.Fatal("without dropout two runs gave different adapter gradients")
		}
		if p > 0 && same {
			t.Fatal("with dropout two runs gave identical adapter gradients (no mask drawn)")
		}
	}
}
