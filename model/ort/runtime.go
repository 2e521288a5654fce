//go:build cgo

package ort

import (
	"fmt"
	"sync"

	onnx "github.com/yalue/onnxruntime_go"
)

// env guards the process-wide ONNX Runtime state. onnxruntime_go keeps one
// OrtEnv and one dlopen handle in package variables (SetSharedLibraryPath +
// InitializeEnvironment may succeed only once until DestroyEnvironment), so
// this package-level variable is unavoidable: it reference-counts the open
// Runtimes so that any number of Open/Close pairs, nested or sequential,
// work in one process. It is the only mutable package-level state here.
var env struct {
	mu      sync.Mutex
	refs    int
	path    string
	version string
}

// Runtime is an open handle on the ONNX Runtime library. All Runtimes in a
// process share the same loaded library; the library is unloaded when the
// last one closes. A Runtime owns the Sessions made from it: closing it
// closes them.
type Runtime struct {
	// life is read-locked while a session is being created and
	// write-locked by Close, so the library is never unloaded under a
	// NewSession call.
	life   sync.RWMutex
	closed bool
	mu     sync.Mutex // guards sessions and mems

	path     string
	version  string
	sessions map[*Session]struct{}
	mems     map[*Mem]struct{}
}

// Open loads ONNX Runtime (or takes another reference to the already loaded
// library) and returns a Runtime. libPath "" resolves the library as
// LibraryPath does. A missing library gives an error wrapping ErrNoLibrary
// that names the paths tried, `bash scripts/setup.sh` and
// ONNXRUNTIME_SHARED_LIBRARY_PATH. Once a library is loaded, opening a
// different path fails until every Runtime is closed.
func Open(libPath string) (*Runtime, error) {
	path, err := LibraryPath(libPath)
	if err != nil {
		return nil, err
	}
	env.mu.Lock()
	defer env.mu.Unlock()
	if env.refs == 0 {
		if onnx.IsInitialized() {
			return nil, fmt.Errorf("ort: onnxruntime environment was initialized outside package ort")
		}
		onnx.SetSharedLibraryPath(path)
		if err := onnx.InitializeEnvironment(onnx.WithLogLevelError()); err != nil {
			return nil, fmt.Errorf("ort: load onnxruntime library %s: %w", path, err)
		}
		env.path = path
		env.version = onnx.GetVersion()
	} else if env.path != path {
		return nil, fmt.Errorf("ort: onnxruntime is already loaded from %s in this process; cannot also load %s", env.path, path)
	}
	env.refs++
	return &Runtime{path: path, version: env.version, sessions: map[*Session]struct{}{}, mems: map[*Mem]struct{}{}}, nil
}

// Close closes every Session still open on r and releases r's reference on
// the library. It is idempotent.
func (r *Runtime) Close() error {
	r.life.Lock()
	if r.closed {
		r.life.Unlock()
		return nil
	}
	r.closed = true
	r.life.Unlock()
	r.mu.Lock()
	open := make([]*Session, 0, len(r.sessions))
	for s := range r.sessions {
		open = append(open, s)
	}
	mems := make([]*Mem, 0, len(r.mems))
	for m := range r.mems {
		mems = append(mems, m)
	}
	r.mu.Unlock()
	var firstErr error
	// Device values first: their allocators belong to copy sessions.
	for _, m := range mems {
		if err := m.Close(); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	for _, s := range open {
		if err := s.Close(); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	env.mu.Lock()
	defer env.mu.Unlock()
	env.refs--
	if env.refs == 0 {
		if err := onnx.DestroyEnvironment(); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("ort: unload onnxruntime: %w", err)
		}
		env.path, env.version = "", ""
	}
	return firstErr
}

// Version returns the ONNX Runtime library version, e.g. "1.24.3".
func (r *Runtime) Version() string { return r.version }

// LibraryPath returns the absolute path of the loaded shared library.
func (r *Runtime) LibraryPath() string { return r.path }

// track records s as owned by r; the caller holds r.life read-locked
// and has checked r.closed.
func (r *Runtime) track(s *Session) {
	r.mu.Lock()
	r.sessions[s] = struct{}{}
	r.mu.Unlock()
}

func (r *Runtime) forget(s *Session) {
	r.mu.Lock()
	delete(r.sessions, s)
	r.mu.Unlock()
}

// trackMem records m as owned by r; false once r is closed.
func (r *Runtime) trackMem(m *Mem) bool {
	r.life.RLock()
	defer r.life.RUnlock()
	if r.closed {
		return false
	}
	r.mu.Lock()
	r.mems[m] = struct{}{}
	r.mu.Unlock()
	return true
}

func (r *Runtime) forgetMem(m *Mem) {
	r.mu.Lock()
	delete(r.mems, m)
	r.mu.Unlock()
}
