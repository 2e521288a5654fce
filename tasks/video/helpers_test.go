package video

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/videossr/videossr-go/tasks/frame"
)

// videosDir returns third_party/videos of the module, found by walking up
// from the working directory to go.mod; it skips the test when the sample
// videos are absent.
func videosDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("go.mod not found above the working directory; cannot locate third_party/videos")
		}
		dir = parent
	}
	vd := filepath.Join(dir, "third_party", "videos")
	for _, n := range sampleVideoNames() {
		if _, err := os.Stat(filepath.Join(vd, n)); err != nil {
			t.Skipf("sample video %s missing under %s: run scripts/setup.sh to fetch it", n, vd)
		}
	}
	return vd
}

func sampleVideoNames() []string { return []string{"vtest.avi", "tree.avi", "Megamind.avi"} }

// meanAbsDiff returns the mean absolute byte difference of two same-size frames.
func meanAbsDiff(a, b *frame.Frame) float64 {
	var s int64
	for i := range a.Pix {
		d := int64(a.Pix[i]) - int64(b.Pix[i])
		if d < 0 {
			d = -d
		}
		s += d
	}
	return float64(s) / float64(len(a.Pix))
}
