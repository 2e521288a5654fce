package grpo

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/videossr/videossr-go/model/safetensors"
)

// ManifestFile is the checksum list of a checkpoint or final/ folder: the
// size and SHA-256 of every other file in it, written last, so a folder with
// a manifest is complete, and verified whenever the folder is loaded.
const ManifestFile = "manifest.json"

// manifestVersion is the layout version of manifest.json.
const manifestVersion = 1

type manifest struct {
	Version int `json:"version"`
	// Files maps each file's slash-separated path inside the folder to its
	// size and checksum.
	Files map[string]fileSum `json:"files"`
}

type fileSum struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// hashFile returns the size and hex SHA-256 of a file; with sync it also
// flushes the file to disk.
func hashFile(path string, sync bool) (fileSum, error) {
	f, err := os.Open(path)
	if err != nil {
		return fileSum{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fileSum{}, fmt.Errorf("%s: %w", path, err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			return fileSum{}, fmt.Errorf("%s: %w", path, err)
		}
	}
	return fileSum{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// WriteManifest records the size and SHA-256 of every file under dir in
// dir/manifest.json (see ManifestFile), after flushing each to disk.
func WriteManifest(dir string) error {
	m := manifest{Version: manifestVersion, Files: map[string]fileSum{}}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if rel == ManifestFile {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", path)
		}
		sum, err := hashFile(path, true)
		if err != nil {
			return err
		}
		m.Files[filepath.ToSlash(rel)] = sum
		return nil
	})
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, ManifestFile), b)
}

// verifyManifest checks every file dir/manifest.json lists against its
// recorded size and checksum. ok is false when dir has no manifest.
func verifyManifest(dir string) (ok bool, err error) {
	mp := filepath.Join(dir, ManifestFile)
	b, err := os.ReadFile(mp)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var m manifest
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return true, fmt.Errorf("%s: %w", mp, err)
	}
	if m.Version != manifestVersion || len(m.Files) == 0 {
		return true, fmt.Errorf("%s: version %d with %d files: not a manifest this build reads (version %d)", mp, m.Version, len(m.Files), manifestVersion)
	}
	names := make([]string, 0, len(m.Files))
	for name := range m.Files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		want := m.Files[name]
		if !filepath.IsLocal(filepath.FromSlash(name)) || name == ManifestFile {
			return true, fmt.Errorf("%s: file %q is not a file of the folder", mp, name)
		}
		path := filepath.Join(dir, filepath.FromSlash(name))
		got, err := hashFile(path, false)
		if errors.Is(err, fs.ErrNotExist) {
			return true, fmt.Errorf("%s: missing (listed in %s)", path, mp)
		}
		if err != nil {
			return true, err
		}
		if got != want {
			return true, fmt.Errorf("%s: damaged: %d bytes with sha256 %s, but %s records %d bytes with sha256 %s", path, got.Size, got.SHA256, ManifestFile, want.Size, want.SHA256)
		}
	}
	return true, nil
}

// checkFinite checks every tensor of the safetensors files under dir for
// NaN and infinite values.
func checkFinite(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(d.Name(), ".safetensors") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		h, err := safetensors.ReadHeader(f, st.Size())
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		name, i, bad, err := safetensors.FirstNonFinite(f, h)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if bad {
			return fmt.Errorf("%s: tensor %q holds a non-finite value (NaN or infinity) at element %d: %w", path, name, i, ErrNonFinite)
		}
		return nil
	})
}

// ErrNonFinite reports weights (or optimizer moments) holding NaN or
// infinite values.
var ErrNonFinite = errors.New("weights are not finite")

// VerifyCheckpoint checks a model folder before it is used (a checkpoint, a
// run's final/, an export or a Hugging Face folder): every file its
// manifest.json lists must have the recorded size and SHA-256, and every
// tensor of its safetensors files must be finite. A folder without a
// manifest (not written by the trainer) gets the second check only; hasManifest
// says which. Errors name the file, and the tensor.
func VerifyCheckpoint(dir string) (hasManifest bool, err error) {
	st, err := os.Stat(dir)
	if err != nil {
		return false, err
	}
	if !st.IsDir() {
		return false, fmt.Errorf("%s: not a folder", dir)
	}
	if hasManifest, err = verifyManifest(dir); err != nil {
		return hasManifest, err
	}
	return hasManifest, checkFinite(dir)
}
