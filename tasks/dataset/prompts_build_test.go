package dataset

import (
	"context"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/tasks"
)

// TestBuildUsesSpecPrompts: samples built from specs with their own
// wording carry its system message and questions.
func TestBuildUsesSpecPrompts(t *testing.T) {
	p, err := tasks.ParsePrompts("x", []byte("system: Be terse.\ncounting: \"How many? e.g. {example}\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	specs := tasks.WithPrompts(tasks.GenSpecs(tasks.DefaultGenConfig(), []tasks.DataSource{tasks.Counting, tasks.Jigsaw}), &p)
	plan, err := PlanGen(fakeInputs(1), specs, 1, 3, smallSampling(), Shard{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if _, err := Build(context.Background(), plan, Options{Out: out, Backend: testBackend{fakeLoader()}, Formats: []string{"jsonl"}}); err != nil {
		t.Fatal(err)
	}
	samples, err := ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 2 {
		t.Fatalf("%d samples", len(samples))
	}
	for _, s := range samples {
		if len(s.Prompt) != 2 || s.Prompt[0].Content != "Be terse." || !strings.HasSuffix(s.Prompt[1].Content, s.Question) {
			t.Errorf("%s: prompt %+v", s.ID, s.Prompt)
		}
		if s.DataSource == tasks.Counting && s.Question != "How many? e.g. 3,0,2" {
			t.Errorf("counting question %q", s.Question)
		}
		if s.DataSource == tasks.Jigsaw && s.Question != tasks.JigsawQuestion(s.Meta.Jigsaw.Clips) {
			t.Errorf("jigsaw question (default template kept) %q", s.Question)
		}
	}
}
