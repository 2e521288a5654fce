package dataset

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/frame"
	"github.com/videossr/videossr-go/tasks/video"
)

// within runs f and fails the test if it has not returned after 10 s (a
// reader blocked on a named pipe, or reading /dev/zero, never returns).
func within(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still running after 10 s", what)
		return nil
	}
}

// TestReadersRefuseNonRegularFiles: frames, data files and manifests that
// are a named pipe, /dev/zero or a directory are refused at once with an
// error naming the path; files over the cap are refused too.
func TestReadersRefuseNonRegularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.jpg")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	sub := filepath.Join(dir, "folder.jpg")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	jpg, err := video.EncodeJPEG(frame.New(8, 8), 90)
	if err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.jpg")
	if err := os.WriteFile(big, append(jpg, make([]byte, 4096)...), 0o644); err != nil {
		t.Fatal(err)
	}
	open := ReadOptions{AllowOutside: true}
	for _, tc := range []struct {
		frame string
		opt   ReadOptions
		want  error
	}{
		{"pipe.jpg", ReadOptions{}, ErrNotRegular},
		{"folder.jpg", ReadOptions{}, ErrNotRegular},
		{"/dev/zero", open, ErrNotRegular},
		{"big.jpg", ReadOptions{MaxFrameBytes: 1024}, ErrTooLarge},
	} {
		s := &tasks.Sample{ID: "s1", Frames: tasks.FrameList{Flat: []string{tc.frame}}}
		err := within(t, "LoadFrames "+tc.frame, func() error {
			_, err := LoadFramesWith(testBackend{}, dir, s, tc.opt)
			return err
		})
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), filepath.Base(tc.frame)) {
			t.Errorf("frame %s: %v, want %v naming it", tc.frame, err, tc.want)
		}
	}
	// The same frame under the cap loads.
	s := &tasks.Sample{ID: "s1", Frames: tasks.FrameList{Flat: []string{"big.jpg"}}}
	if _, err := LoadFrames(testBackend{}, dir, s); err != nil {
		t.Fatalf("frame under the cap: %v", err)
	}
	// Data files and manifests.
	if err := within(t, "ReadJSONLFile", func() error { _, err := ReadJSONLFile(fifo); return err }); !errors.Is(err, ErrNotRegular) {
		t.Errorf("jsonl pipe: %v", err)
	}
	if err := within(t, "ReadParquet", func() error { _, err := ReadParquet("/dev/zero"); return err }); !errors.Is(err, ErrNotRegular) {
		t.Errorf("parquet /dev/zero: %v", err)
	}
	jfifo := filepath.Join(dir, "train.jsonl")
	if err := syscall.Mkfifo(jfifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := within(t, "LoadFiles", func() error { _, err := LoadFiles(context.Background(), []string{jfifo}, FileOptions{}); return err }); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "train.jsonl") {
		t.Errorf("training file pipe: %v", err)
	}
	mdir := filepath.Join(dir, "ds")
	if err := os.Mkdir(mdir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(mdir, ManifestName), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := within(t, "ReadManifest", func() error { _, err := ReadManifest(mdir); return err }); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), ManifestName) {
		t.Errorf("manifest pipe: %v", err)
	}
}

// TestResolvePath: one rule for every path a row holds.
func TestResolvePath(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "ds")
	if err := os.MkdirAll(filepath.Join(dir, "frames"), 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(root, "secret.jpg")
	if err := os.WriteFile(secret, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "frames", "link.jpg")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		p       string
		want    string // "" = refused
		outside string // with allowOutside
	}{
		{"frames/a.jpg", filepath.Join(dir, "frames", "a.jpg"), filepath.Join(dir, "frames", "a.jpg")},
		{"frames/../frames/a.jpg", filepath.Join(dir, "frames", "a.jpg"), filepath.Join(dir, "frames", "a.jpg")},
		{filepath.Join(dir, "frames", "a.jpg"), filepath.Join(dir, "frames", "a.jpg"), filepath.Join(dir, "frames", "a.jpg")},
		{"../secret.jpg", "", secret},
		{"frames/../../secret.jpg", "", secret},
		{secret, "", secret},
		{"/dev/zero", "", "/dev/zero"},
		{"frames/link.jpg", "", filepath.Join(dir, "frames", "link.jpg")},
	} {
		got, err := ResolvePath(dir, tc.p, false)
		if tc.want == "" {
			if !errors.Is(err, ErrOutside) || !strings.Contains(err.Error(), tc.p) {
				t.Errorf("%s: %q, %v; want ErrOutside naming it", tc.p, got, err)
			}
		} else if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %s", tc.p, got, err, tc.want)
		}
		if got, err := ResolvePath(dir, tc.p, true); err != nil || got != tc.outside {
			t.Errorf("%s allowed outside: %q, %v; want %s", tc.p, got, err, tc.outside)
		}
	}
}

// TestRowsOutsideTheDataset: a dataset whose rows point outside its folder
// is refused by LoadFrames, Verify and ExportVerl unless allowed.
func TestRowsOutsideTheDataset(t *testing.T) {
	root := t.TempDir()
	out := filepath.Join(root, "ds")
	cfg := tasks.DefaultGenConfig()
	cfg.Sampling = smallSampling()
	samples, _, err := Generate(t.Context(), GenRequest{Videos: []string{"/v/a.mp4"}, Out: out, Config: cfg, Seed: 2, Backend: testBackend{fakeLoader()}})
	if err != nil {
		t.Fatal(err)
	}
	// Move one frame out of the folder and point the row at it (absolute
	// path), as a hand-edited or foreign dataset might.
	s := samples[0]
	first := s.Frames.All()[0]
	moved := filepath.Join(root, "elsewhere.jpg")
	data, err := os.ReadFile(filepath.Join(out, first))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(moved, data, 0o644); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(out, JSONLName))
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(raw), `"`+first+`"`, `"`+moved+`"`, 1)
	if edited == string(raw) {
		t.Fatalf("frame %s not found in %s", first, JSONLName)
	}
	if err := os.WriteFile(filepath.Join(out, JSONLName), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var row *tasks.Sample
	for i := range rows {
		if rows[i].ID == s.ID {
			row = &rows[i]
		}
	}
	if _, err := LoadFrames(testBackend{}, out, row); !errors.Is(err, ErrOutside) || !strings.Contains(err.Error(), moved) {
		t.Errorf("LoadFrames: %v", err)
	}
	if _, err := LoadFramesWith(testBackend{}, out, row, ReadOptions{AllowOutside: true}); err != nil {
		t.Errorf("LoadFrames allowed: %v", err)
	}
	if err := Verify(out, ReadOptions{}); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), moved) || !strings.Contains(err.Error(), ErrOutside.Error()) {
		t.Errorf("Verify: %v", err)
	}
	file := filepath.Join(root, "verl.parquet")
	if _, err := ExportVerl(out, file, ReadOptions{}); !errors.Is(err, ErrOutside) {
		t.Errorf("ExportVerl: %v", err)
	}
	if _, err := ExportVerl(out, file, ReadOptions{AllowOutside: true}); err != nil {
		t.Errorf("ExportVerl allowed: %v", err)
	}
}
