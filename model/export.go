package model

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/videossr/videossr-go/model/onnx"
	"github.com/videossr/videossr-go/model/onnx/pb"
	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/model/safetensors"
)

// Files and folders of an exported model folder (Hugging Face layout plus
// the ONNX graphs).
const (
	ConfigFile       = "config.json"
	WeightsFile      = "model.safetensors"
	PreprocessorFile = "preprocessor_config.json"
	ONNXDir          = "onnx"
	IOFile           = "io.json"
)

// IOFormat names the layout of onnx/io.json.
const IOFormat = "videossr-onnx-io/1"

// DefaultExternalDataThreshold is the initializer size in bytes above which
// Export moves a tensor to the graph's external data file.
const DefaultExternalDataThreshold = 1 << 20

// ExportOptions controls Export.
type ExportOptions struct {
	// Graphs to write under onnx/ (default AllGraphs()).
	Graphs []string
	// Loss of the GRPO training graph (default DefaultGRPOLoss()); its
	// temperature also scales the log-prob graph.
	Loss LossConfig
	// Opset of the ONNX graphs (default onnx.DefaultOpset; onnx.MinOpset
	// for tools that predate opset 18).
	Opset int
	// ExternalDataThreshold: initializers of more bytes go to
	// onnx/<graph>.onnx.data (default DefaultExternalDataThreshold; a
	// negative value keeps every tensor inside the .onnx file).
	ExternalDataThreshold int
	// MinPixels and MaxPixels go to preprocessor_config.json (defaults:
	// Qwen2-VL's 3136 and 12845056).
	MinPixels, MaxPixels int
	// Files are extra files written into the folder as they are, by name
	// (e.g. tokenizer.json, tokenizer_config.json).
	Files map[string][]byte
	// Metadata is added to model.safetensors' header ("format": "pt" is
	// always set).
	Metadata map[string]string
}

// IOTensor describes one graph input or output in io.json. Shape entries are
// numbers for static dimensions and names for symbolic ones.
type IOTensor struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []any  `json:"shape"`
	// Param marks a trainable parameter (training graphs take them as
	// inputs) and Grad the gradient of one (GradPrefix + name).
	Param bool `json:"param,omitempty"`
	Grad  bool `json:"grad,omitempty"`
}

// IOGraph describes one exported graph in io.json.
type IOGraph struct {
	Name string `json:"name"`
	File string `json:"file"`
	// ExternalData is the file holding the large initializers ("" = none).
	ExternalData string `json:"external_data,omitempty"`
	// Weights is "initializers" when the parameters are embedded (the
	// graph runs standalone) or "inputs" when they are fed (training graphs).
	Weights string     `json:"weights"`
	Loss    *IOLoss    `json:"loss,omitempty"`
	Inputs  []IOTensor `json:"inputs"`
	Outputs []IOTensor `json:"outputs"`
}

// IOLoss records the loss a training graph computes.
type IOLoss struct {
	Mode        string  `json:"mode"`
	ClipLow     float64 `json:"clip_low"`
	ClipHigh    float64 `json:"clip_high"`
	ClipC       float64 `json:"clip_c"`
	KLType      string  `json:"kl_type"`
	KLCoef      float64 `json:"kl_coef"`
	EntropyCoef float64 `json:"entropy_coef"`
	Agg         string  `json:"loss_agg_mode"`
	Temperature float64 `json:"temperature"`
	// Recompute: the graph recomputes each layer's activations in the
	// backward pass (LossConfig.Recompute); gradients are unchanged.
	Recompute bool `json:"recompute,omitempty"`
}

// IOSpec is the content of onnx/io.json.
type IOSpec struct {
	Format    string    `json:"format"`
	Producer  string    `json:"producer"`
	IRVersion int       `json:"ir_version"`
	Opset     int       `json:"opset"`
	NumParams int       `json:"num_params"`
	Graphs    []IOGraph `json:"graphs"`
}

