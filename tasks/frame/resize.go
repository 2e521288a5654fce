package frame

// Resizing is separable and integer-only: each axis gets a table of
// fixed-point weights (computed with integer arithmetic, so the output is
// bit-identical on every platform and compiler), a vertical pass writes
// one row of 8.8 fixed-point intermediates, and a horizontal pass rounds
// them back to bytes. An axis that shrinks uses area (box) weights, the fraction of each
// source pixel an output pixel covers, which avoids aliasing; an axis that
// grows uses bilinear weights with pixel centres aligned (OpenCV's
// INTER_LINEAR convention).

const (
	// weightBits is the precision of the per-axis weights: they sum to
	// 1 << weightBits for every output pixel.
	weightBits = 14
	// midBits is the fractional precision of the intermediate rows.
	midBits = 8
)

// axisWeights maps one axis of dst to src: output i reads taps source
// pixels from start[i] on, with weights w[i*taps : (i+1)*taps].
type axisWeights struct {
	taps  int
	start []int
	w     []int32
}

// newAxisWeights returns the weights resampling src pixels to dst pixels.
func newAxisWeights(src, dst int) axisWeights {
	if dst < src {
		return areaWeights(src, dst)
	}
	return linearWeights(src, dst)
}

// areaWeights: output i covers source interval [i*src/dst, (i+1)*src/dst).
// In units of 1/dst pixel that is [i*src, (i+1)*src), and source pixel j is
// [j*dst, (j+1)*dst); the weight is the overlap over src.
func areaWeights(src, dst int) axisWeights {
	taps := min((src+dst-1)/dst+1, src)
	a := axisWeights{taps: taps, start: make([]int, dst), w: make([]int32, dst*taps)}
	for i := range dst {
		lo, hi := i*src, (i+1)*src
		j0 := lo / dst
		j0 = min(j0, src-taps)
		j0 = max(j0, 0)
		a.start[i] = j0
		ws := a.w[i*taps : (i+1)*taps]
		for t := range taps {
			j := j0 + t
			if j >= src {
				break
			}
			ov := min(hi, (j+1)*dst) - max(lo, j*dst)
			if ov > 0 {
				ws[t] = int32((int64(ov)<<weightBits + int64(src)/2) / int64(src))
			}
		}
		normalize(ws)
	}
	return a
}

// linearWeights: the centre of output i sits at source coordinate
// (i+0.5)*src/dst - 0.5 = ((2i+1)*src - dst) / (2*dst); the two nearest
// source pixels (clamped at the edges) share the weight.
func linearWeights(src, dst int) axisWeights {
	taps := 2
	if src == 1 {
		taps = 1
	}
	a := axisWeights{taps: taps, start: make([]int, dst), w: make([]int32, dst*taps)}
	den := 2 * dst
	for i := range dst {
		num := (2*i+1)*src - dst
		x0 := floorDiv(num, den)
		frac := num - x0*den // 0 <= frac < den
		w1 := int32((int64(frac)<<weightBits + int64(den)/2) / int64(den))
		ws := a.w[i*taps : (i+1)*taps]
		switch {
		case taps == 1:
			a.start[i], ws[0] = 0, 1<<weightBits
		case x0 < 0:
			a.start[i], ws[0], ws[1] = 0, 1<<weightBits, 0
		case x0 >= src-1:
			a.start[i], ws[0], ws[1] = src-2, 0, 1<<weightBits
		default:
			a.start[i], ws[0], ws[1] = x0, 1<<weightBits-w1, w1
		}
	}
	return a
}

