package ort

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLibraryPathResolution(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "libfake.so")
	if err := os.WriteFile(lib, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Explicit path wins over the environment.
	t.Setenv(EnvLibraryPath, "/does/not/exist.so")
	if got, err := LibraryPath(lib); err != nil || got != lib {
		t.Fatalf("LibraryPath(%s) = %q, %v", lib, got, err)
	}
	// Environment variable when no explicit path.
	if _, err := LibraryPath(""); !errors.Is(err, ErrNoLibrary) || !strings.Contains(err.Error(), "/does/not/exist.so") {
		t.Fatalf("bad env path: %v", err)
	}
	t.Setenv(EnvLibraryPath, lib)
	if got, err := LibraryPath(""); err != nil || got != lib {
		t.Fatalf("env path: %q, %v", got, err)
	}
	// A directory is not a library.
	if _, err := LibraryPath(dir); !errors.Is(err, ErrNoLibrary) {
		t.Fatalf("directory accepted: %v", err)
	}

	// Walk up to go.mod.
	t.Setenv(EnvLibraryPath, "")
	root := filepath.Join(dir, "repo")
	deep := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(deep)
	_, err := LibraryPath("")
	want := filepath.Join(root, DefaultLibraryRel)
	if !errors.Is(err, ErrNoLibrary) || !strings.Contains(err.Error(), want) ||
		!strings.Contains(err.Error(), "bash scripts/setup.sh") || !strings.Contains(err.Error(), EnvLibraryPath) {
		t.Fatalf("missing default library: %v (want mention of %s)", err, want)
	}
	if err := os.MkdirAll(filepath.Dir(want), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(want, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := LibraryPath(""); err != nil || got != want {
		t.Fatalf("walk up: %q, %v, want %q", got, err, want)
	}

	// No go.mod anywhere above.
	lone := filepath.Join(dir, "lone")
	if err := os.MkdirAll(lone, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(lone)
	if ModuleRoot(lone) != "" {
		t.Skip("a go.mod exists above the temp dir")
	}
	if _, err := LibraryPath(""); !errors.Is(err, ErrNoLibrary) || !strings.Contains(err.Error(), "go.mod") {
		t.Fatalf("no go.mod: %v", err)
	}
}
