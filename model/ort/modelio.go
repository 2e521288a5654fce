package ort

import (
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/videossr/videossr-go/model/onnx/pb"
)

// TensorInfo describes one graph input or output.
type TensorInfo struct {
	Name  string
	DType DType
	// Shape has -1 for a dynamic (symbolic or unknown) dimension. A nil
	// Shape means the model does not state the rank; []int64{} is rank 0.
	Shape []int64
}

// Static reports whether the rank and every dimension are known.
func (ti TensorInfo) Static() bool {
	if ti.Shape == nil {
		return false
	}
	return !slices.Contains(ti.Shape, -1)
}

// String formats the info as name:dtype[d0,d1,...].
func (ti TensorInfo) String() string {
	if ti.Shape == nil {
		return fmt.Sprintf("%s:%s[?]", ti.Name, ti.DType)
	}
	return fmt.Sprintf("%s:%s%v", ti.Name, ti.DType, ti.Shape)
}

// ModelIO returns the graph inputs (excluding inputs that are also
// initializers, as ONNX Runtime does) and outputs of a serialized ONNX
// model. It only decodes the graph's input, output and initializer names,
// so initializer payloads are skipped without being copied.
func ModelIO(model []byte) (inputs, outputs []TensorInfo, err error) {
	graph, err := findField(model, 7)
	if err != nil {
		return nil, nil, fmt.Errorf("ort: read model: %w", err)
	}
	if graph == nil {
		return nil, nil, errors.New("ort: read model: model has no graph")
	}
	var ins, outs [][]byte
	inits := map[string]bool{}
	err = eachField(graph, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 11:
			ins = append(ins, v)
		case 12:
			outs = append(outs, v)
		case 5: // initializer: TensorProto, name = 8
			name, err := findField(v, 8)
			if err != nil {
				return fmt.Errorf("initializer: %w", err)
			}
			inits[string(name)] = true
		case 15: // sparse_initializer: values (1) is a TensorProto named like the input
			vals, err := findField(v, 1)
			if err != nil {
				return fmt.Errorf("sparse initializer: %w", err)
			}
			name, err := findField(vals, 8)
			if err != nil {
				return fmt.Errorf("sparse initializer: %w", err)
			}
			inits[string(name)] = true
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("ort: read model graph: %w", err)
	}
	for _, b := range ins {
		ti, err := valueInfo(b)
		if err != nil {
			return nil, nil, fmt.Errorf("ort: read model graph input: %w", err)
		}
		if !inits[ti.Name] {
			inputs = append(inputs, ti)
		}
	}
	for _, b := range outs {
		ti, err := valueInfo(b)
		if err != nil {
			return nil, nil, fmt.Errorf("ort: read model graph output: %w", err)
		}
		outputs = append(outputs, ti)
	}
	return inputs, outputs, nil
}

func valueInfo(b []byte) (TensorInfo, error) {
	var vi pb.ValueInfoProto
	if err := proto.Unmarshal(b, &vi); err != nil {
		return TensorInfo{}, err
	}
	ti := TensorInfo{Name: vi.GetName()}
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return TensorInfo{}, fmt.Errorf("%q is not a tensor (sequence, map and optional values are not supported)", ti.Name)
	}
	ti.DType = DType(tt.GetElemType())
	if sh := tt.GetShape(); sh != nil {
		ti.Shape = make([]int64, len(sh.GetDim()))
		for i, d := range sh.GetDim() {
			if _, ok := d.GetValue().(*pb.TensorShapeProto_Dimension_DimValue); ok && d.GetDimValue() >= 0 {
				ti.Shape[i] = d.GetDimValue()
			} else {
				ti.Shape[i] = -1
			}
		}
	}
	return ti, nil
}

// eachField calls fn for every top-level field of a protobuf message.
func eachField(b []byte, fn func(protowire.Number, protowire.Type, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return protowire.ParseError(m)
		}
		val := b[:m]
		if typ == protowire.BytesType {
			v, k := protowire.ConsumeBytes(b)
			if k < 0 {
				return protowire.ParseError(k)
			}
			val = v
		}
		if err := fn(num, typ, val); err != nil {
			return err
		}
		b = b[m:]
	}
	return nil
}

// findField returns the payload of the last length-delimited field num in
// b (protobuf's last-one-wins rule), or nil when absent.
func findField(b []byte, num protowire.Number) ([]byte, error) {
	var out []byte
	err := eachField(b, func(n protowire.Number, typ protowire.Type, v []byte) error {
		if n == num && typ == protowire.BytesType {
			out = v
		}
		return nil
	})
	return out, err
}
