//go:build cgo

package video

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// damagedCopy writes a copy of src with bytes flipped over a stretch in
// the middle of the file (every 7th byte of n bytes at frac of its size).
func damagedCopy(t *testing.T, src string, frac float64, n int) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	at := int(float64(len(data)) * frac)
	for i := at; i < at+n && i < len(data); i += 7 {
		data[i] ^= 0x5a
	}
	p := filepath.Join(t.TempDir(), "damaged-"+filepath.Base(src))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// syntheticVideo writes a 120-frame Motion-JPEG AVI.
func syntheticVideo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "clean.avi")
	o := DefaultSynthOptions()
	o.W, o.H, o.Frames, o.FPS, o.Seed = 96, 72, 120, 24, 5
	if err := MakeSyntheticVideo(context.Background(), p, o); err != nil {
		t.Fatal(err)
	}
	return p
}

// damagedMJPEG writes a copy of a Motion-JPEG video with 16 bytes flipped
// in the entropy-coded data of three frames (after the start-of-scan
// marker following 40%, 50% and 60% of the file): the container stays
// intact and the frames decode, with errors.
func damagedMJPEG(t *testing.T, src string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, frac := range []float64{0.4, 0.5, 0.6} {
		from := int(float64(len(data)) * frac)
		sos := bytes.Index(data[from:], []byte{0xff, 0xda})
		if sos < 0 {
			t.Fatalf("no JPEG scan after %d in %s", from, src)
		}
		for i := range 16 {
			data[from+sos+50+3*i] ^= 0xff
		}
	}
	p := filepath.Join(t.TempDir(), "damaged-"+filepath.Base(src))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDamagedVideo: a video whose middle bytes were flipped decodes with
// concealed garbage and only FFmpeg's own log lines; Sample must fail with
// ErrDamaged naming the file, or hand the frames back with the error count
// under KeepDamaged. The undamaged original reports no errors.
func TestDamagedVideo(t *testing.T) {
	clean := syntheticVideo(t)
	paths := map[string]string{"synthetic mjpeg": damagedMJPEG(t, clean)}
	// An MPEG-4 Part 2 video with a damaged stretch, when the sample
	// videos are there.
	if vtest := filepath.Join("..", "..", "third_party", "videos", "vtest.avi"); fileExists(vtest) {
		paths["vtest.avi"] = damagedCopy(t, vtest, 0.5, 2000)
	}
	opt := DefaultSampleOptions()
	opt.MaxPixels = 64 * 64
	for name, p := range paths {
		t.Run(name, func(t *testing.T) {
			_, err := Sample(context.Background(), p, opt)
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), p) {
				t.Fatalf("damaged video: %v, want ErrDamaged naming %s", err, p)
			}
			keep := opt
			keep.KeepDamaged = true
			s, err := Sample(context.Background(), p, keep)
			if err != nil || len(s.Frames) != opt.N || s.DecodeErrors == 0 {
				t.Fatalf("kept damaged video: %v (decode errors %d)", err, s.DecodeErrors)
			}
		})
	}
	s, err := Sample(context.Background(), clean, opt)
	if err != nil || s.DecodeErrors != 0 {
		t.Fatalf("clean video: %v, %d decode errors", err, s.DecodeErrors)
	}
}

// TestDamageAttributedWhenConcurrent: FFmpeg's error log is one per
// process; a clean video decoded at the same time as a damaged one must
// not be reported damaged, and the damaged one always is.
func TestDamageAttributedWhenConcurrent(t *testing.T) {
	clean := syntheticVideo(t)
	bad := damagedMJPEG(t, clean)
	opt := DefaultSampleOptions()
	opt.MaxPixels = 64 * 64
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := clean
			if i%2 == 1 {
				p = bad
			}
			_, errs[i] = Sample(context.Background(), p, opt)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if damaged := errors.Is(err, ErrDamaged); damaged != (i%2 == 1) || (i%2 == 0 && err != nil) {
			t.Errorf("decode %d (damaged %v): %v", i, i%2 == 1, err)
		}
	}
}

// TestVideoNotRegular: a named pipe, a device and an oversized file are
// refused before the decoder opens them (a pipe would block it forever).
func TestVideoNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.avi")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	clean := syntheticVideo(t)
	small := DefaultSampleOptions()
	small.MaxFileBytes = 1000
	for _, tc := range []struct {
		path string
		opt  SampleOptions
		want error
	}{
		{fifo, DefaultSampleOptions(), ErrNotRegular},
		{"/dev/zero", DefaultSampleOptions(), ErrNotRegular},
		{clean, small, ErrTooLarge},
	} {
		done := make(chan error, 1)
		go func() {
			_, err := Sample(context.Background(), tc.path, tc.opt)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.path) {
				t.Errorf("%s: %v, want %v naming the file", tc.path, err, tc.want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: Sample still running after 20 s", tc.path)
		}
	}
}
