package dataset

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/frame"
)

func TestWriteSourcesReuseAndRepair(t *testing.T) {
	root := t.TempDir()
	frames := make([]*frame.Frame, 5)
	for i := range frames {
		f := frame.New(8, 6)
		for j := range f.Pix {
			f.Pix[j] = byte(i*40 + j)
		}
		frames[i] = f
	}
	key := sourceKey("a.mp4")
	first, err := writeSources(testBackend{}, root, key, frames, 90)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.paths) != 5 || first.index[frames[3]] != 3 {
		t.Fatalf("paths %v", first.paths)
	}
	again, err := writeSources(testBackend{}, root, key, frames, 90)
	if err != nil {
		t.Fatal(err)
	}
	for i := range first.blobs {
		if !bytes.Equal(first.blobs[i], again.blobs[i]) {
			t.Fatalf("reused frame %d differs", i)
		}
	}
	// A folder missing a file (a crash between two runs) is rewritten.
	victim := filepath.Join(root, filepath.FromSlash(first.paths[2]))
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}
	fixed, err := writeSources(testBackend{}, root, key, frames, 90)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(victim)
	if err != nil || !bytes.Equal(got, first.blobs[2]) || !bytes.Equal(fixed.blobs[2], first.blobs[2]) {
		t.Fatalf("missing source frame not restored: %v", err)
	}
	if sourceKey("a.mp4") == sourceKey("b.mp4") {
		t.Fatal("source keys collide")
	}
	// writeFrames points unchanged frames at the sources and stores the rest.
	changed := frames[1].Clone()
	changed.Pix[0] ^= 0xff
	g := &tasks.Generated{Frames: []*frame.Frame{frames[0], changed, frames[2]}}
	list, blobs, sums, err := writeFrames(testBackend{}, root, "sample1", g, 90, fixed)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{first.paths[0], "frames/sample1/01.jpg", first.paths[2]}
	for i, p := range list.Flat {
		if p != want[i] {
			t.Fatalf("frame %d at %s, want %s", i, p, want[i])
		}
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil || !bytes.Equal(b, blobs[i]) {
			t.Fatalf("frame %d: file and checksum bytes differ (%v)", i, err)
		}
		if sums[i] != sha256Hex(b) {
			t.Fatalf("frame %d: recorded sha256 %s, file %s", i, sums[i], sha256Hex(b))
		}
	}
}
