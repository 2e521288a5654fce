// devapi.h declares the cgo companion of package ort (devapi.c).
#ifndef VIDEOSSR_ORT_DEVAPI_H
#define VIDEOSSR_ORT_DEVAPI_H
#include "onnxruntime_c_api.h"

char* vs_init(const char* path);
char* vs_mem_info(const char* name, int id, OrtMemoryInfo** out);
void vs_release_mem_info(OrtMemoryInfo* m);
char* vs_allocator(OrtSession* s, OrtMemoryInfo* m, OrtAllocator** out);
void vs_release_allocator(OrtAllocator* a);
char* vs_alloc(OrtAllocator* a, int64_t* shape, size_t rank, int dt, OrtValue** out);
char* vs_over(OrtMemoryInfo* m, void* data, size_t bytes, int64_t* shape, size_t rank, int dt, OrtValue** out);
char* vs_data(OrtValue* v, void** out);
void vs_release_value(OrtValue* v);
char* vs_shape(OrtValue* v, int64_t* dims, size_t cap, size_t* rank, int* dt);
char* vs_binding(OrtSession* s, OrtIoBinding** out);
void vs_release_binding(OrtIoBinding* b);
char* vs_bind_input(OrtIoBinding* b, const char* name, OrtValue* v);
char* vs_bind_output(OrtIoBinding* b, const char* name, OrtValue* v);
char* vs_bind_output_device(OrtIoBinding* b, const char* name, OrtMemoryInfo* m);
char* vs_run(OrtSession* s, OrtRunOptions* ro, OrtIoBinding* b);
char* vs_bound_output(OrtIoBinding* b, OrtAllocator* a, size_t i, OrtValue** out);
char* vs_run_options(OrtRunOptions** out);
void vs_release_run_options(OrtRunOptions* ro);
void vs_terminate(OrtRunOptions* ro);
void vs_unset_terminate(OrtRunOptions* ro);
char* vs_copy(OrtSession* s, OrtIoBinding* b, OrtMemoryInfo* host_info, void* host, size_t bytes,
		int64_t* shape, size_t rank, int dt, OrtValue* dev, int to_device);
char* vs_bound_outputs(OrtIoBinding* b, OrtAllocator* a, OrtValue*** out, size_t* n);
void vs_free_array(OrtAllocator* a, void* p);

#endif
