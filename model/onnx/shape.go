package onnx

import (
	"fmt"
	"strings"
)

// staticShape reports whether every dim is known.
func staticShape(s []int64) bool {
	for _, d := range s {
		if d < 0 {
			return false
		}
	}
	return true
}

func shapeStr(s []int64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		if d < 0 {
			b.WriteByte('?')
		} else {
			fmt.Fprintf(&b, "%d", d)
		}
	}
	b.WriteByte(']')
	return b.String()
}

// broadcastDims merges two dims numpy-style; -1 = dynamic.
func broadcastDims(x, y int64) (int64, bool) {
	switch {
	case x == y:
		return x, true
	case x == 1:
		return y, true
	case y == 1:
		return x, true
	case x == -1:
		return y, true // y > 1 or 0: x must be 1 or y at run time
	case y == -1:
		return x, true
	}
	return 0, false
}

// broadcast returns the numpy broadcast of the shapes.
func broadcast(shapes ...[]int64) ([]int64, error) {
	r := 0
	for _, s := range shapes {
		r = max(r, len(s))
	}
	out := make([]int64, r)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := r - len(s)
		for i, d := range s {
			m, ok := broadcastDims(out[off+i], d)
			if !ok {
				strs := make([]string, len(shapes))
				for j, t := range shapes {
					strs[j] = shapeStr(t)
				}
				return nil, fmt.Errorf("shapes %s are not broadcastable (axis %d of the result: %d vs %d)",
					strings.Join(strs, " and "), off+i, out[off+i], d)
			}
			out[off+i] = m
		}
	}
	return out, nil
}

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(axis int64, rank int) (int64, error) {
	a := axis
	if a < 0 {
		a += int64(rank)
	}
	if a < 0 || a >= int64(rank) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	return a, nil
}

// normAxes normalizes and checks for duplicates.
func normAxes(axes []int64, rank int) ([]int64, error) {
	out := make([]int64, len(axes))
	seen := map[int64]bool{}
	for i, a := range axes {
		n, err := normAxis(a, rank)
		if err != nil {
			return nil, err
		}
		if seen[n] {
			return nil, fmt.Errorf("axis %d repeated in %v", a, axes)
		}
		seen[n] = true
		out[i] = n
	}
	return out, nil
}

// mergeDim merges two dims that must be equal; -1 = unknown.
func mergeDim(x, y int64) (int64, bool) {
	switch {
	case x == y:
		return x, true
	case x == -1:
		return y, true
	case y == -1:
		return x, true
	}
	return 0, false
}

func allAxes(rank int) []int64 {
	out := make([]int64, rank)
	for i := range out {
		out[i] = int64(i)
	}
	return out
}

// sliceCount computes the number of elements selected along a dim of size
// dim by ONNX Slice semantics, and the normalized (clamped) start.
func sliceRange(dim, start, end, step int64) (first, count int64) {
	if start < 0 {
		start += dim
	}
	if end < 0 {
		end += dim
	}
	if step > 0 {
		start = min(max(start, 0), dim)
		end = min(max(end, 0), dim)
		if end <= start {
			return start, 0
		}
		return start, (end - start + step - 1) / step
	}
	start = min(max(start, 0), dim-1)
	end = min(max(end, -1), dim-1)
	if start <= end {
		return start, 0
	}
	return start, (start - end - step - 1) / (-step)
}

// reshapeShape infers the ONNX Reshape output shape (0 = copy, -1 = infer;
// unknownVal = not known at build time).
func reshapeShape(in, target []int64) ([]int64, error) {
	out := make([]int64, len(target))
	infer := -1
	for i, t := range target {
		switch {
		case t == unknownVal:
			out[i] = -1
		case t == 0:
			if i >= len(in) {
				return nil, fmt.Errorf("target shape %v copies dim %d of a rank-%d input", fmtKnown(target), i, len(in))
			}
			out[i] = in[i]
		case t == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("target shape %v has more than one -1", fmtKnown(target))
			}
			infer = i
			out[i] = -1
		case t < -1:
			return nil, fmt.Errorf("bad target dim %d in %v", t, fmtKnown(target))
		default:
			out[i] = t
		}
	}
	// Element counts, ignoring dims copied with 0 (equal on both sides).
	copied := map[int]bool{}
	for i, t := range target {
		if t == 0 {
			copied[i] = true
		}
	}
	inKnown, total := true, int64(1)
	for i, d := range in {
		if copied[i] {
			continue
		}
		if d < 0 {
			inKnown = false
			break
		}
		total *= d
	}
	if inKnown {
		prod := int64(1)
		known := true
		for i, d := range out {
			if i == infer || copied[i] {
				continue
			}
			if d < 0 {
				known = false
				break
			}
			prod *= d
		}
		if known {
			if infer >= 0 {
				if prod == 0 || total%prod != 0 {
					return nil, fmt.Errorf("cannot reshape %s to %v", shapeStr(in), fmtKnown(target))
				}
				out[infer] = total / prod
			} else if prod != total {
				return nil, fmt.Errorf("cannot reshape %s to %v (element counts differ)", shapeStr(in), fmtKnown(target))
			}
		}
	}
	return out, nil
}

func fmtKnown(k []int64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range k {
		if i > 0 {
			b.WriteByte(' ')
		}
		if d == unknownVal {
			b.WriteByte('?')
		} else {
			fmt.Fprintf(&b, "%d", d)
		}
	}
	b.WriteByte(']')
	return b.String()
}

// knownFromShape converts a shape to known int64 contents.
func knownFromShape(s []int64) []int64 {
	out := make([]int64, len(s))
	for i, d := range s {
		if d < 0 {
			out[i] = unknownVal
		} else {
			out[i] = d
		}
	}
	return out
}
