package reward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
)

// Item is one response to score, with what a reward function needs to
// score it. It mirrors the arguments of verl's custom reward function
// compute_score(data_source, solution_str, ground_truth, extra_info).
type Item struct {
	// DataSource selects the reward (the sample's data_source).
	DataSource string `json:"data_source"`
	// Response is the model's answer text (verl's solution_str).
	Response string `json:"response"`
	// GroundTruth is the sample's answer (reward_model.ground_truth).
	GroundTruth string `json:"ground_truth"`
	// ExtraInfo is the sample's extra_info as a JSON object, when it has
	// one; nil otherwise.
	ExtraInfo json.RawMessage `json:"extra_info,omitempty"`
}

// Scorer scores a batch of items of one data source. It returns one score
// per item, in order, or an error: a scorer that cannot score an item
// (a malformed ground truth, a crashed plug-in) reports it instead of
// returning 0, so a broken sample stops the step rather than training as
// reward 0. A response the model got wrong is a score, not an error.
type Scorer interface {
	Score(ctx context.Context, items []Item) ([]float64, error)
}

// GroundTruthValidator is implemented by scorers that can check a ground
// truth before training (the built-in rewards do; plug-ins do not).
type GroundTruthValidator interface {
	ValidateGroundTruth(gt string) error
}

// ScoreFunc adapts a function scoring one item to a Scorer.
type ScoreFunc func(ctx context.Context, it Item) (float64, error)

// Score implements Scorer by calling f for each item in turn.
func (f ScoreFunc) Score(ctx context.Context, items []Item) ([]float64, error) {
	out := make([]float64, len(items))
	for i, it := range items {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		v, err := f(ctx, it)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		out[i] = v
	}
	return out, nil
}

// builtin is the Scorer of one of this package's data sources (see
// Sources): the same dispatch as Score.
type builtin struct{ source string }

// Score implements Scorer with Score: a malformed ground truth is an error.
func (b builtin) Score(ctx context.Context, items []Item) ([]float64, error) {
	out := make([]float64, len(items))
	for i, it := range items {
		v, err := Score(b.source, it.Response, it.GroundTruth)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		out[i] = v
	}
	return out, nil
}

// ValidateGroundTruth implements GroundTruthValidator.
func (b builtin) ValidateGroundTruth(gt string) error { return ValidateGroundTruth(b.source, gt) }

// Builtin returns the Scorer of a built-in data source (one of Sources),
// or an error wrapping ErrUnknownSource.
func Builtin(dataSource string) (Scorer, error) {
	if _, err := Func(dataSource); err != nil {
		return nil, err
	}
	return builtin{dataSource}, nil
}

// ErrDuplicateSource is wrapped by Registry.Register's error for a data
// source that already has a scorer.
var ErrDuplicateSource = errors.New("data source already registered")

// ErrBadScore is wrapped by Registry.Score's error when a scorer returns
// the wrong number of scores or a score that is NaN or infinite.
var ErrBadScore = errors.New("bad score")

// Registry maps data source names to scorers. It is a plain value passed
// to whoever scores (there is no global registry): DefaultRegistry holds
// the built-in rewards, and programs that embed the trainer add their own
// with Register. A Registry is safe for concurrent use.
type Registry struct {
	mu      sync.RWMutex
	scorers map[string]Scorer
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{scorers: map[string]Scorer{}} }

// DefaultRegistry returns a registry holding the built-in rewards under
// every name of Sources ("grounding", "counting", "jigsaw" and their
// "strict:" variants).
func DefaultRegistry() *Registry {
	r := NewRegistry()
	for _, s := range Sources() {
		r.scorers[s] = builtin{s}
	}
	return r
}

