//go:build cgo

package ort

/*
#include <stdlib.h>
#include "devapi.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"unsafe"

	"google.golang.org/protobuf/proto"

	"github.com/videossr/videossr-go/model/onnx/pb"
)

// Mem is the memory of one device as ONNX Runtime sees it: an allocator
// for Values on the device, and the one place where data crosses between Go
// memory and the device (CopyIn, CopyOut, Upload, Download), each copy
// counted by the Ledger. A copy runs a one-node Identity session on the
// device's execution provider through I/O binding, so ONNX Runtime itself
// moves the bytes (cudaMemcpy on CUDA, a memcpy on CPU).
//
// Values allocated here can be bound to any Session of the same Runtime
// whose provider runs on this device (DeviceBinding). A Mem is safe for
// concurrent use; copies are serialised. Close releases every Value still
// open; closing the Runtime closes its Mems.
type Mem struct {
	rt     *Runtime
	dev    Device
	opt    Options // session options of the copy sessions
	ledger *Ledger

	mu       sync.Mutex
	closed   bool
	info     *C.OrtMemoryInfo // the device
	hostInfo *C.OrtMemoryInfo // Go memory staged for a copy
	alloc    *C.OrtAllocator
	copiers  map[DType]*copier
	values   map[*Value]struct{}
	binds    map[*DeviceBinding]struct{} // bindings over this memory: closed first
}

// copier is the Identity session of one element type.
type copier struct {
	s *Session
	h *C.OrtSession
	b *C.OrtIoBinding
}

// OpenDevice opens the memory of dev. opt gives the threads and provider
// options of the copy sessions (its Provider and DeviceID are set from
// dev). On CUDA the allocator grows its arena by what is requested, not
// by powers of two, so device-resident weights cost their size.
func (r *Runtime) OpenDevice(dev Device, opt Options) (*Mem, error) {
	if err := dev.validate(); err != nil {
		return nil, err
	}
	if err := initCAPI(r.path); err != nil {
		return nil, err
	}
	opt.Provider, opt.DeviceID = dev.Provider, dev.ID
	opt.DisableCPUArena = true // weights and caches are long-lived: no arena rounding
	if opt.IntraOpThreads == 0 {
		opt.IntraOpThreads = 1
	}
	if dev.Provider == ProviderCUDA {
		po := map[string]string{"arena_extend_strategy": "kSameAsRequested"}
		for k, v := range opt.ProviderOptions {
			po[k] = v
		}
		opt.ProviderOptions = po
	}
	m := &Mem{rt: r, dev: dev, opt: opt, ledger: &Ledger{}, copiers: map[DType]*copier{}, values: map[*Value]struct{}{}, binds: map[*DeviceBinding]struct{}{}}
	fail := func(err error) (*Mem, error) {
		m.release()
		return nil, fmt.Errorf("ort: open device %s: %w", dev, err)
	}
	name := C.CString(dev.memInfoName())
	defer C.free(unsafe.Pointer(name))
	if err := cErr(C.vs_mem_info(name, C.int(dev.ID), &m.info)); err != nil {
		return fail(err)
	}
	cpu := C.CString("Cpu")
	defer C.free(unsafe.Pointer(cpu))
	if err := cErr(C.vs_mem_info(cpu, 0, &m.hostInfo)); err != nil {
		return fail(err)
	}
	c, err := m.copierFor(Float32)
	if err != nil {
		return fail(err)
	}
	if err := cErr(C.vs_allocator(c.h, m.info, &m.alloc)); err != nil {
		return fail(fmt.Errorf("allocator: %w", err))
	}
	if !r.trackMem(m) {
		return fail(ErrClosed)
	}
	return m, nil
}

// Device is the device of the memory.
func (m *Mem) Device() Device { return m.dev }

// Ledger counts the memory's transfers and resident bytes.
func (m *Mem) Ledger() *Ledger { return m.ledger }

// Runtime is the Runtime the memory belongs to.
func (m *Mem) Runtime() *Runtime { return m.rt }

// copierFor returns (creating once) the Identity session of dt; the
// caller holds m.mu or is OpenDevice.
func (m *Mem) copierFor(dt DType) (*copier, error) {
	if c, ok := m.copiers[dt]; ok {
		return c, nil
	}
	if !dt.Supported() {
		return nil, fmt.Errorf("unsupported dtype %s", dt)
	}
	raw, err := proto.Marshal(identityModel(dt))
	if err != nil {
		return nil, err
	}
	s, err := m.rt.NewSession(raw, m.opt)
	if err != nil {
		return nil, fmt.Errorf("copy session %s: %w", dt, err)
	}
	h, err := sessionHandle(s.sess)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("copy session %s: %w", dt, err)
	}
	c := &copier{s: s, h: h}
	if err := cErr(C.vs_binding(h, &c.b)); err != nil {
		s.Close()
		return nil, fmt.Errorf("copy session %s: %w", dt, err)
	}
	m.copiers[dt] = c
	return c, nil
}

// identityModel is y = Identity(x) for tensors of dt of any shape.
func identityModel(dt DType) *pb.ModelProto {
	tv := func(name string) *pb.ValueInfoProto {
		return &pb.ValueInfoProto{Name: proto.String(name), Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{
			TensorType: &pb.TypeProto_Tensor{ElemType: proto.Int32(int32(dt))}}}}
	}
	return &pb.ModelProto{
		IrVersion:    proto.Int64(8),
		OpsetImport:  []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(18)}},
		ProducerName: proto.String("videossr-ort-copy"),
		Graph: &pb.GraphProto{
			Name:   proto.String("copy_" + dt.String()),
			Node:   []*pb.NodeProto{{OpType: proto.String("Identity"), Input: []string{"x"}, Output: []string{"y"}}},
			Input:  []*pb.ValueInfoProto{tv("x")},
			Output: []*pb.ValueInfoProto{tv("y")},
		},
	}
}

// Close closes every DeviceBinding made over the memory (they hold
// references to its values), then releases every Value, the allocator and
// the copy sessions. Values and bindings must not be used afterwards.
// Idempotent.
func (m *Mem) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	binds := make([]*DeviceBinding, 0, len(m.binds))
	for b := range m.binds {
		binds = append(binds, b)
	}
	m.mu.Unlock()
	for _, b := range binds {
		b.Close()
	}
	err := m.release()
	m.rt.forgetMem(m)
	return err
}

// release frees the native state of m.
func (m *Mem) release() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for v := range m.values {
		v.free()
	}
	m.values = map[*Value]struct{}{}
	if m.alloc != nil {
		C.vs_release_allocator(m.alloc)
		m.alloc = nil
	}
	var errs []error
	for dt, c := range m.copiers {
		if c.b != nil {
			C.vs_release_binding(c.b)
		}
		if err := c.s.Close(); err != nil {
			errs = append(errs, err)
		}
		delete(m.copiers, dt)
	}
	if m.info != nil {
		C.vs_release_mem_info(m.info)
		m.info = nil
	}
	if m.hostInfo != nil {
		C.vs_release_mem_info(m.hostInfo)
		m.hostInfo = nil
	}
	return errors.Join(errs...)
}

// Value is a tensor held by ONNX Runtime in a device's memory. Its
// contents are reached only through its Mem's copies (or by binding it to
// sessions); it has no Go view. Values made by Alloc and Upload own their
// memory and are counted as resident in the Ledger under their kind; views
// (Reshape, Rows) share their parent's memory. Close is idempotent.
type Value struct {
	m      *Mem
	v      *C.OrtValue
	dt     DType
	shape  []int64
	kind   Kind
	bytes  int64
	parent *Value // views keep their parent
	views  int    // open views of this value
	closed bool   // closed by its user
	freed  bool   // native value released
}

// Alloc allocates an uninitialised value of dt and shape on the device,
// counted as resident memory of kind k.
func (m *Mem) Alloc(k Kind, dt DType, shape []int64) (*Value, error) {
	if err := k.valid(); err != nil {
		return nil, err
	}
	n, err := NumElements(shape)
	if err != nil {
		return nil, fmt.Errorf("ort: alloc on %s: %w", m.dev, err)
	}
	if !dt.Supported() {
		return nil, fmt.Errorf("ort: alloc on %s: unsupported dtype %s", m.dev, dt)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("ort: alloc on %s: %w", m.dev, ErrClosed)
	}
	p, rank := cShape(shape)
	v := &Value{m: m, dt: dt, shape: slices.Clone(shape), kind: k, bytes: int64(n) * int64(dt.Size())}
	if err := cErr(C.vs_alloc(m.alloc, p, rank, C.int(dt), &v.v)); err != nil {
		return nil, fmt.Errorf("ort: alloc %s%v (%d bytes) on %s: %w", dt, shape, v.bytes, m.dev, err)
	}
	m.values[v] = struct{}{}
	m.ledger.hold(k, v.bytes)
	return v, nil
}

// Upload allocates a value of kind k and copies t into it.
func (m *Mem) Upload(k Kind, t Tensor) (*Value, error) {
	dt, err := t.ElemType()
	if err != nil {
		return nil, fmt.Errorf("ort: upload: %w", err)
	}
	shape := t.Shape
	if shape == nil {
		shape = []int64{}
	}
	v, err := m.Alloc(k, dt, shape)
	if err != nil {
		return nil, err
	}
	if err := m.CopyIn(k, v, t); err != nil {
		v.Close()
		return nil, err
	}
	return v, nil
}

// Download copies v into a new Go tensor, counted under kind k.
func (m *Mem) Download(k Kind, v *Value) (Tensor, error) {
	t, err := Zeros(v.dt, v.shape)
	if err != nil {
		return Tensor{}, fmt.Errorf("ort: download: %w", err)
	}
	if err := m.CopyOut(k, t, v); err != nil {
		return Tensor{}, err
	}
	return t, nil
}

// CopyIn copies the Go tensor src into the device value dst (same dtype
// and element count), counting the bytes as kind k host->device.
func (m *Mem) CopyIn(k Kind, dst *Value, src Tensor) error {
	return m.copy(k, true, dst, src)
}

// CopyOut copies the device value src into the Go tensor dst (same dtype
// and element count), counting the bytes as kind k device->host.
func (m *Mem) CopyOut(k Kind, dst Tensor, src *Value) error {
	return m.copy(k, false, src, dst)
}

func (m *Mem) copy(k Kind, toDevice bool, dv *Value, t Tensor) error {
	dir := "copy out"
	if toDevice {
		dir = "copy in"
	}
	if err := k.valid(); err != nil {
		return err
	}
	dt, err := t.ElemType()
	if err != nil {
		return fmt.Errorf("ort: %s: %w", dir, err)
	}
	if err := t.Validate(); err != nil {
		return fmt.Errorf("ort: %s: %w", dir, err)
	}
	if dv == nil || dv.m != m {
		return fmt.Errorf("ort: %s: value does not belong to device %s", dir, m.dev)
	}
	if dt != dv.dt {
		return fmt.Errorf("ort: %s: host %s, device value %s", dir, dt, dv.dt)
	}
	n, _ := NumElements(t.Shape)
	if int64(n)*int64(dt.Size()) != dv.bytes {
		return fmt.Errorf("ort: %s: host tensor %v, device value %v", dir, t.Shape, dv.shape)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || dv.closed || dv.freed {
		return fmt.Errorf("ort: %s on %s: %w", dir, m.dev, ErrClosed)
	}
	if dv.bytes == 0 {
		return nil
	}
	c, err := m.copierFor(dt)
	if err != nil {
		return fmt.Errorf("ort: %s: %w", dir, err)
	}
	c.s.mu.RLock()
	defer c.s.mu.RUnlock()
	p, rank := cShape(dv.shape)
	host := dataPointer(t.Data)
	to := C.int(0)
	if toDevice {
		to = 1
	}
	if err := cErr(C.vs_copy(c.h, c.b, m.hostInfo, host, C.size_t(dv.bytes), p, rank, C.int(dt), dv.v, to)); err != nil {
		return fmt.Errorf("ort: %s %s%v on %s: %w", dir, dt, dv.shape, m.dev, err)
	}
	m.ledger.record(toDevice, k, dv.bytes)
	return nil
}

// dataPointer is the address of the first element of a tensor's data
// (non-empty; a slice of plain values with no Go pointers inside).
func dataPointer(d any) unsafe.Pointer {
	switch s := d.(type) {
	case []float32:
		return unsafe.Pointer(unsafe.SliceData(s))
	case []float64:
		return unsafe.Pointer(unsafe.SliceData(s))
	case []int64:
		return unsafe.Pointer(unsafe.SliceData(s))
	case []int32:
		return unsafe.Pointer(unsafe.SliceData(s))
	case []bool:
		return unsafe.Pointer(unsafe.SliceData(s))
	case []uint16:
		return unsafe.Pointer(unsafe.SliceData(s))
	}
	return nil
}

// DType is the element type.
func (v *Value) DType() DType { return v.dt }

// Shape is a copy of the shape.
func (v *Value) Shape() []int64 { return slices.Clone(v.shape) }

// Bytes is the size of the data in bytes.
func (v *Value) Bytes() int64 { return v.bytes }

// Kind is what the value holds (its Ledger kind).
func (v *Value) Kind() Kind { return v.kind }

// Mem is the memory the value lives in.
func (v *Value) Mem() *Mem { return v.m }

// Reshape returns a view of v with another shape of the same element
// count (no copy). The view keeps v alive; close it before or after v.
func (v *Value) Reshape(shape []int64) (*Value, error) {
	n, err := NumElements(shape)
	if err != nil {
		return nil, fmt.Errorf("ort: reshape: %w", err)
	}
	if int64(n)*int64(v.dt.Size()) != v.bytes {
		return nil, fmt.Errorf("ort: reshape %v to %v: element counts differ", v.shape, shape)
	}
	return v.view(0, shape)
}

// Rows returns a view of rows [lo, hi) of v along axis 0 (no copy): rows
// of a row-major tensor are contiguous, so e.g. several vision runs can
// write their outputs into one buffer.
func (v *Value) Rows(lo, hi int64) (*Value, error) {
	if len(v.shape) == 0 || lo < 0 || hi < lo || hi > v.shape[0] {
		return nil, fmt.Errorf("ort: rows [%d,%d) of %v", lo, hi, v.shape)
	}
	shape := slices.Clone(v.shape)
	shape[0] = hi - lo
	rowBytes := int64(0)
	if v.shape[0] > 0 {
		rowBytes = v.bytes / v.shape[0]
	}
	return v.view(lo*rowBytes, shape)
}

// view makes a value over v's memory at a byte offset.
func (v *Value) view(offset int64, shape []int64) (*Value, error) {
	m := v.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || v.closed || v.freed {
		return nil, fmt.Errorf("ort: view on %s: %w", m.dev, ErrClosed)
	}
	var base unsafe.Pointer
	if err := cErr(C.vs_data(v.v, &base)); err != nil {
		return nil, fmt.Errorf("ort: view: %w", err)
	}
	n, _ := NumElements(shape)
	w := &Value{m: m, dt: v.dt, shape: slices.Clone(shape), kind: v.kind, bytes: int64(n) * int64(v.dt.Size()), parent: v}
	p, rank := cShape(shape)
	if err := cErr(C.vs_over(m.info, unsafe.Add(base, offset), C.size_t(w.bytes), p, rank, C.int(v.dt), &w.v)); err != nil {
		return nil, fmt.Errorf("ort: view %v of %v: %w", shape, v.shape, err)
	}
	v.views++
	m.values[w] = struct{}{}
	return w, nil
}

// Close releases the value; a view drops its reference on its parent,
// and a value with open views is released when the last one closes.
// Idempotent.
func (v *Value) Close() error {
	if v == nil {
		return nil
	}
	m := v.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if v.closed {
		return nil
	}
	v.closed = true
	for w := v; w != nil && w.closed && w.views == 0 && !w.freed; w = w.parent {
		w.free()
		delete(m.values, w)
		if w.parent != nil {
			w.parent.views--
		}
	}
	return nil
}

// free releases the native value; the caller holds m.mu.
func (v *Value) free() {
	if v.freed {
		return
	}
	v.freed, v.closed = true, true
	if v.v != nil {
		C.vs_release_value(v.v)
		v.v = nil
	}
	if v.parent == nil {
		v.m.ledger.hold(v.kind, -v.bytes)
	}
}

// handle returns the native value, or an error once closed.
func (v *Value) handle() (*C.OrtValue, error) {
	if v == nil {
		return nil, errors.New("nil device value")
	}
	v.m.mu.Lock()
	defer v.m.mu.Unlock()
	if v.closed || v.freed {
		return nil, fmt.Errorf("device value %s%v: %w", v.dt, v.shape, ErrClosed)
	}
	return v.v, nil
}
