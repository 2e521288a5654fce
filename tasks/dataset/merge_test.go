package dataset

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/frame"
	"github.com/videossr/videossr-go/tasks/media"
)

// TestMergeRefusesIncompleteOrMixedShards: merge takes only one complete
// set of shards (every i/n of one n once, one input list, one settings
// file) and names what is wrong otherwise, writing nothing.
func TestMergeRefusesIncompleteOrMixedShards(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	inputs := fakeInputs(6)
	shard := func(name string, s Shard, in []Input) string {
		t.Helper()
		d := filepath.Join(root, name)
		if _, err := Build(ctx, genPlan(t, in, s), Options{Out: d, Backend: testBackend{fakeLoader()}, Formats: []string{"jsonl"}}); err != nil {
			t.Fatal(err)
		}
		return d
	}
	a0 := shard("a0", Shard{0, 3}, inputs)
	a1 := shard("a1", Shard{1, 3}, inputs)
	a2 := shard("a2", Shard{2, 3}, inputs)
	b1 := shard("b1", Shard{1, 2}, inputs)
	c2 := shard("c2", Shard{2, 3}, inputs[:5]) // another input list
	for _, tc := range []struct {
		name   string
		shards []string
		want   []string
	}{
		{"missing", []string{a0, a2}, []string{"missing shard(s) 1/3 of 3"}},
		{"twice", []string{a0, a1, a1, a2}, []string{"shard 1/3 is given twice", a1}},
		{"other count", []string{a0, a1, b1}, []string{b1, "cut 2 and 3 ways"}},
		{"other inputs", []string{a0, a1, c2}, []string{c2, "another list of input videos (5 videos)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(root, "merged-"+strings.ReplaceAll(tc.name, " ", "-"))
			_, err := Merge(ctx, out, tc.shards, nil)
			if !errors.Is(err, ErrShardSet) {
				t.Fatalf("merge: %v, want ErrShardSet", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a refused merge made %s", out)
			}
		})
	}
	// Other settings: another seed.
	other := genPlan(t, inputs, Shard{1, 3})
	other.Seed = 99
	d := filepath.Join(root, "seed99")
	if _, err := Build(ctx, other, Options{Out: d, Backend: testBackend{fakeLoader()}, Formats: []string{"jsonl"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Merge(ctx, filepath.Join(root, "m-seed"), []string{a0, d, a2}, nil); !errors.Is(err, ErrShardSet) || !strings.Contains(err.Error(), d) {
		t.Fatalf("merge with another seed: %v", err)
	}
	// The complete set merges.
	// The complete set, in any order, merges into the unsharded dataset.
	full := shard("full", Shard{0, 1}, inputs)
	m, err := Merge(ctx, filepath.Join(root, "ok"), []string{a2, a0, a1}, []string{"jsonl"})
	if err != nil {
		t.Fatalf("complete set: %v", err)
	}
	want, err := ReadManifest(full)
	if err != nil || m.Total != want.Total || m.Files[JSONLName] != want.Files[JSONLName] {
		t.Fatalf("merged %d samples, unsharded %d (%v)", m.Total, want.Total, err)
	}
}

// damagedLoader is fakeLoader, except that paths containing "damaged"
// behave like the OpenCV back end (opencv.Backend.Load) on a video whose
// decoder logged errors.
func damagedLoader(keep bool) Loader {
	inner := fakeLoader()
	return LoaderFunc(func(ctx context.Context, path string, s tasks.SamplingConfig) ([]*frame.Frame, float64, error) {
		frames, fps, err := inner.Load(ctx, path, s)
		if err != nil || !strings.Contains(path, "damaged") {
			return frames, fps, err
		}
		derr := fmt.Errorf("video %q: %w: FFmpeg logged 3 decoding error(s)", path, media.ErrDamaged)
		if !keep {
			return nil, 0, derr
		}
		return frames, fps, derr
	})
}

// TestDamagedInputs: a damaged video is skipped, counted and listed in the
// summary and manifest as damaged; with KeepDamaged its samples are made
// and it is still listed.
func TestDamagedInputs(t *testing.T) {
	inputs := []Input{{Path: "/v/good.mp4", ID: "good.mp4"}, {Path: "/v/damaged.mp4", ID: "damaged.mp4"}}
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprint("keep=", keep), func(t *testing.T) {
			var log []string
			out := t.TempDir()
			sum, err := Build(t.Context(), genPlan(t, inputs, Shard{0, 1}), Options{Out: out, Backend: testBackend{damagedLoader(keep)}, Log: func(l string) { log = append(log, l) }})
			if err != nil {
				t.Fatal(err)
			}
			m := sum.Manifest
			if len(m.Damaged) != 1 || m.Damaged[0].Video != "/v/damaged.mp4" || !strings.Contains(m.Damaged[0].Reason, "damaged") || len(sum.Damaged) != 1 {
				t.Fatalf("damaged list %+v / %+v", m.Damaged, sum.Damaged)
			}
			skipped := len(m.Skipped) == 1 && m.Skipped[0].Video == "/v/damaged.mp4"
			if skipped == keep || (keep && m.Videos != 2) || (!keep && m.Videos != 1) {
				t.Fatalf("keep %v: skipped %+v, %d videos used", keep, m.Skipped, m.Videos)
			}
			if !strings.Contains(strings.Join(log, "\n"), "damaged.mp4") {
				t.Fatalf("no line names the damaged video: %q", log)
			}
			back, err := ReadManifest(out)
			if err != nil || len(back.Damaged) != 1 {
				t.Fatalf("manifest on disk: %v %+v", err, back)
			}
		})
	}
}
