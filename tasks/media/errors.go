// Package media holds the sentinel errors of reading videos, shared by the
// OpenCV back end (tasks/video, which re-exports them under the same names)
// and the pure packages that reach a back end through interfaces
// (tasks/dataset): those branch on the errors with errors.Is without
// linking OpenCV. It is pure Go with no cgo.
package media

import "errors"

// Sentinel errors that callers branch on with errors.Is.
var (
	// ErrNoOpenCV means the binary was built without cgo, so OpenCV (and
	// with it video decoding and writing) is not available.
	ErrNoOpenCV = errors.New("video decoding unavailable: this binary was built without cgo/OpenCV (rebuild with CGO_ENABLED=1 and OpenCV 4 installed, see scripts/setup.sh)")
	// ErrNotFound means the video file does not exist.
	ErrNotFound = errors.New("video file not found")
	// ErrEmpty means the video file has zero bytes.
	ErrEmpty = errors.New("video file is empty")
	// ErrNotVideo means OpenCV cannot open the file as a video, or it has no
	// frames.
	ErrNotVideo = errors.New("not a decodable video")
	// ErrTruncated means decoding failed before the frames the file promised
	// (typically a truncated download).
	ErrTruncated = errors.New("video is truncated or corrupt")
	// ErrTooShort means the video cannot give the requested number of
	// distinct frames inside the sampling span.
	ErrTooShort = errors.New("video too short")
	// ErrDamaged means the decoder reported errors while the sampled
	// frames were decoded (broken slices, bad macroblocks...): some frames
	// may hold concealed garbage.
	ErrDamaged = errors.New("video is damaged (the decoder reported errors)")
	// ErrNotRegular means the path is a named pipe, device, socket or
	// directory, not a regular file.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge means the video file is larger than the size cap.
	ErrTooLarge = errors.New("video file exceeds the size limit")
)
