package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"unicode/utf8"
)

// MaxHeaderSize is the largest header length accepted (the same limit as the
// reference Rust implementation, 100 MB).
const MaxHeaderSize = 100_000_000

// metadataKey is the reserved header key holding the string-to-string metadata map.
const metadataKey = "__metadata__"

// ErrInvalidHeader is wrapped by every error about a malformed header.
var ErrInvalidHeader = errors.New("invalid safetensors header")

// TensorInfo describes one tensor as declared in a header.
type TensorInfo struct {
	// Name is the tensor's key in the header.
	Name string
	// DType is the element type, e.g. "F32" or "BF16".
	DType string
	// Shape is the tensor shape; empty for a scalar.
	Shape []int64
	// Begin and End are byte offsets relative to the start of the data section.
	Begin, End int64
}

// NumElements returns the number of elements of the tensor.
func (ti TensorInfo) NumElements() int64 {
	n, _ := NumElements(ti.Shape) // validated when the header was parsed
	return n
}

// Header is a parsed safetensors header.
type Header struct {
	// Tensors lists the tensors in ascending order of their data offsets.
	Tensors []TensorInfo
	// Metadata is the optional "__metadata__" map (nil when absent).
	Metadata map[string]string
	// DataStart is the absolute file offset of the data section (8 + header length).
	DataStart int64
	index     map[string]int
}

// Lookup returns the info of the named tensor.
func (h *Header) Lookup(name string) (TensorInfo, bool) {
	i, ok := h.index[name]
	if !ok {
		return TensorInfo{}, false
	}
	return h.Tensors[i], true
}

// Names returns the tensor names sorted lexicographically.
func (h *Header) Names() []string {
	out := make([]string, len(h.Tensors))
	for i, t := range h.Tensors {
		out[i] = t.Name
	}
	sort.Strings(out)
	return out
}

// rawInfo is a tensor entry as it appears in JSON; pointers detect missing fields.
type rawInfo struct {
	DType       *string   `json:"dtype"`
	Shape       *[]int64  `json:"shape"`
	DataOffsets *[]uint64 `json:"data_offsets"`
}

// ReadHeader reads and validates the header of a safetensors stream of total
// size fileSize bytes. It reads only the first 8+N bytes.
func ReadHeader(r io.ReaderAt, fileSize int64) (*Header, error) {
	if fileSize < 8 {
		return nil, fmt.Errorf("%w: file is %d bytes, shorter than the 8-byte header length", ErrInvalidHeader, fileSize)
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("reading header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("%w: header length %d exceeds the %d-byte limit", ErrInvalidHeader, n, MaxHeaderSize)
	}
	if int64(n) > fileSize-8 {
		return nil, fmt.Errorf("%w: header length %d runs past the end of the %d-byte file (truncated?)", ErrInvalidHeader, n, fileSize)
	}
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, 8); err != nil {
		return nil, fmt.Errorf("reading %d-byte header: %w", n, err)
	}
	return ParseHeader(buf, fileSize-8-int64(n))
}

