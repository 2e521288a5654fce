//go:build !cgo

package ort

import (
	"errors"
	"testing"
)

func TestDeviceNoCgo(t *testing.T) {
	var r Runtime
	if _, err := r.OpenDevice(CPUDevice(), Options{}); !errors.Is(err, ErrNoCgo) {
		t.Fatalf("OpenDevice = %v, want ErrNoCgo", err)
	}
	var s Session
	if _, err := s.BindDevice(nil); !errors.Is(err, ErrNoCgo) {
		t.Fatalf("BindDevice = %v, want ErrNoCgo", err)
	}
}