// Graph returns the entry of the named graph.
func (s *IOSpec) Graph(name string) (IOGraph, bool) {
	for _, g := range s.Graphs {
		if g.Name == name {
			return g, true
		}
	}
	return IOGraph{}, false
}

// LoadIOSpec reads an onnx/io.json file.
func LoadIOSpec(path string) (*IOSpec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read io spec: %w", err)
	}
	var s IOSpec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if s.Format != IOFormat {
		return nil, fmt.Errorf("%s: format %q, want %q", path, s.Format, IOFormat)
	}
	return &s, nil
}

// Export writes a Hugging Face style model folder to dir (created if
// missing): config.json, model.safetensors (HF weight names),
// preprocessor_config.json, opt.Files, and onnx/<graph>.onnx for each graph
// with onnx/io.json describing every graph's inputs and outputs. The
// inference graphs (vision, prefill, decode, logprob) embed the weights as
// initializers, so they run standalone; the training graphs take the
// parameters as inputs and output one gradient per parameter. Every file is
// written to a temporary name and renamed into place.
func Export(ctx context.Context, dir string, c Config, store *params.Store, opt ExportOptions) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if store == nil {
		return fmt.Errorf("export: no parameter store")
	}
	if err := checkStore(c, store); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if len(opt.Graphs) == 0 {
		opt.Graphs = AllGraphs()
	}
	if opt.Loss.Mode == "" {
		opt.Loss = DefaultGRPOLoss()
	}
	if opt.Opset == 0 {
		opt.Opset = onnx.DefaultOpset
	}
	if opt.ExternalDataThreshold == 0 {
		opt.ExternalDataThreshold = DefaultExternalDataThreshold
	}
	if opt.MinPixels == 0 {
		opt.MinPixels = 3136
	}
	if opt.MaxPixels == 0 {
		opt.MaxPixels = 12845056
	}
	for name := range opt.Files {
		if name == "" || filepath.Base(name) != name || name == ConfigFile || name == WeightsFile || name == ONNXDir {
			return fmt.Errorf("export: extra file name %q must be a plain file name other than %s, %s and %s", name, ConfigFile, WeightsFile, ONNXDir)
		}
	}
	onnxDir := filepath.Join(dir, ONNXDir)
	if err := os.MkdirAll(onnxDir, 0o755); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	// torch_dtype says what the weights file holds (transformers loads
	// "auto" dtypes from it).
	if dt := TorchDtypeOf(store); dt != "" {
		c.TorchDtype = dt
	}
	if err := c.SaveJSON(filepath.Join(dir, ConfigFile)); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	meta := map[string]string{"format": "pt"}
	for k, v := range opt.Metadata {
		meta[k] = v
	}
	if err := store.Save(filepath.Join(dir, WeightsFile), meta); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if err := SaveProcessor(dir, c, opt.MinPixels, opt.MaxPixels); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	names := make([]string, 0, len(opt.Files))
	for name := range opt.Files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := writeFileAtomic(filepath.Join(dir, name), opt.Files[name]); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	spec := &IOSpec{Format: IOFormat, Producer: "videossr-go", IRVersion: onnx.IRVersion, Opset: opt.Opset, NumParams: int(store.NumParams())}
	for _, name := range opt.Graphs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		ig, err := exportGraph(c, store, name, onnxDir, opt)
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		spec.Graphs = append(spec.Graphs, ig)
	}
	if err := writeJSON(filepath.Join(onnxDir, IOFile), spec); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// torchDtypes maps the torch dtype names of config.json's torch_dtype (and
// of model.lora.base_dtype) to the safetensors float dtypes.
var torchDtypes = map[string]string{"float32": safetensors.F32, "bfloat16": safetensors.BF16, "float16": safetensors.F16}

// DTypeOfTorch returns the safetensors dtype of a torch dtype name
// ("float32", "bfloat16", "float16"), or "" for any other name.
func DTypeOfTorch(name string) string { return torchDtypes[name] }

