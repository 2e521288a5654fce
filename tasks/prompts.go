package tasks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/videossr/videossr-go/tasks/perturb"
)

// Prompt template placeholders. A template is plain text in which
// {name}, for a name made of lower-case letters and underscores, is a
// placeholder; any other brace is literal text.
const (
	// PhPerturbation is the one-sentence description of the grounding
	// perturbation (ending with a period). Required in the grounding
	// template: without it the model cannot know what to look for.
	PhPerturbation = "perturbation"
	// PhClips is the number of jigsaw clips. Required in the jigsaw
	// template: the number of digits to answer varies with it.
	PhClips = "clips"
	// PhExample is an example answer in the task's format ("14.5-26.2",
	// "3,0,2", "135246" for 6 clips); optional everywhere.
	PhExample = "example"
)

// Prompts is the wording of the prompts: the system message and one
// question template per task. The zero value is not usable; start from
// DefaultPrompts or LoadPrompts. Pass a *Prompts explicitly (TaskSpec's
// Prompts field); there is no global wording.
type Prompts struct {
	// System is the system message; empty leaves the system message out.
	System string `yaml:"system" json:"system"`
	// Grounding, Counting and Jigsaw are the question templates.
	Grounding string `yaml:"grounding" json:"grounding"`
	Counting  string `yaml:"counting" json:"counting"`
	Jigsaw    string `yaml:"jigsaw" json:"jigsaw"`
	// Perturbations overrides the description of some perturbations
	// (perturbation name -> one sentence) used for {perturbation}; the
	// others keep perturb.Describe's.
	Perturbations map[string]string `yaml:"perturbations,omitempty" json:"perturbations,omitempty"`
}

// DefaultPrompts returns this project's wording: the questions of
// GroundingQuestion, CountingQuestion and JigsawQuestion and SystemPrompt.
func DefaultPrompts() Prompts {
	return Prompts{
		System: SystemPrompt,
		Grounding: "{perturbation} Find the precise time interval, in seconds, during which this change is visible." +
			" Reply with the interval only, in the format <start>-<end> (seconds), for example {example}.",
		Counting: "Circles, squares and triangles have been drawn on some frames of this video." +
			" Their colours and rotations differ, and they may appear on a single frame or on several frames," +
			" with several shapes on the same frame." +
			" Count all the circles, all the squares and all the triangles over the whole video." +
			" Reply with the three counts only, in the format circles,squares,triangles, for example {example}.",
		Jigsaw: "The {clips} clips above are consecutive pieces of one video, cut into equal parts and shown in shuffled order." +
			" Restore the playing order: going through the original video from beginning to end, give the number of the clip that shows each piece." +
			" Reply with the {clips} digits only, without spaces, for example {example}.",
	}
}

// templateSpec says which placeholders a task's template may and must use.
type templateSpec struct {
	key      string
	text     func(p *Prompts) string
	allowed  []string
	required []string
}

func templateSpecs() []templateSpec {
	return []templateSpec{
		{"system", func(p *Prompts) string { return p.System }, nil, nil},
		{"grounding", func(p *Prompts) string { return p.Grounding }, []string{PhPerturbation, PhExample}, []string{PhPerturbation}},
		{"counting", func(p *Prompts) string { return p.Counting }, []string{PhExample}, nil},
		{"jigsaw", func(p *Prompts) string { return p.Jigsaw }, []string{PhClips, PhExample}, []string{PhClips}},
	}
}

// placeholders returns the placeholder names of a template, in order.
func placeholders(tmpl string) []string {
	var out []string
	for rest := tmpl; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return out
		}
		rest = rest[i+1:]
		if name, ok := leadingName(rest); ok {
			out = append(out, name)
			rest = rest[len(name)+1:]
		}
	}
}

// leadingName returns the placeholder name at the start of s (the text
// after a '{') when s starts with name + '}'.
func leadingName(s string) (string, bool) {
	j := 0
	for j < len(s) && (s[j] == '_' || (s[j] >= 'a' && s[j] <= 'z')) {
		j++
	}
	if j == 0 || j >= len(s) || s[j] != '}' {
		return "", false
	}
	return s[:j], true
}

// render substitutes the placeholders of a template.
func render(tmpl string, vals map[string]string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		b.WriteString(tmpl[:i])
		tmpl = tmpl[i+1:]
		name, ok := leadingName(tmpl)
		v, known := vals[name]
		if !ok || !known {
			b.WriteByte('{')
			continue
		}
		b.WriteString(v)
		tmpl = tmpl[len(name)+1:]
	}
}

// ErrBadPrompts is wrapped by the errors of Validate and LoadPrompts.
var ErrBadPrompts = errors.New("bad prompt templates")

