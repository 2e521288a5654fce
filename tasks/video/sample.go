package video

import (
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/videossr/videossr-go/tasks/frame"
	"github.com/videossr/videossr-go/tasks/media"
)

// Sentinel errors that callers branch on with errors.Is. Every error the
// package returns for a file also names that file. They are the values of
// the pure package tasks/media (which documents each), re-exported, so pure
// packages branch on them without importing this one.
var (
	// ErrNoOpenCV: built without cgo, so no video decoding or writing.
	ErrNoOpenCV = media.ErrNoOpenCV
	// ErrNotFound: the video file does not exist.
	ErrNotFound = media.ErrNotFound
	// ErrEmpty: the video file has zero bytes.
	ErrEmpty = media.ErrEmpty
	// ErrNotVideo: OpenCV cannot open the file as a video, or it has no
	// frames.
	ErrNotVideo = media.ErrNotVideo
	// ErrTruncated: decoding failed before the frames the file promised.
	ErrTruncated = media.ErrTruncated
	// ErrTooShort: too few distinct frames inside the sampling span.
	ErrTooShort = media.ErrTooShort
	// ErrDamaged: the decoder reported errors while the sampled frames were
	// decoded.
	ErrDamaged = media.ErrDamaged
	// ErrNotRegular: a named pipe, device, socket or directory.
	ErrNotRegular = media.ErrNotRegular
	// ErrTooLarge: the video file is larger than the size cap.
	ErrTooLarge = media.ErrTooLarge
)

// DefaultMaxFileBytes caps the size of a video file Sample opens (see
// SampleOptions.MaxFileBytes).
const DefaultMaxFileBytes int64 = 16 << 30

// Info describes a video file as reported by its container.
type Info struct {
	// Path is the file the information was read from.
	Path string
	// FPS is the nominal frame rate (frames per second).
	FPS float64
	// FrameCount is the number of frames the container reports (or, when it
	// reports none, the number counted by decoding).
	FrameCount int
	// Duration is FrameCount / FPS in seconds.
	Duration float64
	// W and H are the frame width and height in pixels.
	W, H int
}

// SampleOptions controls Sample.
type SampleOptions struct {
	// N is the number of frames to sample (default 48).
	N int
	// StartFrac and EndFrac bound the sampling span as fractions of the
	// video's duration (defaults 0.05 and 0.95).
	StartFrac, EndFrac float64
	// MaxPixels and MinPixels bound the pixel count of each returned frame;
	// the aspect ratio is kept. 0 means no bound.
	MaxPixels, MinPixels int
	// MaxFileBytes caps the size of the video file (0:
	// DefaultMaxFileBytes; negative: no cap).
	MaxFileBytes int64
	// KeepDamaged returns the frames of a video whose decoder reported
	// errors (Sampled.DecodeErrors > 0) instead of failing with
	// ErrDamaged.
	KeepDamaged bool
}

// DefaultSampleOptions returns the VideoSSR sampling: 48 frames over the
// 5%..95% span of the duration, original size.
func DefaultSampleOptions() SampleOptions {
	return SampleOptions{N: 48, StartFrac: 0.05, EndFrac: 0.95}
}

// Sampled is the result of Sample.
type Sampled struct {
	// Info describes the source video.
	Info Info
	// Indices holds the source frame index of each sampled frame, strictly
	// increasing. Each index was verified against the decoder's position,
	// not taken from the request.
	Indices []int
	// Times holds the presentation time in seconds of each sampled frame in
	// the source video (index / FPS).
	Times []float64
	// Frames holds the sampled frames (RGB, resized to the pixel budget).
	Frames []*frame.Frame
	// SampleFPS is the sampling frame rate, N / Duration (VideoSSR's
	// "sampling fps"): timestamps of sampled frame i are i / SampleFPS.
	SampleFPS float64
	// DecodeErrors is the number of error messages FFmpeg's decoders
	// logged while this video was opened and its frames decoded; it is
	// non-zero only with SampleOptions.KeepDamaged (else Sample fails with
	// ErrDamaged).
	DecodeErrors int
}

