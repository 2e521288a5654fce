//go:build cgo

package video

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"

	"github.com/videossr/videossr-go/tasks/frame"
)

// Decoder tuning. OpenCV's FFmpeg backend implements a seek to frame k as a
// container seek to a keyframe at or before k-16 followed by decoding up to
// k-1, so a seek costs at least ~16 decodes; grabbing (decoding without the
// colour conversion) is cheaper for short gaps.
const (
	// minSeekGap is the smallest gap (in frames) for which a seek is tried.
	minSeekGap = 24
	// maxCountedFrames bounds frame counting by decoding, used only when the
	// container reports no usable frame count.
	maxCountedFrames = 1 << 20
	// maxFrameCount is the largest container frame count taken at face
	// value; larger values are treated as corrupt and recounted.
	maxFrameCount = 1 << 28
)

// errSeekMismatch is internal: a frame reached by seeking carried a
// timestamp that does not match its index (or none), so seeking is not known
// to be exact for this file.
var errSeekMismatch = errors.New("seek landed on an unverified frame")

// capture wraps an OpenCV VideoCapture and tracks, and verifies, the index of
// the next frame it will decode. A frame's index is its position in decoding
// order (0-based), counted by the decoder one frame at a time; timestamps
// are used only to confirm seeks and to recognise timelines with gaps.
type capture struct {
	path string
	vc   *gocv.VideoCapture
	mat  gocv.Mat // the last decoded frame (BGR)
	pos  int      // index of the frame the next grab or read returns
	info Info

	nominalFPS float64 // the container's frame rate
	ms0        float64 // timestamp (ms) of frame 0
	cfr        bool    // every frame decoded so far sat at slot ms0 + index/fps
	lastSlot   int     // the largest timeline slot (timestamp x fps) decoded so far
	seeks      int     // seeks accepted (for tests)
}

// errEndOfStream is internal: decoding stopped cleanly or not, before frame
// want; pos is the number of frames decoded.
type errEndOfStream struct{ pos, want int }

func (e *errEndOfStream) Error() string {
	return fmt.Sprintf("decoding stopped after %d frames, before frame %d", e.pos, e.want)
}