// normalize makes the weights sum to exactly 1 << weightBits, putting the
// rounding remainder on the largest weight.
func normalize(ws []int32) {
	var sum int32
	big := 0
	for t, v := range ws {
		sum += v
		if v > ws[big] {
			big = t
		}
	}
	ws[big] += 1<<weightBits - sum
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// Resize returns f resampled to w x h (both at least 1). A shrinking axis
// averages the source area each output pixel covers (box filter); a growing
// axis interpolates bilinearly. The result depends only on the input: the
// arithmetic is integer-only. A same-size resize returns a copy.
func Resize(f *Frame, w, h int) *Frame {
	if w == f.W && h == f.H {
		return f.Clone()
	}
	out := New(w, h)
	resizePix(out, f.Pix, f.W, f.H, false)
	return out
}

// ResizeBGR resamples packed BGR pixels src (sw x sh, 3 bytes each, as
// OpenCV decodes them) into a new w x h RGB frame in one pass: the channel
// swap costs nothing extra, so a decoded frame is touched once.
func ResizeBGR(src []byte, sw, sh, w, h int) *Frame {
	out := New(w, h)
	resizePix(out, src, sw, sh, true)
	return out
}

// resizePix resamples the packed 3-byte pixels src (sw x sh) into dst,
// exchanging the first and third channel of every pixel when swap is set
// (BGR in, RGB out), which costs nothing extra.
func resizePix(dst *Frame, src []byte, sw, sh int, swap bool) {
	w, h := dst.W, dst.H
	xw := newAxisWeights(sw, w)
	yw := newAxisWeights(sh, h)
	// Vertical pass into one 8.8 fixed-point source-width row, then the
	// horizontal pass from it into the output row.
	srcStride := sw * 3
	acc := make([]int32, srcStride)
	for y := range h {
		s0 := yw.start[y]
		vpass(acc, src[s0*srcStride:(s0+yw.taps)*srcStride], srcStride, yw.w[y*yw.taps:(y+1)*yw.taps])
		row := dst.Pix[y*w*3 : (y+1)*w*3]
		hpass(row, acc, xw)
		if swap {
			for i := 0; i+2 < len(row); i += 3 {
				row[i], row[i+2] = row[i+2], row[i]
			}
		}
	}
}

// vpass blends the len(ws) consecutive rows of rows (each stride bytes)
// with weights ws into acc, as 8.8 fixed point. The common tap counts have
// unrolled loops.
func vpass(acc []int32, rows []byte, stride int, ws []int32) {
	const round, shift = 1 << (weightBits - midBits - 1), weightBits - midBits
	acc = acc[:stride]
	switch len(ws) {
	case 1:
		r0 := rows[:stride]
		r0 = r0[:len(acc)]
		for i := range acc {
			acc[i] = int32(r0[i]) << midBits
		}
	case 2:
		r0, r1 := rows[:stride], rows[stride:2*stride]
		r0, r1 = r0[:len(acc)], r1[:len(acc)] // bounds-check hints
		w0, w1 := ws[0], ws[1]
		for i := range acc {
			acc[i] = (w0*int32(r0[i]) + w1*int32(r1[i]) + round) >> shift
		}
	case 3:
		r0, r1, r2 := rows[:stride], rows[stride:2*stride], rows[2*stride:3*stride]
		r0, r1, r2 = r0[:len(acc)], r1[:len(acc)], r2[:len(acc)]
		w0, w1, w2 := ws[0], ws[1], ws[2]
		for i := range acc {
			acc[i] = (w0*int32(r0[i]) + w1*int32(r1[i]) + w2*int32(r2[i]) + round) >> shift
		}
	case 4:
		r0, r1, r2, r3 := rows[:stride], rows[stride:2*stride], rows[2*stride:3*stride], rows[3*stride:4*stride]
		r0, r1, r2, r3 = r0[:len(acc)], r1[:len(acc)], r2[:len(acc)], r3[:len(acc)]
		w0, w1, w2, w3 := ws[0], ws[1], ws[2], ws[3]
		for i := range acc {
			acc[i] = (w0*int32(r0[i]) + w1*int32(r1[i]) + w2*int32(r2[i]) + w3*int32(r3[i]) + round) >> shift
		}
	default:
		clear(acc)
		for t, wt := range ws {
			if wt == 0 {
				continue
			}
			row := rows[t*stride : (t+1)*stride]
			for i, v := range row {
				acc[i] += wt * int32(v)
			}
		}
		for i, v := range acc {
			acc[i] = (v + round) >> shift
		}
	}
}

// hpass resamples one 8.8 fixed-point RGB row into dst, rounding to bytes.
// The common tap counts have unrolled loops.
func hpass(dst []byte, src []int32, xw axisWeights) {
	switch xw.taps {
	case 2:
		for x, s0 := range xw.start {
			w := xw.w[2*x : 2*x+2 : 2*x+2]
			p := src[3*s0 : 3*s0+6 : 3*s0+6]
			w0, w1 := w[0], w[1]
			put3(dst[3*x:3*x+3:3*x+3], w0*p[0]+w1*p[3], w0*p[1]+w1*p[4], w0*p[2]+w1*p[5])
		}
	case 3:
		for x, s0 := range xw.start {
			w := xw.w[3*x : 3*x+3 : 3*x+3]
			p := src[3*s0 : 3*s0+9 : 3*s0+9]
			w0, w1, w2 := w[0], w[1], w[2]
			put3(dst[3*x:3*x+3:3*x+3], w0*p[0]+w1*p[3]+w2*p[6], w0*p[1]+w1*p[4]+w2*p[7], w0*p[2]+w1*p[5]+w2*p[8])
		}
	case 4:
		for x, s0 := range xw.start {
			w := xw.w[4*x : 4*x+4 : 4*x+4]
			p := src[3*s0 : 3*s0+12 : 3*s0+12]
			w0, w1, w2, w3 := w[0], w[1], w[2], w[3]
			put3(dst[3*x:3*x+3:3*x+3], w0*p[0]+w1*p[3]+w2*p[6]+w3*p[9], w0*p[1]+w1*p[4]+w2*p[7]+w3*p[10], w0*p[2]+w1*p[5]+w2*p[8]+w3*p[11])
		}
	default:
		taps := xw.taps
		for x, s0 := range xw.start {
			ws := xw.w[x*taps : (x+1)*taps]
			p := src[3*s0 : 3*(s0+taps)]
			var r, g, b int32
			for t, wt := range ws {
				o := 3 * t
				r += wt * p[o]
				g += wt * p[o+1]
				b += wt * p[o+2]
			}
			put3(dst[3*x:3*x+3:3*x+3], r, g, b)
		}
	}
}

// put3 rounds three accumulated sums to bytes.
func put3(d []byte, r, g, b int32) {
	const round, shift = 1 << (weightBits + midBits - 1), weightBits + midBits
	d[0] = uint8(min(max((r+round)>>shift, 0), 255))
	d[1] = uint8(min(max((g+round)>>shift, 0), 255))
	d[2] = uint8(min(max((b+round)>>shift, 0), 255))
}
