package tasks

import (
	"math"
	"testing"

	"github.com/videossr/videossr-go/tasks/frame"
)

// tinyFrames returns n frames of w x h with seeded random content (each
// frame distinct).
func tinyFrames(n, w, h int, seed uint64) []*frame.Frame {
	rng := NewRand(seed)
	out := make([]*frame.Frame, n)
	for i := range out {
		f := frame.New(w, h)
		for j := range f.Pix {
			f.Pix[j] = byte(rng.IntN(256))
		}
		out[i] = f
	}
	return out
}

// chiSquareCritical approximates the 0.999 quantile of the chi-square
// distribution with df degrees of freedom (Wilson-Hilferty).
func chiSquareCritical(df int) float64 {
	const z = 3.090 // standard normal 0.999 quantile
	d := float64(df)
	a := 2 / (9 * d)
	return d * math.Pow(1-a+z*math.Sqrt(a), 3)
}

// chiSquare returns the statistic of observed counts against equal
// expected counts.
func chiSquare(obs []int) float64 {
	total := 0
	for _, o := range obs {
		total += o
	}
	exp := float64(total) / float64(len(obs))
	var s float64
	for _, o := range obs {
		d := float64(o) - exp
		s += d * d / exp
	}
	return s
}

// checkUniform fails the test when counts are not plausibly uniform.
func checkUniform(t *testing.T, name string, obs []int) {
	t.Helper()
	stat, crit := chiSquare(obs), chiSquareCritical(len(obs)-1)
	if stat > crit {
		t.Errorf("%s: chi-square %.1f > %.1f (df %d): not uniform: %v", name, stat, crit, len(obs)-1, obs)
	}
}

// TestChiSquareDetectsBias makes sure the uniformity check can fail.
func TestChiSquareDetectsBias(t *testing.T) {
	obs := []int{1000, 1000, 1000, 1000, 1200}
	if chiSquare(obs) <= chiSquareCritical(len(obs)-1) {
		t.Fatalf("a 20%% bias in one of 5 bins of 1000 must be detected")
	}
	if c := chiSquareCritical(10); math.Abs(c-29.59) > 0.3 {
		t.Fatalf("critical value for df=10 is %.2f, want about 29.59", c)
	}
}
