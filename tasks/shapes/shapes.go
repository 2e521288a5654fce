// Package shapes draws the filled shapes of the VideoSSR object counting
// task (circles, squares and equilateral triangles) onto video frames, with
// anti-aliased edges, and tells whether two shapes could touch.
//
// Coordinates are continuous pixel coordinates: pixel (x, y) covers the
// square [x, x+1) x [y, y+1), so a shape centred at (W/2, H/2) is centred on
// a W x H frame. The y axis points down, so a positive rotation turns a
// shape clockwise on screen.
package shapes

import (
	"fmt"
	"math"

	"github.com/videossr/videossr-go/tasks/frame"
)

// Class is a shape class of the counting task.
type Class int

// The shape classes, in the order of the answer "circles,squares,triangles".
const (
	// Circle is a filled disc; Size is its diameter.
	Circle Class = iota
	// Square is a filled square; Size is its side.
	Square
	// Triangle is a filled equilateral triangle; Size is its side. At
	// rotation 0 it points up.
	Triangle
)

// NumClasses is the number of shape classes.
const NumClasses = 3

// String returns "circle", "square" or "triangle".
func (c Class) String() string {
	switch c {
	case Circle:
		return "circle"
	case Square:
		return "square"
	case Triangle:
		return "triangle"
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// Instance is one shape to draw.
type Instance struct {
	// Class is the kind of shape.
	Class Class
	// CX, CY is the centre (the centroid for the triangle), in pixels.
	CX, CY float64
	// Size is the side (square, triangle) or the diameter (circle), in pixels.
	Size float64
	// AngleDeg is the rotation about the centre, in degrees (clockwise on
	// screen).
	AngleDeg float64
	// R, G, B is the fill colour.
	R, G, B uint8
}

// overlapMargin is the anti-aliasing margin of Overlap, in pixels. A pixel
// is touched when one of its sub-samples is inside the shape, and
// sub-samples lie within half a pixel diagonal (about 0.71) of the pixel
// centre, so a touched pixel's centre lies within R+0.71 of the shape's
// centre; two shapes sharing a pixel thus have centres closer than
// Ra+Rb+1.42, and 2 leaves room for rounding.
const overlapMargin = 2.0

// Radius returns the radius of the circle circumscribing the shape, in
// pixels: Size/2 for a circle, Size/sqrt(2) for a square, Size/sqrt(3) for
// an equilateral triangle. Non-positive sizes give 0.
func Radius(in Instance) float64 {
	if !(in.Size > 0) {
		return 0
	}
	switch in.Class {
	case Circle:
		return in.Size / 2
	case Square:
		return in.Size / math.Sqrt2
	case Triangle:
		return in.Size / math.Sqrt(3)
	}
	return 0
}

// Area returns the analytic area of the shape in square pixels.
func Area(in Instance) float64 {
	if !(in.Size > 0) {
		return 0
	}
	switch in.Class {
	case Circle:
		return math.Pi * in.Size * in.Size / 4
	case Square:
		return in.Size * in.Size
	case Triangle:
		return math.Sqrt(3) / 4 * in.Size * in.Size
	}
	return 0
}

// Overlap reports whether the two shapes may touch once drawn. It is
// conservative: it compares the distance of the centres with the sum of the
// circumscribed radii plus a margin of 2 pixels for the anti-aliased edges,
// so false guarantees that no pixel is touched by both shapes, while true
// does not mean they actually touch. Invalid coordinates give true.
func Overlap(a, b Instance) bool {
	d := math.Hypot(a.CX-b.CX, a.CY-b.CY)
	lim := Radius(a) + Radius(b) + overlapMargin
	return !(d >= lim)
}

// edge is a half-plane n.p >= c with a unit normal n pointing inside.
type edge struct{ nx, ny, c float64 }

// geometry is a shape ready for point tests.
type geometry struct {
	circle bool
	cx, cy float64
	r2     float64 // squared radius (circle)
	r      float64 // radius (circle)
	edges  []edge  // convex polygon
}

// newGeometry builds the point-test form of a shape.
func newGeometry(in Instance) (geometry, bool) {
	g := geometry{cx: in.CX, cy: in.CY}
	a := in.AngleDeg * math.Pi / 180
	sin, cos := math.Sincos(a)
	var pts [][2]float64
	switch in.Class {
	case Circle:
		g.circle = true
		g.r = in.Size / 2
		g.r2 = g.r * g.r
		return g, true
	case Square:
		h := in.Size / 2
		pts = [][2]float64{{-h, -h}, {h, -h}, {h, h}, {-h, h}}
	case Triangle:
		r := in.Size / math.Sqrt(3)
		for k := 0; k < 3; k++ {
			t := (-90 + 120*float64(k)) * math.Pi / 180
			pts = append(pts, [2]float64{r * math.Cos(t), r * math.Sin(t)})
		}
	default:
		return g, false
	}
	for i := range pts {
		x, y := pts[i][0], pts[i][1]
		pts[i] = [2]float64{in.CX + x*cos - y*sin, in.CY + x*sin + y*cos}
	}
	for i := range pts {
		p, q := pts[i], pts[(i+1)%len(pts)]
		ex, ey := q[0]-p[0], q[1]-p[1]
		l := math.Hypot(ex, ey)
		nx, ny := -ey/l, ex/l
		if nx*(in.CX-p[0])+ny*(in.CY-p[1]) < 0 {
			nx, ny = -nx, -ny
		}
		g.edges = append(g.edges, edge{nx, ny, nx*p[0] + ny*p[1]})
	}
	return g, true
}

// dist returns a signed distance bound of point (x, y): positive inside.
// For the circle it is exact; for a polygon it is the smallest distance to
// an edge line, which is exact inside and at most the true distance outside.
func (g *geometry) dist(x, y float64) float64 {
	if g.circle {
		return g.r - math.Hypot(x-g.cx, y-g.cy)
	}
	d := math.Inf(1)
	for _, e := range g.edges {
		d = min(d, e.nx*x+e.ny*y-e.c)
	}
	return d
}

// inside reports whether point (x, y) is inside the shape.
func (g *geometry) inside(x, y float64) bool {
	if g.circle {
		dx, dy := x-g.cx, y-g.cy
		return dx*dx+dy*dy <= g.r2
	}
	for _, e := range g.edges {
		if e.nx*x+e.ny*y < e.c {
			return false
		}
	}
	return true
}

// Sub-sampling grid of the anti-aliasing: ss x ss samples per pixel.
const ss = 4

// fullBand is the distance from a pixel centre beyond which the whole pixel
// is on one side of the edge (half the pixel diagonal, rounded up).
const fullBand = 0.71

// Draw paints the shape onto f in place with anti-aliased edges: a pixel
// fully inside takes the shape's colour exactly, a pixel on the edge is
// blended with the coverage measured on a 4x4 sub-sample grid. Parts
// outside the frame are clipped. An invalid frame, an unknown class or a
// non-positive or non-finite size or position draws nothing.
func Draw(f *frame.Frame, in Instance) {
	if f == nil || f.Validate() != nil {
		return
	}
	if !(in.Size > 0) || math.IsInf(in.Size, 0) || math.IsNaN(in.CX) || math.IsNaN(in.CY) ||
		math.IsInf(in.CX, 0) || math.IsInf(in.CY, 0) || math.IsNaN(in.AngleDeg) || math.IsInf(in.AngleDeg, 0) {
		return
	}
	g, ok := newGeometry(in)
	if !ok {
		return
	}
	r := Radius(in) + 1
	x0 := max(int(math.Floor(in.CX-r)), 0)
	x1 := min(int(math.Ceil(in.CX+r)), f.W-1)
	y0 := max(int(math.Floor(in.CY-r)), 0)
	y1 := min(int(math.Ceil(in.CY+r)), f.H-1)
	col := [3]int{int(in.R), int(in.G), int(in.B)}
	for y := y0; y <= y1; y++ {
		py := float64(y) + 0.5
		for x := x0; x <= x1; x++ {
			px := float64(x) + 0.5
			d := g.dist(px, py)
			if d < -fullBand {
				continue
			}
			o := f.Offset(x, y)
			if d > fullBand {
				f.Pix[o], f.Pix[o+1], f.Pix[o+2] = in.R, in.G, in.B
				continue
			}
			n := 0
			for j := 0; j < ss; j++ {
				sy := float64(y) + (float64(j)+0.5)/ss
				for i := 0; i < ss; i++ {
					if g.inside(float64(x)+(float64(i)+0.5)/ss, sy) {
						n++
					}
				}
			}
			if n == 0 {
				continue
			}
			const total = ss * ss
			for c := 0; c < 3; c++ {
				bg := int(f.Pix[o+c])
				f.Pix[o+c] = byte((bg*(total-n) + col[c]*n + total/2) / total)
			}
		}
	}
}
