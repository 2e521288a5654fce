package safetensors

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// FirstNonFinite scans the floating-point tensors (F64, F32, F16, BF16) of
// the safetensors stream r, whose header is h, in header order and returns
// the first tensor and element index holding a NaN or an infinity; found is
// false when every value is finite. Other dtypes are not checked. The data
// is read in chunks, so files larger than memory can be checked.
func FirstNonFinite(r io.ReaderAt, h *Header) (name string, index int64, found bool, err error) {
	const chunk = 1 << 20
	var buf []byte
	for _, ti := range h.Tensors {
		var size int64
		var bad func(b []byte) int // index of the first non-finite element in b, or -1
		switch ti.DType {
		case F64:
			size, bad = 8, func(b []byte) int {
				for i := 0; i+8 <= len(b); i += 8 {
					if v := math.Float64frombits(binary.LittleEndian.Uint64(b[i:])); math.IsNaN(v) || math.IsInf(v, 0) {
						return i / 8
					}
				}
				return -1
			}
		case F32:
			size, bad = 4, func(b []byte) int {
				for i := 0; i+4 <= len(b); i += 4 {
					if binary.LittleEndian.Uint32(b[i:])&0x7f800000 == 0x7f800000 {
						return i / 4
					}
				}
				return -1
			}
		case F16, BF16:
			mask := uint16(0x7f80)
			if ti.DType == F16 {
				mask = 0x7c00
			}
			size, bad = 2, func(b []byte) int {
				for i := 0; i+2 <= len(b); i += 2 {
					if binary.LittleEndian.Uint16(b[i:])&mask == mask {
						return i / 2
					}
				}
				return -1
			}
		default:
			continue
		}
		per := chunk / size * size
		for off := ti.Begin; off < ti.End; off += per {
			n := min(per, ti.End-off)
			if int64(cap(buf)) < n {
				buf = make([]byte, n)
			}
			b := buf[:n]
			if _, err := r.ReadAt(b, h.DataStart+off); err != nil {
				return "", 0, false, fmt.Errorf("reading tensor %q: %w", ti.Name, err)
			}
			if i := bad(b); i >= 0 {
				return ti.Name, (off-ti.Begin)/size + int64(i), true, nil
			}
		}
	}
	return "", 0, false, nil
}