func openCapture(path string, maxBytes int64) (*capture, error) {
	if err := checkFile(path, maxBytes); err != nil {
		return nil, err
	}
	c := &capture{path: path, mat: gocv.NewMat(), cfr: true}
	if err := c.open(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// open (re)opens the file with OpenCV's FFmpeg backend, whose frame
// position semantics the verification relies on. Other backends are not
// tried: they mostly add noise for files FFmpeg cannot read.
func (c *capture) open() error {
	if c.vc != nil {
		c.vc.Close()
		c.vc = nil
	}
	vc, err := gocv.VideoCaptureFileWithAPI(c.path, gocv.VideoCaptureFFmpeg)
	if err != nil || !vc.IsOpened() {
		vc.Close()
		return fmt.Errorf("video %q: %w: OpenCV (FFmpeg backend) cannot open it", c.path, ErrNotVideo)
	}
	installDecodeErrorCounter()
	c.vc = vc
	c.pos = 0
	return nil
}

// Close releases the native resources; it is idempotent.
func (c *capture) Close() {
	if c.vc != nil {
		c.vc.Close()
		c.vc = nil
	}
	if c.mat.Ptr() != nil {
		c.mat.Close()
	}

}

// posFrames returns the decoder's own count of decoded frames.
func (c *capture) posFrames() int {
	v := c.vc.Get(gocv.VideoCapturePosFrames)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return -1
	}
	return int(math.Round(v))
}

// slot returns the timeline slot (timestamp relative to frame 0, in frame
// periods) of the frame just decoded as index k, and false when the decoder
// gives no usable timestamp for it.
func (c *capture) slot(k int) (int, bool) {
	ms := c.vc.Get(gocv.VideoCapturePosMsec)
	if math.IsNaN(ms) || math.IsInf(ms, 0) || (ms == 0 && k > 0) {
		return 0, false
	}
	return int(math.Round((ms - c.ms0) * c.nominalFPS / 1000)), true
}

// decoded checks the decoder after an attempt to decode frame k = c.pos: the
// decoder's count must have advanced by exactly one. It updates the
// timeline bookkeeping and reports whether frame k was decoded.
func (c *capture) decoded(k int) bool {
	if c.posFrames() != k+1 {
		return false
	}
	c.pos = k + 1
	if s, ok := c.slot(k); ok {
		if s != k {
			c.cfr = false
		}
		c.lastSlot = max(c.lastSlot, s)
	}
	return true
}

// probe reads the container's description and decodes the first frame to
// make sure the file really is a video. When the timeline has gaps from the
// start (held frames stored once, as in tree.avi) or the container reports
// no frame count, the frames are counted by decoding the file.
func (c *capture) probe(ctx context.Context) error {
	fps := c.vc.Get(gocv.VideoCaptureFPS)
	count := c.vc.Get(gocv.VideoCaptureFrameCount)
	c.info = Info{Path: c.path, FPS: fps,
		W: int(c.vc.Get(gocv.VideoCaptureFrameWidth)), H: int(c.vc.Get(gocv.VideoCaptureFrameHeight))}
	if math.IsNaN(fps) || math.IsInf(fps, 0) || fps <= 0 || fps > 10000 {
		return fmt.Errorf("video %q: %w: no valid frame rate (reported %g)", c.path, ErrNotVideo, fps)
	}
	c.nominalFPS = fps
	if !c.vc.Read(&c.mat) || c.mat.Empty() || c.posFrames() != 1 {
		return fmt.Errorf("video %q: %w: no decodable frame", c.path, ErrNotVideo)
	}
	c.pos, c.lastSlot, c.cfr = 1, 0, true
	c.ms0 = c.vc.Get(gocv.VideoCapturePosMsec)
	if math.IsNaN(c.ms0) || math.IsInf(c.ms0, 0) {
		c.ms0 = 0
	}
	if c.info.W <= 0 || c.info.H <= 0 {
		c.info.W, c.info.H = c.mat.Cols(), c.mat.Rows()
	}
	valid := !math.IsNaN(count) && count >= 1 && count <= maxFrameCount
	if valid {
		c.info.FrameCount = int(count)
		c.info.Duration = float64(c.info.FrameCount) / fps
		if c.info.FrameCount > 1 {
			c.vc.Grab(1)
			c.decoded(1)
		}
		if c.cfr {
			return nil
		}
	}
	n, err := c.countFrames(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("video %q: %w: no decodable frame", c.path, ErrNotVideo)
	}
	c.setCounted(n)
	return nil
}

// setCounted describes the video as n decoded frames spread over the
// timeline seen so far (frame 0 to c.lastSlot): the duration is the
// timeline's and FPS the average rate of the decoded frames, so that
// Duration = FrameCount / FPS still holds.
func (c *capture) setCounted(n int) {
	c.info.FrameCount = n
	c.info.Duration = max(float64(c.lastSlot+1), float64(n)) / c.nominalFPS
	c.info.FPS = float64(n) / c.info.Duration
	c.cfr = false // indices are decoding order, not timeline slots
}

// countFrames decodes the whole file to count its frames and leaves the
// capture reopened at frame 0.
func (c *capture) countFrames(ctx context.Context) (int, error) {
	if err := c.open(); err != nil {
		return 0, err
	}
	c.lastSlot = 0
	for c.pos < maxCountedFrames {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("video %q: counting frames: %w", c.path, err)
		}
		c.vc.Grab(1)
		if !c.decoded(c.pos) {
			break
		}
	}
	n := c.pos
	if err := c.open(); err != nil {
		return 0, err
	}
	return n, nil
}

// grabTo decodes (without colour conversion) until the next frame is k,
// verifying each step against the decoder's count.
func (c *capture) grabTo(ctx context.Context, k int) error {
	for c.pos < k {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("video %q: %w", c.path, err)
		}
		c.vc.Grab(1)
		if !c.decoded(c.pos) {
			return &errEndOfStream{pos: c.pos, want: k}
		}
	}
	return nil
}