// TorchDtypeOf is the torch dtype name (config.json's torch_dtype) of the
// store's values when they all have one storage dtype, else "".
func TorchDtypeOf(store *params.Store) string {
	dt := ""
	for i, p := range store.Params() {
		if i > 0 && p.StorageDType() != dt {
			return ""
		}
		dt = p.StorageDType()
	}
	for name, st := range torchDtypes {
		if st == dt {
			return name
		}
	}
	return ""
}

// isTrainGraph reports whether a graph takes the parameters as inputs.
func isTrainGraph(name string) bool { return name == GraphGRPO || name == GraphSFT }

func exportGraph(c Config, store *params.Store, name, dir string, opt ExportOptions) (IOGraph, error) {
	b, err := BuildGraph(c, name, onnx.Float32, opt.Loss)
	if err != nil {
		return IOGraph{}, err
	}
	eo := onnx.ExportOptions{Opset: opt.Opset}
	ig := IOGraph{Name: name, File: name + ".onnx", Weights: "initializers"}
	if isTrainGraph(name) {
		eo.ParamsAsInputs = true
		ig.Weights = "inputs"
		lc := opt.Loss
		if name == GraphSFT {
			lc = SFTLoss()
			lc.Recompute = opt.Loss.Recompute // as BuildGraph builds it
		}
		ig.Loss = &IOLoss{Mode: lc.Mode, ClipLow: lc.ClipLow, ClipHigh: lc.ClipHigh, ClipC: lc.ClipC, KLType: lc.KLType,
			KLCoef: lc.KLCoef, EntropyCoef: lc.EntropyCoef, Agg: lc.Agg, Temperature: lc.Temperature, Recompute: lc.Recompute}
	} else {
		eo.ParamData = ParamData(store)
	}
	m, err := b.Graph.Build(eo)
	if err != nil {
		return IOGraph{}, fmt.Errorf("build %s graph: %w", name, err)
	}
	m.DocString = ptr(fmt.Sprintf("Qwen2-VL %s graph of a %d-parameter model (videossr-go); inputs and outputs: io.json", name, store.NumParams()))
	isParam := map[string]bool{}
	for _, p := range b.Params {
		isParam[p.Name] = true
	}
	for _, vi := range m.Graph.Output {
		nameOutputDims(vi, outputDims(name, vi.GetName()))
	}
	for _, vi := range m.Graph.Input {
		t := ioTensor(vi)
		t.Param = isParam[t.Name]
		ig.Inputs = append(ig.Inputs, t)
	}
	for _, vi := range m.Graph.Output {
		t := ioTensor(vi)
		t.Grad = strings.HasPrefix(t.Name, GradPrefix) && isParam[strings.TrimPrefix(t.Name, GradPrefix)]
		ig.Outputs = append(ig.Outputs, t)
	}
	path := filepath.Join(dir, ig.File)
	data := path + ".data"
	if err := os.Remove(data); err != nil && !os.IsNotExist(err) {
		return IOGraph{}, fmt.Errorf("remove stale %s: %w", data, err)
	}
	thr := opt.ExternalDataThreshold
	if thr < 0 {
		thr = -1
	}
	if err := onnx.SaveModel(path, m, thr); err != nil {
		return IOGraph{}, fmt.Errorf("save %s graph: %w", name, err)
	}
	if _, err := os.Stat(data); err == nil {
		ig.ExternalData = filepath.Base(data)
	}
	return ig, nil
}

func ptr[T any](v T) *T { return &v }

// outputDims names the symbolic dimensions of a graph output (by the names
// the graph inputs use: batch, seq, past, total, response, vision_tokens);
// "" keeps a dimension as the builder inferred it.
func outputDims(graph, output string) []string {
	switch {
	case output == OutVisionEmbed && graph == GraphVision:
		return []string{"vision_tokens", ""}
	case output == OutLogits:
		return []string{"batch", ""}
	case strings.HasPrefix(output, "present."):
		if graph == GraphDecode {
			return []string{"batch", "", "total", ""}
		}
		return []string{"batch", "", "seq", ""}
	case output == OutLogProbs, output == OutEntropy && graph == GraphLogProb:
		return []string{"batch", "response"}
	}
	return nil
}

