// Package params is a named, ordered store of parameter tensors with seeded
// initialisation, safetensors save/load and checksums for resume tests.
// Parameters are float32, or held as raw 16-bit bits (BF16 or F16) when they
// are frozen weights kept at their stored precision (see AddHalf).
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
	"slices"

	"github.com/videossr/videossr-go/model/safetensors"
)

// Param is one named parameter tensor.
type Param struct {
	// Name is the unique key of the parameter.
	Name string
	// Shape is the tensor shape (row-major); empty for a scalar.
	Shape []int
	// Data holds the product(Shape) values of a float32 parameter; it is
	// nil for a half-precision one.
	Data []float32
	// Half holds the product(Shape) raw 16-bit values of a parameter kept
	// in half precision (DType BF16 or F16); nil for a float32 one.
	Half []uint16
	// DType is the storage type: "" (float32), safetensors.BF16 or
	// safetensors.F16.
	DType string
}

// Size returns the number of elements.
func (p *Param) Size() int {
	if p.Half != nil {
		return len(p.Half)
	}
	return len(p.Data)
}

// HasShape reports whether the parameter has the given shape.
func (p *Param) HasShape(shape []int64) bool {
	if len(shape) != len(p.Shape) {
		return false
	}
	for i, d := range shape {
		if d != int64(p.Shape[i]) {
			return false
		}
	}
	return true
}

// IsHalf reports whether the parameter is held in half precision.
func (p *Param) IsHalf() bool { return safetensors.IsHalf(p.DType) }

// StorageDType is the safetensors dtype the parameter is held in: F32, BF16
// or F16.
func (p *Param) StorageDType() string {
	if p.IsHalf() {
		return p.DType
	}
	return safetensors.F32
}

// Bytes is the memory the parameter's values take.
func (p *Param) Bytes() int64 {
	if p.IsHalf() {
		return 2 * int64(len(p.Half))
	}
	return 4 * int64(len(p.Data))
}

// Float32 returns the values as float32: Data itself for a float32
// parameter (shared), an exact converted copy for a half one.
func (p *Param) Float32() []float32 {
	if !p.IsHalf() {
		return p.Data
	}
	out, _ := safetensors.HalfToFloat32(p.DType, p.Half) // IsHalf: cannot fail
	return out
}

// Tensor returns the parameter as a safetensors tensor in its own storage
// dtype (half bits are written as they are).
func (p *Param) Tensor() safetensors.Tensor {
	shape := make([]int64, len(p.Shape))
	for i, d := range p.Shape {
		shape[i] = int64(d)
	}
	if p.IsHalf() {
		return safetensors.Tensor{Name: p.Name, DType: p.DType, Shape: shape, Data: safetensors.HalfBytes(p.Half)}
	}
	t, _ := safetensors.FromFloat32(p.Name, safetensors.F32, shape, p.Data) // sizes agree by construction
	return t
}

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
	n, err := s.newParam(name, shape)
	if err != nil {
		return nil, err
	}
	if data == nil {
		data = make([]float32, n)
	}
	if len(data) != n {
		return nil, countError(name, len(data), shape, n)
	}
	return s.insert(&Param{Name: name, Shape: append([]int{}, shape...), Data: data}), nil
}

// newParam checks the name and shape of a parameter about to be added and
// returns its element count.
func (s *Store) newParam(name string, shape []int) (int, error) {
	if name == "" {
		return 0, fmt.Errorf("params: empty parameter name")
	}
	if _, dup := s.index[name]; dup {
		return 0, fmt.Errorf("params: duplicate parameter %q", name)
	}
	n, err := numElements(shape)
	if err != nil {
		return 0, fmt.Errorf("params: parameter %q: %w", name, err)
	}
	return n, nil
}

func countError(name string, got int, shape []int, want int) error {
	return fmt.Errorf("params: parameter %q: %d values for shape %v (want %d)", name, got, shape, want)
}

func (s *Store) insert(p *Param) *Param {
	s.index[p.Name] = len(s.params)
	s.params = append(s.params, p)
	return p
}

