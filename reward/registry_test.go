package reward

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// closeCounter is a scorer that counts Close calls.
type closeCounter struct {
	ScoreFunc
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

func TestDefaultRegistryMatchesScore(t *testing.T) {
	reg := DefaultRegistry()
	if got := reg.Sources(); !slices.Equal(got, slices.Sorted(slices.Values(Sources()))) {
		t.Fatalf("sources %v, want %v", got, Sources())
	}
	items := []Item{
		{DataSource: "grounding", Response: "12 - 20", GroundTruth: "10-20"},
		{DataSource: "counting", Response: "2,1,2", GroundTruth: "3,1,2"},
		{DataSource: "jigsaw", Response: "213456", GroundTruth: "123456"},
		{DataSource: "strict:grounding", Response: "10-20", GroundTruth: "10-20"},
		{DataSource: "grounding", Response: "nonsense", GroundTruth: "10-20"},
		{DataSource: "strict:counting", Response: "3,1,2", GroundTruth: "3,1,2"},
		{DataSource: "strict:jigsaw", Response: "123456", GroundTruth: "123456"},
	}
	got, err := reg.Score(context.Background(), items)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range items {
		want, err := Score(it.DataSource, it.Response, it.GroundTruth)
		if err != nil {
			t.Fatal(err)
		}
		if got[i] != want {
			t.Errorf("item %d (%s): registry %v, Score %v", i, it.DataSource, got[i], want)
		}
	}
	if got[0] != 0.8 {
		t.Errorf("grounding with spaces around the dash scored %v, want 0.8", got[0])
	}
}

func TestRegistryErrors(t *testing.T) {
	reg := DefaultRegistry()
	ctx := context.Background()
	// A malformed ground truth is an error naming the item, not a 0.
	_, err := reg.Score(ctx, []Item{
		{DataSource: "counting", Response: "1,1,1", GroundTruth: "1,1,1"},
		{DataSource: "grounding", Response: "1-2", GroundTruth: "1-2"},
		{DataSource: "grounding", Response: "1-2", GroundTruth: "two to one"},
	})
	if !errors.Is(err, ErrBadGroundTruth) || !strings.Contains(err.Error(), "item 1") {
		t.Fatalf("bad ground truth: %v", err)
	}
	if _, err := reg.Score(ctx, []Item{{DataSource: "mytask"}}); !errors.Is(err, ErrUnknownSource) || !strings.Contains(err.Error(), "registered: counting") {
		t.Fatalf("unknown source: %v", err)
	}
	if err := reg.Register("grounding", ScoreFunc(nil)); !errors.Is(err, ErrDuplicateSource) {
		t.Fatalf("duplicate: %v", err)
	}
	for _, name := range []string{"", " x", "x\n"} {
		if err := reg.Register(name, ScoreFunc(func(context.Context, Item) (float64, error) { return 0, nil })); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
	if err := reg.Register("nilscorer", nil); err == nil {
		t.Error("nil scorer accepted")
	}
	// Scores that are not finite, or too few, are errors.
	nan := ScoreFunc(func(context.Context, Item) (float64, error) { return math.NaN(), nil })
	if err := reg.Register("nan", nan); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Score(ctx, []Item{{DataSource: "counting", GroundTruth: "1,1,1"}, {DataSource: "nan"}}); !errors.Is(err, ErrBadScore) || !strings.Contains(err.Error(), "item 1") {
		t.Fatalf("NaN score: %v", err)
	}
	short := scorerFunc(func(ctx context.Context, items []Item) ([]float64, error) { return []float64{1}, nil })
	if err := reg.Register("short", short); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Score(ctx, []Item{{DataSource: "short"}, {DataSource: "short"}}); !errors.Is(err, ErrBadScore) {
		t.Fatalf("short answer: %v", err)
	}
	failing := ScoreFunc(func(context.Context, Item) (float64, error) { return 0, errors.New("judge unreachable") })
	if err := reg.Replace("grounding", failing); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.ScoreOne(ctx, Item{DataSource: "grounding"}); err == nil || !strings.Contains(err.Error(), "judge unreachable") {
		t.Fatalf("scorer error: %v", err)
	}
}

// scorerFunc adapts a batch function to Scorer (test helper).
type scorerFunc func(ctx context.Context, items []Item) ([]float64, error)

func (f scorerFunc) Score(ctx context.Context, items []Item) ([]float64, error) { return f(ctx, items) }

func TestRegistryBatchesPerSource(t *testing.T) {
	reg := NewRegistry()
	var calls [][]string
	rec := scorerFunc(func(ctx context.Context, items []Item) ([]float64, error) {
		var rs []string
		out := make([]float64, len(items))
		for i, it := range items {
			rs = append(rs, it.Response)
			out[i] = float64(len(it.Response))
		}
		calls = append(calls, rs)
		return out, nil
	})
	if err := reg.Register("a", rec); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register("b", rec); err != nil {
		t.Fatal(err)
	}
	got, err := reg.Score(context.Background(), []Item{
		{DataSource: "a", Response: "x"}, {DataSource: "b", Response: "yy"}, {DataSource: "a", Response: "zzz"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []float64{1, 2, 3}) || len(calls) != 2 || !slices.Equal(calls[0], []string{"x", "zzz"}) || !slices.Equal(calls[1], []string{"yy"}) {
		t.Fatalf("scores %v, calls %v", got, calls)
	}
}

func TestRegistryValidateAndClose(t *testing.T) {
	reg := DefaultRegistry()
	if err := reg.ValidateGroundTruth("grounding", "10 - 20"); err != nil {
		t.Error(err)
	}
	if err := reg.ValidateGroundTruth("jigsaw", "1123"); !errors.Is(err, ErrBadGroundTruth) {
		t.Errorf("jigsaw gt: %v", err)
	}
	if err := reg.ValidateGroundTruth("nope", "1"); !errors.Is(err, ErrUnknownSource) {
		t.Errorf("unknown: %v", err)
	}
	c := &closeCounter{ScoreFunc: func(context.Context, Item) (float64, error) { return 1, nil }}
	if err := reg.Register("custom", c); err != nil {
		t.Fatal(err)
	}
	if err := reg.ValidateGroundTruth("custom", "anything"); err != nil {
		t.Errorf("custom scorers accept any ground truth: %v", err)
	}
	if err := reg.Close(); err != nil || c.closed != 1 {
		t.Fatalf("Close: %v, closed %d times", err, c.closed)
	}
	if _, err := Builtin("strict:jigsaw"); err != nil {
		t.Error(err)
	}
	if _, err := Builtin("mytask"); !errors.Is(err, ErrUnknownSource) {
		t.Error(err)
	}
}
