package safetensors

import (
	"bytes"
	"fmt"
	"os"
)

// Tensor is one named tensor with its raw little-endian bytes.
type Tensor struct {
	// Name is the tensor's key in the file.
	Name string
	// DType is the element type, e.g. "F32", "BF16".
	DType string
	// Shape is the tensor shape; empty for a scalar.
	Shape []int64
	// Data holds product(Shape)*DTypeSize(DType) bytes, little-endian, row-major.
	Data []byte
}

// NumElements returns product(Shape).
func (t Tensor) NumElements() (int64, error) { return NumElements(t.Shape) }

// Float32 converts the tensor data to float32 (see DecodeFloat32 for the
// supported dtypes).
func (t Tensor) Float32() ([]float32, error) {
	out, err := DecodeFloat32(t.DType, t.Data)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	return out, nil
}

// File is a safetensors file read fully into memory.
type File struct {
	// Path is the file the data was read from.
	Path   string
	header *Header
	data   []byte // the data section
}

// Read reads and validates the safetensors file at path.
func Read(path string) (*File, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f, err := Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("safetensors %s: %w", path, err)
	}
	f.Path = path
	return f, nil
}

// Parse validates an in-memory safetensors file. The returned File keeps
// references into raw.
func Parse(raw []byte) (*File, error) {
	h, err := ReadHeader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		return nil, err
	}
	return &File{header: h, data: raw[h.DataStart:]}, nil
}

// Header returns the parsed header.
func (f *File) Header() *Header { return f.header }

// Metadata returns the "__metadata__" map (nil when the file has none).
func (f *File) Metadata() map[string]string { return f.header.Metadata }

// Names returns the tensor names sorted lexicographically.
func (f *File) Names() []string { return f.header.Names() }

// Info returns the dtype, shape and offsets of the named tensor.
func (f *File) Info(name string) (TensorInfo, bool) { return f.header.Lookup(name) }

// Tensor returns the named tensor; its Data aliases the file buffer (copy it
// before modifying it).
func (f *File) Tensor(name string) (Tensor, error) {
	ti, ok := f.header.Lookup(name)
	if !ok {
		return Tensor{}, fmt.Errorf("safetensors %s: no tensor %q", f.Path, name)
	}
	return Tensor{Name: ti.Name, DType: ti.DType, Shape: append([]int64{}, ti.Shape...), Data: f.data[ti.Begin:ti.End:ti.End]}, nil
}

// Tensors returns every tensor in ascending offset order; Data aliases the file buffer.
func (f *File) Tensors() []Tensor {
	out := make([]Tensor, len(f.header.Tensors))
	for i, ti := range f.header.Tensors {
		out[i] = Tensor{Name: ti.Name, DType: ti.DType, Shape: append([]int64{}, ti.Shape...), Data: f.data[ti.Begin:ti.End:ti.End]}
	}
	return out
}

// Float32 returns the named tensor converted to float32, and its shape.
func (f *File) Float32(name string) ([]float32, []int64, error) {
	t, err := f.Tensor(name)
	if err != nil {
		return nil, nil, err
	}
	data, err := t.Float32()
	if err != nil {
		return nil, nil, fmt.Errorf("safetensors %s: %w", f.Path, err)
	}
	return data, t.Shape, nil
}

// Int64 returns the named integer or BOOL tensor converted to int64, and its shape.
func (f *File) Int64(name string) ([]int64, []int64, error) {
	t, err := f.Tensor(name)
	if err != nil {
		return nil, nil, err
	}
	data, err := DecodeInt64(t.DType, t.Data)
	if err != nil {
		return nil, nil, fmt.Errorf("safetensors %s: tensor %q: %w", f.Path, name, err)
	}
	return data, t.Shape, nil
}

// Float32Tensor is a float32 tensor for the map helpers.
type Float32Tensor struct {
	// Shape is the tensor shape.
	Shape []int64
	// Data holds product(Shape) values, row-major.
	Data []float32
}

// Float32Map converts every tensor of the file to float32.
func (f *File) Float32Map() (map[string]Float32Tensor, error) {
	out := make(map[string]Float32Tensor, len(f.header.Tensors))
	for _, ti := range f.header.Tensors {
		data, shape, err := f.Float32(ti.Name)
		if err != nil {
			return nil, err
		}
		out[ti.Name] = Float32Tensor{Shape: shape, Data: data}
	}
	return out, nil
}

// Shape returns the shape of the named tensor.
func (f *File) Shape(name string) ([]int64, bool) {
	ti, ok := f.header.Lookup(name)
	return ti.Shape, ok
}
