package dataset

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/videossr/videossr-go/tasks"
)

// Merge combines finished shard directories (made with the same settings
// and different --shard values) into out: records and frames are linked
// (or copied) over, skip and failure lists are joined, and the data files
// and manifest are written as one unsharded run would have written them.
func Merge(ctx context.Context, out string, shards []string, formats []string) (*Manifest, error) {
	if len(shards) == 0 {
		return nil, errors.New("merge: no shard directories")
	}
	if formats == nil {
		formats = []string{"jsonl", "parquet"}
	}
	var settings []byte
	var head Manifest
	for i, dir := range shards {
		s, err := os.ReadFile(filepath.Join(dir, RunName))
		if err != nil {
			return nil, fmt.Errorf("merge: shard %s: %w", dir, err)
		}
		if i == 0 {
			settings = s
		} else if !bytes.Equal(s, settings) {
			return nil, fmt.Errorf("merge: shard %s was made with other settings than %s", dir, shards[0])
		}
		m, err := ReadManifest(dir)
		if err != nil {
			return nil, fmt.Errorf("merge: shard %s is not finished: %w", dir, err)
		}
		head.Kind, head.Split, head.Seed = m.Kind, m.Split, m.Seed
		head.Skipped = append(head.Skipped, m.Skipped...)
		head.Failed = append(head.Failed, m.Failed...)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	if err := checkRun(out, settings); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	for _, dir := range shards {
		m, err := ReadManifest(dir)
		if err != nil {
			return nil, err
		}
		for _, e := range m.Samples {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("merge interrupted: %w", err)
			}
			if err := importSample(dir, out, e.ID); err != nil {
				return nil, fmt.Errorf("merge: shard %s: %w", dir, err)
			}
		}
	}
	return finalize(out, head, nil, formats)
}

// importSample links (or copies) one sample's frame files (its own and the
// shared source frames it uses) and its record from a shard into out; the
// record goes last, so an interrupted merge resumes.
func importSample(src, out, id string) error {
	if _, err := os.Stat(recordPath(out, id)); err == nil {
		return nil
	}
	rec, err := readRecord(recordPath(src, id))
	if err != nil {
		return fmt.Errorf("sample %s: %w", id, err)
	}
	var s tasks.Sample
	if err := json.Unmarshal(rec.row, &s); err != nil {
		return fmt.Errorf("sample %s: %w", id, err)
	}
	for _, p := range s.Frames.All() {
		rel := filepath.FromSlash(p)
		if filepath.IsAbs(rel) || !filepath.IsLocal(rel) {
			return fmt.Errorf("sample %s: frame path %q is not inside the dataset", id, p)
		}
		dst := filepath.Join(out, rel)
		if _, err := os.Stat(dst); err == nil {
			continue // a shared source frame already imported
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("sample %s: %w", id, err)
		}
		if err := linkOrCopy(filepath.Join(src, rel), dst); err != nil {
			return fmt.Errorf("sample %s: %w", id, err)
		}
	}
	data, err := os.ReadFile(recordPath(src, id))
	if err != nil {
		return fmt.Errorf("sample %s: %w", id, err)
	}
	return writeFileAtomic(recordPath(out, id), data, false)
}

// linkOrCopy hard-links src to dst, or copies it (to a temporary name
// renamed into place) when linking is not possible.
func linkOrCopy(src, dst string) error {
	if os.Link(src, dst) == nil {
		return nil
	}
	tmp := dst + ".tmp-merge"
	if err := copyFile(src, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}
