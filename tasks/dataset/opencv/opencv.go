// Package opencv is the OpenCV back end of package dataset: it samples
// video files with tasks/video's decoder, encodes and decodes the JPEG frame
// files with its codec, and writes its synthetic videos. Package dataset
// itself stays pure Go; the commands and the trainer pass a Backend in.
//
// In a binary built without cgo, sampling and video writing fail with
// media.ErrNoOpenCV and the JPEG codec is the standard library's (see
// video.EncodeJPEG).
package opencv

import (
	"context"
	"fmt"

	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/dataset"
	"github.com/videossr/videossr-go/tasks/frame"
	"github.com/videossr/videossr-go/tasks/video"
)

// Backend is the OpenCV dataset.Backend. Its fields choose which videos are
// used, not the bytes of the samples; the zero value is the default.
type Backend struct {
	// MaxVideoBytes caps each video file (0: video.DefaultMaxFileBytes;
	// negative: no cap).
	MaxVideoBytes int64
	// KeepDamaged uses the frames of a video whose decoder reported errors
	// (listed as damaged) instead of skipping it.
	KeepDamaged bool
}

var _ dataset.Backend = Backend{}

// Load samples a video file with video.Sample: s.Frames frames spread over
// [StartFrac, EndFrac] of the duration, resized into the pixel budget; the
// fps is frames / duration. A video whose decoder reports errors fails
// with video.ErrDamaged (and is skipped), or with KeepDamaged gives its
// frames together with an error wrapping video.ErrDamaged (and is used and
// listed as damaged).
func (b Backend) Load(ctx context.Context, path string, s tasks.SamplingConfig) ([]*frame.Frame, float64, error) {
	got, err := video.Sample(ctx, path, video.SampleOptions{
		N: s.Frames, StartFrac: s.StartFrac, EndFrac: s.EndFrac, MaxPixels: s.MaxPixels, MinPixels: s.MinPixels,
		MaxFileBytes: b.MaxVideoBytes, KeepDamaged: b.KeepDamaged,
	})
	if err != nil {
		return nil, 0, err
	}
	if got.DecodeErrors > 0 {
		return got.Frames, got.SampleFPS, fmt.Errorf("video %q: %w: FFmpeg logged %d decoding error(s); kept", path, video.ErrDamaged, got.DecodeErrors)
	}
	return got.Frames, got.SampleFPS, nil
}

// EncodeJPEG encodes a frame with video.EncodeJPEG (OpenCV's codec).
func (Backend) EncodeJPEG(f *frame.Frame, quality int) ([]byte, error) {
	return video.EncodeJPEG(f, quality)
}

// DecodeJPEG decodes a frame file with video.DecodeJPEG, which refuses
// images larger than video.MaxImagePixels before decoding them.
func (Backend) DecodeJPEG(data []byte) (*frame.Frame, error) {
	return video.DecodeJPEG(data)
}

// WriteSynthetic writes the synthetic video of a seed
// (video.DefaultSynthOptions with that seed) to path with
// video.MakeSyntheticVideo.
func (Backend) WriteSynthetic(ctx context.Context, path string, seed uint64) error {
	o := video.DefaultSynthOptions()
	o.Seed = seed
	return video.MakeSyntheticVideo(ctx, path, o)
}