func (o SampleOptions) validate() error {
	if o.N <= 0 {
		return fmt.Errorf("sample options: frame count N=%d must be positive", o.N)
	}
	if math.IsNaN(o.StartFrac) || math.IsNaN(o.EndFrac) || o.StartFrac < 0 || o.EndFrac > 1 || o.StartFrac >= o.EndFrac {
		return fmt.Errorf("sample options: span [%g, %g] must satisfy 0 <= start < end <= 1", o.StartFrac, o.EndFrac)
	}
	if o.MaxPixels < 0 || o.MinPixels < 0 {
		return fmt.Errorf("sample options: pixel bounds must be >= 0 (max %d, min %d)", o.MaxPixels, o.MinPixels)
	}
	if o.MaxPixels > 0 && o.MinPixels > o.MaxPixels {
		return fmt.Errorf("sample options: min pixels %d exceed max pixels %d", o.MinPixels, o.MaxPixels)
	}
	return nil
}

// SampleIndices returns the frame indices Sample decodes for a video of
// frameCount frames: opt.N indices, strictly increasing, spread uniformly
// from the first frame at or after StartFrac of the video to the last frame
// at or before EndFrac. It fails with ErrTooShort when that span holds fewer
// than N frames.
func SampleIndices(frameCount int, opt SampleOptions) ([]int, error) {
	if err := opt.validate(); err != nil {
		return nil, err
	}
	if frameCount <= 0 {
		return nil, fmt.Errorf("%w: no frames", ErrNotVideo)
	}
	const eps = 1e-9
	lo := int(math.Ceil(opt.StartFrac*float64(frameCount) - eps))
	hi := int(math.Floor(opt.EndFrac*float64(frameCount) + eps))
	hi = min(hi, frameCount-1)
	lo = max(lo, 0)
	if hi-lo+1 < opt.N {
		return nil, fmt.Errorf("%w: %d frames in the %.0f%%..%.0f%% span of %d frames, need %d distinct frames",
			ErrTooShort, max(hi-lo+1, 0), 100*opt.StartFrac, 100*opt.EndFrac, frameCount, opt.N)
	}
	idx := make([]int, opt.N)
	if opt.N == 1 {
		idx[0] = (lo + hi) / 2
		return idx, nil
	}
	span := float64(hi - lo)
	for i := range idx {
		// The step span/(N-1) is at least 1, so rounding keeps the
		// indices strictly increasing.
		idx[i] = lo + int(math.Round(span*float64(i)/float64(opt.N-1)))
	}
	return idx, nil
}

// checkFile reports the file-level problems that need no decoder: missing
// file, not a regular file (a named pipe, which the decoder would wait on
// forever, a device such as /dev/zero, a directory), zero bytes, more than
// maxBytes bytes (0: DefaultMaxFileBytes; negative: no cap).
func checkFile(path string, maxBytes int64) error {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("video %q: %w", path, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("video %q: %w", path, err)
	}
	m := st.Mode()
	switch {
	case m.IsDir():
		return fmt.Errorf("video %q: %w: is a directory", path, ErrNotVideo)
	case m&os.ModeNamedPipe != 0:
		return fmt.Errorf("video %q: %w: is a named pipe", path, ErrNotRegular)
	case !m.IsRegular():
		return fmt.Errorf("video %q: %w (mode %s)", path, ErrNotRegular, m)
	}
	if st.Size() == 0 {
		return fmt.Errorf("video %q: %w", path, ErrEmpty)
	}
	if maxBytes == 0 {
		maxBytes = DefaultMaxFileBytes
	}
	if maxBytes > 0 && st.Size() > maxBytes {
		return fmt.Errorf("video %q: %w: %d bytes, the limit is %d", path, ErrTooLarge, st.Size(), maxBytes)
	}
	return nil
}
