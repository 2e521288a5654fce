package dataset

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/videossr/videossr-go/tasks"
)

// maxReported bounds the damaged files Verify lists one by one.
const maxReported = 20

// ErrDamaged is wrapped by Verify's error when files do not match their
// checksums.
var ErrDamaged = errors.New("dataset is damaged")

// Verify checks a finished dataset directory against its manifest: the
// sha256 of each data file, and of every sample (its JSONL row followed by
// its frame files). Frame paths are resolved with ResolvePath and read
// with the bounds of opt. A damaged sample is traced to the file that
// changed with the per-file checksums of its record (samples/): the error
// names every damaged file (the first few when there are many) and wraps
// ErrDamaged. Running the same `gen` again repairs damaged frame files.
func Verify(dir string, opt ReadOptions) error {
	m, err := ReadManifest(dir)
	if err != nil {
		return err
	}
	var problems []string
	names := make([]string, 0, len(m.Files))
	for name := range m.Files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p := filepath.Join(dir, name)
		b, err := ReadRegular(p, DefaultMaxDataBytes)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if got := sha256Hex(b); got != m.Files[name] {
			problems = append(problems, fmt.Sprintf("%s is damaged (sha256 %s, manifest says %s)", p, got, m.Files[name]))
		}
	}
	f, err := OpenRegular(filepath.Join(dir, JSONLName), DefaultMaxDataBytes)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer f.Close()
	want := make(map[string]string, len(m.Samples))
	for _, e := range m.Samples {
		want[e.ID] = e.SHA256
	}
	seen := 0
	// Damaged frame files, each listed once with the samples using it.
	var order []string
	users := map[string][]string{}
	what := map[string]string{}
	err = ScanJSONL(f, func(raw []byte, s *tasks.Sample) error {
		seen++
		w, ok := want[s.ID]
		if !ok {
			problems = append(problems, fmt.Sprintf("sample %s in %s is not in the manifest", s.ID, JSONLName))
			return nil
		}
		frames, bad := readSampleFiles(dir, s, opt)
		if len(bad) > 0 {
			problems = append(problems, bad...)
			return nil
		}
		if SampleChecksum(raw, frames) == w {
			return nil
		}
		for _, d := range traceDamage(dir, s, raw, frames, w) {
			if d.file == "" {
				problems = append(problems, d.msg)
				continue
			}
			if users[d.file] == nil {
				order = append(order, d.file)
				what[d.file] = d.msg
			}
			users[d.file] = append(users[d.file], s.ID)
		}
		return nil
	})
	for _, file := range order {
		ids := users[file]
		list := strings.Join(ids[:min(len(ids), 3)], ", ")
		if len(ids) > 3 {
			list += ", ..."
		}
		problems = append(problems, fmt.Sprintf("%s; used by %d sample(s): %s", what[file], len(ids), list))
	}
	if err != nil {
		return fmt.Errorf("verify %s: %w", dir, err)
	}
	if seen != len(m.Samples) {
		problems = append(problems, fmt.Sprintf("%s has %d rows, the manifest lists %d samples", JSONLName, seen, len(m.Samples)))
	}
	if len(problems) == 0 {
		return nil
	}
	problems = slices.Compact(problems)
	n := len(problems)
	if n > maxReported {
		problems = append(problems[:maxReported], fmt.Sprintf("... and %d more", n-maxReported))
	}
	return fmt.Errorf("verify %s: %w (%d problems; run the same gen command again to repair frame files):\n  %s",
		dir, ErrDamaged, n, strings.Join(problems, "\n  "))
}

// readSampleFiles reads a sample's frame files in FrameList.All order; it
// returns one line per file that cannot be read.
func readSampleFiles(dir string, s *tasks.Sample, opt ReadOptions) ([][]byte, []string) {
	var frames [][]byte
	var bad []string
	for _, p := range s.Frames.All() {
		fp, err := ResolvePath(dir, p, opt.AllowOutside)
		if err == nil {
			var b []byte
			if b, err = ReadRegular(fp, opt.maxFrameBytes()); err == nil {
				frames = append(frames, b)
				continue
			}
		}
		bad = append(bad, fmt.Sprintf("sample %s: frame %v", s.ID, err))
	}
	return frames, bad
}

// damage is one finding of traceDamage: a damaged frame file (file set)
// or another part of a sample.
type damage struct {
	file, msg string
}

// traceDamage names what changed in a sample whose checksum does not match
// the manifest's: a frame file, its row, or the manifest entry, using the
// per-file checksums of the sample's record.
func traceDamage(dir string, s *tasks.Sample, raw []byte, frames [][]byte, want string) []damage {
	rec, err := readRecord(recordPath(dir, s.ID))
	if err != nil || len(rec.files) != len(frames) {
		return []damage{{msg: fmt.Sprintf("sample %s: its %s row or one of its %d frame files is damaged (its record has no per-file checksums to tell which)", s.ID, JSONLName, len(frames))}}
	}
	var out []damage
	all := s.Frames.All()
	for i, b := range frames {
		if got := sha256Hex(b); got != rec.files[i] {
			file := filepath.Join(dir, filepath.FromSlash(all[i]))
			out = append(out, damage{file: file, msg: fmt.Sprintf("frame file %s is damaged (sha256 %s, recorded %s)", file, got, rec.files[i])})
		}
	}
	if len(out) > 0 {
		return out
	}
	if string(rec.row) != string(raw) {
		return []damage{{msg: fmt.Sprintf("the %s row of sample %s is damaged (it differs from its record)", JSONLName, s.ID)}}
	}
	return []damage{{msg: fmt.Sprintf("the manifest entry of sample %s is damaged (manifest %s, the sample's files give %s)", s.ID, want, SampleChecksum(raw, frames))}}
}

// intact reports whether a committed sample's frame files under out still
// hold the bytes its record was written with. known caches the verdict per
// frame path (shared source frames are checked once). It returns the
// damaged or missing files (as paths relative to out); for a record
// without per-file checksums, all its files when the sample checksum
// fails.
func intact(out string, rec record, known map[string]bool) (bool, []string) {
	var s tasks.Sample
	if err := json.Unmarshal(rec.row, &s); err != nil {
		return false, nil
	}
	all := s.Frames.All()
	if len(rec.files) != len(all) {
		var blobs [][]byte
		for _, p := range all {
			fp, err := ResolvePath(out, p, false)
			if err != nil {
				return false, nil
			}
			b, err := ReadRegular(fp, DefaultMaxFrameBytes)
			if err != nil {
				return false, all
			}
			blobs = append(blobs, b)
		}
		if SampleChecksum(rec.row, blobs) != rec.sum {
			return false, all
		}
		return true, nil
	}
	var bad []string
	for i, p := range all {
		key := p + "\x00" + rec.files[i]
		ok, seen := known[key]
		if !seen {
			fp, err := ResolvePath(out, p, false)
			if err == nil {
				var b []byte
				if b, err = ReadRegular(fp, DefaultMaxFrameBytes); err == nil {
					ok = sha256Hex(b) == rec.files[i]
				}
			}
			known[key] = ok
		}
		if !ok {
			bad = append(bad, p)
		}
	}
	return len(bad) == 0, bad
}
