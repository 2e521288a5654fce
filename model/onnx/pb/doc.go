// Package pb holds the Go protobuf types of the ONNX format, generated once
// from Debian's libonnx-dev onnx.proto (IR version 8) with protoc-gen-go
// v1.36.12 and committed. To regenerate:
//
//	protoc --go_out=. --go_opt=paths=source_relative onnx.proto
package pb