// ParseHeader parses the JSON header bytes (without the 8-byte length prefix)
// and validates every tensor against a data section of dataSize bytes. The
// returned Header's DataStart is 8+len(buf).
func ParseHeader(buf []byte, dataSize int64) (*Header, error) {
	if len(buf) == 0 || buf[0] != '{' {
		return nil, fmt.Errorf("%w: header does not start with '{'", ErrInvalidHeader)
	}
	if !utf8.Valid(buf) {
		return nil, fmt.Errorf("%w: header is not valid UTF-8", ErrInvalidHeader)
	}
	dec := json.NewDecoder(bytes.NewReader(buf))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidHeader, err)
	}
	h := &Header{DataStart: 8 + int64(len(buf)), index: map[string]int{}}
	seenMeta := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: bad JSON: %v", ErrInvalidHeader, err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("%w: bad JSON key %v", ErrInvalidHeader, tok)
		}
		if name == metadataKey {
			if seenMeta {
				return nil, fmt.Errorf("%w: duplicate %q", ErrInvalidHeader, metadataKey)
			}
			seenMeta = true
			var meta map[string]string
			if err := dec.Decode(&meta); err != nil {
				return nil, fmt.Errorf("%w: %q must be an object of strings: %v", ErrInvalidHeader, metadataKey, err)
			}
			h.Metadata = meta
			continue
		}
		if _, dup := h.index[name]; dup {
			return nil, fmt.Errorf("%w: duplicate tensor %q", ErrInvalidHeader, name)
		}
		var ri rawInfo
		if err := dec.Decode(&ri); err != nil {
			return nil, fmt.Errorf("%w: tensor %q: bad JSON: %v", ErrInvalidHeader, name, err)
		}
		ti, err := checkInfo(name, ri, dataSize)
		if err != nil {
			return nil, err
		}
		h.index[name] = len(h.Tensors)
		h.Tensors = append(h.Tensors, ti)
	}
	if _, err := dec.Token(); err != nil { // closing '}'
		return nil, fmt.Errorf("%w: bad JSON: %v", ErrInvalidHeader, err)
	}
	// Only spaces (the alignment padding) or other whitespace may follow.
	rest := buf[dec.InputOffset():]
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes after the JSON object", ErrInvalidHeader)
	}
	if err := checkOverlaps(h); err != nil {
		return nil, err
	}
	return h, nil
}

func checkInfo(name string, ri rawInfo, dataSize int64) (TensorInfo, error) {
	bad := func(format string, args ...any) (TensorInfo, error) {
		return TensorInfo{}, fmt.Errorf("%w: tensor %q: %s", ErrInvalidHeader, name, fmt.Sprintf(format, args...))
	}
	if ri.DType == nil {
		return bad("missing \"dtype\"")
	}
	if ri.Shape == nil {
		return bad("missing \"shape\"")
	}
	if ri.DataOffsets == nil {
		return bad("missing \"data_offsets\"")
	}
	size, err := DTypeSize(*ri.DType)
	if err != nil {
		return bad("%v", err)
	}
	numel, err := NumElements(*ri.Shape)
	if err != nil {
		return bad("%v", err)
	}
	offs := *ri.DataOffsets
	if len(offs) != 2 {
		return bad("data_offsets has %d entries, want 2", len(offs))
	}
	if offs[0] > offs[1] {
		return bad("data_offsets [%d, %d] end before they begin", offs[0], offs[1])
	}
	if offs[1] > uint64(dataSize) {
		return bad("data_offsets [%d, %d] run past the %d-byte data section (truncated file?)", offs[0], offs[1], dataSize)
	}
	if numel > (1<<62)/int64(size) {
		return bad("shape %v is too large", *ri.Shape)
	}
	if want := uint64(numel) * uint64(size); offs[1]-offs[0] != want {
		return bad("data_offsets [%d, %d] hold %d bytes, but shape %v of %s needs %d", offs[0], offs[1], offs[1]-offs[0], *ri.Shape, *ri.DType, want)
	}
	shape := *ri.Shape
	if shape == nil {
		shape = []int64{}
	}
	return TensorInfo{Name: name, DType: *ri.DType, Shape: shape, Begin: int64(offs[0]), End: int64(offs[1])}, nil
}

// checkOverlaps sorts h.Tensors by offset, rebuilds the index and rejects
// overlapping byte ranges (empty tensors never overlap).
func checkOverlaps(h *Header) error {
	sort.SliceStable(h.Tensors, func(i, j int) bool {
		a, b := h.Tensors[i], h.Tensors[j]
		if a.Begin != b.Begin {
			return a.Begin < b.Begin
		}
		return a.End < b.End
	})
	var prev *TensorInfo
	for i := range h.Tensors {
		t := &h.Tensors[i]
		h.index[t.Name] = i
		if t.Begin == t.End {
			continue
		}
		if prev != nil && t.Begin < prev.End {
			return fmt.Errorf("%w: tensors %q [%d, %d] and %q [%d, %d] overlap", ErrInvalidHeader, prev.Name, prev.Begin, prev.End, t.Name, t.Begin, t.End)
		}
		prev = t
	}
	return nil
}
