package tasks

import (
	"math"
	"math/rand/v2"
	"slices"

	"github.com/videossr/videossr-go/tasks/shapes"
)

// shapeClasses lists the counting classes in answer order.
func shapeClasses() [3]shapes.Class {
	return [3]shapes.Class{shapes.Circle, shapes.Square, shapes.Triangle}
}

// GenerateCounting draws circles, squares and triangles on some frames. Per
// class: 1..F frames (more than MinFrameGap apart, one class per frame),
// 1..I instances per frame, sizes uniform in [SizeMin, SizeMax) x
// min(w, h), channels uniform in ColorMin..ColorMax, rotation uniform in
// [0, 360), centres in the central CentralFrac of the frame with a margin
// of MarginFactor x size. Unlike the reference, instances never overlap:
// a crowded instance is retried smaller and, at SizeMin, dropped, so the
// answer always equals what is visible. src is not modified.
func GenerateCounting(src Source, cfg CountingConfig, rng *rand.Rand) (*Generated, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkSource(src, 1); err != nil {
		return nil, err
	}
	n := len(src.Frames)
	w, h := float64(src.Frames[0].W), float64(src.Frames[0].H)
	minSide := math.Min(w, h)
	used := make([]bool, n)
	cm := &CountingMeta{Counts: make([]int, 3), FramesPerClass: make([][]int, cfg.Classes)}
	classes := shapeClasses()
	for _, c := range classes {
		cm.Classes = append(cm.Classes, c.String())
	}
	// Frames first, for every class, then the instances: the frame draws of
	// a class do not depend on how crowded earlier frames were.
	for ci := 0; ci < cfg.Classes; ci++ {
		k := uniformInt(rng, 1, cfg.MaxFramesPerClass)
		picked := pickFrames(rng, used, k, cfg.MinFrameGap, cfg.FrameTries)
		for _, f := range picked {
			used[f] = true
		}
		cm.FramesPerClass[ci] = picked
	}
	out := slices.Clone(src.Frames)
	for ci := 0; ci < cfg.Classes; ci++ {
		for _, fi := range cm.FramesPerClass[ci] {
			k := uniformInt(rng, 1, cfg.MaxInstances)
			var placed []shapes.Instance
			for range k {
				in, ok := placeInstance(rng, cfg, classes[ci], w, h, minSide, placed)
				if !ok {
					cm.Dropped++
					continue
				}
				placed = append(placed, in)
			}
			f := src.Frames[fi].Clone()
			for _, in := range placed {
				shapes.Draw(f, in)
				cm.Instances = append(cm.Instances, PlacedShape{
					Frame: fi, Class: classes[ci].String(), CX: in.CX, CY: in.CY, Size: in.Size,
					AngleDeg: in.AngleDeg, RGB: [3]int{int(in.R), int(in.G), int(in.B)},
				})
			}
			out[fi] = f
			cm.Counts[ci] += len(placed)
		}
	}
	meta := baseMeta(src)
	meta.Counting = cm
	return &Generated{
		DataSource: Counting,
		Subtype:    string(Counting),
		Question:   CountingQuestion(),
		Answer:     CountingAnswer(cm.Counts),
		Meta:       meta,
		Frames:     out,
	}, nil
}

// CountingAnswer formats per-class totals as "circles,squares,triangles".
func CountingAnswer(counts []int) string {
	var c [3]int
	copy(c[:], counts)
	return itoa(c[0]) + "," + itoa(c[1]) + "," + itoa(c[2])
}

func itoa(v int) string {
	if v == 0 {
		return "0"
	}
	neg := v < 0
	if neg {
		v = -v
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// pickFrames draws k frames among those not yet used, pairwise more than
// gap apart, uniformly over the valid sets (rejection sampling, at most
// tries draws); if that fails it falls back to a greedy random pick, which
// may return fewer than k frames (never zero while a frame is free).
// The result is sorted.
func pickFrames(rng *rand.Rand, used []bool, k, gap, tries int) []int {
	var avail []int
	for i, u := range used {
		if !u {
			avail = append(avail, i)
		}
	}
	if len(avail) == 0 {
		return nil
	}
	buf := make([]int, len(avail))
	if k <= len(avail) {
		for range tries {
			copy(buf, avail)
			for i := 0; i < k; i++ {
				j := i + rng.IntN(len(buf)-i)
				buf[i], buf[j] = buf[j], buf[i]
			}
			pick := slices.Clone(buf[:k])
			slices.Sort(pick)
			if gapsOK(pick, gap) {
				return pick
			}
		}
	}
	copy(buf, avail)
	rng.Shuffle(len(buf), func(i, j int) { buf[i], buf[j] = buf[j], buf[i] })
	var pick []int
	for _, f := range buf {
		if len(pick) == k {
			break
		}
		ok := true
		for _, p := range pick {
			if abs(p-f) <= gap {
				ok = false
				break
			}
		}
		if ok {
			pick = append(pick, f)
		}
	}
	slices.Sort(pick)
	return pick
}

func gapsOK(sorted []int, gap int) bool {
	for i := 1; i < len(sorted); i++ {
		if sorted[i]-sorted[i-1] <= gap {
			return false
		}
	}
	return true
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// placeInstance draws one instance that overlaps none of placed: up to
// cfg.Tries centres per size, then a smaller size, down to SizeMin; it
// reports false when even the smallest size finds no room.
func placeInstance(rng *rand.Rand, cfg CountingConfig, class shapes.Class, w, h, minSide float64, placed []shapes.Instance) (shapes.Instance, bool) {
	minSize := cfg.SizeMin * minSide
	in := shapes.Instance{
		Class:    class,
		Size:     uniformFloat(rng, cfg.SizeMin, cfg.SizeMax) * minSide,
		R:        uint8(uniformInt(rng, cfg.ColorMin, cfg.ColorMax)),
		G:        uint8(uniformInt(rng, cfg.ColorMin, cfg.ColorMax)),
		B:        uint8(uniformInt(rng, cfg.ColorMin, cfg.ColorMax)),
		AngleDeg: uniformFloat(rng, 0, 360),
	}
	for {
		m := cfg.MarginFactor * in.Size
		x0, x1 := w*(1-cfg.CentralFrac)/2+m, w*(1+cfg.CentralFrac)/2-m
		y0, y1 := h*(1-cfg.CentralFrac)/2+m, h*(1+cfg.CentralFrac)/2-m
		for range cfg.Tries {
			in.CX = uniformFloat(rng, x0, x1)
			in.CY = uniformFloat(rng, y0, y1)
			if fits(in, placed) {
				return in, true
			}
		}
		if in.Size <= minSize {
			return in, false
		}
		in.Size = math.Max(in.Size*cfg.ShrinkFactor, minSize)
	}
}

// fits reports whether in keeps its centre at least max(size) away from
// every placed instance and overlaps none of them.
func fits(in shapes.Instance, placed []shapes.Instance) bool {
	for _, p := range placed {
		if math.Hypot(in.CX-p.CX, in.CY-p.CY) < math.Max(in.Size, p.Size) {
			return false
		}
		if shapes.Overlap(in, p) {
			return false
		}
	}
	return true
}
