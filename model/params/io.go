package params

import (
	"fmt"
	"math"

	"github.com/videossr/videossr-go/model/safetensors"
)

// Source is anything tensors can be loaded from by name: a *safetensors.File
// or a sharded *safetensors.Index.
type Source interface {
	Names() []string
	Shape(name string) ([]int64, bool)
	Float32(name string) ([]float32, []int64, error)
	Tensor(name string) (safetensors.Tensor, error)
}

// Save writes every parameter in its storage dtype (F32, or the BF16/F16
// bits of a half-precision parameter, unchanged) to a safetensors file
// atomically. Unless metadata sets "format", it is set to "pt" (Hugging Face
// transformers refuses safetensors checkpoints without it).
func (s *Store) Save(path string, metadata map[string]string) error {
	return s.SaveAs(path, "", metadata)
}

// SaveAs is Save with one storage dtype for every tensor: F32, F16 or BF16
// (float32 values rounded to nearest even; half values already in dtype are
// written unchanged). An empty dtype keeps each parameter's own.
func (s *Store) SaveAs(path, dtype string, metadata map[string]string) error {
	meta := map[string]string{"format": "pt"}
	for k, v := range metadata {
		meta[k] = v
	}
	ts := make([]safetensors.Tensor, len(s.params))
	for i, p := range s.params {
		if dtype == "" || dtype == p.StorageDType() {
			ts[i] = p.Tensor()
			continue
		}
		shape := make([]int64, len(p.Shape))
		for j, d := range p.Shape {
			shape[j] = int64(d)
		}
		t, err := safetensors.FromFloat32(p.Name, dtype, shape, p.Float32())
		if err != nil {
			return fmt.Errorf("params: saving %s: %w", path, err)
		}
		ts[i] = t
	}
	if err := safetensors.Write(path, ts, meta); err != nil {
		return fmt.Errorf("params: %w", err)
	}
	return nil
}

// Load reads every tensor of a safetensors file (any float or integer dtype,
// converted to float32) into a new store, in name order.
func Load(path string) (*Store, error) {
	f, err := safetensors.Read(path)
	if err != nil {
		return nil, fmt.Errorf("params: %w", err)
	}
	s := New()
	for _, name := range f.Names() {
		data, shape64, err := f.Float32(name)
		if err != nil {
			return nil, fmt.Errorf("params: %w", err)
		}
		shape, err := toIntShape(shape64)
		if err != nil {
			return nil, fmt.Errorf("params: %s: tensor %q: %w", path, name, err)
		}
		if _, err := s.Add(name, shape, data); err != nil {
			return nil, fmt.Errorf("params: %s: %w", path, err)
		}
	}
	return s, nil
}

func toIntShape(s []int64) ([]int, error) {
	out := make([]int, len(s))
	for i, d := range s {
		if d > math.MaxInt32*int64(1<<16) {
			return nil, fmt.Errorf("dimension %d too large", d)
		}
		out[i] = int(d)
	}
	return out, nil
}

// LoadInto reads the safetensors file at path into the existing parameters:
// the file must hold exactly the store's names, with the same shapes.
func (s *Store) LoadInto(path string) error {
	f, err := safetensors.Read(path)
	if err != nil {
		return fmt.Errorf("params: %w", err)
	}
	if err := s.LoadFrom(f, true); err != nil {
		return fmt.Errorf("%w (file %s)", err, path)
	}
	return nil
}

// LoadFrom overwrites every parameter with the tensor of the same name in
// src, converted to the parameter's storage dtype (a half-precision
// parameter takes tensors of its own dtype bit for bit). Every parameter must be present with the same
// shape; when strict, src may not hold other tensors either. The error names
// the missing and unexpected keys. Names and shapes are checked before any
// value is written, so such errors leave the store unchanged; a read or
// conversion error part-way may leave it partly overwritten.
func (s *Store) LoadFrom(src Source, strict bool) error {
	have := map[string]bool{}
	for _, n := range src.Names() {
		have[n] = true
	}
	var missing, unexpected []string
	for _, p := range s.params {
		if !have[p.Name] {
			missing = append(missing, p.Name)
		}
	}
	if strict {
		for _, n := range src.Names() {
			if _, ok := s.index[n]; !ok {
				unexpected = append(unexpected, n)
			}
		}
	}
	if len(missing)+len(unexpected) > 0 {
		return fmt.Errorf("params: checkpoint does not match the model: missing keys %s; unexpected keys %s", listNames(missing), listNames(unexpected))
	}
	for _, p := range s.params {
		shape, _ := src.Shape(p.Name)
		if !p.HasShape(shape) {
			return fmt.Errorf("params: parameter %q has shape %v in the checkpoint, %v in the model", p.Name, shape, p.Shape)
		}
	}
	for _, p := range s.params {
		if p.IsHalf() {
			t, err := src.Tensor(p.Name)
			if err != nil {
				return fmt.Errorf("params: %w", err)
			}
			bits, err := t.Half(p.DType)
			if err != nil {
				return fmt.Errorf("params: %w", err)
			}
			if !p.HasShape(t.Shape) || len(bits) != len(p.Half) {
				return fmt.Errorf("params: parameter %q changed shape while loading", p.Name)
			}
			copy(p.Half, bits)
			continue
		}
		data, shape, err := src.Float32(p.Name)
		if err != nil {
			return fmt.Errorf("params: %w", err)
		}
		if !p.HasShape(shape) || len(data) != len(p.Data) {
			return fmt.Errorf("params: parameter %q changed shape while loading", p.Name)
		}
		copy(p.Data, data)
	}
	return nil
}