// seek positions the capture so the next frame is k. It reports false when
// the decoder does not confirm the position; the capture state is then
// unknown and must be reopened.
func (c *capture) seek(k int) bool {
	c.vc.Set(gocv.VideoCapturePosFrames, float64(k))
	if c.posFrames() != k {
		return false
	}
	c.pos = k
	return true
}

// read decodes frame k (the next frame) into c.mat. After a seek the
// frame's timestamp must put it at slot k, else errSeekMismatch.
func (c *capture) read(k int, seeked bool) error {
	if c.pos != k {
		return fmt.Errorf("video %q: internal error: at frame %d, want %d", c.path, c.pos, k)
	}
	if !c.vc.Read(&c.mat) || c.mat.Empty() {
		return &errEndOfStream{pos: c.pos, want: k}
	}
	if seeked {
		if s, ok := c.slot(k); !ok || s != k || c.posFrames() != k+1 {
			return errSeekMismatch
		}
	}
	if !c.decoded(k) {
		return &errEndOfStream{pos: c.pos, want: k}
	}
	return nil
}

// frame converts c.mat (BGR) to an RGB Frame of w x h pixels (0, 0: the
// decoded size). The decoded pixels are read in place: a resize (Resize's
// integer area/bilinear filter) or a plain copy swaps the channels on the
// way, so each frame is touched once.
func (c *capture) frame(w, h int) (*frame.Frame, error) {
	if c.mat.Type() != gocv.MatTypeCV8UC3 {
		return nil, fmt.Errorf("video %q: unsupported decoded pixel type %v", c.path, c.mat.Type())
	}
	W, H := c.mat.Cols(), c.mat.Rows()
	data, err := c.mat.DataPtrUint8()
	if err != nil || W <= 0 || H <= 0 || len(data) < 3*W*H {
		return nil, fmt.Errorf("video %q: unreadable decoded frame buffer", c.path)
	}
	data = data[:3*W*H]
	if w <= 0 || h <= 0 || (w == W && h == H) {
		f := frame.New(W, H)
		bgrToRGB(f.Pix, data)
		return f, nil
	}
	return frame.ResizeBGR(data, W, H, w, h), nil
}

// bgrToRGB copies src (BGR) into dst (RGB).
func bgrToRGB(dst, src []byte) {
	for i := 0; i+2 < len(src); i += 3 {
		dst[i], dst[i+1], dst[i+2] = src[i+2], src[i+1], src[i]
	}
}

// Probe opens a video and reports its frame rate, frame count, duration and
// frame size. It decodes the first two frames, so a file that opens but
// holds no decodable frame fails with ErrNotVideo. When the container's
// timeline has gaps from the start (frames held on screen are stored once)
// or it reports no frame count, Probe counts the frames by decoding the
// file: FrameCount is then the decodable frames, Duration the timeline's,
// and FPS their ratio.
func Probe(path string) (Info, error) {
	c, err := openCapture(path, 0)
	if err != nil {
		return Info{}, err
	}
	defer c.Close()
	if err := c.probe(context.Background()); err != nil {
		return Info{}, err
	}
	return c.info, nil
}

