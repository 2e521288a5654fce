package dataset

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Bounds on the files a dataset's readers accept. Every reader of a
// dataset file (frames, JSONL and Parquet data files, manifests, records)
// reads only regular files: a directory, named pipe, device or socket is
// refused with an error naming the path before anything is read, and a
// named pipe is never opened in a way that could block.
const (
	// DefaultMaxFrameBytes caps one frame file (a JPEG frame of a 4K video
	// at quality 95 is about 3 MiB).
	DefaultMaxFrameBytes int64 = 64 << 20
	// DefaultMaxDataBytes caps one JSONL or Parquet data file.
	DefaultMaxDataBytes int64 = 16 << 30
	// maxMetaBytes caps the small bookkeeping files: manifest.json,
	// run.json, shard.json and the per-sample records.
	maxMetaBytes int64 = 1 << 30
)

// Sentinel errors of the file readers; each error also names the file.
var (
	// ErrNotRegular means the path is a directory, named pipe, device or
	// socket rather than a regular file.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge means the file is larger than the reader's size cap.
	ErrTooLarge = errors.New("file exceeds the size limit")
	// ErrOutside means a path stored in a dataset points outside the
	// dataset directory (see ResolvePath).
	ErrOutside = errors.New("path is outside the dataset directory (allow it with --allow-outside)")
)

// fileKind names a non-regular file mode for error messages.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	default:
		return "not a regular file (mode " + m.String() + ")"
	}
}

// checkRegular returns an error naming path unless st describes a regular
// file of at most limit bytes (limit <= 0: no cap).
func checkRegular(path string, st fs.FileInfo, limit int64) error {
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: %w: it is %s", path, ErrNotRegular, fileKind(st.Mode()))
	}
	if limit > 0 && st.Size() > limit {
		return fmt.Errorf("%s: %w: %d bytes, the limit is %d", path, ErrTooLarge, st.Size(), limit)
	}
	return nil
}

// OpenRegular opens path for reading if it is a regular file of at most
// limit bytes (limit <= 0: no cap). The path is checked before it is
// opened and the opened file again (it may have been replaced in between);
// the open itself never blocks, even on a named pipe. The caller closes
// the file.
func OpenRegular(path string, limit int64) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := checkRegular(path, st, limit); err != nil {
		return nil, err
	}
	f, err := openNonBlocking(path)
	if err != nil {
		return nil, err
	}
	if st, err = f.Stat(); err == nil {
		err = checkRegular(path, st, limit)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ReadRegular reads a whole regular file of at most limit bytes (limit <=
// 0: no cap); see OpenRegular. A file that grows past the cap while it is
// read is refused too.
func ReadRegular(path string, limit int64) ([]byte, error) {
	f, err := OpenRegular(path, limit)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if limit > 0 {
		r = io.LimitReader(f, limit+1)
	}
	var buf bytes.Buffer
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		buf.Grow(int(st.Size()) + 1)
	}
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if limit > 0 && int64(buf.Len()) > limit {
		return nil, fmt.Errorf("%s: %w: it grew past %d bytes while read", path, ErrTooLarge, limit)
	}
	return buf.Bytes(), nil
}

// ResolvePath returns the file that a path stored in a dataset row (a
// frame or a video) names: a relative, slash-separated path is taken
// relative to the dataset directory dir, an absolute one as it is. Unless
// allowOutside, the file must lie inside dir, also once symbolic links are
// followed; otherwise the error wraps ErrOutside and names the path. Every
// reader of dataset rows (LoadFrames, Verify, ExportVerl) resolves paths
// with it.
func ResolvePath(dir, p string, allowOutside bool) (string, error) {
	if p == "" {
		return "", errors.New("empty path")
	}
	fp := filepath.FromSlash(p)
	full := fp
	if !filepath.IsAbs(fp) {
		full = filepath.Join(dir, fp)
	}
	if allowOutside {
		return full, nil
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	absFull, err := filepath.Abs(full)
	if err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	if !inside(absDir, absFull) {
		return "", fmt.Errorf("%q (dataset %s): %w", p, dir, ErrOutside)
	}
	// A symbolic link inside the directory may point out of it.
	if realFull, err := filepath.EvalSymlinks(absFull); err == nil {
		if realDir, err := filepath.EvalSymlinks(absDir); err == nil && !inside(realDir, realFull) {
			return "", fmt.Errorf("%q (dataset %s) leads to %s through a symbolic link: %w", p, dir, realFull, ErrOutside)
		}
	}
	return full, nil
}

// inside reports whether the absolute, clean path p lies in (or is) dir.
func inside(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}
