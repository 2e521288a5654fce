// Package ort runs ONNX models with ONNX Runtime. It is the only package of
// the module that imports github.com/yalue/onnxruntime_go (and so the only
// cgo leaf of model/); everything else talks to ONNX Runtime through the
// small API here:
//
//	rt, err := ort.Open("")              // finds libonnxruntime.so.1
//	defer rt.Close()
//	s, err := rt.NewSession(modelBytes, ort.Options{})
//	defer s.Close()
//	x, _ := ort.NewTensor([]int64{2, 3}, data)
//	out, err := s.Run(ctx, map[string]ort.Tensor{"x": x}, nil)
//
// For hot loops (a training step, a decode step) Session.Bind returns a
// Binding whose input and output buffers are allocated once: the caller
// writes inputs in place and reads outputs in place, and Binding.Run does
// not allocate tensor memory.
//
// Device memory: Runtime.OpenDevice returns a Mem, the memory of one
// device (CPUDevice: memory ONNX Runtime allocates apart from Go's;
// CUDADevice(n): a GPU). Values live there (Mem.Alloc, Mem.Upload), are
// bound to sessions once through ONNX Runtime I/O binding
// (Session.BindDevice: inputs, preallocated outputs, outputs allocated on
// the device at run time), and cross to and from Go memory only through
// Mem.CopyIn/CopyOut (and Upload/Download), which the Mem's Ledger counts
// in bytes per Kind (weights, cache, activations, logits, gradients,
// optimizer, metrics). onnxruntime_go does not wrap these C API calls; a
// small cgo companion (devapi.c) reaches them through the library
// onnxruntime_go loaded (see docs/device.md).
//
// Tensors are plain Go values (Tensor: a shape and a typed slice), so
// callers never see onnxruntime_go types. Rank-0 (scalar) tensors are
// supported in both directions with Shape []int64{} and a one-element Data
// slice; with Float16/BFloat16 data they are not (use shape [1]).
//
// Built without cgo, the package still compiles: Open returns ErrNoCgo and
// the pure-Go parts (Tensor, DType, ModelIO, library lookup) keep working.
package ort
