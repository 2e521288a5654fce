package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
)

// F16ToFloat32 converts IEEE 754 binary16 bits to float32 exactly (every half
// value, subnormals included, is representable in float32). NaN payloads are
// kept in the top mantissa bits.
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal half: value = mant * 2^-24; normalise.
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	}
}

// Float32ToF16 converts a float32 to IEEE 754 binary16 bits, rounding to
// nearest with ties to even. Values too large become ±Inf, values too small
// become ±0 or a subnormal half. A NaN stays a quiet NaN with the sign and
// the top mantissa bits of its payload.
func Float32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int((b >> 23) & 0xff)
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant == 0 {
			return sign | 0x7c00
		}
		return sign | 0x7c00 | 0x200 | uint16(mant>>13)
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			// |f| < 2^-25: below half the smallest subnormal, rounds to zero
			// (float32 subnormals land here too).
			return sign
		}
		mant |= 0x800000
		shift := uint(14 - e)
		half := mant >> shift
		rem := mant & (1<<shift - 1)
		halfway := uint32(1) << (shift - 1)
		if rem > halfway || (rem == halfway && half&1 == 1) {
			half++ // a carry into the exponent field is the correct result
		}
		return sign | uint16(half)
	}
	half := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && half&1 == 1) {
		half++ // may carry up to 0x7c00 = Inf, which is correct
	}
	return sign | uint16(half)
}

// BF16ToFloat32 converts bfloat16 bits to float32 exactly.
func BF16ToFloat32(h uint16) float32 {
	return math.Float32frombits(uint32(h) << 16)
}

// Float32ToBF16 converts a float32 to bfloat16 bits, rounding to nearest with
// ties to even (the same rule as PyTorch). A NaN stays a quiet NaN with its sign
// and the top bits of its payload.
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7f800000 == 0x7f800000 && b&0x7fffff != 0 {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// EncodeFloat32 returns data as little-endian bytes in dtype F32, F16 or BF16
// (the last two rounded to nearest even).
func EncodeFloat32(dtype string, data []float32) ([]byte, error) {
	switch dtype {
	case F32:
		out := make([]byte, 4*len(data))
		for i, v := range data {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
		return out, nil
	case F16, BF16:
		return HalfBytes(roundHalf(dtype, data)), nil
	default:
		return nil, fmt.Errorf("cannot encode float32 data as dtype %q (supported: F32, F16, BF16)", dtype)
	}
}

// DecodeFloat32 converts little-endian tensor bytes of the given dtype to
// float32. Supported: F32, F16, BF16, F64, I64, I32, I16, I8, U8, U16, U32,
// U64 and BOOL (0 or 1). Wide integers and F64 lose precision as float32 does.
func DecodeFloat32(dtype string, data []byte) ([]float32, error) {
	size, err := DTypeSize(dtype)
	if err != nil {
		return nil, err
	}
	if len(data)%size != 0 {
		return nil, fmt.Errorf("%d bytes is not a whole number of %s elements", len(data), dtype)
	}
	n := len(data) / size
	out := make([]float32, n)
	le := binary.LittleEndian
	switch dtype {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(le.Uint32(data[4*i:]))
		}
	case F16:
		for i := range out {
			out[i] = F16ToFloat32(le.Uint16(data[2*i:]))
		}
	case BF16:
		for i := range out {
			out[i] = BF16ToFloat32(le.Uint16(data[2*i:]))
		}
	case F64:
		for i := range out {
			out[i] = float32(math.Float64frombits(le.Uint64(data[8*i:])))
		}
	case I64:
		for i := range out {
			out[i] = float32(int64(le.Uint64(data[8*i:])))
		}
	case U64:
		for i := range out {
			out[i] = float32(le.Uint64(data[8*i:]))
		}
	case I32:
		for i := range out {
			out[i] = float32(int32(le.Uint32(data[4*i:])))
		}
	case U32:
		for i := range out {
			out[i] = float32(le.Uint32(data[4*i:]))
		}
	case I16:
		for i := range out {
			out[i] = float32(int16(le.Uint16(data[2*i:])))
		}
	case U16:
		for i := range out {
			out[i] = float32(le.Uint16(data[2*i:]))
		}
	case I8:
		for i := range out {
			out[i] = float32(int8(data[i]))
		}
	case U8:
		for i := range out {
			out[i] = float32(data[i])
		}
	case BOOL:
		for i := range out {
			if data[i] > 1 {
				return nil, fmt.Errorf("BOOL element %d has byte value %d (want 0 or 1)", i, data[i])
			}
			out[i] = float32(data[i])
		}
	default:
		return nil, fmt.Errorf("cannot convert dtype %s to float32", dtype)
	}
	return out, nil
}

// DecodeInt64 converts little-endian integer or BOOL tensor bytes to int64.
// Supported: I64, I32, I16, I8, U8, U16, U32, BOOL (U64 values above
// math.MaxInt64 are an error).
func DecodeInt64(dtype string, data []byte) ([]int64, error) {
	size, err := DTypeSize(dtype)
	if err != nil {
		return nil, err
	}
	if len(data)%size != 0 {
		return nil, fmt.Errorf("%d bytes is not a whole number of %s elements", len(data), dtype)
	}
	out := make([]int64, len(data)/size)
	le := binary.LittleEndian
	switch dtype {
	case I64:
		for i := range out {
			out[i] = int64(le.Uint64(data[8*i:]))
		}
	case U64:
		for i := range out {
			u := le.Uint64(data[8*i:])
			if u > math.MaxInt64 {
				return nil, fmt.Errorf("U64 element %d = %d overflows int64", i, u)
			}
			out[i] = int64(u)
		}
	case I32:
		for i := range out {
			out[i] = int64(int32(le.Uint32(data[4*i:])))
		}
	case U32:
		for i := range out {
			out[i] = int64(le.Uint32(data[4*i:]))
		}
	case I16:
		for i := range out {
			out[i] = int64(int16(le.Uint16(data[2*i:])))
		}
	case U16:
		for i := range out {
			out[i] = int64(le.Uint16(data[2*i:]))
		}
	case I8:
		for i := range out {
			out[i] = int64(int8(data[i]))
		}
	case U8, BOOL:
		for i := range out {
			out[i] = int64(data[i])
		}
	default:
		return nil, fmt.Errorf("cannot convert dtype %s to int64", dtype)
	}
	return out, nil
}
