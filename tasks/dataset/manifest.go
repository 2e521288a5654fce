package dataset

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/videossr/videossr-go/tasks"
)

// Skip is an input video that gave no samples, with the reason.
type Skip struct {
	Video   string `json:"video"`
	VideoID string `json:"video_id"`
	Reason  string `json:"reason"`
}

// Failure is a sample whose generation failed although its video loaded.
type Failure struct {
	ID      string `json:"id"`
	VideoID string `json:"video_id"`
	Spec    string `json:"spec"`
	Reason  string `json:"reason"`
}

// ManifestEntry is the checksum of one sample: sha256 over its JSONL row
// followed by its frame files' bytes, in order.
type ManifestEntry struct {
	ID     string `json:"id"`
	SHA256 string `json:"sha256"`
}

// Manifest describes a finished dataset directory.
type Manifest struct {
	Version int    `json:"version"`
	Kind    string `json:"kind"`
	Split   string `json:"split"`
	Seed    uint64 `json:"seed"`
	// Total is the number of samples; Counts per data source and Subtypes
	// per subtype.
	Total    int            `json:"total"`
	Counts   map[string]int `json:"counts"`
	Subtypes map[string]int `json:"subtypes"`
	// Videos is the number of distinct source videos with samples.
	Videos int `json:"videos"`
	// Skipped lists inputs that gave nothing; Failed lists samples that
	// could not be made.
	Skipped []Skip    `json:"skipped"`
	Failed  []Failure `json:"failed"`
	// Damaged lists the inputs whose decoder reported errors: skipped
	// (and in Skipped too) or kept under --keep-damaged.
	Damaged []Skip `json:"damaged,omitempty"`
	// Files maps each data file to its sha256.
	Files map[string]string `json:"files"`
	// Samples holds one checksum per sample, in file order.
	Samples []ManifestEntry `json:"samples"`
}

// ReadManifest loads dir/manifest.json.
func ReadManifest(dir string) (*Manifest, error) {
	data, err := ReadRegular(filepath.Join(dir, ManifestName), maxMetaBytes)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", filepath.Join(dir, ManifestName), err)
	}
	return &m, nil
}

// sortSamples orders samples for the data files: by data source, subtype,
// video id, index, id.
func sortSamples(s []tasks.Sample) {
	slices.SortFunc(s, func(a, b tasks.Sample) int {
		return cmp.Or(cmp.Compare(a.DataSource, b.DataSource), cmp.Compare(a.Subtype, b.Subtype),
			cmp.Compare(a.VideoID, b.VideoID), cmp.Compare(a.Index, b.Index), cmp.Compare(a.ID, b.ID))
	})
}

func sortSkips(s []Skip) []Skip {
	s = slices.Clone(s)
	slices.SortFunc(s, func(a, b Skip) int { return cmp.Or(cmp.Compare(a.VideoID, b.VideoID), cmp.Compare(a.Video, b.Video)) })
	s = slices.CompactFunc(s, func(a, b Skip) bool { return a == b })
	if s == nil {
		s = []Skip{}
	}
	return s
}

func sortFailures(f []Failure) []Failure {
	f = slices.Clone(f)
	slices.SortFunc(f, func(a, b Failure) int { return cmp.Compare(a.ID, b.ID) })
	f = slices.CompactFunc(f, func(a, b Failure) bool { return a == b })
	if f == nil {
		f = []Failure{}
	}
	return f
}

// finalize writes the data files and the manifest from the committed
// records with the given ids (all records when ids is nil).
func finalize(out string, head Manifest, ids []string, formats []string) (*Manifest, error) {
	if ids == nil {
		var err error
		if ids, err = listRecords(out); err != nil {
			return nil, err
		}
	}
	samples := make([]tasks.Sample, 0, len(ids))
	byID := make(map[string]record, len(ids))
	for _, id := range ids {
		rec, err := readRecord(recordPath(out, id))
		if errors.Is(err, errNoRecord) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var s tasks.Sample
		if err := json.Unmarshal(rec.row, &s); err != nil {
			return nil, fmt.Errorf("record %s: %w", id, err)
		}
		if _, dup := byID[s.ID]; dup {
			continue
		}
		byID[s.ID] = rec
		samples = append(samples, s)
	}
	sortSamples(samples)
	m := head
	m.Version = 1
	m.Total = len(samples)
	m.Counts, m.Subtypes, m.Files = map[string]int{}, map[string]int{}, map[string]string{}
	m.Skipped, m.Failed = sortSkips(head.Skipped), sortFailures(head.Failed)
	if len(head.Damaged) > 0 {
		m.Damaged = sortSkips(head.Damaged)
	}
	m.Samples = make([]ManifestEntry, 0, len(samples))
	videos := map[string]bool{}
	var jsonl bytes.Buffer
	for _, s := range samples {
		rec := byID[s.ID]
		m.Counts[string(s.DataSource)]++
		m.Subtypes[s.Subtype]++
		videos[s.VideoID] = true
		m.Samples = append(m.Samples, ManifestEntry{ID: s.ID, SHA256: rec.sum})
		jsonl.Write(rec.row)
		jsonl.WriteByte('\n')
	}
	m.Videos = len(videos)
	for _, f := range formats {
		switch f {
		case "jsonl":
			if err := writeFileAtomic(filepath.Join(out, JSONLName), jsonl.Bytes(), true); err != nil {
				return nil, err
			}
			m.Files[JSONLName] = sha256Hex(jsonl.Bytes())
		case "parquet":
			var buf bytes.Buffer
			if err := WriteParquet(&buf, samples); err != nil {
				return nil, err
			}
			if err := writeFileAtomic(filepath.Join(out, ParquetName), buf.Bytes(), true); err != nil {
				return nil, err
			}
			m.Files[ParquetName] = sha256Hex(buf.Bytes())
		default:
			return nil, fmt.Errorf("unknown format %q (want jsonl or parquet)", f)
		}
	}
	data, err := json.MarshalIndent(&m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(out, ManifestName), append(data, '\n'), true); err != nil {
		return nil, err
	}
	return &m, nil
}

// listRecords returns the ids of every committed record under out.
func listRecords(out string) ([]string, error) {
	var ids []string
	err := filepath.WalkDir(filepath.Join(out, RecordsDir), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() && filepath.Ext(p) == ".rec" && d.Name()[0] != '.' {
			ids = append(ids, d.Name()[:len(d.Name())-len(".rec")])
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	slices.Sort(ids)
	return ids, nil
}

func sha256Hex(b []byte) string { return SampleChecksum(b, nil) }

// copyFile copies src to dst (used when a hard link is not possible).
func copyFile(src, dst string) error {
	in, err := OpenRegular(src, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
