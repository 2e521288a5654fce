//go:build !cgo

package ort

import (
	"errors"
	"testing"
)

func TestProbeProvidersNoCgo(t *testing.T) {
	var r Runtime
	if _, err := r.ProbeProviders(0); !errors.Is(err, ErrNoCgo) {
		t.Fatalf("ProbeProviders = %v, want ErrNoCgo", err)
	}
}
