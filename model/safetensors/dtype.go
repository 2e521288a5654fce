// Package safetensors reads and writes the Hugging Face safetensors format.
//
// A safetensors file is laid out as
//
//	[8 bytes]  little-endian uint64 N, the header length
//	[N bytes]  UTF-8 JSON object, padded with spaces to a multiple of 8 bytes:
//	           {"__metadata__": {"k": "v", ...},
//	            "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
//	[rest]     the tensor bytes; offsets are relative to the first byte after the header
//
// Tensor bytes are little-endian and row-major. Reading validates the header
// (offsets inside the file, sizes equal to product(shape)*dtype size, no overlapping
// tensors, no duplicate names) and returns errors naming the file and the tensor.
// Writing is atomic (temporary file in the destination directory, fsync, rename).
package safetensors

import (
	"fmt"
	"sort"
)

// Data type names as they appear in the "dtype" field of a safetensors header.
const (
	BOOL    = "BOOL"
	U8      = "U8"
	I8      = "I8"
	F8E5M2  = "F8_E5M2"
	F8E4M3  = "F8_E4M3"
	I16     = "I16"
	U16     = "U16"
	F16     = "F16"
	BF16    = "BF16"
	I32     = "I32"
	U32     = "U32"
	F32     = "F32"
	F64     = "F64"
	I64     = "I64"
	U64     = "U64"
	invalid = ""
)

// dtypeSizes maps every dtype this package understands to its size in bytes.
// It is never mutated.
var dtypeSizes = map[string]int{
	BOOL: 1, U8: 1, I8: 1, F8E5M2: 1, F8E4M3: 1,
	I16: 2, U16: 2, F16: 2, BF16: 2,
	I32: 4, U32: 4, F32: 4,
	F64: 8, I64: 8, U64: 8,
}

// DTypeSize returns the size in bytes of one element of dtype, or an error when
// the dtype is not a known safetensors dtype.
func DTypeSize(dtype string) (int, error) {
	n, ok := dtypeSizes[dtype]
	if !ok {
		return 0, fmt.Errorf("unknown dtype %q (known: %v)", dtype, knownDTypes())
	}
	return n, nil
}

func knownDTypes() []string {
	out := make([]string, 0, len(dtypeSizes))
	for k := range dtypeSizes {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// NumElements returns the product of shape (1 for a scalar, rank 0), or an
// error for a negative dimension or when the product overflows int64.
func NumElements(shape []int64) (int64, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d in shape %v", d, shape)
		}
		if d != 0 && n > (1<<62)/d {
			return 0, fmt.Errorf("shape %v has too many elements", shape)
		}
		n *= d
	}
	return n, nil
}
