package ort

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// EnvLibraryPath is the environment variable Open("") reads first for the
// path of the ONNX Runtime shared library.
const EnvLibraryPath = "ONNXRUNTIME_SHARED_LIBRARY_PATH"

// DefaultLibraryRel is where scripts/setup.sh installs the library, relative
// to the directory holding go.mod.
const DefaultLibraryRel = "third_party/onnxruntime/libonnxruntime.so.1"

// Sentinel errors callers may branch on with errors.Is.
var (
	// ErrNoLibrary: the ONNX Runtime shared library was not found.
	ErrNoLibrary = errors.New("onnxruntime shared library not found")
	// ErrNoCgo: the binary was built with CGO_ENABLED=0, so ONNX Runtime
	// cannot be loaded.
	ErrNoCgo = errors.New("built without cgo: onnxruntime is unavailable")
	// ErrProviderUnavailable: the requested execution provider (e.g. CUDA)
	// could not be enabled with this library build or machine.
	ErrProviderUnavailable = errors.New("execution provider unavailable")
	// ErrClosed: the Runtime, Session or Binding was already closed.
	ErrClosed = errors.New("ort: use of closed object")
)

// LibraryPath resolves the shared library path the way Open does: libPath
// when non-empty, else $ONNXRUNTIME_SHARED_LIBRARY_PATH, else
// DefaultLibraryRel under the first directory holding go.mod found by
// walking up from the working directory. The file must exist; otherwise the
// error wraps ErrNoLibrary and names every path tried.
func LibraryPath(libPath string) (string, error) {
	var tried []string
	check := func(p string) (string, bool) {
		abs, err := filepath.Abs(p)
		if err != nil {
			abs = p
		}
		tried = append(tried, abs)
		st, err := os.Stat(abs)
		return abs, err == nil && !st.IsDir()
	}
	switch {
	case libPath != "":
		if p, ok := check(libPath); ok {
			return p, nil
		}
	case os.Getenv(EnvLibraryPath) != "":
		if p, ok := check(os.Getenv(EnvLibraryPath)); ok {
			return p, nil
		}
	default:
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("%w: cannot get working directory: %v; run `bash scripts/setup.sh` or set %s", ErrNoLibrary, err, EnvLibraryPath)
		}
		root := ModuleRoot(wd)
		if root == "" {
			return "", fmt.Errorf("%w: no go.mod found walking up from %s, so %s cannot be located; run `bash scripts/setup.sh` in the repository or set %s to the library path",
				ErrNoLibrary, wd, DefaultLibraryRel, EnvLibraryPath)
		}
		if p, ok := check(filepath.Join(root, DefaultLibraryRel)); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: tried %s; run `bash scripts/setup.sh` to install it or set %s to its path",
		ErrNoLibrary, strings.Join(tried, ", "), EnvLibraryPath)
}

// ModuleRoot returns the first directory at or above dir that holds a
// go.mod file (the repository, where scripts/setup.sh puts third_party/),
// or "".
func ModuleRoot(dir string) string {
	for {
		if st, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !st.IsDir() {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