// Validate checks the templates: every task template non-empty, using
// only its task's placeholders and all of those the task needs (errors
// name the template and the placeholder), and perturbation descriptions
// only for known perturbations.
func (p *Prompts) Validate() error {
	var errs []error
	for _, ts := range templateSpecs() {
		text := ts.text(p)
		if ts.key != "system" && strings.TrimSpace(text) == "" {
			errs = append(errs, fmt.Errorf("%s: empty template", ts.key))
			continue
		}
		used := placeholders(text)
		for _, name := range used {
			if !slices.Contains(ts.allowed, name) {
				want := "none"
				if len(ts.allowed) > 0 {
					want = "{" + strings.Join(ts.allowed, "}, {") + "}"
				}
				errs = append(errs, fmt.Errorf("%s: unknown placeholder {%s} (this template may use %s)", ts.key, name, want))
			}
		}
		for _, name := range ts.required {
			if !slices.Contains(used, name) {
				errs = append(errs, fmt.Errorf("%s: missing placeholder {%s}, which the task needs", ts.key, name))
			}
		}
	}
	for _, name := range sortedKeys(p.Perturbations) {
		if _, err := perturb.Parse(name); err != nil {
			errs = append(errs, fmt.Errorf("perturbations: %q: %w", name, err))
		} else if strings.TrimSpace(p.Perturbations[name]) == "" {
			errs = append(errs, fmt.Errorf("perturbations: %s: empty description", name))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrBadPrompts, errors.Join(errs...))
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// ParsePrompts reads prompt templates from YAML:
//
//	system: "..."
//	grounding: "{perturbation} ... for example {example}."
//	counting: "..."
//	jigsaw: "The {clips} clips ..."
//	perturbations: {mirror: "..."}   # optional
//
// A key the YAML omits keeps DefaultPrompts' text; an unknown key is an
// error. The result is validated. name labels errors (the file's path).
func ParsePrompts(name string, data []byte) (Prompts, error) {
	p := DefaultPrompts()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil && !errors.Is(err, io.EOF) {
		return Prompts{}, fmt.Errorf("prompts %s: %w: %s", name, ErrBadPrompts, strings.Join(strings.Fields(err.Error()), " "))
	}
	if err := p.Validate(); err != nil {
		return Prompts{}, fmt.Errorf("prompts %s: %w", name, err)
	}
	return p, nil
}

// LoadPrompts reads a prompt template file (see ParsePrompts).
func LoadPrompts(path string) (Prompts, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Prompts{}, fmt.Errorf("prompts: %w", err)
	}
	return ParsePrompts(path, data)
}

// describe returns the sentence for a perturbation, ending with a period.
func (p *Prompts) describe(kind string) string {
	d, ok := p.Perturbations[kind]
	if !ok {
		d = perturb.Describe(perturb.Kind(kind))
	}
	d = strings.TrimSpace(d)
	if d != "" && !strings.HasSuffix(d, ".") {
		d += "."
	}
	return d
}

// GroundingQuestion renders the grounding template for a perturbation
// (its name, e.g. "mirror"; see perturb).
func (p *Prompts) GroundingQuestion(kind string) string {
	return p.groundingText(p.describe(kind))
}

// groundingText renders the grounding template with a description.
func (p *Prompts) groundingText(desc string) string {
	return render(p.Grounding, map[string]string{PhPerturbation: desc, PhExample: "14.5-26.2"})
}

// CountingQuestion renders the counting template.
func (p *Prompts) CountingQuestion() string {
	return render(p.Counting, map[string]string{PhExample: "3,0,2"})
}

// JigsawQuestion renders the jigsaw template for n clips.
func (p *Prompts) JigsawQuestion(n int) string {
	return render(p.Jigsaw, map[string]string{PhClips: strconv.Itoa(n), PhExample: jigsawExample(n)})
}

// Messages returns the chat messages (system, when not empty, then user)
// for a question with numVideos video inputs (see UserContent).
func (p *Prompts) Messages(question string, numVideos int, clips bool) []Message {
	var out []Message
	if p.System != "" {
		out = append(out, Message{Role: "system", Content: p.System})
	}
	return append(out, Message{Role: "user", Content: UserContent(question, numVideos, clips)})
}

// Question renders the question of a generated sample from its task and
// draws (the perturbation of a grounding sample, the clip count of a
// jigsaw sample).
func (p *Prompts) Question(g *Generated) (string, error) {
	switch g.DataSource {
	case Grounding:
		if g.Meta.Grounding == nil {
			return "", errors.New("prompts: grounding sample without grounding metadata")
		}
		return p.GroundingQuestion(g.Meta.Grounding.Perturbation), nil
	case Counting:
		return p.CountingQuestion(), nil
	case Jigsaw:
		if g.Meta.Jigsaw == nil {
			return "", errors.New("prompts: jigsaw sample without jigsaw metadata")
		}
		return p.JigsawQuestion(g.Meta.Jigsaw.Clips), nil
	}
	return "", fmt.Errorf("prompts: unknown task %q", g.DataSource)
}
