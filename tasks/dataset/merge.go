package dataset

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/videossr/videossr-go/tasks"
)

// ShardInfo is what shard.json records: the shard the directory holds and
// the full input list it was cut from (its length and a sha256 over the
// input ids), so that `gen merge` can check that a set of shards is
// complete and was cut from one list.
type ShardInfo struct {
	Shard        string `json:"shard"`
	Inputs       int    `json:"inputs"`
	InputsSHA256 string `json:"inputs_sha256"`
}

func newShardInfo(s Shard, inputs []Input) ShardInfo {
	if s.Count < 1 {
		s = Shard{Index: 0, Count: 1}
	}
	h := sha256.New()
	for _, in := range inputs {
		h.Write([]byte(in.ID))
		h.Write([]byte{0})
	}
	return ShardInfo{Shard: s.String(), Inputs: len(inputs), InputsSHA256: hex.EncodeToString(h.Sum(nil))}
}

func writeShardInfo(dir string, si ShardInfo) error {
	b, err := json.MarshalIndent(si, "", "  ")
	if err != nil {
		return fmt.Errorf("encode shard info: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, ShardName), append(b, '\n'), true)
}

// ReadShardInfo loads dir/shard.json.
func ReadShardInfo(dir string) (ShardInfo, error) {
	p := filepath.Join(dir, ShardName)
	b, err := ReadRegular(p, maxMetaBytes)
	if err != nil {
		return ShardInfo{}, err
	}
	var si ShardInfo
	if err := json.Unmarshal(b, &si); err != nil {
		return ShardInfo{}, fmt.Errorf("%s: %w", p, err)
	}
	return si, nil
}

// checkShardSet checks that the shard directories, described by infos,
// are each shard i/n of one n exactly once, cut from one input list.
func checkShardSet(dirs []string, infos []ShardInfo) error {
	var errs []string
	first, err := ParseShard(infos[0].Shard)
	if err != nil {
		return fmt.Errorf("shard %s: %s: %w", dirs[0], ShardName, err)
	}
	n := first.Count
	holder := make([]string, n)
	for i, si := range infos {
		s, err := ParseShard(si.Shard)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %s: %v", dirs[i], ShardName, err))
			continue
		}
		if s.Count != n {
			errs = append(errs, fmt.Sprintf("%s is shard %s but %s is shard %s: the shards were cut %d and %d ways", dirs[i], si.Shard, dirs[0], infos[0].Shard, s.Count, n))
			continue
		}
		if si.Inputs != infos[0].Inputs || si.InputsSHA256 != infos[0].InputsSHA256 {
			errs = append(errs, fmt.Sprintf("%s was cut from another list of input videos (%d videos) than %s (%d videos)", dirs[i], si.Inputs, dirs[0], infos[0].Inputs))
		}
		if h := holder[s.Index]; h != "" {
			errs = append(errs, fmt.Sprintf("shard %s is given twice: %s and %s", si.Shard, h, dirs[i]))
			continue
		}
		holder[s.Index] = dirs[i]
	}
	var missing []string
	for i, h := range holder {
		if h == "" {
			missing = append(missing, Shard{Index: i, Count: n}.String())
		}
	}
	if len(missing) > 0 && len(errs) == 0 {
		errs = append(errs, fmt.Sprintf("missing shard(s) %s of %d", strings.Join(missing, ", "), n))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrShardSet, strings.Join(errs, "; "))
	}
	return nil
}

// ErrShardSet is wrapped by Merge's error when the shard directories are
// not one complete, consistent set.
var ErrShardSet = errors.New("the shards are not one complete set")

// Merge combines finished shard directories (made with the same settings
// and different --shard values) into out: records and frames are linked
// (or copied) over, skip and failure lists are joined, and the data files
// and manifest are written as one unsharded run would have written them.
// The shards must be one complete set: every i/n of one n exactly once, all
// made with the same settings (run.json) from the same input list
// (shard.json); otherwise nothing is written and the error (wrapping
// ErrShardSet) names what is missing or mismatched. Merge holds the lock
// of out while it works.
func Merge(ctx context.Context, out string, shards []string, formats []string) (*Manifest, error) {
	if len(shards) == 0 {
		return nil, errors.New("merge: no shard directories")
	}
	if formats == nil {
		formats = []string{"jsonl", "parquet"}
	}
	var settings []byte
	var head Manifest
	infos := make([]ShardInfo, len(shards))
	for i, dir := range shards {
		s, err := ReadRegular(filepath.Join(dir, RunName), maxMetaBytes)
		if err != nil {
			return nil, fmt.Errorf("merge: shard %s: %w", dir, err)
		}
		if i == 0 {
			settings = s
		} else if !bytes.Equal(s, settings) {
			return nil, fmt.Errorf("merge: %w: shard %s was made with other settings (%s) than %s", ErrShardSet, dir, RunName, shards[0])
		}
		if infos[i], err = ReadShardInfo(dir); err != nil {
			return nil, fmt.Errorf("merge: shard %s has no readable %s (made by an older version? make it again): %w", dir, ShardName, err)
		}
		m, err := ReadManifest(dir)
		if err != nil {
			return nil, fmt.Errorf("merge: shard %s is not finished: %w", dir, err)
		}
		head.Kind, head.Split, head.Seed = m.Kind, m.Split, m.Seed
		head.Skipped = append(head.Skipped, m.Skipped...)
		head.Failed = append(head.Failed, m.Failed...)
		head.Damaged = append(head.Damaged, m.Damaged...)
	}
	if err := checkShardSet(shards, infos); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	lock, err := LockDir(out)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	defer lock.Unlock()
	if err := checkRun(out, settings); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	whole := infos[0]
	whole.Shard = Shard{Index: 0, Count: 1}.String()
	if err := writeShardInfo(out, whole); err != nil {
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
		from := filepath.Join(src, rel)
		if st, err := os.Lstat(from); err != nil {
			return fmt.Errorf("sample %s: %w", id, err)
		} else if err := checkRegular(from, st, DefaultMaxFrameBytes); err != nil {
			return fmt.Errorf("sample %s: frame %w", id, err)
		}
		if err := linkOrCopy(from, dst); err != nil {
			return fmt.Errorf("sample %s: %w", id, err)
		}
	}
	data, err := ReadRegular(recordPath(src, id), maxMetaBytes)
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
