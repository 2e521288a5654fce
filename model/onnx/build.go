package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/videossr/videossr-go/model/onnx/pb"
	"github.com/videossr/videossr-go/model/safetensors"
)

const (
	attrInt    = pb.AttributeProto_INT
	attrFloat  = pb.AttributeProto_FLOAT
	attrInts   = pb.AttributeProto_INTS
	attrString = pb.AttributeProto_STRING
	attrTensor = pb.AttributeProto_TENSOR
)

// DefaultOpset is the ai.onnx opset version Build targets by default.
const DefaultOpset = 18

// MinOpset is the oldest ai.onnx opset Build can target. Opset 17 differs
// from 18 only in the reductions other than ReduceSum, whose axes are then
// an attribute instead of an input; Build rewrites them (tools such as
// Debian 12's onnx 1.12 know opsets up to 17 only).
const MinOpset = 17

// IRVersion is the ONNX IR version of built models.
const IRVersion = 8

// metaExternalThreshold is the metadata key under which Build records
// ExportOptions.ExternalDataThreshold for SaveModel.
const metaExternalThreshold = "videossr.external_data_threshold"

// ExportOptions controls Build.
type ExportOptions struct {
	// ParamsAsInputs makes every Param a graph input (training graphs).
	ParamsAsInputs bool
	// ParamData supplies the values of Params, which then become initializers
	// (inference graphs). Values are float32; float64 graphs convert them,
	// and parameters declared in Float16 or BFloat16 (ParamOf) are rounded
	// to it (exactly, for values that came from that type).
	ParamData func(name string) ([]float32, error)
	// ExternalDataThreshold (bytes) is recorded in the model's metadata; a
	// SaveModel call with externalThreshold 0 uses it: larger initializers go
	// to the external data file.
	ExternalDataThreshold int
	// Opset is the ai.onnx opset version (default DefaultOpset, minimum MinOpset).
	Opset int
	// ProducerName is written to the model (default "videossr-go").
	ProducerName string
}

// Build converts the graph into an ONNX model. Only nodes that the declared
// outputs depend on are emitted; all declared inputs are kept.
func (g *Graph) Build(opt ExportOptions) (*pb.ModelProto, error) {
	if g.err != nil {
		return nil, g.err
	}
	opset := opt.Opset
	if opset == 0 {
		opset = DefaultOpset
	}
	if opset < MinOpset || opset > DefaultOpset {
		return nil, fmt.Errorf("onnx: build %q: opset %d unsupported (supported: %d..%d)", g.name, opset, MinOpset, DefaultOpset)
	}
	if len(g.outputs) == 0 {
		return nil, fmt.Errorf("onnx: build %q: no outputs declared", g.name)
	}
	producer := opt.ProducerName
	if producer == "" {
		producer = "videossr-go"
	}

	// Prune: mark nodes needed by the outputs.
	needed := map[*node]bool{}
	used := map[*Value]bool{}
	stack := append([]*Value{}, g.outputs...)
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if used[v] {
			continue
		}
		used[v] = true
		if n := v.node; n != nil && !needed[n] {
			needed[n] = true
			for _, in := range n.emitInputs(opset) {
				if in != nil {
					stack = append(stack, in)
				}
			}
		}
	}

	gp := &pb.GraphProto{Name: proto.String(g.name)}
	for _, in := range g.inputs {
		gp.Input = append(gp.Input, valueInfo(in, in.dimNames, true))
	}
	for _, p := range g.params {
		if opt.ParamsAsInputs {
			gp.Input = append(gp.Input, valueInfo(p, nil, false))
			continue
		}
		if !used[p] {
			continue
		}
		if opt.ParamData == nil {
			return nil, fmt.Errorf("onnx: build %q: param %q needs data: set ExportOptions.ParamData or ParamsAsInputs", g.name, p.Name)
		}
		data, err := opt.ParamData(p.Name)
		if err != nil {
			return nil, fmt.Errorf("onnx: build %q: param %q: %w", g.name, p.Name, err)
		}
		if int64(len(data)) != numel(p.Shape) {
			return nil, fmt.Errorf("onnx: build %q: param %q has %d values, shape %v needs %d", g.name, p.Name, len(data), p.Shape, numel(p.Shape))
		}
		t, err := paramTensor(p, data)
		if err != nil {
			return nil, fmt.Errorf("onnx: build %q: param %q: %w", g.name, p.Name, err)
		}
		gp.Initializer = append(gp.Initializer, t)
	}
	for _, c := range g.consts {
		if used[c] {
			t, err := constTensor(c)
			if err != nil {
				return nil, err
			}
			gp.Initializer = append(gp.Initializer, t)
		}
	}
	isOutput := map[*Value]bool{}
	for _, o := range g.outputs {
		isOutput[o] = true
		gp.Output = append(gp.Output, valueInfo(o, nil, false))
	}
	for _, n := range g.nodes {
		if !needed[n] {
			continue
		}
		np, err := nodeProto(n, opset)
		if err != nil {
			return nil, err
		}
		gp.Node = append(gp.Node, np)
		for _, o := range n.outputs {
			if !isOutput[o] && used[o] {
				gp.ValueInfo = append(gp.ValueInfo, valueInfo(o, nil, false))
			}
		}
	}
	m := &pb.ModelProto{
		IrVersion:    proto.Int64(IRVersion),
		ProducerName: proto.String(producer),
		OpsetImport:  []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(int64(opset))}},
		Graph:        gp,
	}
	if opt.ExternalDataThreshold > 0 {
		m.MetadataProps = append(m.MetadataProps, &pb.StringStringEntryProto{
			Key: proto.String(metaExternalThreshold), Value: proto.String(strconv.Itoa(opt.ExternalDataThreshold)),
		})
	}
	return m, nil
}

