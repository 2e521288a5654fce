package rollout

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/ort"
)

// replicaEngines opens n CPU replicas of the tiny test policy (weights as
// tinyPolicyOn's) and returns one engine over each, with the device names.
func replicaEngines(t testing.TB, rt *ort.Runtime, n int) ([]*Engine, []string, model.Config) {
	t.Helper()
	c := model.Tiny(48, testTokens())
	s, err := c.InitParams(5)
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range c.ParamSpecs() {
		if spec.Init != model.InitNormal {
			continue
		}
		p, _ := s.Get(spec.Name)
		for i := range p.Data {
			p.Data[i] *= 4
		}
	}
	devs, err := model.ReplicaDevices(ort.ProviderCPU, make([]int, n))
	if err != nil {
		t.Fatal(err)
	}
	graphs := []string{model.GraphVision, model.GraphPrefill}
	r, err := model.NewReplicas(rt, c, s, model.PolicyOptions{Graphs: graphs, Session: ort.Options{IntraOpThreads: 1, InterOpThreads: 1}}, devs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	engines := make([]*Engine, n)
	for i := range engines {
		engines[i] = NewEngine(r.Policy(i), c, nil, c.BosTokenID)
	}
	return engines, r.Names(), c
}

// shardPrompts are seven prompts: testPrompts' three (videos of two frame
// sizes, two clips, none) and four more of other lengths.
func shardPrompts(c model.Config) []Prompt {
	ps := testPrompts(c)
	g1 := model.Grid{GT: 2, GH: 4, GW: 4}
	g3 := model.Grid{GT: 1, GH: 4, GW: 2}
	ps = append(ps,
		Prompt{IDs: videoIDs(c, []int{30, 31}, g3, []int{32}), Videos: []model.VisionInput{randomVideo(c, g3, 4)}},
		Prompt{IDs: []int{18, 19, 20, 21, 22, 23, 24, 25}},
		Prompt{IDs: videoIDs(c, []int{26}, g1, []int{27, 28, 29}), Videos: []model.VisionInput{randomVideo(c, g1, 5)}},
		Prompt{IDs: []int{34, 35}},
	)
	return ps
}

// sameSamples fails unless a and b hold the same samples, log-probs equal
// within tol (0: bit for bit).
func sameSamples(t *testing.T, what string, want, got []Sample, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d samples, want %d", what, len(got), len(want))
	}
	for i := range want {
		a, b := want[i], got[i]
		if a.Prompt != b.Prompt || a.Row != b.Row || a.Finish != b.Finish || !slices.Equal(a.Tokens, b.Tokens) {
			t.Fatalf("%s, sample %d: prompt %d row %d tokens %v (%s), want prompt %d row %d tokens %v (%s)",
				what, i, b.Prompt, b.Row, b.Tokens, b.Finish, a.Prompt, a.Row, a.Tokens, a.Finish)
		}
		for k := range a.LogProbs {
			if d := math.Abs(a.LogProbs[k] - b.LogProbs[k]); d > tol*(1+math.Abs(a.LogProbs[k])) || (tol == 0 && a.LogProbs[k] != b.LogProbs[k]) {
				t.Fatalf("%s, sample %d: log-prob %d is %v, want %v", what, i, k, b.LogProbs[k], a.LogProbs[k])
			}
		}
	}
}

