//go:build !cgo

package video

import "github.com/videossr/videossr-go/tasks/frame"

// encodeJPEG encodes with the standard library (this binary was built
// without cgo, so OpenCV's faster codec is not available).
func encodeJPEG(f *frame.Frame, quality int) ([]byte, error) { return encodeJPEGGo(f, quality) }

// decodeJPEG decodes with the standard library.
func decodeJPEG(data []byte) (*frame.Frame, error) { return decodeImageGo(data) }
