// Package frame holds the video frame as a plain Go value (Frame: RGB
// bytes) and its resizing. It is pure Go with no cgo and no native
// library: the packages that generate tasks, build prompts or score answers
// use frames without linking OpenCV. Decoding and encoding (video files,
// JPEG) are in tasks/video.
package frame

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"math"
)

// Frame is one RGB video frame: W*H pixels, 3 bytes each (R, G, B), rows
// top to bottom, no padding between rows.
type Frame struct {
	W, H int
	Pix  []byte
}

// New returns a black frame of the given size.
func New(w, h int) *Frame {
	return &Frame{W: w, H: h, Pix: make([]byte, 3*w*h)}
}

// Clone returns a deep copy of f.
func (f *Frame) Clone() *Frame {
	p := make([]byte, len(f.Pix))
	copy(p, f.Pix)
	return &Frame{W: f.W, H: f.H, Pix: p}
}

// Offset returns the index in Pix of the red byte of pixel (x, y).
func (f *Frame) Offset(x, y int) int { return 3 * (y*f.W + x) }

// At returns the RGB value of pixel (x, y).
func (f *Frame) At(x, y int) (r, g, b uint8) {
	o := f.Offset(x, y)
	return f.Pix[o], f.Pix[o+1], f.Pix[o+2]
}

// Set stores the RGB value of pixel (x, y).
func (f *Frame) Set(x, y int, r, g, b uint8) {
	o := f.Offset(x, y)
	f.Pix[o], f.Pix[o+1], f.Pix[o+2] = r, g, b
}

// Equal reports whether two frames have the same size and bytes.
func (f *Frame) Equal(o *Frame) bool {
	return f.W == o.W && f.H == o.H && bytes.Equal(f.Pix, o.Pix)
}

// Validate checks that the pixel buffer matches the frame size.
func (f *Frame) Validate() error {
	if f.W <= 0 || f.H <= 0 {
		return fmt.Errorf("frame has invalid size %dx%d", f.W, f.H)
	}
	if len(f.Pix) != 3*f.W*f.H {
		return fmt.Errorf("frame %dx%d has %d bytes, want %d", f.W, f.H, len(f.Pix), 3*f.W*f.H)
	}
	return nil
}

// ToRGBA converts the frame to an image.RGBA (alpha 255).
func (f *Frame) ToRGBA() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, f.W, f.H))
	for i, j := 0, 0; i < len(f.Pix); i, j = i+3, j+4 {
		img.Pix[j], img.Pix[j+1], img.Pix[j+2], img.Pix[j+3] = f.Pix[i], f.Pix[i+1], f.Pix[i+2], 255
	}
	return img
}

// FromImage converts any image to a Frame (alpha is dropped).
func FromImage(img image.Image) *Frame {
	b := img.Bounds()
	f := New(b.Dx(), b.Dy())
	if rgba, ok := img.(*image.RGBA); ok {
		for y := 0; y < f.H; y++ {
			row := rgba.Pix[rgba.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < f.W; x++ {
				o := f.Offset(x, y)
				f.Pix[o], f.Pix[o+1], f.Pix[o+2] = row[4*x], row[4*x+1], row[4*x+2]
			}
		}
		return f
	}
	if yc, ok := img.(*image.YCbCr); ok {
		for y := 0; y < f.H; y++ {
			for x := 0; x < f.W; x++ {
				yi := yc.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := yc.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bb := color.YCbCrToRGB(yc.Y[yi], yc.Cb[ci], yc.Cr[ci])
				f.Set(x, y, r, g, bb)
			}
		}
		return f
	}
	for y := 0; y < f.H; y++ {
		for x := 0; x < f.W; x++ {
			c := color.RGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.RGBA)
			f.Set(x, y, c.R, c.G, c.B)
		}
	}
	return f
}

// FitPixels returns the size that keeps the aspect ratio of w x h while
// making w*h at most maxPixels and at least minPixels (each 0 = no bound).
// Sides are at least 1.
func FitPixels(w, h, maxPixels, minPixels int) (int, int) {
	area := float64(w * h)
	scale := 1.0
	if maxPixels > 0 && area > float64(maxPixels) {
		scale = math.Sqrt(float64(maxPixels) / area)
	} else if minPixels > 0 && area < float64(minPixels) {
		scale = math.Sqrt(float64(minPixels) / area)
	}
	nw := int(math.Floor(float64(w)*scale + 1e-9))
	nh := int(math.Floor(float64(h)*scale + 1e-9))
	if minPixels > 0 && nw*nh < minPixels {
		nw = int(math.Ceil(float64(w) * scale))
		nh = int(math.Ceil(float64(h) * scale))
	}
	return max(nw, 1), max(nh, 1)
}

// ResizeToBudget resizes f so its pixel count lies within [minPixels,
// maxPixels] keeping the aspect ratio; a frame already within budget is
// returned as a copy.
func ResizeToBudget(f *Frame, maxPixels, minPixels int) *Frame {
	w, h := FitPixels(f.W, f.H, maxPixels, minPixels)
	return Resize(f, w, h)
}
