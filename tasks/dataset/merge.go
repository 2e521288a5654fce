package dataset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// importSample links (or copies) one sample's frames and record from a
// shard into out; the record goes last, so an interrupted merge resumes.
func importSample(src, out, id string) error {
	if _, err := os.Stat(recordPath(out, id)); err == nil {
		return nil
	}
	from := filepath.Join(src, FramesDir, id)
	to := filepath.Join(out, FramesDir, id)
	if err := os.RemoveAll(to); err != nil {
		return err
	}
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if os.Link(p, dst) == nil {
			return nil
		}
		return copyFile(p, dst)
	})
	if err != nil {
		return fmt.Errorf("sample %s: %w", id, err)
	}
	data, err := os.ReadFile(recordPath(src, id))
	if err != nil {
		return fmt.Errorf("sample %s: %w", id, err)
	}
	return writeFileAtomic(recordPath(out, id), data, false)
}
