// devapi.c is the cgo companion of package ort (see devapi.go): the
// ONNX Runtime C API calls that onnxruntime_go does not wrap.
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include "devapi.h"

static const OrtApi* vs_api = NULL;
static void* vs_lib = NULL;

static char* vs_dup(const char* s) { return strdup(s ? s : "unknown error"); }

static char* vs_status(OrtStatus* st) {
	if (st == NULL) return NULL;
	char* m = vs_dup(vs_api->GetErrorMessage(st));
	vs_api->ReleaseStatus(st);
	return m;
}

typedef const OrtApiBase* (*vs_get_base_fn)(void);

// vs_init takes a reference on the library at path (already loaded by
// onnxruntime_go) and fetches its OrtApi.
char* vs_init(const char* path) {
	void* h = dlopen(path, RTLD_LAZY);
	if (h == NULL) return vs_dup(dlerror());
	vs_get_base_fn fn = (vs_get_base_fn)dlsym(h, "OrtGetApiBase");
	if (fn == NULL) { dlclose(h); return vs_dup("OrtGetApiBase not found in the library"); }
	const OrtApi* api = fn()->GetApi(ORT_API_VERSION);
	if (api == NULL) { dlclose(h); return vs_dup("the library does not serve ORT_API_VERSION 24"); }
	if (vs_lib != NULL) dlclose(vs_lib);
	vs_lib = h;
	vs_api = api;
	return NULL;
}

char* vs_mem_info(const char* name, int id, OrtMemoryInfo** out) {
	return vs_status(vs_api->CreateMemoryInfo(name, OrtDeviceAllocator, id, OrtMemTypeDefault, out));
}
void vs_release_mem_info(OrtMemoryInfo* m) { vs_api->ReleaseMemoryInfo(m); }

char* vs_allocator(OrtSession* s, OrtMemoryInfo* m, OrtAllocator** out) {
	return vs_status(vs_api->CreateAllocator(s, m, out));
}
void vs_release_allocator(OrtAllocator* a) { vs_api->ReleaseAllocator(a); }

char* vs_alloc(OrtAllocator* a, int64_t* shape, size_t rank, int dt, OrtValue** out) {
	return vs_status(vs_api->CreateTensorAsOrtValue(a, shape, rank, (ONNXTensorElementDataType)dt, out));
}

char* vs_over(OrtMemoryInfo* m, void* data, size_t bytes, int64_t* shape, size_t rank, int dt, OrtValue** out) {
	return vs_status(vs_api->CreateTensorWithDataAsOrtValue(m, data, bytes, shape, rank, (ONNXTensorElementDataType)dt, out));
}

char* vs_data(OrtValue* v, void** out) { return vs_status(vs_api->GetTensorMutableData(v, out)); }

void vs_release_value(OrtValue* v) { vs_api->ReleaseValue(v); }

// vs_shape reads a value's element type and shape (at most cap dimensions).
char* vs_shape(OrtValue* v, int64_t* dims, size_t cap, size_t* rank, int* dt) {
	OrtTensorTypeAndShapeInfo* info = NULL;
	char* e = vs_status(vs_api->GetTensorTypeAndShape(v, &info));
	if (e) return e;
	ONNXTensorElementDataType t;
	e = vs_status(vs_api->GetTensorElementType(info, &t));
	if (!e) e = vs_status(vs_api->GetDimensionsCount(info, rank));
	if (!e && *rank > cap) e = vs_dup("tensor rank too large");
	if (!e) e = vs_status(vs_api->GetDimensions(info, dims, *rank));
	*dt = (int)t;
	vs_api->ReleaseTensorTypeAndShapeInfo(info);
	return e;
}

