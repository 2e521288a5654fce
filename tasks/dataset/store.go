package dataset

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/frame"
)

// Names of the files and folders of a dataset directory.
const (
	// JSONLName is the dataset as JSON lines of tasks.Sample.
	JSONLName = "data.jsonl"
	// ParquetName is the dataset in the verl Parquet layout.
	ParquetName = "data.parquet"
	// ManifestName holds counts, skipped inputs and per-sample checksums.
	ManifestName = "manifest.json"
	// RunName records the settings the directory was made with.
	RunName = "run.json"
	// ShardName records which shard of which input list the directory
	// holds (see ShardInfo); `gen merge` checks it.
	ShardName = "shard.json"
	// FramesDir holds the frames a sample changed, one folder per sample:
	// frames/<id>/NN.jpg (NN = position in the video input), or
	// frames/<id>/clipK/NN.jpg for jigsaw (K = presented position).
	FramesDir = "frames"
	// SourcesDir holds the sampled frames of each source video once,
	// shared by all its samples: sources/<key>/NN.jpg (NN = sampled frame
	// index). A sample's frame list points there for every frame it did
	// not change (all of them for jigsaw).
	SourcesDir = "sources"
	// RecordsDir holds one committed record per finished sample; it is what
	// makes an interrupted run resumable.
	RecordsDir = "samples"
)

// FramePaths returns the relative (slash-separated) frame paths a sample
// with the given id and video inputs will have.
func FramePaths(id string, clips bool, lens []int) tasks.FrameList {
	name := func(dir string, i int) string { return path.Join(FramesDir, id, dir, fmt.Sprintf("%02d.jpg", i)) }
	if !clips {
		flat := make([]string, lens[0])
		for i := range flat {
			flat[i] = name("", i)
		}
		return tasks.FrameList{Flat: flat}
	}
	out := tasks.FrameList{Clips: make([][]string, len(lens))}
	for c, n := range lens {
		out.Clips[c] = make([]string, n)
		for i := range n {
			out.Clips[c][i] = name(fmt.Sprintf("clip%d", c+1), i)
		}
	}
	return out
}

// sourceKey names the shared frame folder of an input.
func sourceKey(inputID string) string {
	sum := sha256.Sum256([]byte("videossr/sources/v1\x00" + inputID))
	return hex.EncodeToString(sum[:12])
}

// sourceFrames is the shared, encoded copy of an input's sampled frames.
type sourceFrames struct {
	paths []string
	blobs [][]byte
	sums  []string // sha256 of each blob
	index map[*frame.Frame]int
}

