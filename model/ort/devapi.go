//go:build cgo

package ort

// The cgo companion: the few ONNX Runtime C API calls that onnxruntime_go
// v1.27 does not wrap (memory info for a named device, values allocated by a
// session's allocator, I/O binding of such values with run options, and
// bind-output-to-device). It reaches the C API through the library that
// onnxruntime_go has already loaded (dlopen of the same path returns the same
// handle) and its own OrtApi pointer, so both packages drive one ONNX Runtime
// with one OrtEnv. Every function returns NULL or an error message the caller
// frees.

/*
#cgo CFLAGS: -I${SRCDIR}/capi -O2
#cgo linux LDFLAGS: -ldl
#include <stdlib.h>
#include "devapi.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"unsafe"

	onnx "github.com/yalue/onnxruntime_go"
)

// capi guards the companion's one-time initialisation per loaded library.
var capi struct {
	mu   sync.Mutex
	path string
}

// initCAPI points the companion at the library loaded from path.
func initCAPI(path string) error {
	capi.mu.Lock()
	defer capi.mu.Unlock()
	if capi.path == path {
		return nil
	}
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	if err := cErr(C.vs_init(cp)); err != nil {
		return fmt.Errorf("ort: device api: %w", err)
	}
	capi.path = path
	return nil
}

// cErr turns a companion error message into a Go error and frees it.
func cErr(msg *C.char) error {
	if msg == nil {
		return nil
	}
	defer C.free(unsafe.Pointer(msg))
	return errors.New(C.GoString(msg))
}

// sessionHandle returns the OrtSession* behind an onnxruntime_go session.
// onnxruntime_go keeps it in the unexported field ortSession of the
// AdvancedSession that a DynamicAdvancedSession wraps (field s); reflect
// reads it by name, and a version of the library that renames or retypes
// either field makes this an error, not a crash.
func sessionHandle(d *onnx.DynamicAdvancedSession) (*C.OrtSession, error) {
	if d == nil {
		return nil, errors.New("nil session")
	}
	inner := reflect.ValueOf(d).Elem().FieldByName("s")
	if !inner.IsValid() || inner.Kind() != reflect.Pointer || inner.IsNil() {
		return nil, errors.New("onnxruntime_go DynamicAdvancedSession has no field s *AdvancedSession (library version changed?)")
	}
	h := inner.Elem().FieldByName("ortSession")
	if !h.IsValid() || h.Kind() != reflect.Pointer || !strings.HasSuffix(h.Type().Elem().Name(), "OrtSession") {
		return nil, errors.New("onnxruntime_go AdvancedSession has no field ortSession *C.OrtSession (library version changed?)")
	}
	p := h.UnsafePointer()
	if p == nil {
		return nil, errors.New("session already destroyed")
	}
	return (*C.OrtSession)(p), nil
}

// cShape points C at a shape's dimensions (Go memory, read during the
// call only; nil for rank 0).
func cShape(shape []int64) (*C.int64_t, C.size_t) {
	if len(shape) == 0 {
		return nil, 0
	}
	return (*C.int64_t)(unsafe.Pointer(unsafe.SliceData(shape))), C.size_t(len(shape))
}

// valueShape reads a value's dtype and shape.
func valueShape(v *C.OrtValue) (DType, []int64, error) {
	var dims [16]C.int64_t
	var rank C.size_t
	var dt C.int
	if err := cErr(C.vs_shape(v, &dims[0], 16, &rank, &dt)); err != nil {
		return Undefined, nil, err
	}
	shape := make([]int64, int(rank))
	for i := range shape {
		shape[i] = int64(dims[i])
	}
	return DType(dt), shape, nil
}