// Sample decodes opt.N frames uniformly spaced over the [StartFrac, EndFrac]
// span of the video (see SampleIndices), resizes them to the pixel budget
// (with Resize's filter: area averaging when shrinking, bilinear when
// growing) and returns them as RGB frames.
//
// Frame indices are exact positions in decoding order: the decoder's frame
// counter is checked after every decoded frame. Long gaps are crossed by
// seeking when that is measured to be cheaper than decoding forward; a seek
// is accepted only if the frame it lands on carries the timestamp of the
// requested index, otherwise the file is decoded sequentially. A container
// that promises more frames than it holds is told apart from a truncated
// file by the timestamps: if the decoded frames reach the end of the
// promised timeline (held frames stored once), the video is resampled over
// the frames that exist; otherwise the file is truncated.
//
// Damage: FFmpeg's decoders report errors (broken slices, bad macroblocks,
// invalid data) through its log while they conceal them, and OpenCV hands
// the concealed frames back as if nothing happened. Sample counts those
// error messages while it decodes the video; if there are any, it fails
// with ErrDamaged naming the file, or, with opt.KeepDamaged, returns the
// frames with Sampled.DecodeErrors set. Only the frames decoded are
// checked (those sampled and those decoded on the way to them): damage in
// a stretch crossed by a seek, or beyond the last sampled frame, is not
// seen, nor is damage that decodes without an error (e.g. flipped bits in
// a JPEG's coefficients).
//
// Errors: ErrNotFound, ErrNotRegular, ErrTooLarge, ErrEmpty, ErrNotVideo,
// ErrTruncated (a promised frame cannot be decoded), ErrTooShort (fewer
// than N frames in the span), ErrDamaged, or the context's error. Each
// names the file.
func Sample(ctx context.Context, path string, opt SampleOptions) (*Sampled, error) {
	if err := opt.validate(); err != nil {
		return nil, fmt.Errorf("video %q: %w", path, err)
	}
	alone, seq := decodeGate.enter(false)
	e0 := decodeErrors()
	out, err := sampleFile(ctx, path, opt)
	n := decodeErrors() - e0
	alone = decodeGate.leave(false, alone, seq)
	if err != nil || n == 0 {
		return out, err
	}
	if !alone {
		// Another video was decoded at the same time and the errors may be
		// its own: decode this one again with no other decoder running.
		_, seq = decodeGate.enter(true)
		e0 = decodeErrors()
		out, err = sampleFile(ctx, path, opt)
		n = decodeErrors() - e0
		decodeGate.leave(true, true, seq)
		if err != nil || n == 0 {
			return out, err
		}
	}
	if !opt.KeepDamaged {
		return nil, fmt.Errorf("video %q: %w: FFmpeg logged %d decoding error(s) while its frames were decoded (its own lines say more)", path, ErrDamaged, n)
	}
	out.DecodeErrors = int(n)
	return out, nil
}

// sampleFile opens, probes and samples a video and closes it again, so
// that every decoder thread has finished (and logged) when it returns.
func sampleFile(ctx context.Context, path string, opt SampleOptions) (*Sampled, error) {
	c, err := openCapture(path, opt.MaxFileBytes)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.probe(ctx); err != nil {
		return nil, err
	}
	return c.sampleAll(ctx, opt, !c.cfr)
}

// gate tells whether a decode ran alone: FFmpeg's log, the only place its
// decoders report concealed damage, is one per process, so an error
// message cannot be traced to the video that caused it while several are
// decoded at once. Decodes share the gate; a decode that saw errors while
// others ran is repeated holding it alone.
type gate struct {
	mu     sync.RWMutex
	active atomic.Int32
	starts atomic.Int64
}

// decodeGate is process-wide because FFmpeg's log callback is.
var decodeGate gate

// enter starts a decode (exclusive: no other decode runs until leave). It
// reports whether no other decode was running, and the start sequence.
func (g *gate) enter(exclusive bool) (bool, int64) {
	if exclusive {
		g.mu.Lock()
	} else {
		g.mu.RLock()
	}
	n := g.active.Add(1)
	return n == 1, g.starts.Add(1)
}

// leave ends a decode started by enter and reports whether it ran alone
// from start to end.
func (g *gate) leave(exclusive, alone bool, seq int64) bool {
	alone = alone && g.starts.Load() == seq
	g.active.Add(-1)
	if exclusive {
		g.mu.Unlock()
	} else {
		g.mu.RUnlock()
	}
	return alone
}

