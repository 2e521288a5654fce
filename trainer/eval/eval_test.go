package eval

import (
	"context"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/videossr/videossr-go/rollout"
	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/trainer/metrics"
)

// echoGenerator answers each prompt with the id of its first token.
type echoGenerator struct{ calls [][]int }

func (g *echoGenerator) Generate(_ context.Context, ps []rollout.Prompt, n int, s rollout.Sampling, _ uint64) ([]rollout.Sample, rollout.Stats, error) {
	var first []int
	var out []rollout.Sample
	for i, p := range ps {
		first = append(first, p.IDs[0])
		for r := range n {
			out = append(out, rollout.Sample{Prompt: i, Row: r, Text: fmt.Sprint(p.IDs[0])})
		}
	}
	g.calls = append(g.calls, first)
	return out, rollout.Stats{}, nil
}

// TestAnswer: rows are decoded in batches, one answer each, and every row
// reaches score with its own answer, in order.
func TestAnswer(t *testing.T) {
	rows := make([]tasks.Sample, 5)
	for i := range rows {
		rows[i].ID = fmt.Sprint(i)
	}
	gen := &echoGenerator{}
	prompt := func(s *tasks.Sample) (rollout.Prompt, error) {
		var id int
		fmt.Sscan(s.ID, &id)
		return rollout.Prompt{IDs: []int{id}}, nil
	}
	var got []string
	score := func(s *tasks.Sample, response string) error {
		if response != s.ID {
			return fmt.Errorf("row %s got the answer %q", s.ID, response)
		}
		got = append(got, s.ID)
		return nil
	}
	bar := metrics.NewBar(io.Discard, "eval", len(rows))
	if err := Answer(context.Background(), gen, rows, 2, rollout.Sampling{}, bar, prompt, score); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"0", "1", "2", "3", "4"}) || len(gen.calls) != 3 || !slices.Equal(gen.calls[2], []int{4}) {
		t.Fatalf("scored %v, batches %v", got, gen.calls)
	}
}
