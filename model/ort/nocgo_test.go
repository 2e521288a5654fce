//go:build !cgo

package ort

import (
	"context"
	"errors"
	"testing"
)

func TestNoCgoStubs(t *testing.T) {
	if _, err := Open("/nonexistent"); !errors.Is(err, ErrNoLibrary) {
		t.Fatalf("Open(/nonexistent) = %v, want ErrNoLibrary", err)
	}
	if _, err := LibraryPath(""); err == nil {
		if _, err := Open(""); !errors.Is(err, ErrNoCgo) {
			t.Fatalf("Open = %v, want ErrNoCgo", err)
		}
	}
	var s Session
	if _, err := s.Run(context.Background(), nil, nil); !errors.Is(err, ErrNoCgo) {
		t.Fatal(err)
	}
}
