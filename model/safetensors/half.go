package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
)

// IsHalf reports whether dtype is one of the 16-bit float types, F16 or BF16.
func IsHalf(dtype string) bool { return dtype == F16 || dtype == BF16 }

// HalfToFloat32 converts raw F16 or BF16 bits to float32 (exact: every
// half and bfloat16 value is a float32).
func HalfToFloat32(dtype string, bits []uint16) ([]float32, error) {
	out := make([]float32, len(bits))
	switch dtype {
	case F16:
		for i, h := range bits {
			out[i] = F16ToFloat32(h)
		}
	case BF16:
		for i, h := range bits {
			out[i] = BF16ToFloat32(h)
		}
	default:
		return nil, fmt.Errorf("%q is not a 16-bit float dtype (want F16 or BF16)", dtype)
	}
	return out, nil
}

// Float32ToHalf rounds float32 values to F16 or BF16 bits (nearest, ties to
// even). A finite value beyond the range of F16 (about ±65504) is an error
// rather than a silent infinity.
func Float32ToHalf(dtype string, data []float32) ([]uint16, error) {
	if !IsHalf(dtype) {
		return nil, fmt.Errorf("%q is not a 16-bit float dtype (want F16 or BF16)", dtype)
	}
	out := roundHalf(dtype, data)
	if dtype == F16 {
		for i, h := range out {
			if h&0x7fff == 0x7c00 && !math.IsInf(float64(data[i]), 0) {
				return nil, fmt.Errorf("value %g at index %d is beyond the range of F16", data[i], i)
			}
		}
	}
	return out, nil
}

// roundHalf rounds float32 values to F16 (dtype F16) or BF16 (any other
// dtype) bits, nearest with ties to even; F16 overflow gives ±Inf.
func roundHalf(dtype string, data []float32) []uint16 {
	out := make([]uint16, len(data))
	if dtype == F16 {
		for i, v := range data {
			out[i] = Float32ToF16(v)
		}
		return out
	}
	for i, v := range data {
		out[i] = Float32ToBF16(v)
	}
	return out
}

// HalfBytes returns 16-bit values as little-endian bytes.
func HalfBytes(bits []uint16) []byte {
	out := make([]byte, 2*len(bits))
	for i, h := range bits {
		binary.LittleEndian.PutUint16(out[2*i:], h)
	}
	return out
}

// Half returns the tensor's values as raw bits of dtype (F16 or BF16). A
// tensor stored in that dtype is copied bit for bit, so nothing is rounded;
// any other float dtype is converted through float32 and rounded to nearest
// even.
func (t Tensor) Half(dtype string) ([]uint16, error) {
	if !IsHalf(dtype) {
		return nil, fmt.Errorf("tensor %q: %q is not a 16-bit float dtype (want F16 or BF16)", t.Name, dtype)
	}
	if t.DType == dtype {
		if len(t.Data)%2 != 0 {
			return nil, fmt.Errorf("tensor %q: %d bytes is not a whole number of %s elements", t.Name, len(t.Data), dtype)
		}
		out := make([]uint16, len(t.Data)/2)
		for i := range out {
			out[i] = binary.LittleEndian.Uint16(t.Data[2*i:])
		}
		return out, nil
	}
	f, err := t.Float32()
	if err != nil {
		return nil, err
	}
	bits, err := Float32ToHalf(dtype, f)
	if err != nil {
		return nil, fmt.Errorf("tensor %q as %s: %w", t.Name, dtype, err)
	}
	return bits, nil
}
