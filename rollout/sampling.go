package rollout

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Sampling holds the decoding settings of one Generate call.
type Sampling struct {
	// Temperature divides the logits before the softmax; 0 means greedy
	// (argmax, lowest id on ties).
	Temperature float64
	// TopP keeps the smallest set of most likely tokens whose probability
	// sums to at least TopP (1 = off).
	TopP float64
	// TopK keeps the K most likely tokens (<= 0 = off).
	TopK int
	// MaxNewTokens bounds each response.
	MaxNewTokens int
	// StopTokens end a response when sampled (the token is kept in the
	// response, as the policy must learn to emit it). The model's EOS is
	// always a stop token.
	StopTokens []int
	// StopStrings end a response when its decoded text contains one; the
	// text is cut before it.
	StopStrings []string
}

// ErrBadSampling reports invalid sampling settings.
var ErrBadSampling = errors.New("invalid sampling settings")

// Validate checks the settings.
func (s Sampling) Validate() error {
	switch {
	case s.Temperature < 0 || math.IsNaN(s.Temperature) || math.IsInf(s.Temperature, 0):
		return fmt.Errorf("%w: temperature %v (want >= 0; 0 = greedy)", ErrBadSampling, s.Temperature)
	case !(s.TopP > 0 && s.TopP <= 1):
		return fmt.Errorf("%w: top_p %v (want 0 < top_p <= 1)", ErrBadSampling, s.TopP)
	case s.MaxNewTokens < 1:
		return fmt.Errorf("%w: max_new_tokens %d (want >= 1)", ErrBadSampling, s.MaxNewTokens)
	}
	return nil
}

// sampler draws tokens from logit rows. It owns scratch buffers, so one
// sampler serves one goroutine.
type sampler struct {
	s     Sampling
	probs []float64
	order []int
}

func newSampler(s Sampling) *sampler { return &sampler{s: s} }

// LogSoftmax returns log softmax(logits / temperature) at token (temperature
// <= 0 is treated as 1): the log-prob the training graph assigns to a
// sampled token.
func LogSoftmax(logits []float32, temperature float64, token int) float64 {
	if temperature <= 0 {
		temperature = 1
	}
	m := math.Inf(-1)
	for _, v := range logits {
		m = max(m, float64(v)/temperature)
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v)/temperature - m)
	}
	return float64(logits[token])/temperature - m - math.Log(sum)
}

// draw samples one token from a logit row and returns it with its log-prob
// (log softmax at the sampling temperature over the whole vocabulary, before
// top-k/top-p truncation, as the training graph computes it).
func (sp *sampler) draw(logits []float32, rng *rand.Rand) (int, float64) {
	T := sp.s.Temperature
	if T == 0 {
		best := 0
		for i, v := range logits {
			if v > logits[best] {
				best = i
			}
		}
		return best, LogSoftmax(logits, 1, best)
	}
	V := len(logits)
	if cap(sp.probs) < V {
		sp.probs = make([]float64, V)
		sp.order = make([]int, V)
	}
	p := sp.probs[:V]
	m := math.Inf(-1)
	for _, v := range logits {
		m = max(m, float64(v)/T)
	}
	var sum float64
	for i, v := range logits {
		p[i] = math.Exp(float64(v)/T - m)
		sum += p[i]
	}
	logZ := m + math.Log(sum)
	for i := range p {
		p[i] /= sum
	}
	tok := sp.pick(p, rng)
	return tok, float64(logits[tok])/T - logZ
}

// pick samples from normalised probabilities p after top-k / top-p
// truncation.
func (sp *sampler) pick(p []float64, rng *rand.Rand) int {
	V := len(p)
	k := sp.s.TopK
	if k <= 0 || k > V {
		k = V
	}
	if k == V && sp.s.TopP >= 1 {
		u := rng.Float64()
		var c float64
		for i, v := range p {
			c += v
			if u < c {
				return i
			}
		}
		return lastNonZero(p)
	}
	order := sp.order[:V]
	for i := range order {
		order[i] = i
	}
	// Most likely first; ties by id so the draw is deterministic.
	slices.SortFunc(order, func(a, b int) int {
		switch {
		case p[a] > p[b]:
			return -1
		case p[a] < p[b]:
			return 1
		}
		return a - b
	})
	keep, mass := 0, 0.0
	for keep < k {
		mass += p[order[keep]]
		keep++
		if mass >= sp.s.TopP {
			break
		}
	}
	u := rng.Float64() * mass
	var c float64
	for _, i := range order[:keep] {
		c += p[i]
		if u < c {
			return i
		}
	}
	return order[keep-1]
}

func lastNonZero(p []float64) int {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] > 0 {
			return i
		}
	}
	return 0
}
