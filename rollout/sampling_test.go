package rollout

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// expected returns the distribution the sampler should draw from: softmax
// of logits/T, truncated to the top-k and then to the top-p nucleus,
// renormalised (computed independently of the sampler).
func expected(logits []float32, s Sampling) []float64 {
	V := len(logits)
	p := make([]float64, V)
	var z float64
	for i, v := range logits {
		p[i] = math.Exp(float64(v) / s.Temperature)
		z += p[i]
	}
	for i := range p {
		p[i] /= z
	}
	idx := make([]int, V)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		if p[a] > p[b] {
			return -1
		}
		if p[a] < p[b] {
			return 1
		}
		return 0
	})
	k := s.TopK
	if k <= 0 || k > V {
		k = V
	}
	keep := map[int]bool{}
	var mass float64
	for _, i := range idx[:k] {
		keep[i] = true
		mass += p[i]
		if mass >= s.TopP {
			break
		}
	}
	out := make([]float64, V)
	for i := range keep {
		out[i] = p[i] / mass
	}
	return out
}

// chiSquare returns the statistic and degrees of freedom of counts against
// probabilities, pooling cells with an expected count under 5. A count in a
// cell of probability 0 returns +Inf.
func chiSquare(counts []int, p []float64, n int) (float64, int) {
	var stat, poolE float64
	poolO, cells := 0, 0
	for i, c := range counts {
		e := p[i] * float64(n)
		if e == 0 {
			if c > 0 {
				return math.Inf(1), 0
			}
			continue
		}
		if e < 5 {
			poolE += e
			poolO += c
			continue
		}
		stat += (float64(c) - e) * (float64(c) - e) / e
		cells++
	}
	if poolE > 0 {
		stat += (float64(poolO) - poolE) * (float64(poolO) - poolE) / poolE
		cells++
	}
	return stat, cells - 1
}

// chiSquareBound is the 0.999 quantile of chi-square with k degrees of
// freedom (Wilson-Hilferty approximation).
func chiSquareBound(k int) float64 {
	if k < 1 {
		return 10.83
	}
	f := float64(k)
	a := 2 / (9 * f)
	return f * math.Pow(1-a+3.09*math.Sqrt(a), 3)
}

func testLogits(V int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 3))
	l := make([]float32, V)
	for i := range l {
		l[i] = float32(rng.NormFloat64() * 1.5)
	}
	return l
}

func TestSamplerMatchesSoftmax(t *testing.T) {
	logits := testLogits(40, 1)
	cases := []Sampling{
		{Temperature: 1, TopP: 1},
		{Temperature: 0.5, TopP: 1},
		{Temperature: 2, TopP: 1},
		{Temperature: 1, TopP: 0.9},
		{Temperature: 0.7, TopP: 0.5},
		{Temperature: 1, TopP: 1, TopK: 5},
		{Temperature: 1.3, TopP: 0.8, TopK: 10},
	}
	const n = 40000
	for _, s := range cases {
		s.MaxNewTokens = 1
		sp := newSampler(s)
		rng := rand.New(rand.NewPCG(7, 9))
		counts := make([]int, len(logits))
		for range n {
			tok, _ := sp.draw(logits, rng)
			counts[tok]++
		}
		want := expected(logits, s)
		stat, df := chiSquare(counts, want, n)
		if stat > chiSquareBound(df) {
			t.Errorf("%+v: chi-square %.1f > %.1f (df %d)", s, stat, chiSquareBound(df), df)
		}
	}
}

// A deliberately wrong distribution must fail the same check, so the test
// above can fail.
func TestChiSquareDetectsWrongTemperature(t *testing.T) {
	logits := testLogits(40, 1)
	s := Sampling{Temperature: 1, TopP: 1, MaxNewTokens: 1}
	sp := newSampler(Sampling{Temperature: 1.2, TopP: 1, MaxNewTokens: 1})
	rng := rand.New(rand.NewPCG(7, 9))
	const n = 40000
	counts := make([]int, len(logits))
	for range n {
		tok, _ := sp.draw(logits, rng)
		counts[tok]++
	}
	stat, df := chiSquare(counts, expected(logits, s), n)
	if stat <= chiSquareBound(df) {
		t.Fatalf("temperature 1.2 draws passed as temperature 1 (chi-square %.1f, bound %.1f)", stat, chiSquareBound(df))
	}
}

func TestSamplerLogProbAndGreedy(t *testing.T) {
	logits := []float32{0.5, 2, -1, 2}
	sp := newSampler(Sampling{Temperature: 0, TopP: 1, MaxNewTokens: 1})
	tok, lp := sp.draw(logits, rand.New(rand.NewPCG(1, 1)))
	if tok != 1 {
		t.Fatalf("greedy picked %d, want 1 (lowest id of the tie)", tok)
	}
	z := math.Exp(0.5) + 2*math.Exp(2) + math.Exp(-1)
	if want := 2 - math.Log(z); math.Abs(lp-want) > 1e-12 {
		t.Fatalf("greedy log-prob %v, want %v", lp, want)
	}
	// Sampled log-probs are over the full softmax at the temperature, even
	// when top-k truncates.
	sp = newSampler(Sampling{Temperature: 0.5, TopP: 1, TopK: 1, MaxNewTokens: 1})
	tok, lp = sp.draw(logits, rand.New(rand.NewPCG(1, 1)))
	if tok != 1 || math.Abs(lp-LogSoftmax(logits, 0.5, 1)) > 1e-12 {
		t.Fatalf("top-1 at T=0.5: token %d log-prob %v", tok, lp)
	}
}

func TestSamplingValidate(t *testing.T) {
	bad := []Sampling{
		{Temperature: -1, TopP: 1, MaxNewTokens: 1},
		{Temperature: 1, TopP: 0, MaxNewTokens: 1},
		{Temperature: 1, TopP: 1.5, MaxNewTokens: 1},
		{Temperature: 1, TopP: 1, MaxNewTokens: 0},
		{Temperature: math.NaN(), TopP: 1, MaxNewTokens: 1},
	}
	for _, s := range bad {
		if s.Validate() == nil {
			t.Errorf("%+v accepted", s)
		}
	}
	if err := (Sampling{Temperature: 1, TopP: 1, MaxNewTokens: 3}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkSample(b *testing.B) {
	for _, s := range []Sampling{{Temperature: 1, TopP: 1}, {Temperature: 1, TopP: 0.9}} {
		logits := testLogits(1024, 2)
		sp := newSampler(s)
		rng := rand.New(rand.NewPCG(1, 2))
		b.Run("top_p="+map[bool]string{true: "1", false: "0.9"}[s.TopP == 1], func(b *testing.B) {
			for b.Loop() {
				sp.draw(logits, rng)
			}
		})
	}
}