func valueInfo(v *Value, dimNames []string, isInput bool) *pb.ValueInfoProto {
	sh := &pb.TensorShapeProto{}
	for i, d := range v.Shape {
		dim := &pb.TensorShapeProto_Dimension{}
		switch {
		case d >= 0:
			dim.Value = &pb.TensorShapeProto_Dimension_DimValue{DimValue: d}
		case i < len(dimNames) && dimNames[i] != "":
			dim.Value = &pb.TensorShapeProto_Dimension_DimParam{DimParam: dimNames[i]}
		case isInput:
			dim.Value = &pb.TensorShapeProto_Dimension_DimParam{DimParam: fmt.Sprintf("%s_dim%d", v.Name, i)}
		}
		sh.Dim = append(sh.Dim, dim)
	}
	return &pb.ValueInfoProto{
		Name: proto.String(v.Name),
		Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: &pb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(v.DType)),
			Shape:    sh,
		}}},
	}
}

func paramTensor(p *Value, data []float32) (*pb.TensorProto, error) {
	t := &pb.TensorProto{Name: proto.String(p.Name), Dims: append([]int64{}, p.Shape...), DataType: proto.Int32(int32(p.DType))}
	switch p.DType {
	case Float16, BFloat16:
		dt := safetensors.BF16
		if p.DType == Float16 {
			dt = safetensors.F16
		}
		bits, err := safetensors.Float32ToHalf(dt, data)
		if err != nil {
			return nil, err
		}
		t.RawData = safetensors.HalfBytes(bits)
		return t, nil
	case Float64:
		raw := make([]byte, 8*len(data))
		for i, f := range data {
			binary.LittleEndian.PutUint64(raw[8*i:], math.Float64bits(float64(f)))
		}
		t.RawData = raw
		return t, nil
	}
	raw := make([]byte, 4*len(data))
	for i, f := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	t.RawData = raw
	return t, nil
}

// tensorProto encodes a constant Value (fdata/idata/bdata) as raw data.
func constTensor(c *Value) (*pb.TensorProto, error) {
	t := &pb.TensorProto{Name: proto.String(c.Name), Dims: append([]int64{}, c.Shape...), DataType: proto.Int32(int32(c.DType))}
	switch c.DType {
	case Float32:
		raw := make([]byte, 4*len(c.fdata))
		for i, f := range c.fdata {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(f)))
		}
		t.RawData = raw
	case Float64:
		raw := make([]byte, 8*len(c.fdata))
		for i, f := range c.fdata {
			binary.LittleEndian.PutUint64(raw[8*i:], math.Float64bits(f))
		}
		t.RawData = raw
	case Int64:
		raw := make([]byte, 8*len(c.idata))
		for i, x := range c.idata {
			binary.LittleEndian.PutUint64(raw[8*i:], uint64(x))
		}
		t.RawData = raw
	case Bool:
		raw := make([]byte, len(c.bdata))
		for i, b := range c.bdata {
			if b {
				raw[i] = 1
			}
		}
		t.RawData = raw
	default:
		return nil, fmt.Errorf("onnx: constant %q: unsupported dtype %s", c.Name, c.DType)
	}
	return t, nil
}

