package dataset

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/videossr/videossr-go/reward"
	"github.com/videossr/videossr-go/tasks"
)

// Training files: JSONL or Parquet files given by path or glob, in either
// of two layouts, checked row by row before any training starts.
//
//   - our own rows (tasks.Sample, what `trainer gen` writes to data.jsonl):
//     id, data_source, frames, fps, prompt, answer, ...
//   - the verl RLHF layout (how the paper's data is distributed, and what
//     `trainer gen --format parquet` and ExportVerl write): data_source,
//     prompt (chat messages), videos ({video: frame paths, sample_fps,
//     max_pixels, min_pixels} per <video> placeholder), reward_model
//     {ground_truth}, extra_info {...}. In JSONL a row is in this layout
//     when it has a "reward_model" key.
//
// Relative frame paths are relative to the folder of the file that names
// them; the returned samples carry absolute paths, so LoadFrames reads
// them from anywhere.

// GroundTruthChecker checks a data source name and a ground truth before
// training; *reward.Registry implements it (an unknown data source wraps
// reward.ErrUnknownSource).
type GroundTruthChecker interface {
	ValidateGroundTruth(dataSource, gt string) error
}

// FileOptions controls LoadFiles and CheckFiles.
type FileOptions struct {
	// Rewards knows the data sources the run can score (nil:
	// reward.DefaultRegistry(), the built-in rewards). Pass the run's
	// registry when it has plug-ins.
	Rewards GroundTruthChecker
	// Aliases renames data sources before they are checked, for data that
	// names a task otherwise (e.g. {"temporal_jigsaw": "jigsaw"}).
	Aliases map[string]string
	// SkipFrameCheck leaves out the check that every frame file exists.
	SkipFrameCheck bool
	// MaxProblems stops the check after this many problems (default 50).
	MaxProblems int
}

// Problem is one thing wrong with a training file: where it is and why.
type Problem struct {
	// File is the file's path as matched.
	File string
	// Row locates the row: "line N" (JSONL, 1-based) or "row N" (Parquet,
	// 0-based as pandas numbers them); empty for a problem of the file.
	Row string
	// Field names the column or key, e.g. "videos[0].video[3]" or
	// "reward_model.ground_truth"; may be empty.
	Field string
	// Err says what is wrong.
	Err error
}

// Error formats the problem as "file: row: field: reason".
func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Row != "" {
		b.WriteString(": " + p.Row)
	}
	if p.Field != "" {
		b.WriteString(": field " + p.Field)
	}
	b.WriteString(": " + p.Err.Error())
	return b.String()
}

// Unwrap returns the reason.
func (p Problem) Unwrap() error { return p.Err }

// ErrBadTrainingData is wrapped by CheckError.
var ErrBadTrainingData = errors.New("bad training data")

// CheckError lists the problems found in training files. errors.Is(err,
// ErrBadTrainingData) holds for it.
type CheckError struct {
	Problems []Problem
	// Truncated is set when the check stopped at FileOptions.MaxProblems.
	Truncated bool
}

// Error lists the problems, one a line.
func (e *CheckError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problem(s)", ErrBadTrainingData, len(e.Problems))
	if e.Truncated {
		b.WriteString(" (stopped there)")
	}
	for _, p := range e.Problems {
		b.WriteString("\n  " + p.Error())
	}
	return b.String()
}

// Is reports ErrBadTrainingData.
func (e *CheckError) Is(target error) bool { return target == ErrBadTrainingData }

// FileSummary counts what one training file holds.
type FileSummary struct {
	Path   string
	Layout string // "samples" (our rows), "verl" or "mixed"
	Rows   int
	// Sources counts rows per data source (after aliases).
	Sources map[string]int
}

// FilesReport is the result of CheckFiles.
type FilesReport struct {
	Files []FileSummary
	// Samples are the rows that passed, as samples with absolute frame
	// paths, in file order.
	Samples []tasks.Sample
	// Frames is the number of distinct frame files checked.
	Frames int
	// Problems are the rows that did not pass (nil when all did).
	Problems *CheckError
}

