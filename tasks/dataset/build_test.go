package dataset

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/frame"
	"github.com/videossr/videossr-go/tasks/media"
)

// fakeLoader makes frames from the path alone: small random frames, a
// duration from the name; paths containing "broken" fail.
func fakeLoader() Loader {
	return LoaderFunc(func(ctx context.Context, path string, s tasks.SamplingConfig) ([]*frame.Frame, float64, error) {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		if strings.Contains(path, "broken") {
			return nil, 0, fmt.Errorf("%s: %w", path, media.ErrTruncated)
		}
		h := fnv.New64a()
		h.Write([]byte(path))
		rng := tasks.NewRand(h.Sum64())
		frames := make([]*frame.Frame, s.Frames)
		for i := range frames {
			f := frame.New(24, 18)
			for j := range f.Pix {
				f.Pix[j] = byte(rng.IntN(256))
			}
			frames[i] = f
		}
		return frames, float64(s.Frames) / (10 + float64(h.Sum64()%50)), nil
	})
}

func fakeInputs(n int) []Input {
	var in []Input
	for i := range n {
		in = append(in, Input{Path: fmt.Sprintf("/videos/v%02d.mp4", i), ID: fmt.Sprintf("v%02d.mp4", i)})
	}
	return in
}

func smallSampling() tasks.SamplingConfig {
	s := tasks.DefaultSamplingConfig()
	s.MaxPixels, s.MinPixels, s.JPEGQuality = 24*18, 0, 80
	return s
}

