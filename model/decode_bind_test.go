package model

import (
	"context"
	"math"
	"testing"
)

// TestDecodeStaticBindingFollowsStoreAndBuffers: the bound decode is
// rebuilt when the parameter store or the cache buffers change, so its
// logits always equal the unbound growing-cache decode's.
func TestDecodeStaticBindingFollowsStoreAndBuffers(t *testing.T) {
	rt := openRuntime(t)
	c := tinyTest()
	p := newPolicy(t, rt, c, 3, 4, GraphVision, GraphPrefill, GraphDecode, GraphDecodeStatic)
	other := sharpParams(t, c, 9, 4)
	ctx := context.Background()
	prompts := [][]int{{9, 10, 11}, {12, 13}}
	pb, err := c.NewPromptBatch(prompts, [][]int{nil, nil}, c.NewVideos(nil), c.BosTokenID)
	if err != nil {
		t.Fatal(err)
	}
	zero := Float32Tensor(p.Float(), []int64{1, int64(c.HiddenSize)}, make([]float32, c.HiddenSize))
	// One cache, three steps over it: only the parameter store changes,
	// so a binding keyed without the store would reuse stale weights.
	_, cache, err := p.Prefill(ctx, pb, zero)
	if err != nil {
		t.Fatal(err)
	}
	for round, view := range []*Policy{p, p.WithStore(other), p} {
		tokens := []int64{14, 15}
		pos := append([]int64(nil), pb.Next...)
		valid := make([][]bool, 2)
		for r := range valid {
			valid[r] = append(append([]bool(nil), pb.Valid[r]...), true)
		}
		want, _, err := view.Decode(ctx, tokens, pos, valid, cache)
		if err != nil {
			t.Fatal(err)
		}
		// Static: the cache as buffers with exactly the prompt's slots.
		got, _, err := view.DecodeStatic(ctx, tokens, pos, valid, cache)
		if err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		for i := range want {
			worst = math.Max(worst, math.Abs(float64(want[i]-got[i])))
		}
		if worst > 1e-4 {
			t.Fatalf("round %d: bound static decode differs from the growing-cache decode by %g", round, worst)
		}
	}
}
