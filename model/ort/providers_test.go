//go:build cgo

package ort

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProbeProviders(t *testing.T) {
	rt := openRT(t)
	got, err := rt.ProbeProviders(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != ProviderCPU || !got[0].Available || got[1].Name != ProviderCUDA {
		t.Fatalf("ProbeProviders = %+v, want cpu (available) then cuda", got)
	}
	if !strings.Contains(got[0].Detail, rt.Version()) {
		t.Errorf("cpu detail %q lacks the library version %s", got[0].Detail, rt.Version())
	}
	cuda := got[1]
	if cuda.Detail == "" {
		t.Error("cuda status without detail")
	}
	// The CUDA provider library sits beside the core library when the CUDA
	// build is installed; without it CUDA cannot be available.
	if _, err := os.Stat(filepath.Join(filepath.Dir(rt.LibraryPath()), "libonnxruntime_providers_cuda.so")); err != nil && cuda.Available {
		t.Errorf("cuda reported available without libonnxruntime_providers_cuda.so next to %s", rt.LibraryPath())
	}
	if !cuda.Available && !strings.Contains(strings.ToLower(cuda.Detail), "cuda") {
		t.Errorf("cuda unavailable detail %q does not mention cuda", cuda.Detail)
	}
	t.Logf("cuda: available=%v: %s", cuda.Available, cuda.Detail)

	if _, err := rt.ProbeProviders(-1); err == nil {
		t.Error("negative device accepted")
	}
	rt2, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	if err := rt2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := rt2.ProbeProviders(0); !errors.Is(err, ErrClosed) {
		t.Errorf("probe on closed runtime = %v, want ErrClosed", err)
	}
}
