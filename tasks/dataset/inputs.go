package dataset

import (
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Input is one source video.
type Input struct {
	// Path is the file path as found (argument or directory walk).
	Path string
	// ID is the stable name used in sample ids and for sharding: the path
	// relative to the directory argument, or the base name of a file
	// argument (made unique with a "~k" suffix).
	ID string
}

// videoExts are the file extensions picked up when walking a directory.
func videoExts() []string {
	return []string{".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ts"}
}

// IsVideoName reports whether a file name has a video extension.
func IsVideoName(name string) bool {
	return slices.Contains(videoExts(), strings.ToLower(filepath.Ext(name)))
}

// ListInputs expands the arguments into inputs sorted by ID. A directory
// contributes every file with a video extension below it; a file argument
// is taken as is, whatever its name, and so is an argument that does not
// exist (it is reported as skipped when loaded). The same file named twice
// is listed once.
func ListInputs(args []string) ([]Input, error) {
	var out []Input
	seenPath := map[string]bool{}
	seenID := map[string]int{}
	add := func(p, id string) {
		abs, err := filepath.Abs(p)
		if err != nil {
			abs = p
		}
		if seenPath[abs] {
			return
		}
		seenPath[abs] = true
		id = filepath.ToSlash(id)
		if n := seenID[id]; n > 0 {
			seenID[id] = n + 1
			id = fmt.Sprintf("%s~%d", id, n+1)
		} else {
			seenID[id] = 1
		}
		out = append(out, Input{Path: p, ID: id})
	}
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil || !st.IsDir() {
			add(a, filepath.Base(a))
			continue
		}
		var files []string
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && IsVideoName(d.Name()) {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list videos in %s: %w", a, err)
		}
		slices.Sort(files)
		for _, p := range files {
			rel, err := filepath.Rel(a, p)
			if err != nil {
				rel = filepath.Base(p)
			}
			add(p, rel)
		}
	}
	slices.SortStableFunc(out, func(x, y Input) int { return strings.Compare(x.ID, y.ID) })
	return out, nil
}

// Shard selects part i of n (0 <= i < n) of a list of inputs.
type Shard struct {
	Index, Count int
}

// ParseShard parses "i/n" (0-based index); "" means the whole list.
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{Index: 0, Count: 1}, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("shard %q: want i/n with 0 <= i < n, e.g. 0/4", s)
	}
	return Shard{Index: i, Count: n}, nil
}

// Has reports whether the input with the given id belongs to the shard:
// a hash of the id modulo the shard count, so the split depends only on
// the ids, not on their order or on the machine.
func (s Shard) Has(id string) bool {
	if s.Count <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()%uint64(s.Count) == uint64(s.Index)
}

// String formats the shard as "i/n".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }
