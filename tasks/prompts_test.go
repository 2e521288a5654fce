package tasks

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/tasks/perturb"
)

// TestDefaultPromptsUnchanged pins the default wording to the questions
// this project asked before templates existed (testdata golden, written by
// the former hand-coded functions): VIUBench numbers stay comparable.
func TestDefaultPromptsUnchanged(t *testing.T) {
	var b strings.Builder
	for _, k := range perturb.All() {
		fmt.Fprintf(&b, "%q\n", GroundingQuestion(perturb.Describe(k)))
	}
	fmt.Fprintf(&b, "%q\n", GroundingQuestion(""))
	fmt.Fprintf(&b, "%q\n", CountingQuestion())
	for n := 1; n <= 9; n++ {
		fmt.Fprintf(&b, "%q\n", JigsawQuestion(n))
	}
	want, err := os.ReadFile(filepath.Join("testdata", "default_questions.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Fatalf("default questions changed:\n%s\nwant\n%s", b.String(), want)
	}
	// The methods of DefaultPrompts give the same text.
	p := DefaultPrompts()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := p.GroundingQuestion("mirror"); got != GroundingQuestion(perturb.Describe(perturb.Mirror)) {
		t.Errorf("GroundingQuestion(mirror) = %q", got)
	}
	msgs := BuildPrompt("Q", 1, false)
	if len(msgs) != 2 || msgs[0] != (Message{Role: "system", Content: SystemPrompt}) || msgs[1].Content != "<video>\nQ" {
		t.Errorf("BuildPrompt = %+v", msgs)
	}
}

func TestParsePrompts(t *testing.T) {
	yml := `system: "Answer with the answer only."
grounding: "What changed: {perturbation} When? Format: start-end, e.g. {example}"
jigsaw: |
  Order the {clips} clips (e.g. {example}); {braces stay} {1} {}.
perturbations:
  mirror: The picture was flipped left to right
`
	p, err := ParsePrompts("mine.yaml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.GroundingQuestion("mirror"), "What changed: The picture was flipped left to right. When? Format: start-end, e.g. 14.5-26.2"; got != want {
		t.Errorf("grounding:\n%q\nwant\n%q", got, want)
	}
	if got, want := p.GroundingQuestion("rotate180"), "What changed: "+perturb.Describe(perturb.Rotate180)+" When? Format: start-end, e.g. 14.5-26.2"; got != want {
		t.Errorf("grounding without override:\n%q\nwant\n%q", got, want)
	}
	if got, want := p.JigsawQuestion(8), "Order the 8 clips (e.g. 13572468); {braces stay} {1} {}.\n"; got != want {
		t.Errorf("jigsaw:\n%q\nwant\n%q", got, want)
	}
	def := DefaultPrompts()
	if p.CountingQuestion() != def.CountingQuestion() {
		t.Error("a key the file omits must keep the default")
	}
	if m := p.Messages("Q", 2, true); len(m) != 2 || m[0].Content != "Answer with the answer only." || m[1].Content != "Clip 1: <video>\nClip 2: <video>\nQ" {
		t.Errorf("messages %+v", m)
	}
	noSys, err := ParsePrompts("x", []byte(`system: ""`))
	if err != nil {
		t.Fatal(err)
	}
	if m := noSys.Messages("Q", 1, false); len(m) != 1 || m[0].Role != "user" {
		t.Errorf("empty system: %+v", m)
	}
	if empty, err := ParsePrompts("empty.yaml", nil); err != nil || empty.Jigsaw != def.Jigsaw {
		t.Errorf("empty file: %v", err)
	}
}

func TestPromptsErrors(t *testing.T) {
	for _, c := range []struct{ yml, want string }{
		{`grounding: "When did it change? {example}"`, "grounding: missing placeholder {perturbation}, which the task needs"},
		{`jigsaw: "Order the clips."`, "jigsaw: missing placeholder {clips}, which the task needs"},
		{`jigsaw: "Order the {clip} clips {clips}."`, "jigsaw: unknown placeholder {clip} (this template may use {clips}, {example})"},
		{`counting: "Count {perturbation}."`, "counting: unknown placeholder {perturbation} (this template may use {example})"},
		{`system: "Be brief {example}"`, "system: unknown placeholder {example} (this template may use none)"},
		{`counting: "  "`, "counting: empty template"},
		{`counting_hard: "x"`, "field counting_hard not found"},
		{`perturbations: {wobble: "x"}`, `perturbations: "wobble"`},
		{`perturbations: {mirror: ""}`, "perturbations: mirror: empty description"},
		{`grounding: [1, 2]`, "cannot unmarshal"},
	} {
		_, err := ParsePrompts("p.yaml", []byte(c.yml))
		if !errors.Is(err, ErrBadPrompts) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "p.yaml") {
			t.Errorf("%s: err = %v, want %q", c.yml, err, c.want)
		}
	}
	if _, err := LoadPrompts(filepath.Join(t.TempDir(), "none.yaml")); err == nil {
		t.Error("missing file accepted")
	}
	path := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(path, []byte(`counting: "How many of each? {example}"`), 0o644)
	if p, err := LoadPrompts(path); err != nil || p.CountingQuestion() != "How many of each? 3,0,2" {
		t.Errorf("LoadPrompts: %q, %v", p.CountingQuestion(), err)
	}
}

// TestSpecUsesPrompts: a spec with its own wording generates its
// questions and messages from it; the drawn sample is otherwise the same.
func TestSpecUsesPrompts(t *testing.T) {
	p, err := ParsePrompts("x", []byte("system: S\ngrounding: \"G {perturbation}\"\ncounting: C {example}\njigsaw: \"J {clips}\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultGenConfig()
	src := Source{Frames: tinyFrames(48, 16, 12, 3), FPS: 2}
	for _, task := range AllDataSources() {
		spec := GenSpecs(cfg, []DataSource{task})[0]
		plain, err := spec.Generate(src, NewRand(5))
		if err != nil {
			t.Fatal(err)
		}
		mine := WithPrompts([]TaskSpec{spec}, &p)[0]
		if err := mine.Validate(); err != nil {
			t.Fatal(err)
		}
		g, err := mine.Generate(src, NewRand(5))
		if err != nil {
			t.Fatal(err)
		}
		var want string
		switch task {
		case Grounding:
			want = "G " + p.describe(g.Meta.Grounding.Perturbation)
		case Counting:
			want = "C 3,0,2"
		case Jigsaw:
			want = fmt.Sprintf("J %d", g.Meta.Jigsaw.Clips)
		}
		if g.Question != want || g.Answer != plain.Answer || plain.Question == want {
			t.Errorf("%s: question %q (want %q), answer %q vs %q", task, g.Question, want, g.Answer, plain.Answer)
		}
		if m := mine.Messages(g.Question, 1, false); m[0].Content != "S" {
			t.Errorf("%s: messages %+v", task, m)
		}
		if m := spec.Messages(g.Question, 1, false); m[0].Content != SystemPrompt {
			t.Errorf("%s: default messages %+v", task, m)
		}
	}
	bad := GenSpecs(cfg, []DataSource{Jigsaw})[0]
	bad.Prompts = &Prompts{Grounding: "{perturbation}", Counting: "c", Jigsaw: "no clips"}
	if err := bad.Validate(); !errors.Is(err, ErrBadPrompts) || !strings.Contains(err.Error(), "{clips}") {
		t.Errorf("spec with bad prompts: %v", err)
	}
}
