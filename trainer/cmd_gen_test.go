package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/dataset"
	"github.com/videossr/videossr-go/tasks/dataset/opencv"
	"github.com/videossr/videossr-go/tasks/video"
	"github.com/videossr/videossr-go/trainer/sysinfo"
)

// realVideos returns the opencv-doc sample videos (third_party/videos next
// to go.mod), or skips the test when they or OpenCV are missing.
func realVideos(t *testing.T) []string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := ort.ModuleRoot(wd)
	if root == "" {
		t.Skip("go.mod not found above the test directory")
	}
	dir := filepath.Join(root, "third_party", "videos")
	out := sysinfo.SampleVideos(dir)
	if len(out) != 3 {
		t.Skipf("opencv-doc sample videos missing in %s: run scripts/setup.sh", dir)
	}
	if _, err := video.Probe(out[0]); errors.Is(err, video.ErrNoOpenCV) {
		t.Skip("built without OpenCV")
	}
	return out
}

// brokenVideos writes a truncated copy of vtest.avi and a text file named
// .mp4 into dir and returns their paths.
func brokenVideos(t *testing.T, vtest, dir string) (truncated, text string) {
	t.Helper()
	whole, err := os.ReadFile(vtest)
	if err != nil {
		t.Fatal(err)
	}
	truncated = filepath.Join(dir, "vtest_truncated.avi")
	text = filepath.Join(dir, "notes.mp4")
	if err := os.WriteFile(truncated, whole[:len(whole)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(text, []byte(strings.Repeat("this is a text file, not a video\n", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	return truncated, text
}

// tinyFrameFlags keeps the frames small so the tests stay fast.
func tinyFrameFlags() []string {
	return append(viubenchTinyFlags(), "--min-pixels", "0")
}

// viubenchTinyFlags is tinyFrameFlags for viubench build (no --min-pixels:
// the minimum follows the maximum).
func viubenchTinyFlags() []string {
	return []string{"--max-pixels", "3072", "--quiet", "--workers", "2"}
}

func TestGenCmdSkipsBrokenInputsAndResumes(t *testing.T) {
	good := realVideos(t)
	tmp := t.TempDir()
	truncated, text := brokenVideos(t, good[0], tmp)
	out := filepath.Join(tmp, "out")
	args := append([]string{"--videos", strings.Join(append(slices.Clone(good), truncated, text), ","), "--out", out, "--seed", "3"}, tinyFrameFlags()...)
	_, stderr, err := execCmd(t, newGenCmd(), "", args...)
	if err != nil {
		t.Fatalf("gen: %v\n%s", err, stderr)
	}
	for _, want := range []string{"skip " + truncated + ": ", "skip " + text + ": ", "9 made, 0 resumed", "2 skipped input(s) of 5"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	m, err := dataset.ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.Total != 9 || m.Videos != 3 || len(m.Skipped) != 2 || m.Counts["grounding"] != 3 || m.Counts["counting"] != 3 || m.Counts["jigsaw"] != 3 {
		t.Fatalf("manifest: total %d videos %d skipped %v counts %v", m.Total, m.Videos, m.Skipped, m.Counts)
	}
	reasons := map[string]string{}
	for _, s := range m.Skipped {
		reasons[s.Video] = s.Reason
	}
	if !strings.Contains(reasons[truncated], "truncated") || !strings.Contains(reasons[text], "not a decodable video") {
		t.Errorf("skip reasons %v", reasons)
	}
	samples, err := dataset.ReadDir(out)
	if err != nil || len(samples) != 9 {
		t.Fatalf("read back %d samples: %v", len(samples), err)
	}
	for _, s := range samples {
		for _, k := range []string{"id", "data_source", "subtype", "video", "frames", "fps", "prompt", "answer", "meta"} {
			row, _ := dataset.MarshalRow(&s)
			if !strings.Contains(string(row), `"`+k+`":`) {
				t.Fatalf("row lacks %q: %s", k, row)
			}
		}
	}

	// Run again: everything is resumed, nothing is remade, same bytes.
	before, err := os.ReadFile(filepath.Join(out, dataset.JSONLName))
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, err = execCmd(t, newGenCmd(), "", args...)
	if err != nil {
		t.Fatalf("gen again: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "0 made, 9 resumed") {
		t.Errorf("second run did not resume:\n%s", stderr)
	}
	after, _ := os.ReadFile(filepath.Join(out, dataset.JSONLName))
	if string(before) != string(after) {
		t.Error("resumed run changed data.jsonl")
	}
	if _, stderr, err := execCmd(t, newGenCmd(), "", "verify", out); err != nil {
		t.Fatalf("gen verify: %v\n%s", err, stderr)
	}

	// Only broken inputs: the command fails, after reporting each.
	_, stderr, err = execCmd(t, newGenCmd(), "", append([]string{"--out", filepath.Join(tmp, "none"), truncated, text, filepath.Join(tmp, "missing.mp4")}, tinyFrameFlags()...)...)
	if !errors.Is(err, dataset.ErrAllInputsFailed) {
		t.Fatalf("all inputs broken: err %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "3 skipped input(s) of 3") {
		t.Errorf("summary does not count the broken inputs:\n%s", stderr)
	}
}

// TestGenCmdShardsMergeToUnsharded: shards 0/2 and 1/2 merged give exactly
// the unsharded dataset (same ids, same checksums, same data files).
func TestGenCmdShardsMergeToUnsharded(t *testing.T) {
	good := realVideos(t)
	tmp := t.TempDir()
	// Six inputs: the three sample videos and three synthetic ones.
	synth, err := dataset.MakeSynthetic(t.Context(), opencv.Backend{}, filepath.Join(tmp, "synth"), 3, 11)
	if err != nil {
		t.Fatal(err)
	}
	inputs := strings.Join(append(slices.Clone(good), synth...), ",")
	gen := func(out string, extra ...string) *dataset.Manifest {
		t.Helper()
		args := append([]string{"--videos", inputs, "--out", out, "--seed", "5"}, tinyFrameFlags()...)
		if _, stderr, err := execCmd(t, newGenCmd(), "", append(args, extra...)...); err != nil {
			t.Fatalf("gen %v: %v\n%s", extra, err, stderr)
		}
		m, err := dataset.ReadManifest(out)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	full := gen(filepath.Join(tmp, "full"))
	s0 := gen(filepath.Join(tmp, "s0"), "--shard", "0/2")
	s1 := gen(filepath.Join(tmp, "s1"), "--shard", "1/2")
	if full.Total != 18 || s0.Total+s1.Total != 18 || s0.Total == 0 || s1.Total == 0 {
		t.Fatalf("totals: full %d, shards %d + %d", full.Total, s0.Total, s1.Total)
	}
	merged := filepath.Join(tmp, "merged")
	if _, stderr, err := execCmd(t, newGenCmd(), "", "merge", "--out", merged, filepath.Join(tmp, "s0"), filepath.Join(tmp, "s1")); err != nil {
		t.Fatalf("merge: %v\n%s", err, stderr)
	}
	m, err := dataset.ReadManifest(merged)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Samples, full.Samples) {
		t.Fatalf("merged ids/checksums differ from the unsharded run:\n%v\n%v", m.Samples, full.Samples)
	}
	for _, name := range []string{dataset.JSONLName, dataset.ParquetName, dataset.ManifestName} {
		a, _ := os.ReadFile(filepath.Join(tmp, "full", name))
		b, _ := os.ReadFile(filepath.Join(merged, name))
		if len(a) == 0 || string(a) != string(b) {
			t.Errorf("%s of the merged shards differs from the unsharded run", name)
		}
	}
	if err := dataset.Verify(merged, dataset.ReadOptions{}); err != nil {
		t.Fatal(err)
	}
	pq := filepath.Join(tmp, "verl.parquet")
	if _, stderr, err := execCmd(t, newGenCmd(), "", "export-verl", merged, "--out", pq); err != nil || !strings.Contains(stderr, "18 rows") {
		t.Fatalf("export-verl: %v\n%s", err, stderr)
	}
	rows, err := dataset.ReadParquet(pq)
	if err != nil || len(rows) != 18 || !filepath.IsAbs(rows[0].Frames.All()[0]) {
		t.Fatalf("exported parquet: %d rows, %v", len(rows), err)
	}
}

func TestViubenchBuildCmd(t *testing.T) {
	good := realVideos(t)
	tmp := t.TempDir()
	truncated, text := brokenVideos(t, good[0], tmp)
	out := filepath.Join(tmp, "viubench")
	args := append(append(slices.Clone(good), truncated, text, "--out", out, "--per-subtype", "4", "--seed", "9"), viubenchTinyFlags()...)
	_, stderr, err := execCmd(t, newViubenchBuildCmd(), "", args...)
	if err != nil {
		t.Fatalf("viubench build: %v\n%s", err, stderr)
	}
	for _, want := range []string{"skip " + truncated + ": ", "skip " + text + ": "} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	m, err := dataset.ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.Total != 36 || len(m.Skipped) != 2 || m.Split != "test" {
		t.Fatalf("manifest: total %d skipped %v split %q", m.Total, m.Skipped, m.Split)
	}
	for _, s := range tasks.ViubenchSpecs() {
		if m.Subtypes[s.Subtype] != 4 {
			t.Errorf("subtype %s has %d questions, want 4", s.Subtype, m.Subtypes[s.Subtype])
		}
	}
	if len(m.Subtypes) != 9 {
		t.Errorf("subtypes %v", m.Subtypes)
	}

	// Only broken inputs: non-zero exit.
	_, _, err = execCmd(t, newViubenchBuildCmd(), "", append([]string{truncated, text, "--out", filepath.Join(tmp, "none")}, viubenchTinyFlags()...)...)
	if !errors.Is(err, dataset.ErrAllInputsFailed) {
		t.Fatalf("all broken: %v", err)
	}
	// An unknown subtype is refused.
	if _, _, err := execCmd(t, newViubenchBuildCmd(), "", good[0], "--out", filepath.Join(tmp, "x"), "--subtypes", "jigsaw_6"); err == nil || !strings.Contains(err.Error(), "jigsaw_6") {
		t.Fatalf("unknown subtype: %v", err)
	}
}

// TestGenCmdOneProcessPerOut: a gen (or viubench build, or merge) into an
// --out that another process holds is refused naming the holder's pid.
func TestGenCmdOneProcessPerOut(t *testing.T) {
	out := t.TempDir()
	l, err := dataset.LockDir(out)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	pid := fmt.Sprintf("process %d", os.Getpid())
	_, _, err = execCmd(t, newGenCmd(), "", append([]string{"--synthetic", "1", "--out", out}, tinyFrameFlags()...)...)
	if !errors.Is(err, dataset.ErrLocked) || !strings.Contains(err.Error(), pid) {
		t.Fatalf("gen into a held --out: %v", err)
	}
	_, _, err = execCmd(t, newViubenchBuildCmd(), "", "--videos", "/nonexistent.avi", "--out", out, "--quiet")
	if !errors.Is(err, dataset.ErrLocked) || !strings.Contains(err.Error(), pid) {
		t.Fatalf("viubench build into a held --out: %v", err)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 1 {
		t.Fatalf("the refused runs wrote into %s: %v", out, entries)
	}
}

// TestGenCmdDamagedVideo: a video with damaged frame data is skipped and
// named as damaged; --keep-damaged uses it and still lists it.
func TestGenCmdDamagedVideo(t *testing.T) {
	tmp := t.TempDir()
	synth, err := dataset.MakeSynthetic(t.Context(), opencv.Backend{}, filepath.Join(tmp, "synth"), 2, 4)
	if errors.Is(err, video.ErrNoOpenCV) {
		t.Skip("built without OpenCV")
	}
	if err != nil {
		t.Fatal(err)
	}
	// Flip 16 bytes in the entropy-coded data of three Motion-JPEG frames
	// of the second video: the container stays intact.
	data, err := os.ReadFile(synth[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, frac := range []float64{0.4, 0.5, 0.6} {
		from := int(float64(len(data)) * frac)
		sos := bytes.Index(data[from:], []byte{0xff, 0xda})
		for i := range 16 {
			data[from+sos+50+3*i] ^= 0xff
		}
	}
	damaged := filepath.Join(tmp, "damaged.avi")
	if err := os.WriteFile(damaged, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, keep := range []bool{false, true} {
		out := filepath.Join(tmp, fmt.Sprint("out-", keep))
		args := append([]string{"--videos", synth[0] + "," + damaged, "--out", out}, tinyFrameFlags()...)
		if keep {
			args = append(args, "--keep-damaged")
		}
		_, stderr, err := execCmd(t, newGenCmd(), "", args...)
		if err != nil {
			t.Fatalf("gen keep=%v: %v\n%s", keep, err, stderr)
		}
		if !strings.Contains(stderr, "1 damaged video(s)") || !strings.Contains(stderr, damaged) {
			t.Errorf("keep=%v: the summary does not name the damaged video:\n%s", keep, stderr)
		}
		m, err := dataset.ReadManifest(out)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Damaged) != 1 || m.Damaged[0].Video != damaged || (m.Videos == 2) != keep {
			t.Errorf("keep=%v: manifest damaged %+v, %d videos used", keep, m.Damaged, m.Videos)
		}
	}
}

// TestGenCmdMergeIncomplete: merging part of a shard set is refused with
// the missing shard named.
func TestGenCmdMergeIncomplete(t *testing.T) {
	tmp := t.TempDir()
	s0 := filepath.Join(tmp, "s0")
	args := append([]string{"--synthetic", "2", "--out", s0, "--shard", "0/2", "--tasks", "jigsaw"}, tinyFrameFlags()...)
	if _, stderr, err := execCmd(t, newGenCmd(), "", args...); err != nil {
		if errors.Is(err, video.ErrNoOpenCV) {
			t.Skip("built without OpenCV")
		}
		t.Fatalf("gen: %v\n%s", err, stderr)
	}
	_, _, err := execCmd(t, newGenCmd(), "", "merge", "--out", filepath.Join(tmp, "m"), s0)
	if !errors.Is(err, dataset.ErrShardSet) || !strings.Contains(err.Error(), "missing shard(s) 1/2") {
		t.Fatalf("merge of shard 0/2 alone: %v", err)
	}
}

// TestGenCmdPrompts: gen --prompts words the samples with the file's
// system prompt and templates; a template without a placeholder its task
// needs is refused naming both, before anything is generated.
func TestGenCmdPrompts(t *testing.T) {
	if _, err := video.Synthesize(video.DefaultSynthOptions()); err != nil {
		t.Skipf("no video support: %v", err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "prompts.yaml")
	if err := os.WriteFile(good, []byte("system: Answer tersely.\ncounting: \"How many circles, squares, triangles? Like {example}.\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	args := append([]string{"--synthetic", "1", "--tasks", "counting", "--format", "jsonl", "--out", out, "--prompts", good}, tinyFrameFlags()...)
	if _, _, err := execCmd(t, newGenCmd(), "", args...); err != nil {
		t.Fatal(err)
	}
	samples, err := dataset.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 1 || samples[0].Prompt[0].Content != "Answer tersely." || !strings.HasPrefix(samples[0].Question, "How many circles") {
		t.Fatalf("samples %+v", samples)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("jigsaw: \"Order the clips.\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out2 := filepath.Join(dir, "out2")
	_, _, err = execCmd(t, newGenCmd(), "", append([]string{"--synthetic", "1", "--out", out2, "--prompts", bad}, tinyFrameFlags()...)...)
	if err == nil || !strings.Contains(err.Error(), "--prompts") || !strings.Contains(err.Error(), "jigsaw: missing placeholder {clips}") {
		t.Fatalf("error %v", err)
	}
	if _, err := os.Stat(out2); !os.IsNotExist(err) {
		t.Errorf("a refused --prompts still wrote %s", out2)
	}
}
