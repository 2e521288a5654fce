// Package params is a named, ordered store of float32 parameter tensors with
// seeded initialisation, safetensors save/load and checksums for resume tests.
//
// The store keeps whatever names it is given; mapping them to Hugging Face
// names is the caller's business.
package params

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
)

// Param is one named parameter tensor.
type Param struct {
	// Name is the unique key of the parameter.
	Name string
	// Shape is the tensor shape (row-major); empty for a scalar.
	Shape []int
	// Data holds product(Shape) values.
	Data []float32
}

// Size returns the number of elements, len(p.Data).
func (p *Param) Size() int { return len(p.Data) }

// Store is an ordered list of named parameters. It is not safe for
// concurrent mutation.
type Store struct {
	params []*Param
	index  map[string]int
}

// New returns an empty store.
func New() *Store { return &Store{index: map[string]int{}} }

func numElements(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if d != 0 && n > math.MaxInt32*int(1<<16)/d {
			return 0, fmt.Errorf("shape %v is too large", shape)
		}
		n *= d
	}
	return n, nil
}

// Add appends a parameter. The store takes ownership of data (it is not
// copied); nil data means zeros. It fails on an empty or duplicate name or
// when len(data) does not match the shape.
func (s *Store) Add(name string, shape []int, data []float32) (*Param, error) {
	if name == "" {
		return nil, fmt.Errorf("params: empty parameter name")
	}
	if _, dup := s.index[name]; dup {
		return nil, fmt.Errorf("params: duplicate parameter %q", name)
	}
	n, err := numElements(shape)
	if err != nil {
		return nil, fmt.Errorf("params: parameter %q: %w", name, err)
	}
	if data == nil {
		data = make([]float32, n)
	}
	if len(data) != n {
		return nil, fmt.Errorf("params: parameter %q: %d values for shape %v (want %d)", name, len(data), shape, n)
	}
	p := &Param{Name: name, Shape: append([]int{}, shape...), Data: data}
	s.index[name] = len(s.params)
	s.params = append(s.params, p)
	return p, nil
}

// AddZeros appends a zero-filled parameter.
func (s *Store) AddZeros(name string, shape []int) (*Param, error) { return s.Add(name, shape, nil) }

// AddOnes appends a parameter filled with ones (e.g. a norm weight).
func (s *Store) AddOnes(name string, shape []int) (*Param, error) {
	p, err := s.Add(name, shape, nil)
	if err != nil {
		return nil, err
	}
	for i := range p.Data {
		p.Data[i] = 1
	}
	return p, nil
}

// Get returns the named parameter.
func (s *Store) Get(name string) (*Param, bool) {
	i, ok := s.index[name]
	if !ok {
		return nil, false
	}
	return s.params[i], true
}

// Names returns the parameter names in insertion order.
func (s *Store) Names() []string {
	out := make([]string, len(s.params))
	for i, p := range s.params {
		out[i] = p.Name
	}
	return out
}

// Params returns the parameters in insertion order. The slice is a copy; the
// *Param values are the store's own (writing their Data changes the store).
func (s *Store) Params() []*Param { return append([]*Param(nil), s.params...) }

// Len returns the number of parameter tensors.
func (s *Store) Len() int { return len(s.params) }

// NumParams returns the total number of scalar parameters.
func (s *Store) NumParams() int64 {
	var n int64
	for _, p := range s.params {
		n += int64(len(p.Data))
	}
	return n
}

// Clone returns a deep copy.
func (s *Store) Clone() *Store {
	c := &Store{params: make([]*Param, len(s.params)), index: make(map[string]int, len(s.index))}
	for i, p := range s.params {
		c.params[i] = &Param{Name: p.Name, Shape: append([]int{}, p.Shape...), Data: append([]float32{}, p.Data...)}
		c.index[p.Name] = i
	}
	return c
}

// CopyFrom overwrites the values of every parameter with those of src, which
// must hold the same names with the same shapes (order may differ).
func (s *Store) CopyFrom(src *Store) error {
	if err := s.sameLayout(src); err != nil {
		return err
	}
	for _, p := range s.params {
		q, _ := src.Get(p.Name)
		copy(p.Data, q.Data)
	}
	return nil
}

func (s *Store) sameLayout(o *Store) error {
	var missing, unexpected []string
	for _, p := range s.params {
		q, ok := o.Get(p.Name)
		if !ok {
			missing = append(missing, p.Name)
			continue
		}
		if !equalShape(p.Shape, q.Shape) {
			return fmt.Errorf("params: parameter %q has shape %v, other store has %v", p.Name, p.Shape, q.Shape)
		}
	}
	for _, q := range o.params {
		if _, ok := s.index[q.Name]; !ok {
			unexpected = append(unexpected, q.Name)
		}
	}
	if len(missing)+len(unexpected) > 0 {
		return fmt.Errorf("params: stores differ: missing %s; unexpected %s", listNames(missing), listNames(unexpected))
	}
	return nil
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// listNames formats at most 10 names for an error message.
func listNames(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	if len(names) > 10 {
		return fmt.Sprintf("%q and %d more", names[:10], len(names)-10)
	}
	return fmt.Sprintf("%q", names)
}

// Checksum returns the hex SHA-256 over the names, shapes and float32 bits of
// every parameter in store order. Two stores with bit-identical contents in
// the same order have the same checksum.
func (s *Store) Checksum() string {
	h := sha256.New()
	var buf []byte
	for _, p := range s.params {
		buf = buf[:0]
		buf = binary.LittleEndian.AppendUint64(buf, uint64(len(p.Name)))
		buf = append(buf, p.Name...)
		buf = binary.LittleEndian.AppendUint64(buf, uint64(len(p.Shape)))
		for _, d := range p.Shape {
			buf = binary.LittleEndian.AppendUint64(buf, uint64(d))
		}
		for _, v := range p.Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// AllFinite reports whether no parameter holds a NaN or an infinity.
func (s *Store) AllFinite() bool {
	_, _, bad := s.FirstNonFinite()
	return !bad
}

// FirstNonFinite returns the first parameter (in store order) and element
// index holding a NaN or infinity; found is false when all values are finite.
func (s *Store) FirstNonFinite() (name string, index int, found bool) {
	for _, p := range s.params {
		for i, v := range p.Data {
			if math.Float32bits(v)&0x7f800000 == 0x7f800000 {
				return p.Name, i, true
			}
		}
	}
	return "", 0, false
}