// writeSources stores an input's sampled frames, encoded with enc, as
// root/sources/<key>/NN.jpg (atomically: a temporary folder renamed into
// place). A complete folder left by an earlier run of the same settings is
// reused as it is.
func writeSources(enc Encoder, root, key string, frames []*frame.Frame, quality int) (*sourceFrames, error) {
	sf := &sourceFrames{paths: make([]string, len(frames)), blobs: make([][]byte, len(frames)), sums: make([]string, len(frames)), index: make(map[*frame.Frame]int, len(frames))}
	for i, f := range frames {
		sf.paths[i] = path.Join(SourcesDir, key, fmt.Sprintf("%02d.jpg", i))
		sf.index[f] = i
	}
	final := filepath.Join(root, SourcesDir, key)
	if _, err := os.Stat(final); err == nil {
		ok := true
		for i, p := range sf.paths {
			b, err := ReadRegular(filepath.Join(root, filepath.FromSlash(p)), DefaultMaxFrameBytes)
			if err != nil {
				ok = false
				break
			}
			sf.blobs[i] = b
		}
		if ok {
			for i, b := range sf.blobs {
				sf.sums[i] = sha256Hex(b)
			}
			return sf, nil
		}
		if err := os.RemoveAll(final); err != nil {
			return nil, fmt.Errorf("source frames %s: %w", key, err)
		}
	}
	for i, f := range frames {
		b, err := enc.EncodeJPEG(f, quality)
		if err != nil {
			return nil, fmt.Errorf("source frames %s: %w", key, err)
		}
		sf.blobs[i] = b
		sf.sums[i] = sha256Hex(b)
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return nil, fmt.Errorf("source frames %s: %w", key, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(final), "."+key+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("source frames %s: %w", key, err)
	}
	defer os.RemoveAll(tmp)
	for i, p := range sf.paths {
		if err := os.WriteFile(filepath.Join(tmp, path.Base(p)), sf.blobs[i], 0o644); err != nil {
			return nil, fmt.Errorf("source frames %s: %w", key, err)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("source frames %s: %w", key, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, fmt.Errorf("source frames %s: %w", key, err)
	}
	return sf, nil
}

// writeFrames stores a generated sample's frames: a frame that is one of
// the input's sampled frames (the generators share unchanged frames) points
// to its shared copy in src; the others are encoded as JPEG with enc into
// root/frames/<id>. It returns the frame list and the frame files' bytes
// in FrameList.All order, and their sha256 sums. The sample's folder is
// written in place: the record (writeRecord), written after it, is what
// commits the sample.
func writeFrames(enc Encoder, root, id string, g *tasks.Generated, quality int, src *sourceFrames) (tasks.FrameList, [][]byte, []string, error) {
	vids := g.Videos()
	lens := make([]int, len(vids))
	for i, v := range vids {
		lens[i] = len(v)
	}
	list := FramePaths(id, g.Clips != nil, lens)
	lists := list.Videos()
	var blobs [][]byte
	var sums []string
	type own struct {
		path string
		data []byte
	}
	var owned []own
	for vi, v := range vids {
		for fi, f := range v {
			if src != nil {
				if k, ok := src.index[f]; ok {
					lists[vi][fi] = src.paths[k]
					blobs = append(blobs, src.blobs[k])
					sums = append(sums, src.sums[k])
					continue
				}
			}
			b, err := enc.EncodeJPEG(f, quality)
			if err != nil {
				return list, nil, nil, fmt.Errorf("sample %s: %w", id, err)
			}
			blobs = append(blobs, b)
			sums = append(sums, sha256Hex(b))
			owned = append(owned, own{lists[vi][fi], b})
		}
	}
	// The record written after the frames is what commits a sample; a
	// folder left by an interrupted attempt has no record and is replaced.
	final := filepath.Join(root, FramesDir, id)
	if err := os.RemoveAll(final); err != nil {
		return list, nil, nil, fmt.Errorf("sample %s: %w", id, err)
	}
	prefix := path.Join(FramesDir, id) + "/"
	made := ""
	for _, o := range owned {
		dst := filepath.Join(final, filepath.FromSlash(strings.TrimPrefix(o.path, prefix)))
		if d := filepath.Dir(dst); d != made {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return list, nil, nil, fmt.Errorf("sample %s: %w", id, err)
			}
			made = d
		}
		if err := os.WriteFile(dst, o.data, 0o644); err != nil {
			return list, nil, nil, fmt.Errorf("sample %s: %w", id, err)
		}
	}
	return list, blobs, sums, nil
}

// SampleChecksum is the sha256 (hex) of a sample's JSONL row followed by
// the bytes of its frame files in order.
func SampleChecksum(row []byte, frames [][]byte) string {
	h := sha256.New()
	h.Write(row)
	for _, f := range frames {
		h.Write(f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// record is a finished sample: its checksum, its JSONL row and the sha256
// of each of its frame files in FrameList.All order (files is nil in the
// records of older versions, which had no third line).
type record struct {
	sum   string
	row   []byte
	files []string
}

func recordPath(root, id string) string {
	return filepath.Join(root, RecordsDir, id[:2], id+".rec")
}

// writeRecord commits a finished sample (atomic rename).
func writeRecord(root, id string, rec record) error {
	var b bytes.Buffer
	b.WriteString(rec.sum)
	b.WriteByte('\n')
	b.Write(rec.row)
	b.WriteByte('\n')
	b.WriteString(strings.Join(rec.files, " "))
	b.WriteByte('\n')
	p := recordPath(root, id)
	// One job per id at a time, so a fixed temporary name is safe (and
	// saves the chmod a random one would need).
	tmp := filepath.Join(filepath.Dir(p), "."+id+".tmp")
	err := os.WriteFile(tmp, b.Bytes(), 0o644)
	if errors.Is(err, os.ErrNotExist) {
		if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
			err = os.WriteFile(tmp, b.Bytes(), 0o644)
		}
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("commit sample %s: %w", id, err)
	}
	return nil
}

// errNoRecord reports that a sample has not been finished yet.
var errNoRecord = errors.New("no record")

// readRecord loads a committed sample record.
func readRecord(p string) (record, error) {
	data, err := ReadRegular(p, maxMetaBytes)
	if errors.Is(err, os.ErrNotExist) {
		return record{}, errNoRecord
	}
	if err != nil {
		return record{}, err
	}
	sum, rest, ok := bytes.Cut(data, []byte{'\n'})
	row, files, _ := bytes.Cut(rest, []byte{'\n'})
	files = bytes.TrimRight(files, "\n")
	if !ok || len(sum) != 64 || len(row) == 0 {
		return record{}, fmt.Errorf("record %s is damaged", p)
	}
	rec := record{sum: string(sum), row: row}
	if len(files) > 0 {
		rec.files = strings.Fields(string(files))
	}
	return rec, nil
}

// writeFileAtomic writes data to a temporary file in the same folder,
// optionally syncs it, and renames it over path: readers see the old file
// or the new one, never a part.
func writeFileAtomic(p string, data []byte, sync bool) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	if werr == nil && sync {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", p, werr)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}