// TestShardedMatchesOneDevice: rolling a step out over 1, 2 or 3 CPU
// devices (separate replicas, one thread each) gives bit for bit the
// samples, tokens and log-probs of one engine's GenerateChunks with the
// same packs, for packs of one and of two prompts; dealing prompt by
// prompt (unit 0) gives the same tokens, with log-probs equal to float
// rounding. Every device gets work, and the statistics add up.
func TestShardedMatchesOneDevice(t *testing.T) {
	rt := openRuntime(t)
	engines, names, c := replicaEngines(t, rt, 3)
	ctx := context.Background()
	prompts := shardPrompts(c)
	const G = 3
	s := Sampling{Temperature: 1, TopP: 0.95, MaxNewTokens: 6, StopTokens: []int{30, 31, 32, 33}}
	const seed = 17
	finishes := map[string]int{}
	for _, unit := range []int{1, 2, 0} {
		want, _, err := engines[0].GenerateChunks(ctx, prompts, G, s, seed, unit)
		if err != nil {
			t.Fatal(err)
		}
		for _, smp := range want {
			finishes[smp.Finish]++
		}
		for n := 1; n <= 3; n++ {
			sh, err := NewSharded(engines[:n], names[:n])
			if err != nil {
				t.Fatal(err)
			}
			got, st, err := sh.Generate(ctx, prompts, G, s, seed, unit)
			if err != nil {
				t.Fatal(err)
			}
			tol := 0.0
			if unit == 0 && n > 1 {
				tol = 1e-5 // other batch neighbours, other padding
			}
			sameSamples(t, fmt.Sprintf("unit %d, %d devices", unit, n), want, got, tol)
			tokens, seen := 0, map[int]bool{}
			for _, d := range st.Devices {
				if len(d.Indices) == 0 || d.Stats.DecodeTokens == 0 || d.TokensPerSec() <= 0 || d.Stats.Prompts != len(d.Indices) {
					t.Fatalf("unit %d, %d devices: device %s did %+v", unit, n, d.Device, d)
				}
				tokens += d.Stats.DecodeTokens
				for _, i := range d.Indices {
					if seen[i] {
						t.Fatalf("prompt %d rolled out twice", i)
					}
					seen[i] = true
				}
			}
			var all int
			for _, smp := range got {
				all += len(smp.Tokens)
			}
			if len(seen) != len(prompts) || tokens != all || st.Total.DecodeTokens != all || st.Total.Rows != len(prompts)*G || st.TokensPerSec() <= 0 {
				t.Fatalf("unit %d, %d devices: %d prompts seen, %d device tokens, total %+v, %d sampled tokens", unit, n, len(seen), tokens, st.Total, all)
			}
		}
	}
	if finishes[FinishStop] == 0 || finishes[FinishLength] == 0 {
		t.Fatalf("rows not ragged: %v", finishes)
	}
}

// TestDealLongestFirst: the deal is balanced by cost, deterministic, and
// keeps each device's items in order.
func TestDealLongestFirst(t *testing.T) {
	for _, tc := range []struct {
		costs []int
		d     int
		want  [][]int
	}{
		{[]int{5, 5, 5, 5}, 2, [][]int{{0, 2}, {1, 3}}},
		{[]int{10, 1, 1, 1, 7}, 2, [][]int{{0}, {1, 2, 3, 4}}},
		{[]int{3, 9, 4}, 3, [][]int{{1}, {2}, {0}}},
		{[]int{2}, 3, [][]int{{0}, nil, nil}},
		{[]int{1, 2, 3, 4, 5, 6}, 1, [][]int{{0, 1, 2, 3, 4, 5}}},
	} {
		got := dealLongestFirst(tc.costs, tc.d)
		for i := range tc.want {
			if !slices.Equal(got[i], tc.want[i]) {
				t.Errorf("deal %v over %d: %v, want %v", tc.costs, tc.d, got, tc.want)
				break
			}
		}
	}
	p := Prompt{IDs: make([]int, 10), Videos: []model.VisionInput{{Grid: model.Grid{GT: 2, GH: 4, GW: 6}}}}
	if got := ExpectedTokens(p, 4, 5); got != 10+48+20 {
		t.Errorf("ExpectedTokens = %d, want %d", got, 10+48+20)
	}
}

// failModel is a fakeModel whose prefill fails.
type failModel struct{ fakeModel }

func (f *failModel) Prefill(ctx context.Context, pb *model.PromptBatch, e ort.Tensor) ([]float32, model.KVCache, error) {
	return nil, model.KVCache{}, errors.New("device lost")
}

// TestShardedFailureNamesDevice: a device that fails fails the whole
// rollout with a *model.DeviceError naming it; duplicate engines are
// refused.
func TestShardedFailureNamesDevice(t *testing.T) {
	c := fakeConfig(8)
	base := []float32{0, 1, 2, 3, 4, 5, 6, 7}
	ok := NewEngine(&fakeModel{base: base}, c, nil, 0)
	bad := NewEngine(&failModel{fakeModel{base: base}}, c, nil, 0)
	sh, err := NewSharded([]*Engine{ok, bad}, []string{"cuda:0", "cuda:5"})
	if err != nil {
		t.Fatal(err)
	}
	prompts := []Prompt{{IDs: []int{9, 10}}, {IDs: []int{11}}, {IDs: []int{12, 13, 14}}}
	_, _, err = sh.Generate(context.Background(), prompts, 2, Sampling{Temperature: 1, TopP: 1, MaxNewTokens: 3}, 1, 1)
	var de *model.DeviceError
	if !errors.As(err, &de) || de.Replica != 1 || de.Device != "cuda:5" || !strings.Contains(err.Error(), "device lost") {
		t.Fatalf("rollout with device 1 failing: %v", err)
	}
	if _, err := NewSharded([]*Engine{ok, ok}, nil); err == nil {
		t.Error("one engine given twice was accepted")
	}
}
