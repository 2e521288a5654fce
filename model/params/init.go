package params

import (
	"fmt"
	"math/rand/v2"
)

// NewRNG returns a PCG generator seeded with seed (and a fixed second word),
// the one way this package expects randomness to be created.
func NewRNG(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
}

// FillNormal fills dst with samples of N(mean, std²) drawn from rng.
func FillNormal(dst []float32, rng *rand.Rand, mean, std float64) {
	for i := range dst {
		dst[i] = float32(mean + std*rng.NormFloat64())
	}
}

// FillTruncNormal fills dst with samples of N(mean, std²) restricted to
// [lo, hi] by rejection (the semantics of torch.nn.init.trunc_normal_, where
// lo and hi are absolute bounds). It fails when the interval is empty or so far
// in the tail that rejection would not terminate in reasonable time.
func FillTruncNormal(dst []float32, rng *rand.Rand, mean, std, lo, hi float64) error {
	if !(lo < hi) || std <= 0 {
		return fmt.Errorf("params: truncated normal needs lo < hi and std > 0 (got lo=%g hi=%g std=%g)", lo, hi, std)
	}
	for i := range dst {
		for try := 0; ; try++ {
			if try == 10000 {
				return fmt.Errorf("params: truncated normal interval [%g, %g] is too far from mean %g (std %g)", lo, hi, mean, std)
			}
			x := mean + std*rng.NormFloat64()
			if x >= lo && x <= hi {
				dst[i] = float32(x)
				break
			}
		}
	}
	return nil
}

// AddNormal appends a parameter drawn from N(0, std²).
func (s *Store) AddNormal(name string, shape []int, rng *rand.Rand, std float64) (*Param, error) {
	p, err := s.Add(name, shape, nil)
	if err != nil {
		return nil, err
	}
	FillNormal(p.Data, rng, 0, std)
	return p, nil
}

// AddTruncNormal appends a parameter drawn from N(0, std²) truncated to
// [-limit*std, limit*std] (limit 2 is the common choice).
func (s *Store) AddTruncNormal(name string, shape []int, rng *rand.Rand, std, limit float64) (*Param, error) {
	n, err := numElements(shape)
	if err != nil {
		return nil, fmt.Errorf("params: parameter %q: %w", name, err)
	}
	data := make([]float32, n)
	if err := FillTruncNormal(data, rng, 0, std, -limit*std, limit*std); err != nil {
		return nil, fmt.Errorf("parameter %q: %w", name, err)
	}
	return s.Add(name, shape, data)
}