// axesAttrBefore18 lists the reductions whose axes are an attribute before
// opset 18 (ReduceSum moved them to an input in opset 13).
var axesAttrBefore18 = map[string]bool{
	"ReduceMean": true, "ReduceMax": true, "ReduceMin": true, "ReduceProd": true,
	"ReduceL1": true, "ReduceL2": true, "ReduceLogSum": true, "ReduceLogSumExp": true, "ReduceSumSquare": true,
}

// emitInputs returns the inputs n has in the target opset: before opset 18
// the constant axes input of a reduction becomes an attribute.
func (n *node) emitInputs(opset int) []*Value {
	if opset < 18 && axesAttrBefore18[n.op] && len(n.inputs) > 1 {
		return n.inputs[:1]
	}
	return n.inputs
}

// nodeProto encodes n for the target opset.
func nodeProto(n *node, opset int) (*pb.NodeProto, error) {
	op, attrs := n.op, n.attrs
	if opset < 18 && axesAttrBefore18[n.op] {
		var err error
		if op, attrs, err = reduceBefore18(n); err != nil {
			return nil, err
		}
	}
	np := &pb.NodeProto{Name: proto.String(n.name), OpType: proto.String(op), Domain: proto.String("")}
	for _, in := range n.emitInputs(opset) {
		if in == nil {
			np.Input = append(np.Input, "")
		} else {
			np.Input = append(np.Input, in.Name)
		}
	}
	for _, o := range n.outputs {
		np.Output = append(np.Output, o.Name)
	}
	for _, a := range attrs {
		ap := &pb.AttributeProto{Name: proto.String(a.name)}
		kind := a.kind
		ap.Type = &kind
		switch a.kind {
		case attrInt:
			ap.I = proto.Int64(a.i)
		case attrFloat:
			ap.F = proto.Float32(float32(a.f))
		case attrInts:
			ap.Ints = append([]int64{}, a.ints...)
		case attrString:
			ap.S = []byte(a.s)
		case attrTensor:
			t, err := constTensor(a.t)
			if err != nil {
				return nil, err
			}
			ap.T = t
		default:
			return nil, fmt.Errorf("onnx: node %s: unsupported attribute kind %v", n.name, a.kind)
		}
		np.Attribute = append(np.Attribute, ap)
	}
	return np, nil
}

// reduceBefore18 returns the opset-17 form of an opset-18 reduction: the
// constant axes input becomes the axes attribute, and a reduction over no
// axes with noop_with_empty_axes (an opset-18 attribute) becomes Identity.
func reduceBefore18(n *node) (string, []attr, error) {
	if len(n.inputs) < 2 || n.inputs[1] == nil {
		for _, a := range n.attrs {
			if a.name == "noop_with_empty_axes" && a.i != 0 {
				return "Identity", nil, nil
			}
		}
		return n.op, n.attrs, nil
	}
	ax := n.inputs[1]
	if ax.kind != kindConst || ax.DType != Int64 {
		return "", nil, fmt.Errorf("onnx: node %s: %s axes must be a constant to target opset < 18", n.name, n.op)
	}
	var attrs []attr
	for _, a := range n.attrs {
		if a.name != "noop_with_empty_axes" {
			attrs = append(attrs, a)
		}
	}
	return n.op, append(attrs, attr{name: "axes", kind: attrInts, ints: append([]int64{}, ax.idata...)}), nil
}

// MarshalModel serializes a model (deterministic field order).
func MarshalModel(m *pb.ModelProto) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("onnx: marshal model: %w", err)
	}
	return b, nil
}

