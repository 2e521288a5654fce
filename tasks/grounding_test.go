package tasks

import (
	"fmt"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/tasks/perturb"
)

// parseInterval reads "S-E".
func parseInterval(t *testing.T, s string) (float64, float64) {
	t.Helper()
	var a, b float64
	if n, err := fmt.Sscanf(s, "%f-%f", &a, &b); n != 2 || err != nil {
		t.Fatalf("answer %q is not S-E: %v", s, err)
	}
	return a, b
}

func TestGroundingDistribution(t *testing.T) {
	frames := tinyFrames(48, 32, 32, 11)
	src := Source{Frames: frames, FPS: 48.0 / 37.3}
	cfg := DefaultGroundingConfig()
	rng := NewRand(2024)
	const draws = 10000
	lens := make([]int, cfg.MaxLen-cfg.MinLen+1)
	starts := map[int][]int{}
	kinds := map[string]int{}
	for i := range draws {
		g, err := GenerateGrounding(src, cfg, rng)
		if err != nil {
			t.Fatal(err)
		}
		m := g.Meta.Grounding
		if m.Length < cfg.MinLen || m.Length > cfg.MaxLen || m.Start < 0 || m.Start+m.Length > 48 {
			t.Fatalf("draw %d: segment %d+%d out of range", i, m.Start, m.Length)
		}
		lens[m.Length-cfg.MinLen]++
		if starts[m.Length] == nil {
			starts[m.Length] = make([]int, 48-m.Length+1)
		}
		starts[m.Length][m.Start]++
		kinds[m.Perturbation]++
		// The answer re-derived from the metadata.
		if want := GroundingAnswer(m.Start, m.Length, m.FPS); g.Answer != want {
			t.Fatalf("answer %s, meta gives %s", g.Answer, want)
		}
		s, e := parseInterval(t, g.Answer)
		if d := s - float64(m.Start)/src.FPS; d > 0.05+1e-9 || d < -0.05-1e-9 {
			t.Fatalf("start %.1f vs %d/%.3f", s, m.Start, src.FPS)
		}
		if d := e - float64(m.Start+m.Length)/src.FPS; d > 0.05+1e-9 || d < -0.05-1e-9 {
			t.Fatalf("end %.1f vs %d/%.3f", e, m.Start+m.Length, src.FPS)
		}
		if g.Subtype != "grounding_"+m.Perturbation || g.DataSource != Grounding {
			t.Fatalf("labels %s/%s for %s", g.DataSource, g.Subtype, m.Perturbation)
		}
	}
	checkUniform(t, "segment length", lens)
	// Starts: uniform over the valid starts given the length; the
	// chi-square statistics of all lengths add up.
	var stat float64
	df := 0
	for _, obs := range starts {
		stat += chiSquare(obs)
		df += len(obs) - 1
	}
	if crit := chiSquareCritical(df); stat > crit {
		t.Errorf("segment start: chi-square %.1f > %.1f (df %d)", stat, crit, df)
	}
	var kc []int
	for _, k := range cfg.Perturbations {
		kc = append(kc, kinds[k])
	}
	checkUniform(t, "perturbation choice", kc)
}

func TestGroundingPerturbsOnlyTheSegment(t *testing.T) {
	frames := tinyFrames(48, 16, 12, 5)
	keep := make([][]byte, len(frames))
	for i, f := range frames {
		keep[i] = append([]byte{}, f.Pix...)
	}
	for _, kind := range []string{"channel_swap", "rotate180", "zoom_out", "mirror", "invert", "shuffle"} {
		cfg := DefaultGroundingConfig()
		cfg.Perturbations = []string{kind}
		g, err := GenerateGrounding(Source{Frames: frames, FPS: 2}, cfg, NewRand(3))
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		m := g.Meta.Grounding
		changed := 0
		for i, f := range g.Frames {
			in := i >= m.Start && i < m.Start+m.Length
			same := f.Equal(frames[i])
			if !in && !same {
				t.Fatalf("%s: frame %d outside %d+%d changed", kind, i, m.Start, m.Length)
			}
			if in && !same {
				changed++
			}
		}
		if changed == 0 {
			t.Fatalf("%s: nothing changed in the segment", kind)
		}
		if !strings.HasPrefix(g.Question, perturb.Describe(perturb.Kind(kind))) || !strings.Contains(g.Question, "14.5-26.2") {
			t.Fatalf("%s: question %q", kind, g.Question)
		}
	}
	for i, f := range frames {
		if string(f.Pix) != string(keep[i]) {
			t.Fatalf("source frame %d was modified", i)
		}
	}
}

func TestGroundingAnswerFormat(t *testing.T) {
	cases := []struct {
		start, t int
		fps      float64
		want     string
	}{
		{0, 8, 1, "0.0-8.0"},
		{10, 16, 48.0 / 120, "25.0-65.0"},
		{3, 9, 4.8, "0.6-2.5"},
	}
	for _, c := range cases {
		if got := GroundingAnswer(c.start, c.t, c.fps); got != c.want {
			t.Errorf("GroundingAnswer(%d,%d,%g) = %s, want %s", c.start, c.t, c.fps, got, c.want)
		}
	}
}

func TestGroundingConfigErrorsNameTheField(t *testing.T) {
	cfg := DefaultGroundingConfig()
	cfg.MaxLen = 4
	cfg.Perturbations = []string{"mirror", "wobble"}
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "grounding.max_len") || !strings.Contains(err.Error(), "grounding.perturbations[1]") {
		t.Fatalf("got %v", err)
	}
	if _, err := GenerateGrounding(Source{Frames: tinyFrames(10, 4, 4, 1), FPS: 1}, DefaultGroundingConfig(), NewRand(1)); err == nil {
		t.Fatal("10 frames accepted for segments up to 16")
	}
}