// sampleAll samples a probed capture. counted tells that the frame count
// was already established by decoding.
func (c *capture) sampleAll(ctx context.Context, opt SampleOptions, counted bool) (*Sampled, error) {
	for {
		idx, err := SampleIndices(c.info.FrameCount, opt)
		if err != nil {
			return nil, fmt.Errorf("video %q: %w", c.path, err)
		}
		out, err := c.sample(ctx, idx, opt)
		var eos *errEndOfStream
		if !errors.As(err, &eos) {
			return out, err
		}
		promised := c.info.FrameCount
		tol := max(3, promised/100)
		if counted || c.lastSlot < promised-1-tol {
			return nil, fmt.Errorf("video %q: %w: cannot decode frame %d of %d (%v)",
				c.path, ErrTruncated, eos.want, promised, err)
		}
		// The decoded frames cover the promised timeline: the container
		// counts timeline slots, not frames. Resample over the frames
		// that exist, decoding sequentially.
		c.setCounted(eos.pos)
		counted = true
		if err := c.open(); err != nil {
			return nil, err
		}
	}
}

// sample decodes the frames at the given indices.
func (c *capture) sample(ctx context.Context, idx []int, opt SampleOptions) (*Sampled, error) {
	out := &Sampled{
		Info:      c.info,
		Indices:   make([]int, 0, len(idx)),
		Times:     make([]float64, 0, len(idx)),
		Frames:    make([]*frame.Frame, 0, len(idx)),
		SampleFPS: float64(opt.N) / c.info.Duration,
	}
	var cost decodeCost
	for _, k := range idx {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("video %q: %w", c.path, err)
		}
		if k < c.pos {
			if err := c.open(); err != nil {
				return nil, err
			}
		}
		seeked := false
		if gap := k - c.pos; c.cfr && cost.preferSeek(gap) {
			t0 := time.Now()
			if c.seek(k) {
				seeked = true
				c.seeks++
				cost.addSeek(time.Since(t0))
			} else {
				c.cfr = false // seeking unusable: decode sequentially from here on
				if err := c.open(); err != nil {
					return nil, err
				}
			}
		}
		t0, from := time.Now(), c.pos
		if err := c.grabTo(ctx, k); err != nil {
			return nil, err
		}
		cost.addGrabs(time.Since(t0), k-from)
		err := c.read(k, seeked)
		if errors.Is(err, errSeekMismatch) {
			// Seeking is not frame-exact for this file: decode
			// sequentially from the start instead.
			c.cfr = false
			c.seeks--
			if err = c.open(); err == nil {
				if err = c.grabTo(ctx, k); err == nil {
					err = c.read(k, false)
				}
			}
		}
		if err != nil {
			return nil, err
		}
		var w, h int
		if opt.MaxPixels > 0 || opt.MinPixels > 0 {
			w, h = frame.FitPixels(c.mat.Cols(), c.mat.Rows(), opt.MaxPixels, opt.MinPixels)
		}
		f, err := c.frame(w, h)
		if err != nil {
			return nil, err
		}
		out.Indices = append(out.Indices, k)
		out.Times = append(out.Times, float64(k)/c.info.FPS)
		out.Frames = append(out.Frames, f)
	}
	return out, nil
}

// decodeCost keeps running estimates of the cost of one grab and of one
// seek, to decide whether a gap is crossed by seeking or by decoding.
type decodeCost struct {
	grabNs, seekNs float64
	grabs, seeks   int
}

func (d *decodeCost) addGrabs(t time.Duration, n int) {
	if n <= 0 {
		return
	}
	per := float64(t.Nanoseconds()) / float64(n)
	d.grabNs = (d.grabNs*float64(d.grabs) + per*float64(n)) / float64(d.grabs+n)
	d.grabs += n
}

func (d *decodeCost) addSeek(t time.Duration) {
	d.seekNs = (d.seekNs*float64(d.seeks) + float64(t.Nanoseconds())) / float64(d.seeks+1)
	d.seeks++
}

// preferSeek reports whether crossing gap frames (the frames decoded before
// the target) is expected to be cheaper by seeking. Until both costs are
// measured, a seek is tried only for gaps well beyond the ~16 frames an
// OpenCV seek decodes anyway.
func (d *decodeCost) preferSeek(gap int) bool {
	if gap < minSeekGap {
		return false
	}
	if d.seeks == 0 || d.grabs == 0 {
		return gap >= 2*minSeekGap
	}
	return d.seekNs < float64(gap)*d.grabNs
}