// ExpandPatterns resolves paths and globs to files, in order, without
// repeats. A folder stands for its data.jsonl (or data.parquet), as
// written by `trainer gen`. A pattern that matches nothing is an error.
func ExpandPatterns(patterns []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, pat := range patterns {
		matches, err := filepath.Glob(pat)
		if err != nil {
			return nil, fmt.Errorf("training files: pattern %q: %w", pat, err)
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("training files: %q matches no file", pat)
		}
		sort.Strings(matches)
		for _, m := range matches {
			st, err := os.Stat(m)
			if err != nil {
				return nil, fmt.Errorf("training files: %w", err)
			}
			if st.IsDir() {
				d := m
				if m = filepath.Join(d, JSONLName); !fileExists(m) {
					if m = filepath.Join(d, ParquetName); !fileExists(m) {
						return nil, fmt.Errorf("training files: folder %s has neither %s nor %s", d, JSONLName, ParquetName)
					}
				}
			}
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	return out, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// LoadFiles reads the training files matched by patterns (paths, globs or
// gen output folders; .jsonl and .parquet), checks every row (see
// CheckFiles) and returns the samples with absolute frame paths. Any
// problem is an error (a *CheckError naming the file, the row and the
// field of each), so nothing trains on a broken file.
func LoadFiles(ctx context.Context, patterns []string, opts FileOptions) ([]tasks.Sample, error) {
	rep, err := CheckFiles(ctx, patterns, opts)
	if err != nil {
		return nil, err
	}
	if rep.Problems != nil {
		return nil, rep.Problems
	}
	return rep.Samples, nil
}

// CheckFiles reads and checks the training files matched by patterns:
// required columns present; every data source known to opts.Rewards and
// every ground truth valid for it; prompts with one <video> placeholder
// per video input; every video input with frames, and every frame file
// present; a positive sampling fps; no sample id twice. Problems are
// collected (up to opts.MaxProblems) into the report rather than returned;
// the error is for what stops the check (no file matched, an unreadable
// file, cancellation).
func CheckFiles(ctx context.Context, patterns []string, opts FileOptions) (*FilesReport, error) {
	files, err := ExpandPatterns(patterns)
	if err != nil {
		return nil, err
	}
	if opts.Rewards == nil {
		opts.Rewards = reward.DefaultRegistry()
	}
	if opts.MaxProblems <= 0 {
		opts.MaxProblems = 50
	}
	c := &checker{opts: opts, frames: map[string]error{}, ids: map[string]string{}, problems: &CheckError{}}
	rep := &FilesReport{}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sum := FileSummary{Path: f, Sources: map[string]int{}}
		var err error
		switch ext := strings.ToLower(filepath.Ext(f)); ext {
		case ".jsonl", ".json":
			err = c.jsonlFile(ctx, f, &sum, rep)
		case ".parquet":
			err = c.parquetFile(ctx, f, &sum, rep)
		default:
			err = fmt.Errorf("training files: %s: unknown extension %q (want .jsonl or .parquet)", f, ext)
		}
		if err != nil {
			return nil, err
		}
		rep.Files = append(rep.Files, sum)
		if c.full() {
			break
		}
	}
	rep.Frames = len(c.frames)
	if len(c.problems.Problems) > 0 {
		rep.Problems = c.problems
	}
	return rep, nil
}

// checker holds the state of one CheckFiles run.
type checker struct {
	opts     FileOptions
	frames   map[string]error  // frame path -> stat result
	ids      map[string]string // sample id -> where first seen
	problems *CheckError
}

func (c *checker) full() bool { return len(c.problems.Problems) >= c.opts.MaxProblems }

func (c *checker) add(p Problem) {
	if c.full() {
		c.problems.Truncated = true
		return
	}
	c.problems.Problems = append(c.problems.Problems, p)
}

// rowProblems collects the problems of one row.
type rowProblems struct {
	file, row string
	list      []Problem
}

func (r *rowProblems) add(field string, format string, a ...any) {
	r.list = append(r.list, Problem{File: r.file, Row: r.row, Field: field, Err: fmt.Errorf(format, a...)})
}

func (r *rowProblems) wrap(field string, err error) {
	r.list = append(r.list, Problem{File: r.file, Row: r.row, Field: field, Err: err})
}

// jsonlFile checks the rows of a JSONL file.
func (c *checker) jsonlFile(ctx context.Context, path string, sum *FileSummary, rep *FilesReport) error {
	f, err := OpenRegular(path, DefaultMaxDataBytes)
	if err != nil {
		return fmt.Errorf("training files: %w", err)
	}
	defer f.Close()
	dir := filepath.Dir(path)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<28)
	line := 0
	layouts := map[string]bool{}
	for sc.Scan() {
		line++
		if line%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		rp := &rowProblems{file: path, row: fmt.Sprintf("line %d", line)}
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(raw, &keys); err != nil {
			rp.add("", "not a JSON object: %v", err)
			c.finishRow(rp, nil, sum, rep)
			if c.full() {
				break
			}
			continue
		}
		var s *tasks.Sample
		_, verl := keys["reward_model"]
		if verl {
			layouts["verl"] = true
			s = verlFromJSON(keys, rp)
		} else {
			layouts["samples"] = true
			s = sampleFromJSON(raw, keys, rp)
		}
		if s != nil && s.ID == "" {
			s.ID = fmt.Sprintf("%s:%d", filepath.Base(path), line)
		}
		if s != nil {
			c.checkSample(s, dir, rp, verl)
		}
		c.finishRow(rp, s, sum, rep)
		if c.full() {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("training files: %s: line %d: %w", path, line+1, err)
	}
	switch {
	case layouts["verl"] && layouts["samples"]:
		sum.Layout = "mixed"
	case layouts["verl"]:
		sum.Layout = "verl"
	default:
		sum.Layout = "samples"
	}
	return nil
}

// finishRow records a checked row: its problems, or its sample.
func (c *checker) finishRow(rp *rowProblems, s *tasks.Sample, sum *FileSummary, rep *FilesReport) {
	sum.Rows++
	if s != nil {
		sum.Sources[string(s.DataSource)]++
	}
	for _, p := range rp.list {
		c.add(p)
	}
	if len(rp.list) == 0 && s != nil {
		rep.Samples = append(rep.Samples, *s)
	}
}

// requiredKeys lists the keys a row of our own layout must have.
func requiredKeys() []string {
	return []string{"data_source", "prompt", "frames", "answer", "fps"}
}

// sampleFromJSON decodes a row of our own layout (tasks.Sample), naming
// the key of any problem.
func sampleFromJSON(raw []byte, keys map[string]json.RawMessage, rp *rowProblems) *tasks.Sample {
	for _, k := range requiredKeys() {
		if _, ok := keys[k]; !ok {
			rp.add(k, "missing (a row of our layout needs %s; a verl row needs reward_model)", strings.Join(requiredKeys(), ", "))
		}
	}
	if len(rp.list) > 0 {
		return nil
	}
	var s tasks.Sample
	if err := json.Unmarshal(raw, &s); err != nil {
		field := ""
		var te *json.UnmarshalTypeError
		switch {
		case strings.HasPrefix(err.Error(), "frames:"):
			field = "frames"
		case errors.As(err, &te):
			field = te.Field
		}
		rp.add(field, "%v", err)
		return nil
	}
	return &s
}

// verlFromJSON decodes a verl-layout JSONL row field by field.
func verlFromJSON(keys map[string]json.RawMessage, rp *rowProblems) *tasks.Sample {
	row := VerlRow{}
	for _, k := range []string{"data_source", "prompt", "videos", "reward_model"} {
		if _, ok := keys[k]; !ok {
			rp.add(k, "missing (a verl row needs data_source, prompt, videos and reward_model)")
		}
	}
	if len(rp.list) > 0 {
		return nil
	}
	if err := json.Unmarshal(keys["data_source"], &row.DataSource); err != nil {
		rp.add("data_source", "want a string: %v", err)
	}
	var msgs []json.RawMessage
	if err := json.Unmarshal(keys["prompt"], &msgs); err != nil {
		rp.add("prompt", "want a list of {role, content} messages: %v", err)
	}
	for i, m := range msgs {
		var vm struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		}
		if err := json.Unmarshal(m, &vm); err != nil {
			rp.add(fmt.Sprintf("prompt[%d]", i), "want a {role, content} object: %v", err)
			continue
		}
		var content string
		if err := json.Unmarshal(vm.Content, &content); err != nil {
			rp.add(fmt.Sprintf("prompt[%d].content", i), "want a string with <video> placeholders (lists of content parts are not supported)")
			continue
		}
		row.Prompt = append(row.Prompt, VerlMessage{Role: vm.Role, Content: content})
	}
	var vids []json.RawMessage
	if err := json.Unmarshal(keys["videos"], &vids); err != nil {
		rp.add("videos", "want a list of {video, sample_fps, max_pixels, min_pixels}: %v", err)
	}
	for i, v := range vids {
		var vv struct {
			Video     json.RawMessage `json:"video"`
			SampleFPS float64         `json:"sample_fps"`
			MaxPixels int64           `json:"max_pixels"`
			MinPixels int64           `json:"min_pixels"`
		}
		if err := json.Unmarshal(v, &vv); err != nil {
			rp.add(fmt.Sprintf("videos[%d]", i), "want a {video, sample_fps, max_pixels, min_pixels} object: %v", err)
			continue
		}
		var frames []string
		if err := json.Unmarshal(vv.Video, &frames); err != nil {
			var one string
			if json.Unmarshal(vv.Video, &one) == nil {
				rp.add(fmt.Sprintf("videos[%d].video", i), "%q is a single path (a video file?); this trainer reads each video input as a list of frame files (run `trainer gen` on video files)", one)
			} else {
				rp.add(fmt.Sprintf("videos[%d].video", i), "want a list of frame file paths")
			}
			continue
		}
		row.Videos = append(row.Videos, VerlVideo{Video: frames, SampleFPS: vv.SampleFPS, MaxPixels: vv.MaxPixels, MinPixels: vv.MinPixels})
	}
	var rm struct {
		GroundTruth json.RawMessage `json:"ground_truth"`
		Style       string          `json:"style"`
	}
	if err := json.Unmarshal(keys["reward_model"], &rm); err != nil {
		rp.add("reward_model", "want an object with ground_truth: %v", err)
	} else if len(rm.GroundTruth) == 0 {
		rp.add("reward_model.ground_truth", "missing")
	} else {
		gt, err := groundTruthString(rm.GroundTruth)
		if err != nil {
			rp.add("reward_model.ground_truth", "%v", err)
		}
		row.RewardModel = VerlReward{Style: rm.Style, GroundTruth: gt}
	}
	if len(rp.list) > 0 {
		return nil
	}
	if extra := keys["extra_info"]; len(extra) > 0 && string(extra) != "null" {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(extra, &m); err != nil {
			rp.add("extra_info", "want an object: %v", err)
			return nil
		}
		// Our own keys are picked up when they are strings (index when a
		// number); other tools' keys are ignored.
		str := func(k string) string {
			var v string
			json.Unmarshal(m[k], &v)
			return v
		}
		var index int64
		json.Unmarshal(m["index"], &index)
		row.ExtraInfo = VerlExtra{Split: str("split"), Answer: str("answer"), Question: str("question"), VideoID: str("video_id"),
			Index: index, ID: str("id"), Subtype: str("subtype"), Video: str("video"), Meta: str("meta")}
	}
	s, err := FromVerl(&row)
	if err != nil {
		rp.add("extra_info.meta", "%v", err)
		return nil
	}
	fillQuestion(&s)
	return &s
}

// fillQuestion sets the question of a verl row that does not carry one in
// extra_info: the user message without its video placeholder lines.
func fillQuestion(s *tasks.Sample) {
	if s.Question != "" {
		return
	}
	for _, m := range s.Prompt {
		if m.Role != "user" {
			continue
		}
		var keep []string
		for _, l := range strings.Split(m.Content, "\n") {
			if t := strings.TrimSpace(strings.ReplaceAll(l, tasks.VideoPlaceholder, "")); t != "" && !isClipLabel(t) {
				keep = append(keep, t)
			}
		}
		s.Question = strings.Join(keep, "\n")
		return
	}
}

// isClipLabel reports whether a line, placeholders removed, is a jigsaw
// clip label ("Clip 3:").
func isClipLabel(t string) bool {
	rest, ok := strings.CutPrefix(t, "Clip ")
	if !ok {
		return false
	}
	num, ok := strings.CutSuffix(rest, ":")
	if !ok || num == "" {
		return false
	}
	for _, r := range num {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// groundTruthString reads a ground truth that is a JSON string, or a
// number (written as it was, e.g. 42 -> "42").
func groundTruthString(raw json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&n) == nil {
		return n.String(), nil
	}
	return "", fmt.Errorf("want a string (or a number), got %s", truncateText(string(raw), 60))
}

func truncateText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// checkSample checks a decoded row and makes its frame paths absolute.
// verl selects the field names of the verl layout in messages.
func (c *checker) checkSample(s *tasks.Sample, dir string, rp *rowProblems, verl bool) {
	fSource, fGT, fVideos, fFPS := "data_source", "answer", "frames", "fps"
	if verl {
		fGT, fVideos, fFPS = "reward_model.ground_truth", "videos", "videos[0].sample_fps"
	}
	if alias, ok := c.opts.Aliases[string(s.DataSource)]; ok {
		s.DataSource = tasks.DataSource(alias)
	}
	src := string(s.DataSource)
	if src == "" {
		rp.add(fSource, "empty")
	} else if err := c.opts.Rewards.ValidateGroundTruth(src, s.Answer); err != nil {
		if errors.Is(err, reward.ErrUnknownSource) {
			rp.wrap(fSource, err)
		} else {
			rp.wrap(fGT, err)
		}
	}
	// The prompt: a user message holding one placeholder per video input.
	users, placeholders := 0, 0
	for i, m := range s.Prompt {
		switch m.Role {
		case "system", "user", "assistant":
		default:
			rp.add(fmt.Sprintf("prompt[%d].role", i), "%q (want system, user or assistant)", m.Role)
		}
		if m.Role == "user" {
			users++
			placeholders += strings.Count(m.Content, tasks.VideoPlaceholder)
		}
	}
	vids := s.Frames.Videos()
	if len(s.Frames.All()) == 0 {
		vids = nil
	}
	switch {
	case users == 0:
		rp.add("prompt", "no user message")
	case placeholders != len(vids):
		rp.add("prompt", "%d %s placeholders in the user message(s) for %d video inputs (%s)", placeholders, tasks.VideoPlaceholder, len(vids), fVideos)
	}
	if len(vids) == 0 {
		rp.add(fVideos, "no video input")
	}
	if !(s.FPS > 0) && len(vids) > 0 {
		rp.add(fFPS, "%g: want the sampling fps (> 0), which sets the time positions of the frames", s.FPS)
	}
	if s.MinPixels < 0 || s.MaxPixels < 0 || (s.MaxPixels > 0 && s.MinPixels > s.MaxPixels) {
		rp.add(pixelsField(verl), "min_pixels %d, max_pixels %d: want 0 <= min_pixels <= max_pixels", s.MinPixels, s.MaxPixels)
	}
	if strings.TrimPrefix(src, reward.StrictPrefix) == string(tasks.Jigsaw) && len(vids) > 0 {
		if n := len([]rune(strings.TrimSpace(s.Answer))); n != len(vids) {
			rp.add(fVideos, "%d clips for a jigsaw answer of %d digits", len(vids), n)
		}
	}
	for vi, v := range vids {
		if len(v) == 0 {
			rp.add(frameField(verl, vi, -1), "no frames")
		}
		for fi, p := range v {
			if p == "" {
				rp.add(frameField(verl, vi, fi), "empty path")
				continue
			}
			fp := filepath.FromSlash(p)
			if !filepath.IsAbs(fp) {
				fp = filepath.Join(dir, fp)
			}
			if abs, err := filepath.Abs(fp); err == nil {
				fp = abs
			}
			v[fi] = fp
			if c.opts.SkipFrameCheck {
				continue
			}
			err, seen := c.frames[fp]
			if !seen {
				err = statFrame(fp)
				c.frames[fp] = err
			}
			if err != nil {
				rp.add(frameField(verl, vi, fi), "%v", err)
			}
		}
	}
	if first, dup := c.ids[s.ID]; dup {
		rp.add("id", "sample id %q also at %s", s.ID, first)
	} else {
		c.ids[s.ID] = rp.file + ": " + rp.row
	}
}

// statFrame checks that a frame file exists and is a non-empty file.
func statFrame(p string) error {
	st, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("frame file %s does not exist", p)
	case err != nil:
		return fmt.Errorf("frame file: %w", err)
	case st.IsDir():
		return fmt.Errorf("frame file %s is a folder", p)
	case st.Size() == 0:
		return fmt.Errorf("frame file %s is empty", p)
	}
	return nil
}

func pixelsField(verl bool) string {
	if verl {
		return "videos[0].max_pixels"
	}
	return "max_pixels"
}

// frameField names frame fi of video input vi (fi < 0: the input).
func frameField(verl bool, vi, fi int) string {
	var s string
	if verl {
		s = fmt.Sprintf("videos[%d].video", vi)
	} else {
		s = fmt.Sprintf("frames[%d]", vi)
	}
	if fi >= 0 {
		s += fmt.Sprintf("[%d]", fi)
	}
	return s
}

// parquetFile checks the rows of a verl-layout Parquet file.
func (c *checker) parquetFile(ctx context.Context, path string, sum *FileSummary, rep *FilesReport) error {
	sum.Layout = "verl"
	f, err := OpenRegular(path, DefaultMaxDataBytes)
	if err != nil {
		return fmt.Errorf("training files: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("training files: %w", err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		c.add(Problem{File: path, Err: fmt.Errorf("not a Parquet file: %w", err)})
		return nil
	}
	if probs := checkVerlSchema(path, pf.Schema()); len(probs) > 0 {
		for _, p := range probs {
			c.add(p)
		}
		return nil
	}
	rows, err := ReadVerlRows(f, st.Size())
	if err != nil {
		c.add(Problem{File: path, Err: err})
		return nil
	}
	dir := filepath.Dir(path)
	for i := range rows {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		rp := &rowProblems{file: path, row: fmt.Sprintf("row %d", i)}
		s, err := FromVerl(&rows[i])
		if err != nil {
			rp.add("extra_info.meta", "%v", err)
			c.finishRow(rp, nil, sum, rep)
			continue
		}
		if s.ID == "" {
			s.ID = fmt.Sprintf("%s:%d", filepath.Base(path), i)
		}
		fillQuestion(&s)
		if s.Answer == "" && rows[i].RewardModel.GroundTruth == "" {
			rp.add("reward_model.ground_truth", "empty")
		}
		c.checkSample(&s, dir, rp, true)
		c.finishRow(rp, &s, sum, rep)
		if c.full() {
			break
		}
	}
	return nil
}

// checkVerlSchema checks that a Parquet file has the verl columns this
// trainer reads, with a frame list (not a single path) per video input.
func checkVerlSchema(path string, s *parquet.Schema) []Problem {
	var out []Problem
	bad := func(field, format string, a ...any) {
		out = append(out, Problem{File: path, Field: field, Err: fmt.Errorf(format, a...)})
	}
	top := map[string]parquet.Field{}
	for _, f := range s.Fields() {
		top[f.Name()] = f
	}
	var names []string
	for n := range top {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, col := range []string{"data_source", "prompt", "videos", "reward_model"} {
		if _, ok := top[col]; !ok {
			bad(col, "missing column (the file has: %s)", strings.Join(names, ", "))
		}
	}
	if len(out) > 0 {
		return out
	}
	if f := top["data_source"]; !f.Leaf() {
		bad("data_source", "want a string column")
	}
	if rm := top["reward_model"]; rm.Leaf() || child(rm, "ground_truth") == nil {
		bad("reward_model.ground_truth", "missing (reward_model must be a struct with ground_truth)")
	}
	if el := listElement(top["prompt"]); el == nil || child(el, "content") == nil || child(el, "role") == nil {
		bad("prompt", "want a list of {role, content} messages")
	} else if !child(el, "content").Leaf() {
		bad("prompt.content", "want a string with <video> placeholders (lists of content parts are not supported)")
	}
	el := listElement(top["videos"])
	if el == nil || child(el, "video") == nil {
		bad("videos", "want a list of {video, sample_fps, max_pixels, min_pixels}")
	} else if v := child(el, "video"); v.Leaf() {
		bad("videos.video", "a single path per video input (a video file?); this trainer reads each video input as a list of frame files (run `trainer gen` on video files)")
	} else if listElement(v) == nil {
		bad("videos.video", "want a list of frame file paths")
	}
	return out
}

// child returns the field of a group node with the given name (nil when
// absent or n is a leaf).
func child(n parquet.Node, name string) parquet.Node {
	if n == nil || n.Leaf() {
		return nil
	}
	for _, f := range n.Fields() {
		if f.Name() == name {
			return f
		}
	}
	return nil
}

// listElement returns the element node of a Parquet LIST column (the
// three-level list/element layout, whatever its inner names), or of a
// bare repeated field; nil when n is not a list.
func listElement(n parquet.Node) parquet.Node {
	if n == nil {
		return nil
	}
	if n.Repeated() {
		return n
	}
	if n.Leaf() || len(n.Fields()) != 1 {
		return nil
	}
	rep := n.Fields()[0]
	if !rep.Repeated() {
		return nil
	}
	if !rep.Leaf() && len(rep.Fields()) == 1 {
		return rep.Fields()[0]
	}
	return rep
}