// SaveModel writes m to path. Initializers with more than externalThreshold
// bytes of raw data go to path+".data" (ONNX external data: location,
// offset, length; offsets aligned to 4096 bytes). externalThreshold 0 uses
// the threshold recorded by Build (ExportOptions.ExternalDataThreshold), and
// a negative value keeps everything inline. Both files are written to
// temporary names and renamed into place. m itself is not modified.
func SaveModel(path string, m *pb.ModelProto, externalThreshold int) error {
	if m == nil || m.Graph == nil {
		return fmt.Errorf("onnx: save %s: model has no graph", path)
	}
	thr := externalThreshold
	if thr == 0 {
		for _, kv := range m.MetadataProps {
			if kv.GetKey() == metaExternalThreshold {
				if n, err := strconv.Atoi(kv.GetValue()); err == nil {
					thr = n
				}
			}
		}
	}
	out := m
	dataPath := path + ".data"
	var tmpData string
	if thr > 0 {
		var big []*pb.TensorProto
		for _, t := range m.Graph.Initializer {
			if len(t.RawData) > thr {
				big = append(big, t)
			}
		}
		if len(big) > 0 {
			f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(dataPath)+".tmp*")
			if err != nil {
				return fmt.Errorf("onnx: save %s: %w", path, err)
			}
			tmpData = f.Name()
			if err := f.Chmod(0o644); err != nil { // CreateTemp makes 0600 files
				f.Close()
				os.Remove(tmpData)
				return fmt.Errorf("onnx: save %s: %w", dataPath, err)
			}
			repl := map[*pb.TensorProto]*pb.TensorProto{}
			var off int64
			loc := pb.TensorProto_EXTERNAL
			for _, t := range big {
				if pad := (4096 - off%4096) % 4096; pad > 0 {
					if _, err := f.Write(make([]byte, pad)); err != nil {
						f.Close()
						os.Remove(tmpData)
						return fmt.Errorf("onnx: save %s: %w", dataPath, err)
					}
					off += pad
				}
				if _, err := f.Write(t.RawData); err != nil {
					f.Close()
					os.Remove(tmpData)
					return fmt.Errorf("onnx: save %s: %w", dataPath, err)
				}
				repl[t] = &pb.TensorProto{
					Name: t.Name, Dims: t.Dims, DataType: t.DataType, DataLocation: &loc,
					ExternalData: []*pb.StringStringEntryProto{
						{Key: proto.String("location"), Value: proto.String(filepath.Base(dataPath))},
						{Key: proto.String("offset"), Value: proto.String(strconv.FormatInt(off, 10))},
						{Key: proto.String("length"), Value: proto.String(strconv.Itoa(len(t.RawData)))},
					},
				}
				off += int64(len(t.RawData))
			}
			if err := f.Close(); err != nil {
				os.Remove(tmpData)
				return fmt.Errorf("onnx: save %s: %w", dataPath, err)
			}
			src := m.Graph
			gp := &pb.GraphProto{
				Node: src.Node, Name: src.Name, SparseInitializer: src.SparseInitializer,
				DocString: src.DocString, Input: src.Input, Output: src.Output,
				ValueInfo: src.ValueInfo, QuantizationAnnotation: src.QuantizationAnnotation,
			}
			for _, t := range src.Initializer {
				if r, ok := repl[t]; ok {
					gp.Initializer = append(gp.Initializer, r)
				} else {
					gp.Initializer = append(gp.Initializer, t)
				}
			}
			out = &pb.ModelProto{
				IrVersion: m.IrVersion, OpsetImport: m.OpsetImport, ProducerName: m.ProducerName,
				ProducerVersion: m.ProducerVersion, Domain: m.Domain, ModelVersion: m.ModelVersion,
				DocString: m.DocString, Graph: gp, MetadataProps: m.MetadataProps,
				TrainingInfo: m.TrainingInfo, Functions: m.Functions,
			}
		}
	}
	b, err := MarshalModel(out)
	if err != nil {
		if tmpData != "" {
			os.Remove(tmpData)
		}
		return fmt.Errorf("onnx: save %s: %w", path, err)
	}
	if tmpData != "" {
		if err := os.Rename(tmpData, dataPath); err != nil {
			os.Remove(tmpData)
			return fmt.Errorf("onnx: save %s: %w", dataPath, err)
		}
	}
	return writeAtomic(path, b)
}

func writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("onnx: save %s: %w", path, err)
	}
	tmp := f.Name()
	if err := f.Chmod(0o644); err != nil { // CreateTemp makes 0600 files
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("onnx: save %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("onnx: save %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("onnx: save %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("onnx: save %s: %w", path, err)
	}
	return nil
}
