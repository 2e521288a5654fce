//go:build cgo

package video

import (
	"fmt"

	"gocv.io/x/gocv"

	"github.com/videossr/videossr-go/tasks/frame"
)

// encodeJPEG encodes with OpenCV's JPEG codec (libjpeg-turbo on Debian),
// about 15x faster than image/jpeg. The bytes depend only on the frame,
// the quality and the installed codec library.
func encodeJPEG(f *frame.Frame, quality int) ([]byte, error) {
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("encode jpeg: %w", err)
	}
	if quality < 1 || quality > 100 {
		return nil, fmt.Errorf("encode jpeg: quality %d outside 1..100", quality)
	}
	mat := gocv.NewMatWithSize(f.H, f.W, gocv.MatTypeCV8UC3)
	defer mat.Close()
	data, err := mat.DataPtrUint8()
	if err != nil || len(data) != len(f.Pix) {
		return nil, fmt.Errorf("encode jpeg: cannot fill a %dx%d OpenCV matrix", f.W, f.H)
	}
	bgrToRGB(data, f.Pix) // RGB -> BGR: the swap is its own inverse
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, mat, []int{gocv.IMWriteJpegQuality, quality})
	if err != nil {
		return nil, fmt.Errorf("encode jpeg: %w", err)
	}
	defer buf.Close()
	out := append([]byte(nil), buf.GetBytes()...)
	if len(out) == 0 {
		return nil, fmt.Errorf("encode jpeg: OpenCV produced no data")
	}
	return out, nil
}

// decodeJPEG decodes with OpenCV's image codecs (JPEG, PNG, ...) into an
// RGB frame, about 20x faster than image/jpeg plus a conversion.
func decodeJPEG(data []byte) (*frame.Frame, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("decode image: no data")
	}
	mat, err := gocv.IMDecode(data, gocv.IMReadColor)
	if err != nil {
		return nil, fmt.Errorf("decode image: %w", err)
	}
	defer mat.Close()
	if mat.Empty() || mat.Type() != gocv.MatTypeCV8UC3 {
		return nil, fmt.Errorf("decode image: not a decodable 8-bit image")
	}
	w, h := mat.Cols(), mat.Rows()
	src, err := mat.DataPtrUint8()
	if err != nil || len(src) < 3*w*h {
		return nil, fmt.Errorf("decode image: unreadable decoded buffer")
	}
	f := frame.New(w, h)
	bgrToRGB(f.Pix, src[:3*w*h])
	return f, nil
}