char* vs_binding(OrtSession* s, OrtIoBinding** out) { return vs_status(vs_api->CreateIoBinding(s, out)); }
void vs_release_binding(OrtIoBinding* b) { vs_api->ReleaseIoBinding(b); }
char* vs_bind_input(OrtIoBinding* b, const char* name, OrtValue* v) { return vs_status(vs_api->BindInput(b, name, v)); }
char* vs_bind_output(OrtIoBinding* b, const char* name, OrtValue* v) { return vs_status(vs_api->BindOutput(b, name, v)); }
char* vs_bind_output_device(OrtIoBinding* b, const char* name, OrtMemoryInfo* m) {
	return vs_status(vs_api->BindOutputToDevice(b, name, m));
}
char* vs_run(OrtSession* s, OrtRunOptions* ro, OrtIoBinding* b) { return vs_status(vs_api->RunWithBinding(s, ro, b)); }

// vs_bound_output returns a new reference to the i-th bound output (in
// binding order) and releases the others.
char* vs_bound_output(OrtIoBinding* b, OrtAllocator* a, size_t i, OrtValue** out) {
	OrtValue** vals = NULL;
	size_t n = 0;
	char* e = vs_status(vs_api->GetBoundOutputValues(b, a, &vals, &n));
	if (e) return e;
	*out = NULL;
	for (size_t k = 0; k < n; k++) {
		if (k == i) *out = vals[k];
		else vs_api->ReleaseValue(vals[k]);
	}
	if (vals) { OrtStatus* fs = vs_api->AllocatorFree(a, vals); if (fs) vs_api->ReleaseStatus(fs); }
	if (*out == NULL) return vs_dup("bound output index out of range");
	return NULL;
}

char* vs_run_options(OrtRunOptions** out) { return vs_status(vs_api->CreateRunOptions(out)); }
void vs_release_run_options(OrtRunOptions* ro) { vs_api->ReleaseRunOptions(ro); }
void vs_terminate(OrtRunOptions* ro) { OrtStatus* s = vs_api->RunOptionsSetTerminate(ro); if (s) vs_api->ReleaseStatus(s); }
void vs_unset_terminate(OrtRunOptions* ro) { OrtStatus* s = vs_api->RunOptionsUnsetTerminate(ro); if (s) vs_api->ReleaseStatus(s); }

// vs_copy copies between host memory (Go memory, used only during this
// call) and the device value dev through a one-node Identity session whose
// binding b is cleared afterwards: to_device != 0 uploads host into dev,
// else downloads dev into host.
char* vs_copy(OrtSession* s, OrtIoBinding* b, OrtMemoryInfo* host_info, void* host, size_t bytes,
		int64_t* shape, size_t rank, int dt, OrtValue* dev, int to_device) {
	OrtValue* h = NULL;
	char* e = vs_status(vs_api->CreateTensorWithDataAsOrtValue(host_info, host, bytes, shape, rank, (ONNXTensorElementDataType)dt, &h));
	if (e) return e;
	if (to_device) {
		e = vs_status(vs_api->BindInput(b, "x", h));
		if (!e) e = vs_status(vs_api->BindOutput(b, "y", dev));
	} else {
		e = vs_status(vs_api->BindInput(b, "x", dev));
		if (!e) e = vs_status(vs_api->BindOutput(b, "y", h));
	}
	if (!e) e = vs_status(vs_api->RunWithBinding(s, NULL, b));
	vs_api->ClearBoundInputs(b);
	vs_api->ClearBoundOutputs(b);
	vs_api->ReleaseValue(h);
	return e;
}

// vs_bound_outputs returns new references to every bound output (in
// binding order); the caller releases each and frees the array with
// vs_free_array.
char* vs_bound_outputs(OrtIoBinding* b, OrtAllocator* a, OrtValue*** out, size_t* n) {
	return vs_status(vs_api->GetBoundOutputValues(b, a, out, n));
}

void vs_free_array(OrtAllocator* a, void* p) {
	if (p == NULL) return;
	OrtStatus* s = vs_api->AllocatorFree(a, p);
	if (s) vs_api->ReleaseStatus(s);
}
