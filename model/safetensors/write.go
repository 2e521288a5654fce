package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// FromFloat32 builds a tensor of the given dtype (F32, F16 or BF16, rounded
// to nearest even) from float32 data, checking len(data) against shape.
func FromFloat32(name, dtype string, shape []int64, data []float32) (Tensor, error) {
	n, err := NumElements(shape)
	if err != nil {
		return Tensor{}, fmt.Errorf("tensor %q: %w", name, err)
	}
	if int64(len(data)) != n {
		return Tensor{}, fmt.Errorf("tensor %q: %d values for shape %v (want %d)", name, len(data), shape, n)
	}
	b, err := EncodeFloat32(dtype, data)
	if err != nil {
		return Tensor{}, fmt.Errorf("tensor %q: %w", name, err)
	}
	return Tensor{Name: name, DType: dtype, Shape: append([]int64{}, shape...), Data: b}, nil
}

// Encode serialises tensors and metadata to the safetensors byte layout.
// Tensors are stored in decreasing order of element size, then by name (the
// Hugging Face order, which keeps every tensor aligned to its element size);
// the header is padded with spaces to a multiple of 8 bytes.
func Encode(tensors []Tensor, metadata map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	if err := encodeTo(&buf, tensors, metadata); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type writer interface {
	Write(p []byte) (int, error)
}

func encodeTo(w writer, tensors []Tensor, metadata map[string]string) error {
	order := make([]int, len(tensors))
	seen := make(map[string]bool, len(tensors))
	sizes := make([]int, len(tensors))
	for i, t := range tensors {
		order[i] = i
		if t.Name == "" {
			return fmt.Errorf("tensor %d has an empty name", i)
		}
		if t.Name == metadataKey {
			return fmt.Errorf("tensor name %q is reserved", t.Name)
		}
		if seen[t.Name] {
			return fmt.Errorf("duplicate tensor name %q", t.Name)
		}
		seen[t.Name] = true
		size, err := DTypeSize(t.DType)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		sizes[i] = size
		n, err := NumElements(t.Shape)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		if int64(len(t.Data)) != n*int64(size) {
			return fmt.Errorf("tensor %q: %d data bytes, but shape %v of %s needs %d", t.Name, len(t.Data), t.Shape, t.DType, n*int64(size))
		}
	}
	sort.Slice(order, func(a, b int) bool {
		ia, ib := order[a], order[b]
		if sizes[ia] != sizes[ib] {
			return sizes[ia] > sizes[ib]
		}
		return tensors[ia].Name < tensors[ib].Name
	})

	// Build the header by hand so the key order is the data order.
	var hdr bytes.Buffer
	hdr.WriteByte('{')
	first := true
	if len(metadata) > 0 {
		m, err := json.Marshal(metadata) // map keys are sorted
		if err != nil {
			return fmt.Errorf("encoding metadata: %w", err)
		}
		hdr.WriteString(`"` + metadataKey + `":`)
		hdr.Write(m)
		first = false
	}
	var off int64
	for _, i := range order {
		t := tensors[i]
		if !first {
			hdr.WriteByte(',')
		}
		first = false
		name, err := json.Marshal(t.Name)
		if err != nil {
			return fmt.Errorf("encoding name %q: %w", t.Name, err)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int64{}
		}
		sh, _ := json.Marshal(shape)
		hdr.Write(name)
		fmt.Fprintf(&hdr, `:{"dtype":%q,"shape":%s,"data_offsets":[%d,%d]}`, t.DType, sh, off, off+int64(len(t.Data)))
		off += int64(len(t.Data))
	}
	hdr.WriteByte('}')
	for hdr.Len()%8 != 0 {
		hdr.WriteByte(' ')
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(hdr.Len()))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(hdr.Bytes()); err != nil {
		return err
	}
	for _, i := range order {
		if _, err := w.Write(tensors[i].Data); err != nil {
			return err
		}
	}
	return nil
}

// Write writes tensors and metadata to path atomically: the bytes go to a
// temporary file in the same directory, which is fsynced and renamed over
// path, so a reader sees either the old file or the complete new one.
func Write(path string, tensors []Tensor, metadata map[string]string) error {
	err := WriteAtomic(path, func(w *os.File) error { return encodeTo(w, tensors, metadata) })
	if err != nil {
		return fmt.Errorf("safetensors: writing %s: %w", path, err)
	}
	return nil
}

// WriteFloat32Map writes float32 tensors as dtype (F32, F16 or BF16) to path
// atomically.
func WriteFloat32Map(path, dtype string, tensors map[string]Float32Tensor, metadata map[string]string) error {
	list := make([]Tensor, 0, len(tensors))
	for name, t := range tensors {
		tt, err := FromFloat32(name, dtype, t.Shape, t.Data)
		if err != nil {
			return fmt.Errorf("safetensors: writing %s: %w", path, err)
		}
		list = append(list, tt)
	}
	return Write(path, list, metadata)
}

// WriteAtomic creates path by calling fill on a temporary file in the same
// directory, then fsyncs, closes and renames it over path and fsyncs the
// directory. On any error the temporary file is removed and path is untouched.
func WriteAtomic(path string, fill func(w *os.File) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = fill(tmp); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // best effort: some filesystems refuse directory fsync
		_ = d.Close()
	}
	return nil
}