// Register adds the scorer of a data source. The name must be non-empty
// and free of surrounding white space; a name that is already registered
// is an error wrapping ErrDuplicateSource (use Replace to override a
// built-in reward on purpose).
func (r *Registry) Register(dataSource string, s Scorer) error {
	if err := checkSourceName(dataSource, s); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.scorers[dataSource]; ok {
		return fmt.Errorf("reward: %w: %q", ErrDuplicateSource, dataSource)
	}
	r.scorers[dataSource] = s
	return nil
}

// Replace sets the scorer of a data source, registered or not.
func (r *Registry) Replace(dataSource string, s Scorer) error {
	if err := checkSourceName(dataSource, s); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.scorers[dataSource] = s
	return nil
}

func checkSourceName(name string, s Scorer) error {
	if name == "" || strings.TrimSpace(name) != name {
		return fmt.Errorf("reward: data source name %q: want a non-empty name without surrounding spaces", name)
	}
	if s == nil {
		return fmt.Errorf("reward: data source %q: nil scorer", name)
	}
	return nil
}

// Lookup returns the scorer of a data source, or an error wrapping
// ErrUnknownSource that lists the registered names.
func (r *Registry) Lookup(dataSource string) (Scorer, error) {
	r.mu.RLock()
	s, ok := r.scorers[dataSource]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("reward: %w %q (registered: %s)", ErrUnknownSource, dataSource, strings.Join(r.Sources(), ", "))
	}
	return s, nil
}

// Sources returns the registered data source names, sorted.
func (r *Registry) Sources() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return sortedKeys(r.scorers)
}

// ValidateGroundTruth checks a ground truth for a data source before any
// training: an unregistered source is an error wrapping ErrUnknownSource;
// a scorer that implements GroundTruthValidator checks gt; others accept
// any ground truth.
func (r *Registry) ValidateGroundTruth(dataSource, gt string) error {
	s, err := r.Lookup(dataSource)
	if err != nil {
		return err
	}
	if v, ok := s.(GroundTruthValidator); ok {
		return v.ValidateGroundTruth(gt)
	}
	return nil
}

// Score scores a batch of items that may mix data sources: the items of
// each data source go to its scorer in one call (in their order), and the
// scores come back in the order of items. Any error stops the batch and
// names the first item it concerns; so does a scorer that returns the
// wrong number of scores or a NaN or infinite score (ErrBadScore).
func (r *Registry) Score(ctx context.Context, items []Item) ([]float64, error) {
	bySource := map[string][]int{}
	var order []string
	for i, it := range items {
		if _, ok := bySource[it.DataSource]; !ok {
			order = append(order, it.DataSource)
		}
		bySource[it.DataSource] = append(bySource[it.DataSource], i)
	}
	out := make([]float64, len(items))
	for _, src := range order {
		idx := bySource[src]
		s, err := r.Lookup(src)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", idx[0], err)
		}
		batch := make([]Item, len(idx))
		for k, i := range idx {
			batch[k] = items[i]
		}
		got, err := s.Score(ctx, batch)
		if err != nil {
			return nil, fmt.Errorf("reward: data source %q (first item %d of the batch): %w", src, idx[0], err)
		}
		if len(got) != len(idx) {
			return nil, fmt.Errorf("reward: data source %q: %w: %d scores for %d items", src, ErrBadScore, len(got), len(idx))
		}
		for k, v := range got {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("reward: data source %q: item %d: %w: %v", src, idx[k], ErrBadScore, v)
			}
			out[idx[k]] = v
		}
	}
	return out, nil
}

// ScoreOne scores a single response (see Score).
func (r *Registry) ScoreOne(ctx context.Context, it Item) (float64, error) {
	v, err := r.Score(ctx, []Item{it})
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

// Close closes every registered scorer that implements io.Closer (the
// plug-in processes) and returns their errors joined. Closers must be
// idempotent: a scorer registered under several names is closed once per
// name.
func (r *Registry) Close() error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var errs []error
	for _, name := range sortedKeys(r.scorers) {
		if c, ok := r.scorers[name].(io.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("reward: close %q: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func sortedKeys(m map[string]Scorer) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
