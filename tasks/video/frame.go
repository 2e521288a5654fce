// Package video decodes, samples and writes video frames. It is the only
// package of the project that imports gocv; everything it hands out is a
// plain Go value (frame.Frame, from the pure package tasks/frame, which also
// resizes), so the rest of the project stays free of cgo.
//
// The pure-Go parts (JPEG encoding with the standard library, the synthetic
// video maker) build without cgo; decoding and video writing need OpenCV and
// report ErrNoOpenCV when the package was built without it.
package video

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"

	"github.com/videossr/videossr-go/tasks/frame"
)

// EncodeJPEG encodes a frame as a baseline JPEG with the given quality
// (1..100). Builds with cgo use OpenCV's codec (libjpeg-turbo), others the
// standard library; within a build the bytes depend only on the frame and
// the quality.
func EncodeJPEG(f *frame.Frame, quality int) ([]byte, error) { return encodeJPEG(f, quality) }

// MaxImagePixels is the largest image DecodeJPEG decodes (an 8K frame is
// 33 million pixels); a larger size in a JPEG header is refused before any
// pixel memory is allocated.
const MaxImagePixels = 1 << 26

// DecodeJPEG decodes a JPEG (or, with cgo, any image format OpenCV reads;
// without, any format registered with package image) into a Frame. An
// image whose header declares more than MaxImagePixels pixels is refused.
func DecodeJPEG(data []byte) (*frame.Frame, error) {
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil && int64(cfg.Width)*int64(cfg.Height) > MaxImagePixels {
		return nil, fmt.Errorf("decode image: %dx%d pixels exceed the limit of %d", cfg.Width, cfg.Height, MaxImagePixels)
	}
	return decodeJPEG(data)
}

// encodeJPEGGo encodes with image/jpeg.
func encodeJPEGGo(f *frame.Frame, quality int) ([]byte, error) {
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("encode jpeg: %w", err)
	}
	if quality < 1 || quality > 100 {
		return nil, fmt.Errorf("encode jpeg: quality %d outside 1..100", quality)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, f.ToRGBA(), &jpeg.Options{Quality: quality}); err != nil {
		return nil, fmt.Errorf("encode jpeg: %w", err)
	}
	return buf.Bytes(), nil
}

// decodeImageGo decodes with package image.
func decodeImageGo(data []byte) (*frame.Frame, error) {
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decode image: %w", err)
	}
	return frame.FromImage(img), nil
}
