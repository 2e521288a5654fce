package video

import (
	"bytes"
	"encoding/binary"
	"image"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/tasks/frame"
)

func TestJPEGRoundTrip(t *testing.T) {
	frames, err := Synthesize(SynthOptions{W: 64, H: 48, Frames: 1, FPS: 10, Seed: 3, Objects: 2})
	if err != nil {
		t.Fatal(err)
	}
	data, err := EncodeJPEG(frames[0], 95)
	if err != nil {
		t.Fatal(err)
	}
	g, err := DecodeJPEG(data)
	if err != nil {
		t.Fatal(err)
	}
	if g.W != 64 || g.H != 48 {
		t.Fatalf("decoded %dx%d", g.W, g.H)
	}
	if d := meanAbsDiff(frames[0], g); d > 6 {
		t.Errorf("JPEG q95 round trip mean abs diff %.2f", d)
	}
}

func TestJPEGCodecsInteroperate(t *testing.T) {
	frames, err := Synthesize(SynthOptions{W: 97, H: 61, Frames: 1, FPS: 10, Seed: 5, Objects: 3})
	if err != nil {
		t.Fatal(err)
	}
	f := frames[0]
	fast, err := EncodeJPEG(f, 92)
	if err != nil {
		t.Fatal(err)
	}
	std, err := encodeJPEGGo(f, 92)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"build codec": fast, "image/jpeg": std} {
		a, err := DecodeJPEG(data)
		if err != nil {
			t.Fatalf("%s file, build decoder: %v", name, err)
		}
		b, err := decodeImageGo(data)
		if err != nil {
			t.Fatalf("%s file, image/jpeg decoder: %v", name, err)
		}
		for dec, g := range map[string]*frame.Frame{"build": a, "image/jpeg": b} {
			if g.W != f.W || g.H != f.H {
				t.Fatalf("%s file, %s decoder: %dx%d", name, dec, g.W, g.H)
			}
			if d := meanAbsDiff(f, g); d > 5 {
				t.Errorf("%s file, %s decoder: mean abs diff %.2f", name, dec, d)
			}
		}
	}
	again, _ := EncodeJPEG(f, 92)
	if !bytes.Equal(fast, again) {
		t.Error("encoding the same frame twice gave different bytes")
	}
	if _, err := DecodeJPEG([]byte("not an image")); err == nil {
		t.Error("garbage decoded")
	}
	if _, err := EncodeJPEG(f, 0); err == nil {
		t.Error("quality 0 accepted")
	}
	// FromImage: RGBA sub-image, YCbCr and generic paths agree.
	rgba := f.ToRGBA()
	sub := rgba.SubImage(image.Rect(10, 5, 40, 30))
	if g := frame.FromImage(sub); g.W != 30 || g.H != 25 || !bytes.Equal(g.Pix[:3], f.Pix[f.Offset(10, 5):f.Offset(10, 5)+3]) {
		t.Errorf("sub-image conversion is off")
	}
}

func BenchmarkJPEG(b *testing.B) {
	frames, err := Synthesize(DefaultSynthOptions())
	if err != nil {
		b.Fatal(err)
	}
	f := frame.Resize(frames[10], 295, 221)
	data, err := EncodeJPEG(f, 90)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode_295x221", func(b *testing.B) {
		for b.Loop() {
			if _, err := EncodeJPEG(f, 90); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode_295x221", func(b *testing.B) {
		for b.Loop() {
			if _, err := DecodeJPEG(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode_295x221_stdlib", func(b *testing.B) {
		for b.Loop() {
			if _, err := encodeJPEGGo(f, 90); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode_295x221_stdlib", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeImageGo(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestDecodeJPEGRefusesHugeHeader: a small file whose JPEG header declares
// 12000x12000 pixels is refused before decoding (OpenCV would allocate 432 MB).
func TestDecodeJPEGRefusesHugeHeader(t *testing.T) {
	data, err := EncodeJPEG(frame.New(16, 16), 90)
	if err != nil {
		t.Fatal(err)
	}
	// Patch the frame size in the start-of-frame segment (FFC0/FFC2).
	for i := 0; i+8 < len(data); i++ {
		if data[i] == 0xff && (data[i+1] == 0xc0 || data[i+1] == 0xc2) {
			binary.BigEndian.PutUint16(data[i+5:], 12000)
			binary.BigEndian.PutUint16(data[i+7:], 12000)
			break
		}
	}
	if _, err := DecodeJPEG(data); err == nil || !strings.Contains(err.Error(), "12000x12000") {
		t.Fatalf("huge header: %v", err)
	}
}
