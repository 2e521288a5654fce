package ort

import (
	"fmt"
	"slices"
)

// DType is a tensor element type. Its values are the ONNX
// TensorProto.DataType numbers, so DType(pb.TensorProto_FLOAT) == Float32.
type DType int

// Element types supported by this package. Go representations:
// Float32 []float32, Float64 []float64, Int64 []int64, Int32 []int32,
// Bool []bool, Float16 and BFloat16 []uint16 (the raw IEEE half / bfloat16
// bits).
const (
	Undefined DType = 0
	Float32   DType = 1
	Int32     DType = 6
	Int64     DType = 7
	Bool      DType = 9
	Float16   DType = 10
	Float64   DType = 11
	BFloat16  DType = 16
)

// String returns the ONNX name of the type in lower case ("float32",
// "int64", ...) or "dtype(N)" for types this package does not support.
func (d DType) String() string {
	switch d {
	case Undefined:
		return "undefined"
	case Float32:
		return "float32"
	case Int32:
		return "int32"
	case Int64:
		return "int64"
	case Bool:
		return "bool"
	case Float16:
		return "float16"
	case Float64:
		return "float64"
	case BFloat16:
		return "bfloat16"
	}
	return fmt.Sprintf("dtype(%d)", int(d))
}

// Supported reports whether the package can move tensors of this type in
// and out of ONNX Runtime.
func (d DType) Supported() bool {
	switch d {
	case Float32, Int32, Int64, Bool, Float16, Float64, BFloat16:
		return true
	}
	return false
}

// Size is the number of bytes of one element (0 for unsupported types).
func (d DType) Size() int {
	switch d {
	case Float32, Int32:
		return 4
	case Int64, Float64:
		return 8
	case Bool:
		return 1
	case Float16, BFloat16:
		return 2
	}
	return 0
}

// Tensor is a dense row-major tensor held in Go memory.
//
// Data is one of []float32, []float64, []int64, []int32, []bool, or []uint16
// (Float16/BFloat16 bits). DType may be left Undefined for every Data type
// except []uint16, where it must say Float16 or BFloat16; when set it must
// agree with Data. Shape []int64{} (or nil) is a rank-0 scalar with one
// element; dimensions are non-negative.
type Tensor struct {
	Shape []int64
	DType DType
	Data  any
}

// Element is the set of Go element types accepted by NewTensor.
type Element interface {
	float32 | float64 | int64 | int32 | bool
}

// NewTensor returns a Tensor over data (not copied) with the given shape,
// checking that len(data) is the product of the dimensions.
func NewTensor[T Element](shape []int64, data []T) (Tensor, error) {
	t := Tensor{Shape: slices.Clone(shape), Data: data}
	dt, err := t.ElemType()
	if err != nil {
		return Tensor{}, err
	}
	t.DType = dt
	if err := t.Validate(); err != nil {
		return Tensor{}, err
	}
	return t, nil
}

// NewHalfTensor returns a Float16 or BFloat16 Tensor over the raw 16-bit
// patterns in bits (not copied).
func NewHalfTensor(dt DType, shape []int64, bits []uint16) (Tensor, error) {
	if dt != Float16 && dt != BFloat16 {
		return Tensor{}, fmt.Errorf("ort: NewHalfTensor needs Float16 or BFloat16, got %s", dt)
	}
	t := Tensor{Shape: slices.Clone(shape), DType: dt, Data: bits}
	if err := t.Validate(); err != nil {
		return Tensor{}, err
	}
	return t, nil
}

// Zeros returns a zero-filled Tensor of the given type and shape.
func Zeros(dt DType, shape []int64) (Tensor, error) {
	n, err := NumElements(shape)
	if err != nil {
		return Tensor{}, err
	}
	data, err := makeSlice(dt, n)
	if err != nil {
		return Tensor{}, err
	}
	return Tensor{Shape: slices.Clone(shape), DType: dt, Data: data}, nil
}

// NumElements returns the product of the dimensions of shape (1 for rank
// 0). Negative dimensions and overflow are errors.
func NumElements(shape []int64) (int, error) {
	n := int64(1)
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("ort: shape %v: dimension %d is negative", shape, i)
		}
		if d != 0 && n > (1<<62)/d {
			return 0, fmt.Errorf("ort: shape %v: element count overflows", shape)
		}
		n *= d
	}
	return int(n), nil
}

// ElemType returns the element type of t: t.DType when set (after checking
// it agrees with Data), else the type implied by Data.
func (t Tensor) ElemType() (DType, error) {
	var implied DType
	switch t.Data.(type) {
	case []float32:
		implied = Float32
	case []float64:
		implied = Float64
	case []int64:
		implied = Int64
	case []int32:
		implied = Int32
	case []bool:
		implied = Bool
	case []uint16:
		if t.DType != Float16 && t.DType != BFloat16 {
			return Undefined, fmt.Errorf("ort: []uint16 data needs DType Float16 or BFloat16, got %s", t.DType)
		}
		return t.DType, nil
	case nil:
		return Undefined, fmt.Errorf("ort: tensor has no data")
	default:
		return Undefined, fmt.Errorf("ort: unsupported tensor data type %T", t.Data)
	}
	if t.DType != Undefined && t.DType != implied {
		return Undefined, fmt.Errorf("ort: tensor DType %s does not match %T data", t.DType, t.Data)
	}
	return implied, nil
}

// Len returns the number of elements in t.Data (0 when Data is not a
// supported slice type).
func (t Tensor) Len() int {
	switch d := t.Data.(type) {
	case []float32:
		return len(d)
	case []float64:
		return len(d)
	case []int64:
		return len(d)
	case []int32:
		return len(d)
	case []bool:
		return len(d)
	case []uint16:
		return len(d)
	}
	return 0
}

// Validate checks that t has a supported element type, a valid shape and
// exactly as many elements as the shape says.
func (t Tensor) Validate() error {
	if _, err := t.ElemType(); err != nil {
		return err
	}
	n, err := NumElements(t.Shape)
	if err != nil {
		return err
	}
	if l := t.Len(); l != n {
		return fmt.Errorf("ort: tensor of shape %v needs %d elements, data has %d", t.Shape, n, l)
	}
	return nil
}

// Data returns t.Data as a []T, or an error naming the actual type.
func Data[T Element | uint16](t Tensor) ([]T, error) {
	d, ok := t.Data.([]T)
	if !ok {
		var zero T
		return nil, fmt.Errorf("ort: tensor holds %T, not []%T", t.Data, zero)
	}
	return d, nil
}

func makeSlice(dt DType, n int) (any, error) {
	switch dt {
	case Float32:
		return make([]float32, n), nil
	case Float64:
		return make([]float64, n), nil
	case Int64:
		return make([]int64, n), nil
	case Int32:
		return make([]int32, n), nil
	case Bool:
		return make([]bool, n), nil
	case Float16, BFloat16:
		return make([]uint16, n), nil
	}
	return nil, fmt.Errorf("ort: unsupported element type %s", dt)
}
