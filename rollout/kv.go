package rollout

import (
	"fmt"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/onnx"
	"github.com/videossr/videossr-go/model/ort"
)

// selectRows returns a cache whose row j is row rows[j] of c (rows may
// repeat: that is how a prompt's cache is shared by its group).
func selectRows(c model.KVCache, rows []int) (model.KVCache, error) {
	out := model.KVCache{Keys: make([]ort.Tensor, len(c.Keys)), Values: make([]ort.Tensor, len(c.Values))}
	var err error
	for i := range c.Keys {
		if out.Keys[i], err = gatherRows(c.Keys[i], rows); err != nil {
			return out, fmt.Errorf("rollout: layer %d keys: %w", i, err)
		}
		if out.Values[i], err = gatherRows(c.Values[i], rows); err != nil {
			return out, fmt.Errorf("rollout: layer %d values: %w", i, err)
		}
	}
	return out, nil
}

// gatherRows gathers rows of a tensor along axis 0.
func gatherRows(t ort.Tensor, rows []int) (ort.Tensor, error) {
	if len(t.Shape) == 0 {
		return t, fmt.Errorf("rank-0 tensor")
	}
	n := int(t.Shape[0])
	shape := append([]int64{int64(len(rows))}, t.Shape[1:]...)
	switch d := t.Data.(type) {
	case []float32:
		g, err := gather(d, n, rows)
		return ort.Tensor{Shape: shape, DType: t.DType, Data: g}, err
	case []float64:
		g, err := gather(d, n, rows)
		return ort.Tensor{Shape: shape, DType: t.DType, Data: g}, err
	}
	return t, fmt.Errorf("unsupported tensor data %T", t.Data)
}

func gather[T any](d []T, n int, rows []int) ([]T, error) {
	if n == 0 || len(d)%n != 0 {
		return nil, fmt.Errorf("%d values over %d rows", len(d), n)
	}
	stride := len(d) / n
	out := make([]T, len(rows)*stride)
	for j, r := range rows {
		if r < 0 || r >= n {
			return nil, fmt.Errorf("row %d of %d", r, n)
		}
		copy(out[j*stride:(j+1)*stride], d[r*stride:(r+1)*stride])
	}
	return out, nil
}

// concatRows appends the rows of b to a along axis 0 (a may be empty).
func concatRows(a, b ort.Tensor) (ort.Tensor, error) {
	if a.Data == nil {
		return b, nil
	}
	if len(a.Shape) != len(b.Shape) || a.DType != b.DType {
		return a, fmt.Errorf("rollout: concat %v%v with %v%v", a.DType, a.Shape, b.DType, b.Shape)
	}
	shape := append([]int64{a.Shape[0] + b.Shape[0]}, a.Shape[1:]...)
	switch x := a.Data.(type) {
	case []float32:
		return concatData(a, b, shape, x)
	case []float64:
		return concatData(a, b, shape, x)
	}
	return a, fmt.Errorf("rollout: unsupported tensor data %T", a.Data)
}

// concatData appends b's data (of x's element type) to x.
func concatData[T float32 | float64](a, b ort.Tensor, shape []int64, x []T) (ort.Tensor, error) {
	y, ok := b.Data.([]T)
	if !ok {
		return a, fmt.Errorf("rollout: concat %T with %T", a.Data, b.Data)
	}
	return ort.Tensor{Shape: shape, DType: a.DType, Data: append(append(make([]T, 0, len(x)+len(y)), x...), y...)}, nil
}

// zeroRows returns a one-row zero vision-embedding tensor for a batch with
// no video, in the float type of m's graphs.
func zeroRows(m Model, hidden int) ort.Tensor {
	if f, ok := m.(interface{ Float() onnx.DType }); ok && f.Float() == onnx.Float64 {
		return ort.Tensor{Shape: []int64{1, int64(hidden)}, DType: ort.Float64, Data: make([]float64, hidden)}
	}
	return ort.Tensor{Shape: []int64{1, int64(hidden)}, DType: ort.Float32, Data: make([]float32, hidden)}
}

// growSlots copies a cache [B,kvh,L,hd] into zeroed buffers of C >= L slots.
func growSlots(c model.KVCache, C int) (model.KVCache, error) {
	out := model.KVCache{Keys: make([]ort.Tensor, len(c.Keys)), Values: make([]ort.Tensor, len(c.Values))}
	var err error
	for i := range c.Keys {
		if out.Keys[i], err = grow(c.Keys[i], C); err != nil {
			return out, err
		}
		if out.Values[i], err = grow(c.Values[i], C); err != nil {
			return out, err
		}
	}
	return out, nil
}

func grow(t ort.Tensor, C int) (ort.Tensor, error) {
	if len(t.Shape) != 4 || int(t.Shape[2]) > C {
		return t, fmt.Errorf("rollout: cache tensor %v does not fit %d slots", t.Shape, C)
	}
	B, H, L, D := int(t.Shape[0]), int(t.Shape[1]), int(t.Shape[2]), int(t.Shape[3])
	shape := []int64{int64(B), int64(H), int64(C), int64(D)}
	switch d := t.Data.(type) {
	case []float32:
		return ort.Tensor{Shape: shape, DType: t.DType, Data: growRows(d, B*H, L, C, D)}, nil
	case []float64:
		return ort.Tensor{Shape: shape, DType: t.DType, Data: growRows(d, B*H, L, C, D)}, nil
	}
	return t, fmt.Errorf("rollout: unsupported tensor data %T", t.Data)
}

func growRows[T any](d []T, rows, L, C, D int) []T {
	out := make([]T, rows*C*D)
	for r := range rows {
		copy(out[r*C*D:r*C*D+L*D], d[r*L*D:(r+1)*L*D])
	}
	return out
}

// writeSlot stores the new keys and values [B,kvh,1,hd] at slot of the
// buffers [B,kvh,C,hd].
func writeSlot(buf, fresh model.KVCache, slot int) error {
	for i := range buf.Keys {
		if err := writeOne(buf.Keys[i], fresh.Keys[i], slot); err != nil {
			return err
		}
		if err := writeOne(buf.Values[i], fresh.Values[i], slot); err != nil {
			return err
		}
	}
	return nil
}

func writeOne(dst, src ort.Tensor, slot int) error {
	C, D := int(dst.Shape[2]), int(dst.Shape[3])
	rows := int(dst.Shape[0] * dst.Shape[1])
	if int(src.Shape[0]*src.Shape[1]) != rows || src.Shape[2] != 1 || slot >= C {
		return fmt.Errorf("rollout: new cache entry %v does not fit buffer %v at slot %d", src.Shape, dst.Shape, slot)
	}
	switch d := dst.Data.(type) {
	case []float32:
		return writeRows(d, src.Data, rows, C, D, slot)
	case []float64:
		return writeRows(d, src.Data, rows, C, D, slot)
	}
	return fmt.Errorf("rollout: unsupported tensor data %T", dst.Data)
}

// writeRows copies row r of src [rows, D] to slot of row r of d [rows, C, D].
func writeRows[T float32 | float64](d []T, src any, rows, C, D, slot int) error {
	s, ok := src.([]T)
	if !ok {
		return fmt.Errorf("rollout: cache types %T and %T", d, src)
	}
	for r := range rows {
		copy(d[(r*C+slot)*D:(r*C+slot+1)*D], s[r*D:(r+1)*D])
	}
	return nil
}
