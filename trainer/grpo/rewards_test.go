package grpo

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/reward"
	"github.com/videossr/videossr-go/reward/plugin"
)

// parityPlugin is a POSIX shell reward plug-in: it answers each request
// line {"id":N,...} with score 1 for an even id and 0.25 for an odd one,
// and appends the data source and ground truth of each request to log.
func parityPlugin(t *testing.T, log string) string {
	t.Helper()
	script := `#!/bin/sh
while IFS= read -r line; do
  id=${line#'{"id":'}
  id=${id%%,*}
  printf '%s\n' "$line" >> '` + log + `'
  if [ $((id % 2)) -eq 0 ]; then s=1; else s=0.25; fi
  printf '{"id":%s,"score":%s}\n' "$id" "$s"
done
`
	p := filepath.Join(t.TempDir(), "parity.sh")
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPluginFromConfigScoresTwoSteps: a reward plug-in of reward.plugins
// scores the responses of its data source (here counting, replacing the
// built-in reward) for two GRPO steps, and the run stops it at Close.
func TestPluginFromConfigScoresTwoSteps(t *testing.T) {
	log := filepath.Join(t.TempDir(), "requests.log")
	script := parityPlugin(t, log)
	answers := map[int][]string{}
	for k := range 8 {
		answers[k] = []string{"a", "b", "c", "d"}
	}
	f := newFakeLoop(t, 8, answers, nil, `reward.plugins=[{data_sources: [counting], command: [sh, `+script+`], timeout: 10s}]`)
	if err := f.t.addPlugins(); err != nil {
		t.Fatal(err)
	}
	for step := range 2 {
		st, err := f.t.grpoStep(context.Background(), step)
		if err != nil {
			t.Fatal(err)
		}
		// Each group of 4 gets ids 0..3: scores 1, 0.25, 1, 0.25.
		if math.Abs(st.Reward-0.625) > 1e-12 || st.RowsTrained == 0 {
			t.Fatalf("step %d: mean reward %v (want the plug-in's 0.625), %d rows trained", step, st.Reward, st.RowsTrained)
		}
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2*4*4 || !strings.Contains(lines[0], `"data_source":"counting"`) || !strings.Contains(lines[0], `"ground_truth":"1,2,3"`) ||
		!strings.Contains(lines[0], `"extra_info":{"id":"counting-`) {
		t.Fatalf("%d requests, first %s", len(lines), lines[0])
	}
	if err := f.t.closePlugins(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.t.plugins[0].Score(context.Background(), nil); !errors.Is(err, plugin.ErrClosed) {
		t.Errorf("plug-in not closed: %v", err)
	}
}

// TestGarbagePluginStopsTheStep: a plug-in that answers garbage stops the
// step with an error naming the sample, the plug-in and what it said, and
// nothing is trained on a made-up reward.
func TestGarbagePluginStopsTheStep(t *testing.T) {
	answers := map[int][]string{}
	for k := range 4 {
		answers[k] = []string{"a", "b", "c", "d"}
	}
	f := newFakeLoop(t, 4, answers, nil, `reward.plugins=[{data_sources: [counting], command: [sh, -c, "while read -r l; do echo 'score: high'; done"]}]`)
	if err := f.t.addPlugins(); err != nil {
		t.Fatal(err)
	}
	defer f.t.closePlugins()
	_, err := f.t.grpoStep(context.Background(), 0)
	if !errors.Is(err, plugin.ErrProtocol) {
		t.Fatalf("error %v, want a protocol error", err)
	}
	for _, want := range []string{"score sample counting-0", "reward.plugins[0]", `"score: high"`, "not a JSON object"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if len(f.pol.calls) != 0 || len(f.opt.steps) != 0 {
		t.Error("the step trained after the plug-in failed")
	}
}

// TestPluginSourceMustBeFree: a plug-in for a data source the registry
// already has (not a built-in one) is an error naming the key.
func TestPluginSourceMustBeFree(t *testing.T) {
	f := newFakeLoop(t, 1, nil, numberReward(t), `reward.plugins=[{data_sources: [grounding, x], command: ["true"]}, {data_sources: [counting], command: ["true"]}]`)
	if err := f.t.addPlugins(); err != nil {
		t.Fatalf("a built-in source (replaced) and a new one: %v", err)
	}
	f.t.closePlugins()
	g := newFakeLoop(t, 1, nil, numberReward(t), `reward.plugins=[{data_sources: [x], command: ["true"]}]`)
	if err := g.t.rewards.Register("x", fakeScorer{}); err != nil {
		t.Fatal(err)
	}
	err := g.t.addPlugins()
	if err == nil || !strings.Contains(err.Error(), "reward.plugins[0].data_sources") || !strings.Contains(err.Error(), `"x"`) {
		t.Fatalf("error %v", err)
	}
}

// fakeScorer scores everything 0.
type fakeScorer struct{}

func (fakeScorer) Score(_ context.Context, items []reward.Item) ([]float64, error) {
	return make([]float64, len(items)), nil
}

// TestStrictKeepsPlugins: with data.reward strict the built-in rewards are
// their strict variants, but a data source a plug-in scores (a built-in
// one it replaces included) stays the plug-in's.
func TestStrictKeepsPlugins(t *testing.T) {
	f := newFakeLoop(t, 1, nil, nil, "data.reward=strict", `reward.plugins=[{data_sources: [counting, number], command: ["true"]}]`)
	for src, want := range map[string]string{"counting": "counting", "number": "number", "jigsaw": "strict:jigsaw", "grounding": "strict:grounding"} {
		if got := f.t.rewardSourceName(src); got != want {
			t.Errorf("%s scored as %s, want %s", src, got, want)
		}
	}
}
