package model

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/videossr/videossr-go/model/params"
)

// InitParams returns a freshly initialised parameter store for the model:
// normal(0, 0.02) weights and embeddings, zero biases, unit norm weights
// (and, with LoRA, Kaiming-uniform A and zero B adapters after the base
// weights, so the base weights do not depend on LoRA), drawn in ParamSpecs
// order from a PCG generator seeded with seed, so the same seed always gives
// the same model.
func (c Config) InitParams(seed uint64) (*params.Store, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	rng := params.NewRNG(seed)
	s := params.New()
	for _, p := range c.ParamSpecs() {
		if _, err := addInit(s, p, rng); err != nil {
			return nil, fmt.Errorf("init %s: %w", p.Name, err)
		}
	}
	return s, nil
}

// addInit appends the parameter of spec p to s, initialised as p.Init says.
func addInit(s *params.Store, p ParamSpec, rng *rand.Rand) (*params.Param, error) {
	shape := make([]int, len(p.Shape))
	for i, d := range p.Shape {
		shape[i] = int(d)
	}
	switch p.Init {
	case InitNormal:
		return s.AddNormal(p.Name, shape, rng, InitStd)
	case InitOnes:
		return s.AddOnes(p.Name, shape)
	case InitKaimingUniform:
		prm, err := s.AddZeros(p.Name, shape)
		if err != nil {
			return nil, err
		}
		bound := 1.0
		if len(shape) > 0 && shape[len(shape)-1] > 0 {
			bound = 1 / math.Sqrt(float64(shape[len(shape)-1]))
		}
		for i := range prm.Data {
			prm.Data[i] = float32(bound * (2*rng.Float64() - 1))
		}
		return prm, nil
	default:
		return s.AddZeros(p.Name, shape)
	}
}

// ParamData adapts a store to onnx.ExportOptions.ParamData.
func ParamData(s *params.Store) func(name string) ([]float32, error) {
	return func(name string) ([]float32, error) {
		p, ok := s.Get(name)
		if !ok {
			return nil, fmt.Errorf("parameter %s is not in the store", name)
		}
		return p.Float32(), nil
	}
}