// AddHalf appends a parameter held in half precision: dtype is
// safetensors.BF16 or safetensors.F16 and bits its raw values (owned by the
// store, not copied). Such parameters are frozen weights: the optimizer
// refuses them.
func (s *Store) AddHalf(name string, shape []int, dtype string, bits []uint16) (*Param, error) {
	n, err := s.newParam(name, shape)
	if err != nil {
		return nil, err
	}
	if !safetensors.IsHalf(dtype) {
		return nil, fmt.Errorf("params: parameter %q: dtype %q is not BF16 or F16", name, dtype)
	}
	if len(bits) != n {
		return nil, countError(name, len(bits), shape, n)
	}
	return s.insert(&Param{Name: name, Shape: append([]int{}, shape...), Half: bits, DType: dtype}), nil
}

// AddShared appends a parameter that shares p's values (and dtype): writes
// to either are seen by both. Frozen weights are shared this way between a
// policy and its KL reference.
func (s *Store) AddShared(p *Param) (*Param, error) {
	if _, err := s.newParam(p.Name, p.Shape); err != nil {
		return nil, err
	}
	return s.insert(&Param{Name: p.Name, Shape: append([]int{}, p.Shape...), Data: p.Data, Half: p.Half, DType: p.DType}), nil
}

// Convert changes the storage of every parameter for which keep returns
// true to dtype: safetensors.BF16 or F16 rounds float32 values to nearest
// even (half values of the other type go through float32), safetensors.F32
// converts half values back exactly. Parameters already in dtype are left
// as they are.
func (s *Store) Convert(dtype string, keep func(name string) bool) error {
	if dtype != safetensors.F32 && !safetensors.IsHalf(dtype) {
		return fmt.Errorf("params: cannot hold parameters as %q (want F32, BF16 or F16)", dtype)
	}
	for _, p := range s.params {
		if !keep(p.Name) || p.StorageDType() == dtype {
			continue
		}
		f := p.Float32()
		if dtype == safetensors.F32 {
			p.Data, p.Half, p.DType = f, nil, ""
			continue
		}
		bits, err := safetensors.Float32ToHalf(dtype, f)
		if err != nil {
			return fmt.Errorf("params: parameter %q: %w", p.Name, err)
		}
		p.Data, p.Half, p.DType = nil, bits, dtype
	}
	return nil
}

// Bytes is the memory all parameter values take.
func (s *Store) Bytes() int64 {
	var n int64
	for _, p := range s.params {
		n += p.Bytes()
	}
	return n
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
		n += int64(p.Size())
	}
	return n
}

// Clone returns a deep copy.
func (s *Store) Clone() *Store {
	c := &Store{params: make([]*Param, len(s.params)), index: make(map[string]int, len(s.index))}
	for i, p := range s.params {
		c.params[i] = &Param{Name: p.Name, Shape: append([]int{}, p.Shape...), Data: slices.Clone(p.Data), Half: slices.Clone(p.Half), DType: p.DType}
		c.index[p.Name] = i
	}
	return c
}

// CopyFrom overwrites the values of every parameter with those of src, which
// must hold the same names with the same shapes and storage dtypes (order
// may differ).
func (s *Store) CopyFrom(src *Store) error {
	if err := s.sameLayout(src); err != nil {
		return err
	}
	for _, p := range s.params {
		q, _ := src.Get(p.Name)
		copy(p.Data, q.Data)
		copy(p.Half, q.Half)
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
		if !slices.Equal(p.Shape, q.Shape) {
			return fmt.Errorf("params: parameter %q has shape %v, other store has %v", p.Name, p.Shape, q.Shape)
		}
		if p.StorageDType() != q.StorageDType() {
			return fmt.Errorf("params: parameter %q is held as %s, other store has %s", p.Name, p.StorageDType(), q.StorageDType())
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

// Checksum returns the hex SHA-256 over the names, shapes and value bits of
// every parameter in store order (half-precision ones also hash their
// dtype). Two stores with bit-identical contents in the same order have the
// same checksum.
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
		if p.IsHalf() {
			buf = append(buf, p.DType...)
			for _, v := range p.Half {
				buf = binary.LittleEndian.AppendUint16(buf, v)
			}
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
		mask := uint16(0x7f80) // BF16 exponent
		if p.DType == safetensors.F16 {
			mask = 0x7c00
		}
		for i, v := range p.Half {
			if v&mask == mask {
				return p.Name, i, true
			}
		}
	}
	return "", 0, false
}
