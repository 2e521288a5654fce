//go:build cgo

package ort

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"unsafe"

	onnx "github.com/yalue/onnxruntime_go"
)

// newValue wraps data (a slice of the Go type for dt, already length
// checked against shape) as an ONNX Runtime value. Tensors of rank >= 1
// share data's memory; rank-0 values (onnxruntime_go Scalars) hold a copy
// of data[0], so after a run their content must be copied back with
// readScalar.
func newValue(shape []int64, dt DType, data any) (onnx.Value, error) {
	if len(shape) == 0 {
		switch d := data.(type) {
		case []float32:
			return onnx.NewScalar(d[0])
		case []float64:
			return onnx.NewScalar(d[0])
		case []int64:
			return onnx.NewScalar(d[0])
		case []int32:
			return onnx.NewScalar(d[0])
		case []bool:
			return onnx.NewScalar(d[0])
		}
		return nil, fmt.Errorf("rank-0 %s tensors are not supported by onnxruntime_go; use shape [1]", dt)
	}
	s := onnx.Shape(shape)
	switch d := data.(type) {
	case []float32:
		return onnx.NewTensor(s, d)
	case []float64:
		return onnx.NewTensor(s, d)
	case []int64:
		return onnx.NewTensor(s, d)
	case []int32:
		return onnx.NewTensor(s, d)
	case []bool:
		return onnx.NewTensor(s, d)
	case []uint16:
		if len(d) == 0 {
			return nil, fmt.Errorf("empty %s tensors are not supported by onnxruntime_go", dt)
		}
		b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(d))), 2*len(d))
		return onnx.NewCustomDataTensor(s, b, onnx.TensorElementDataType(dt))
	}
	return nil, fmt.Errorf("unsupported data type %T", data)
}

// readScalar copies the value of a rank-0 onnxruntime_go Scalar into
// dst[0]; it does nothing for other values (whose memory is dst itself).
func readScalar(v onnx.Value, dst any) {
	switch sv := v.(type) {
	case *onnx.Scalar[float32]:
		dst.([]float32)[0] = sv.GetData()
	case *onnx.Scalar[float64]:
		dst.([]float64)[0] = sv.GetData()
	case *onnx.Scalar[int64]:
		dst.([]int64)[0] = sv.GetData()
	case *onnx.Scalar[int32]:
		dst.([]int32)[0] = sv.GetData()
	case *onnx.Scalar[bool]:
		dst.([]bool)[0] = sv.GetData()
	}
}

// fromValue converts an output value that ONNX Runtime allocated (and
// onnxruntime_go copied into Go memory) into a Tensor. The returned Data
// is Go memory that stays valid after v is destroyed.
func fromValue(v onnx.Value) (Tensor, error) {
	shape := []int64(v.GetShape())
	if shape == nil {
		shape = []int64{}
	}
	switch t := v.(type) {
	case *onnx.Tensor[float32]:
		return Tensor{Shape: shape, DType: Float32, Data: t.GetData()}, nil
	case *onnx.Tensor[float64]:
		return Tensor{Shape: shape, DType: Float64, Data: t.GetData()}, nil
	case *onnx.Tensor[int64]:
		return Tensor{Shape: shape, DType: Int64, Data: t.GetData()}, nil
	case *onnx.Tensor[int32]:
		return Tensor{Shape: shape, DType: Int32, Data: t.GetData()}, nil
	case *onnx.Tensor[bool]:
		return Tensor{Shape: shape, DType: Bool, Data: t.GetData()}, nil
	case *onnx.CustomDataTensor:
		dt := DType(int(t.DataType()))
		if dt != Float16 && dt != BFloat16 {
			return Tensor{}, fmt.Errorf("output element type %s is not supported", dt)
		}
		b := t.GetData()
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
		return Tensor{Shape: shape, DType: dt, Data: u}, nil
	}
	return Tensor{}, fmt.Errorf("output value %T (onnx type %v) is not a supported tensor", v, v.GetONNXType())
}

// destroyValue releases v's native memory. It tolerates nil and typed-nil
// values: on a failed output conversion onnxruntime_go stores a nil
// *Tensor[T] in the outputs slice, whose Destroy would crash.
func destroyValue(v onnx.Value) {
	if v == nil {
		return
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return
	}
	v.Destroy()
}