func genPlan(t *testing.T, inputs []Input, shard Shard) *Plan {
	t.Helper()
	cfg := tasks.DefaultGenConfig()
	p, err := PlanGen(inputs, tasks.GenSpecs(cfg, tasks.AllDataSources()), 2, 7, smallSampling(), shard)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// treeHashes maps every file under dir to its sha256.
func treeHashes(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		s := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(s[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTree(t *testing.T, a, b string) {
	t.Helper()
	ha, hb := treeHashes(t, a), treeHashes(t, b)
	if len(ha) != len(hb) {
		t.Errorf("%s has %d files, %s has %d", a, len(ha), b, len(hb))
	}
	for k, v := range ha {
		if hb[k] != v {
			t.Errorf("%s differs between %s and %s", k, a, b)
		}
	}
}

// checkAnswers re-derives every answer from the sample metadata.
func checkAnswers(t *testing.T, dir string) []tasks.Sample {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, JSONLName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	samples, err := ReadJSONL(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		var want string
		switch s.DataSource {
		case tasks.Grounding:
			m := s.Meta.Grounding
			want = tasks.GroundingAnswer(m.Start, m.Length, s.FPS)
			if len(s.Frames.Flat) != s.Meta.NumFrames {
				t.Fatalf("%s: %d frames", s.ID, len(s.Frames.Flat))
			}
		case tasks.Counting:
			counts := make([]int, 3)
			for _, p := range s.Meta.Counting.Instances {
				counts[map[string]int{"circle": 0, "square": 1, "triangle": 2}[p.Class]]++
			}
			want = tasks.CountingAnswer(counts)
		case tasks.Jigsaw:
			want = tasks.JigsawAnswer(s.Meta.Jigsaw.Presented)
			if len(s.Frames.Clips) != s.Meta.Jigsaw.Clips || !strings.Contains(s.Prompt[1].Content, fmt.Sprintf("Clip %d: <video>\n", s.Meta.Jigsaw.Clips)) {
				t.Fatalf("%s: %d clips, prompt %q", s.ID, len(s.Frames.Clips), s.Prompt[1].Content)
			}
		default:
			t.Fatalf("%s: data source %q", s.ID, s.DataSource)
		}
		if s.Answer != want {
			t.Fatalf("%s (%s): answer %s, metadata gives %s", s.ID, s.Subtype, s.Answer, want)
		}
		if len(s.Prompt) != 2 || s.Prompt[0].Content != tasks.SystemPrompt || !strings.HasSuffix(s.Prompt[1].Content, s.Question) {
			t.Fatalf("%s: prompt %+v", s.ID, s.Prompt)
		}
		for _, p := range s.Frames.All() {
			if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
				t.Fatalf("%s: %v", s.ID, err)
			}
		}
	}
	return samples
}

func TestBuildDeterministicResumableShardable(t *testing.T) {
	root := t.TempDir()
	inputs := fakeInputs(5)
	ctx := context.Background()
	full := filepath.Join(root, "full")
	sum, err := Build(ctx, genPlan(t, inputs, Shard{0, 1}), Options{Out: full, Workers: 2, Backend: testBackend{fakeLoader()}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Generated != 30 || sum.Manifest.Total != 30 || sum.Manifest.Counts["jigsaw"] != 10 {
		t.Fatalf("summary %+v manifest %+v", sum, sum.Manifest)
	}
	if err := Verify(full, ReadOptions{}); err != nil {
		t.Fatal(err)
	}
	checkAnswers(t, full)
	pq, err := ReadParquet(filepath.Join(full, ParquetName))
	if err != nil || len(pq) != 30 {
		t.Fatalf("parquet: %d rows, %v", len(pq), err)
	}

	// Same settings, another directory: byte-identical.
	again := filepath.Join(root, "again")
	if _, err := Build(ctx, genPlan(t, inputs, Shard{0, 1}), Options{Out: again, Workers: 1, Backend: testBackend{fakeLoader()}}); err != nil {
		t.Fatal(err)
	}
	sameTree(t, full, again)

	// Interrupted after the third video starts loading, then resumed.
	resumed := filepath.Join(root, "resumed")
	cctx, cancel := context.WithCancel(ctx)
	var loads atomic.Int32
	inner := fakeLoader()
	stopper := LoaderFunc(func(c context.Context, p string, s tasks.SamplingConfig) ([]*frame.Frame, float64, error) {
		if loads.Add(1) == 3 {
			cancel()
		}
		return inner.Load(c, p, s)
	})
	sum, err = Build(cctx, genPlan(t, inputs, Shard{0, 1}), Options{Out: resumed, Workers: 1, Backend: testBackend{stopper}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted build: %v", err)
	}
	if sum.Generated == 0 || sum.Generated >= 30 {
		t.Fatalf("interrupted build made %d samples", sum.Generated)
	}
	done := sum.Generated
	sum, err = Build(ctx, genPlan(t, inputs, Shard{0, 1}), Options{Out: resumed, Workers: 2, Backend: testBackend{fakeLoader()}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Reused != done || sum.Generated != 30-done {
		t.Fatalf("resume reused %d made %d, want %d and %d", sum.Reused, sum.Generated, done, 30-done)
	}
	sameTree(t, full, resumed)

	// Two shards merged equal the unsharded run.
	var dirs []string
	total := 0
	for i := range 2 {
		d := filepath.Join(root, fmt.Sprintf("shard%d", i))
		s, err := Build(ctx, genPlan(t, inputs, Shard{i, 2}), Options{Out: d, Workers: 2, Backend: testBackend{fakeLoader()}})
		if err != nil {
			t.Fatal(err)
		}
		total += s.Manifest.Total
		dirs = append(dirs, d)
	}
	if total != 30 {
		t.Fatalf("shards hold %d samples, want 30", total)
	}
	merged := filepath.Join(root, "merged")
	if _, err := Merge(ctx, merged, dirs, nil); err != nil {
		t.Fatal(err)
	}
	sameTree(t, full, merged)

	// Other settings in the same directory are refused.
	other := genPlan(t, inputs, Shard{0, 1})
	other.Seed = 8
	if _, err := Build(ctx, other, Options{Out: full, Backend: testBackend{fakeLoader()}}); err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Fatalf("mixed settings: %v", err)
	}

	// A damaged frame is caught by the checksums.
	samples, err := ReadDir(full)
	if err != nil {
		t.Fatal(err)
	}
	before := treeHashes(t, full)
	victim := filepath.Join(full, samples[4].Frames.All()[3])
	if !strings.Contains(victim, SourcesDir) {
		t.Fatalf("victim %s is not a shared source frame", victim)
	}
	if err := os.WriteFile(victim, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = Verify(full, ReadOptions{})
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "frame file "+victim+" is damaged") || strings.Count(err.Error(), victim) != 1 {
		t.Fatalf("verify after damage does not name %s once: %v", victim, err)
	}
	// Running the same build again makes the samples that use the damaged
	// frame again, which restores it.
	var lines []string
	sum, err = Build(ctx, genPlan(t, inputs, Shard{0, 1}), Options{Out: full, Backend: testBackend{fakeLoader()}, Log: func(l string) { lines = append(lines, l) }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Repaired == 0 || sum.Repaired != sum.Generated || sum.Reused+sum.Generated != 30 || !strings.Contains(strings.Join(lines, "\n"), "damaged or missing") {
		t.Fatalf("rerun over damage: repaired %d made %d reused %d; log %q", sum.Repaired, sum.Generated, sum.Reused, lines)
	}
	if err := Verify(full, ReadOptions{}); err != nil {
		t.Fatalf("verify after the repairing rerun: %v", err)
	}
	after := treeHashes(t, full)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s differs after the repair", k)
		}
	}
}

// TestSharedSourceFrames: unchanged frames point to the shared copy of the
// input's sampled frames; only changed frames are stored per sample.
func TestSharedSourceFrames(t *testing.T) {
	out := t.TempDir()
	plan := genPlan(t, fakeInputs(2), Shard{0, 1})
	if _, err := Build(context.Background(), plan, Options{Out: out, Backend: testBackend{fakeLoader()}, Formats: []string{"jsonl"}}); err != nil {
		t.Fatal(err)
	}
	samples, err := ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	own := func(s *tasks.Sample, p string) bool { return strings.HasPrefix(p, FramesDir+"/"+s.ID+"/") }
	shared := func(s *tasks.Sample, p string, k int) bool {
		return p == fmt.Sprintf("%s/%s/%02d.jpg", SourcesDir, sourceKey(s.VideoID), k)
	}
	for i := range samples {
		s := &samples[i]
		switch s.DataSource {
		case tasks.Jigsaw:
			m := s.Meta.Jigsaw
			for p, clip := range s.Frames.Clips {
				for j, f := range clip {
					if !shared(s, f, m.Presented[p]*m.ClipLen+j) {
						t.Fatalf("jigsaw %s clip %d frame %d is %s", s.ID, p+1, j, f)
					}
				}
			}
		case tasks.Grounding:
			m := s.Meta.Grounding
			for k, f := range s.Frames.Flat {
				in := k >= m.Start && k < m.Start+m.Length
				if in && !own(s, f) || !in && !shared(s, f, k) {
					t.Fatalf("grounding %s (%d+%d) frame %d is %s", s.ID, m.Start, m.Length, k, f)
				}
			}
		case tasks.Counting:
			drawn := map[int]bool{}
			for _, p := range s.Meta.Counting.Instances {
				drawn[p.Frame] = true
			}
			for k, f := range s.Frames.Flat {
				if drawn[k] && !own(s, f) || !drawn[k] && !shared(s, f, k) {
					t.Fatalf("counting %s frame %d is %s", s.ID, k, f)
				}
			}
		}
	}
	if err := Verify(out, ReadOptions{}); err != nil {
		t.Fatal(err)
	}
	// Each input's 48 frames are stored once.
	ents, err := os.ReadDir(filepath.Join(out, SourcesDir))
	if err != nil || len(ents) != 2 {
		t.Fatalf("sources: %v, %v", ents, err)
	}
}

func TestBuildSkipsBadInputs(t *testing.T) {
	inputs := []Input{{Path: "/v/a.mp4", ID: "a.mp4"}, {Path: "/v/broken.mp4", ID: "broken.mp4"}, {Path: "/v/c.mp4", ID: "c.mp4"}}
	var lines []string
	out := t.TempDir()
	sum, err := Build(context.Background(), genPlan(t, inputs, Shard{0, 1}), Options{Out: out, Backend: testBackend{fakeLoader()}, Log: func(l string) { lines = append(lines, l) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Skipped) != 1 || sum.Skipped[0].VideoID != "broken.mp4" || sum.Lost != 6 || sum.Manifest.Total != 12 {
		t.Fatalf("summary %+v", sum)
	}
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "skip /v/broken.mp4: ") || !strings.Contains(lines[0], "truncated") {
		t.Fatalf("log lines %q", lines)
	}
	if m := sum.Manifest; len(m.Skipped) != 1 || m.Skipped[0].Video != "/v/broken.mp4" || m.Videos != 2 {
		t.Fatalf("manifest %+v", m)
	}

	all := []Input{{Path: "/v/broken1.mp4", ID: "broken1.mp4"}, {Path: "/v/broken2.mp4", ID: "broken2.mp4"}}
	sum, err = Build(context.Background(), genPlan(t, all, Shard{0, 1}), Options{Out: t.TempDir(), Backend: testBackend{fakeLoader()}})
	if !errors.Is(err, ErrAllInputsFailed) || len(sum.Skipped) != 2 {
		t.Fatalf("all inputs broken: %v %+v", err, sum)
	}
}

func TestViubenchPlan(t *testing.T) {
	inputs := fakeInputs(4)
	p, err := PlanViubench(inputs, tasks.ViubenchSpecs(), 10, 3, tasks.ViubenchSampling())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Jobs) != 90 {
		t.Fatalf("%d jobs", len(p.Jobs))
	}
	perInput := map[int]int{}
	ids := map[string]bool{}
	for _, j := range p.Jobs {
		perInput[j.Input]++
		if ids[j.ID] {
			t.Fatalf("duplicate id %s", j.ID)
		}
		ids[j.ID] = true
	}
	for i := range inputs {
		// Round robin: each spec gives every input 2 or 3 of its 10 questions.
		if perInput[i] < 9*2 || perInput[i] > 9*3 {
			t.Fatalf("input %d has %d questions", i, perInput[i])
		}
	}
	out := t.TempDir()
	sum, err := Build(context.Background(), p, Options{Out: out, Backend: testBackend{fakeLoader()}, Formats: []string{"jsonl"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range tasks.ViubenchSpecs() {
		if sum.Manifest.Subtypes[s.Subtype] != 10 {
			t.Fatalf("subtype %s: %d", s.Subtype, sum.Manifest.Subtypes[s.Subtype])
		}
	}
	samples := checkAnswers(t, out)
	for _, s := range samples {
		if s.Split != "test" {
			t.Fatalf("split %q", s.Split)
		}
		switch s.Subtype {
		case tasks.SubtypeJigsawHard:
			if s.Meta.Jigsaw.Clips != 8 {
				t.Fatalf("jigsaw_hard with %d clips", s.Meta.Jigsaw.Clips)
			}
		case tasks.SubtypeGroundingShuffle:
			if s.Meta.Grounding.Perturbation != "shuffle" {
				t.Fatalf("grounding_shuffle with %s", s.Meta.Grounding.Perturbation)
			}
		}
	}
}

func TestListInputsAndShards(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b.mp4", "a.AVI", "notes.txt", "sub/c.mkv"} {
		p := filepath.Join(dir, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("x"), 0o644)
	}
	file := filepath.Join(dir, "notes.txt")
	in, err := ListInputs([]string{dir, file, filepath.Join(dir, "b.mp4"), "/no/such/file.mp4"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, i := range in {
		ids = append(ids, i.ID)
	}
	if got := strings.Join(ids, " "); got != "a.AVI b.mp4 file.mp4 notes.txt sub/c.mkv" {
		t.Fatalf("ids %q", got)
	}
	many := fakeInputs(200)
	seen := map[string]int{}
	for i := range 3 {
		s, _ := ParseShard(fmt.Sprintf("%d/3", i))
		n := 0
		for _, in := range many {
			if s.Has(in.ID) {
				seen[in.ID]++
				n++
			}
		}
		if n < 40 || n > 95 {
			t.Fatalf("shard %d holds %d of 200", i, n)
		}
	}
	if len(seen) != 200 {
		t.Fatalf("%d inputs covered", len(seen))
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("%s in %d shards", id, c)
		}
	}
	for _, bad := range []string{"3/3", "-1/2", "a/b", "1", "0/0"} {
		if _, err := ParseShard(bad); err == nil {
			t.Fatalf("shard %q accepted", bad)
		}
	}
}
