package model

import (
	"fmt"

	"github.com/videossr/videossr-go/model/params"
)

// InitParams returns a freshly initialised parameter store for the model:
// normal(0, 0.02) weights and embeddings, zero biases, unit norm weights,
// drawn in ParamSpecs order from a PCG generator seeded with seed, so the
// same seed always gives the same model.
func (c Config) InitParams(seed uint64) (*params.Store, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	rng := params.NewRNG(seed)
	s := params.New()
	for _, p := range c.ParamSpecs() {
		shape := make([]int, len(p.Shape))
		for i, d := range p.Shape {
			shape[i] = int(d)
		}
		var err error
		switch p.Init {
		case InitNormal:
			_, err = s.AddNormal(p.Name, shape, rng, InitStd)
		case InitOnes:
			_, err = s.AddOnes(p.Name, shape)
		default:
			_, err = s.AddZeros(p.Name, shape)
		}
		if err != nil {
			return nil, fmt.Errorf("init %s: %w", p.Name, err)
		}
	}
	return s, nil
}

// ParamData adapts a store to onnx.ExportOptions.ParamData.
func ParamData(s *params.Store) func(name string) ([]float32, error) {
	return func(name string) ([]float32, error) {
		p, ok := s.Get(name)
		if !ok {
			return nil, fmt.Errorf("parameter %s is not in the store", name)
		}
		return p.Data, nil
	}
}