// codecFor picks the FourCC for a container extension.
func codecFor(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".avi":
		return "MJPG", nil
	case ".mp4", ".m4v", ".mov":
		return "mp4v", nil
	default:
		return "", fmt.Errorf("write video %q: unsupported extension %q (use .avi or .mp4)", path, filepath.Ext(path))
	}
}

// WriteVideo writes frames (all the same size) to path at the given frame
// rate: Motion-JPEG for .avi, MPEG-4 Part 2 for .mp4. The file is written
// under a temporary name and renamed into place when complete.
func WriteVideo(path string, frames []*frame.Frame, fps float64) error {
	if len(frames) == 0 {
		return fmt.Errorf("write video %q: no frames", path)
	}
	for i, f := range frames {
		if f == nil {
			return fmt.Errorf("write video %q: frame %d is nil", path, i)
		}
	}
	return writeVideo(context.Background(), path, frames[0].W, frames[0].H, fps, len(frames),
		func(i int) (*frame.Frame, error) { return frames[i], nil })
}

// writeVideo writes n frames produced by get.
func writeVideo(ctx context.Context, path string, w, h int, fps float64, n int, get func(int) (*frame.Frame, error)) error {
	codec, err := codecFor(path)
	if err != nil {
		return err
	}
	if math.IsNaN(fps) || fps <= 0 || math.IsInf(fps, 0) {
		return fmt.Errorf("write video %q: invalid frame rate %g", path, fps)
	}
	if w <= 0 || h <= 0 {
		return fmt.Errorf("write video %q: invalid frame size %dx%d", path, w, h)
	}
	dir, base := filepath.Dir(path), filepath.Base(path)
	tmpf, err := os.CreateTemp(dir, "."+strings.TrimSuffix(base, filepath.Ext(base))+".tmp-*"+filepath.Ext(base))
	if err != nil {
		return fmt.Errorf("write video %q: %w", path, err)
	}
	tmp := tmpf.Name()
	tmpf.Close()
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	vw, err := gocv.VideoWriterFile(tmp, codec, fps, w, h, true)
	if err != nil {
		return fmt.Errorf("write video %q: %w", path, err)
	}
	if !vw.IsOpened() {
		vw.Close()
		return fmt.Errorf("write video %q: OpenCV cannot open a %s writer", path, codec)
	}
	mat := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	werr := func() error {
		data, err := mat.DataPtrUint8()
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			f, err := get(i)
			if err != nil {
				return err
			}
			if err := f.Validate(); err != nil {
				return fmt.Errorf("frame %d: %w", i, err)
			}
			if f.W != w || f.H != h {
				return fmt.Errorf("frame %d is %dx%d, want %dx%d", i, f.W, f.H, w, h)
			}
			bgrToRGB(data, f.Pix) // the swap is its own inverse
			if err := vw.Write(mat); err != nil {
				return fmt.Errorf("frame %d: %w", i, err)
			}
		}
		return nil
	}()
	mat.Close()
	vw.Close()
	if werr != nil {
		return fmt.Errorf("write video %q: %w", path, werr)
	}
	if st, err := os.Stat(tmp); err != nil || st.Size() == 0 {
		return fmt.Errorf("write video %q: OpenCV wrote no data", path)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("write video %q: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write video %q: %w", path, err)
	}
	ok = true
	return nil
}

// MakeSyntheticVideo renders the synthetic video described by opt (see
// Synthesize) and writes it to path (.avi or .mp4).
func MakeSyntheticVideo(ctx context.Context, path string, opt SynthOptions) error {
	s, err := newSynth(opt)
	if err != nil {
		return fmt.Errorf("synthetic video %q: %w", path, err)
	}
	return writeVideo(ctx, path, opt.W, opt.H, opt.FPS, opt.Frames, func(i int) (*frame.Frame, error) {
		return s.frame(i), nil
	})
}