// nameOutputDims writes names into the dynamic dimensions of an output's
// declared shape; a dynamic dimension left unnamed gets <output>_dim<i>.
func nameOutputDims(vi *pb.ValueInfoProto, names []string) {
	for i, d := range vi.GetType().GetTensorType().GetShape().GetDim() {
		if _, static := d.GetValue().(*pb.TensorShapeProto_Dimension_DimValue); static {
			continue
		}
		if d.GetDimParam() != "" {
			continue
		}
		n := fmt.Sprintf("%s_dim%d", vi.GetName(), i)
		if i < len(names) && names[i] != "" {
			n = names[i]
		}
		d.Value = &pb.TensorShapeProto_Dimension_DimParam{DimParam: n}
	}
}

func ioTensor(vi *pb.ValueInfoProto) IOTensor {
	tt := vi.GetType().GetTensorType()
	t := IOTensor{Name: vi.GetName(), DType: onnx.DType(tt.GetElemType()).String(), Shape: []any{}}
	for _, d := range tt.GetShape().GetDim() {
		switch v := d.GetValue().(type) {
		case *pb.TensorShapeProto_Dimension_DimValue:
			t.Shape = append(t.Shape, v.DimValue)
		case *pb.TensorShapeProto_Dimension_DimParam:
			t.Shape = append(t.Shape, v.DimParam)
		default:
			t.Shape = append(t.Shape, "?")
		}
	}
	return t
}

// checkStore verifies that the store holds exactly the model's parameters
// with the right shapes, in any storage dtype (unlike Config.CheckStore:
// a merged LoRA model keeps its base's BF16 weights without a LoRA config,
// and the exported initializers are written from their float32 values).
func checkStore(c Config, store *params.Store) error {
	specs := c.ParamSpecs()
	if store.Len() != len(specs) {
		return fmt.Errorf("store has %d tensors, the model %d", store.Len(), len(specs))
	}
	for _, sp := range specs {
		if _, err := specParam(store, sp); err != nil {
			return err
		}
	}
	return nil
}

// SaveProcessor writes dir/preprocessor_config.json: the model's patch
// sizes and pixel normalisation (ImageNorm) in the Hugging Face processor
// layout, with the frame area bounds minPixels and maxPixels.
func SaveProcessor(dir string, c Config, minPixels, maxPixels int) error {
	return writeJSON(filepath.Join(dir, PreprocessorFile), c.preprocessorConfig(minPixels, maxPixels))
}

// preprocessorConfig is the Hugging Face Qwen2VLImageProcessor
// configuration of the model's preprocessing.
func (c Config) preprocessorConfig(minPixels, maxPixels int) map[string]any {
	v := c.VisionConfig
	mean, std := c.ImageNorm()
	proc, class := "Qwen2VLImageProcessor", "Qwen2VLProcessor"
	switch c.ModelType {
	case ModelQwen25VL:
		class = "Qwen2_5_VLProcessor"
	case ModelQwen3VL:
		class = "Qwen3VLProcessor"
	}
	return map[string]any{
		"image_processor_type": proc,
		"processor_class":      class,
		"do_resize":            true,
		"do_rescale":           true,
		"rescale_factor":       1.0 / 255,
		"do_normalize":         true,
		"do_convert_rgb":       true,
		"image_mean":           mean[:],
		"image_std":            std[:],
		"min_pixels":           minPixels,
		"max_pixels":           maxPixels,
		"patch_size":           v.PatchSize,
		"temporal_patch_size":  v.TemporalPatchSize,
		"merge_size":           v.SpatialMergeSize,
	}
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("marshal %s: %w", filepath.Base(path), err)
	}
	return writeFileAtomic(path, append(b, '\n'))
}
