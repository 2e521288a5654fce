package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestHandWrittenLayout checks Encode and Parse against bytes written out by hand.
func TestHandWrittenLayout(t *testing.T) {
	header := `{"__metadata__":{"format":"pt"},` +
		`"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},` +
		`"b":{"dtype":"BF16","shape":[],"data_offsets":[8,10]}}` + "     " // 139 + 5 = 144 bytes
	var want []byte
	want = append(want, 0x90, 0, 0, 0, 0, 0, 0, 0) // 144, little-endian
	want = append(want, header...)
	want = append(want, 0x00, 0x00, 0x80, 0x3f) // 1.0f
	want = append(want, 0x00, 0x00, 0x00, 0xc0) // -2.0f
	want = append(want, 0xc0, 0x3f)             // bf16 1.5

	a, err := FromFloat32("a", F32, []int64{2}, []float32{1, -2})
	if err != nil {
		t.Fatal(err)
	}
	b, err := FromFloat32("b", BF16, []int64{}, []float32{1.5})
	if err != nil {
		t.Fatal(err)
	}
	// Given in the "wrong" order: Encode must sort by element size, then name.
	got, err := Encode([]Tensor{b, a}, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("layout mismatch\n got %q\nwant %q", got, want)
	}

	f, err := Parse(want)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata()["format"] != "pt" {
		t.Errorf("metadata = %v", f.Metadata())
	}
	if !reflect.DeepEqual(f.Names(), []string{"a", "b"}) {
		t.Errorf("names = %v", f.Names())
	}
	av, ash, err := f.Float32("a")
	if err != nil || !reflect.DeepEqual(av, []float32{1, -2}) || !reflect.DeepEqual(ash, []int64{2}) {
		t.Errorf("a = %v %v %v", av, ash, err)
	}
	bt, err := f.Tensor("b")
	if err != nil || bt.DType != BF16 || len(bt.Shape) != 0 || !bytes.Equal(bt.Data, []byte{0xc0, 0x3f}) {
		t.Errorf("b raw = %+v %v", bt, err)
	}
	bv, _, err := f.Float32("b")
	if err != nil || !reflect.DeepEqual(bv, []float32{1.5}) {
		t.Errorf("b = %v %v", bv, err)
	}
}

func TestRoundTripF32BitExact(t *testing.T) {
	bits := []uint32{
		0x00000000, 0x80000000, // ±0
		0x7f800000, 0xff800000, // ±Inf
		0x7fc00000, 0x7fc00001, 0xffbfffff, 0x7f800001, 0xffc12345, // NaN payloads, quiet and signalling
		0x00000001, 0x007fffff, 0x80000001, // subnormals
		0x7f7fffff, 0x00800000, 0x3f800000, 0xbf8ccccd,
	}
	vals := make([]float32, len(bits))
	for i, b := range bits {
		vals[i] = math.Float32frombits(b)
	}
	// A larger random tensor too, every bit pattern allowed.
	rng := rand.New(rand.NewPCG(1, 2))
	big := make([]float32, 10007)
	for i := range big {
		big[i] = math.Float32frombits(rng.Uint32())
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "x.safetensors")
	err := WriteFloat32Map(path, F32, map[string]Float32Tensor{
		"special":       {Shape: []int64{4, 4}, Data: vals},
		"model.big.w":   {Shape: []int64{10007}, Data: big},
		"scalar":        {Shape: nil, Data: []float32{3}},
		"empty.weights": {Shape: []int64{0, 5}, Data: nil},
	}, map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, want []float32) {
		t.Helper()
		got, _, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: len %d want %d", name, len(got), len(want))
		}
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s[%d]: bits %#08x want %#08x", name, i, math.Float32bits(got[i]), math.Float32bits(want[i]))
			}
		}
		raw, _ := f.Tensor(name)
		for i := range want {
			if binary.LittleEndian.Uint32(raw.Data[4*i:]) != math.Float32bits(want[i]) {
				t.Fatalf("%s[%d]: raw bits differ", name, i)
			}
		}
	}
	check("special", vals)
	check("model.big.w", big)
	check("scalar", []float32{3})
	check("empty.weights", nil)
	if info, _ := f.Info("scalar"); len(info.Shape) != 0 {
		t.Errorf("scalar shape = %v", info.Shape)
	}
	if f.Metadata()["k"] != "v" {
		t.Errorf("metadata = %v", f.Metadata())
	}
	// Writing the same content twice gives the same bytes (deterministic order).
	m, err := f.Float32Map()
	if err != nil {
		t.Fatal(err)
	}
	path2 := filepath.Join(dir, "y.safetensors")
	if err := WriteFloat32Map(path2, F32, m, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	b1, _ := os.ReadFile(path)
	b2, _ := os.ReadFile(path2)
	if !bytes.Equal(b1, b2) {
		t.Error("rewriting the same tensors changed the bytes")
	}
	// No temporary files left behind.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("directory has %d entries, want 2", len(ents))
	}
}

func TestWriteIsAtomicOnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	good, _ := FromFloat32("w", F32, []int64{1}, []float32{7})
	if err := Write(path, []Tensor{good}, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	bad := Tensor{Name: "x", DType: F32, Shape: []int64{3}, Data: make([]byte, 8)}
	if err := Write(path, []Tensor{good, bad}, nil); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Fatalf("want size error naming x, got %v", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("failed write changed the file")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temporary file left behind: %d entries", len(ents))
	}
	for _, tc := range [][]Tensor{
		{good, good},
		{{Name: "", DType: F32, Shape: []int64{}, Data: make([]byte, 4)}},
		{{Name: "__metadata__", DType: F32, Shape: []int64{}, Data: make([]byte, 4)}},
		{{Name: "q", DType: "F33", Shape: []int64{}, Data: make([]byte, 4)}},
		{{Name: "q", DType: F32, Shape: []int64{-1}, Data: nil}},
	} {
		if _, err := Encode(tc, nil); err == nil {
			t.Errorf("Encode(%v) succeeded", tc)
		}
	}
	if _, err := FromFloat32("z", I32, []int64{1}, []float32{1}); err == nil {
		t.Error("FromFloat32 to I32 should fail")
	}
	if _, err := FromFloat32("z", F32, []int64{2}, []float32{1}); err == nil {
		t.Error("FromFloat32 with a short slice should fail")
	}
}

func TestF16Table(t *testing.T) {
	p2 := func(e int) float32 { return float32(math.Ldexp(1, e)) }
	cases := []struct {
		in   float32
		want uint16
	}{
		{1, 0x3c00},
		{-2, 0xc000},
		{0.5, 0x3800},
		{65504, 0x7bff},
		{65519, 0x7bff},
		{65520, 0x7c00}, // tie between 65504 (odd) and 65536 (overflow): even wins -> Inf
		{1e6, 0x7c00},
		{-1e6, 0xfc00},
		{0.1, 0x2e66},
		{1.0 / 3, 0x3555},
		{p2(-14), 0x0400},           // smallest normal
		{p2(-24), 0x0001},           // smallest subnormal
		{p2(-25), 0x0000},           // tie between 0 and 2^-24: even -> 0
		{1.5 * p2(-25), 0x0001},     // above the tie
		{3 * p2(-25), 0x0002},       // tie between 1 and 2 subnormal ulps: even -> 2
		{5 * p2(-25), 0x0002},       // tie between 2 and 3: even -> 2
		{p2(-14) - p2(-25), 0x0400}, // tie between 0x03ff and 0x0400: even -> carries into the exponent
		{p2(-14) - p2(-24), 0x03ff}, // largest subnormal
		{1 + p2(-11), 0x3c00},       // tie: even
		{1 + 3*p2(-11), 0x3c02},     // tie: even
		{1 + p2(-11) + p2(-20), 0x3c01},
		{-(1 + p2(-11) + p2(-20)), 0xbc01},
		{1e-10, 0x0000},
		{-1e-10, 0x8000},
		{math.Float32frombits(1), 0x0000}, // float32 subnormal
		{float32(math.Copysign(0, -1)), 0x8000},
		{float32(math.Inf(1)), 0x7c00},
		{float32(math.Inf(-1)), 0xfc00},
		{math.Float32frombits(0x7fc00000), 0x7e00},
		{math.Float32frombits(0xff800001), 0xfe00}, // signalling NaN stays NaN, made quiet
	}
	for _, c := range cases {
		if got := Float32ToF16(c.in); got != c.want {
			t.Errorf("Float32ToF16(%g [%#08x]) = %#04x, want %#04x", c.in, math.Float32bits(c.in), got, c.want)
		}
	}
	back := []struct {
		in   uint16
		want float32
	}{
		{0x0001, p2(-24)},
		{0x03ff, 1023 * p2(-24)},
		{0x0400, p2(-14)},
		{0x3555, 0.333251953125},
		{0x7bff, 65504},
		{0xc000, -2},
		{0xfc00, float32(math.Inf(-1))},
		{0x8000, float32(math.Copysign(0, -1))},
	}
	for _, c := range back {
		if got := F16ToFloat32(c.in); math.Float32bits(got) != math.Float32bits(c.want) {
			t.Errorf("F16ToFloat32(%#04x) = %g, want %g", c.in, got, c.want)
		}
	}
	if v := F16ToFloat32(0x7e01); !math.IsNaN(float64(v)) || math.Float32bits(v) != 0x7fc02000 {
		t.Errorf("F16ToFloat32(NaN 0x7e01) = %#08x", math.Float32bits(v))
	}
}

func TestF16AllValuesRoundTrip(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := F16ToFloat32(uint16(h))
		got := Float32ToF16(f)
		want := uint16(h)
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
			want |= 0x200 // NaNs come back quiet
		}
		if got != want {
			t.Fatalf("half %#04x -> %g -> %#04x", h, f, got)
		}
	}
}

// refF16 rounds a positive finite float32 to half by searching the ordered
// positive half values: an independent check of Float32ToF16.
func refF16(x float64) uint16 {
	lo, hi := 0, 0x7bff // finite positive halves are monotonic in their bits
	if x >= 65520 {
		return 0x7c00
	}
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if float64(F16ToFloat32(uint16(mid))) <= x {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	if lo == 0x7bff {
		return 0x7bff
	}
	a, b := float64(F16ToFloat32(uint16(lo))), float64(F16ToFloat32(uint16(lo+1)))
	switch {
	case x-a < b-x:
		return uint16(lo)
	case x-a > b-x:
		return uint16(lo + 1)
	case lo%2 == 0:
		return uint16(lo)
	default:
		return uint16(lo + 1)
	}
}

func TestF16MatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 50000 {
		// Exponents spanning zero, subnormal halves, normals and overflow.
		bits := uint32(rng.IntN(143-90)+90)<<23 | rng.Uint32()&0x7fffff
		x := math.Float32frombits(bits)
		if got, want := Float32ToF16(x), refF16(float64(x)); got != want {
			t.Fatalf("Float32ToF16(%g [%#08x]) = %#04x, want %#04x", x, bits, got, want)
		}
		if got, want := Float32ToF16(-x), refF16(float64(x))|0x8000; got != want {
			t.Fatalf("Float32ToF16(%g) = %#04x, want %#04x", -x, got, want)
		}
	}
}

func TestBF16Table(t *testing.T) {
	p2 := func(e int) float32 { return float32(math.Ldexp(1, e)) }
	cases := []struct {
		in   float32
		want uint16
	}{
		{1, 0x3f80},
		{1.5, 0x3fc0},
		{-2, 0xc000},
		{1 + p2(-8), 0x3f80},   // tie: even
		{1 + 3*p2(-8), 0x3f82}, // tie: even
		{1 + p2(-8) + p2(-20), 0x3f81},
		{0.1, 0x3dcd},
		{math.Float32frombits(0x7f7fffff), 0x7f80}, // rounds up to Inf
		{math.Float32frombits(0x7f7f7fff), 0x7f7f},
		{math.Float32frombits(0x00000001), 0x0000},
		{math.Float32frombits(0x00008000), 0x0000}, // tie: even
		{math.Float32frombits(0x00018000), 0x0002}, // tie: even
		{float32(math.Copysign(0, -1)), 0x8000},
		{float32(math.Inf(-1)), 0xff80},
		{math.Float32frombits(0x7fc00001), 0x7fc0},
		{math.Float32frombits(0x7f800001), 0x7fc0}, // signalling NaN must not become Inf
		{math.Float32frombits(0xffff0000), 0xffff},
	}
	for _, c := range cases {
		if got := Float32ToBF16(c.in); got != c.want {
			t.Errorf("Float32ToBF16(%#08x) = %#04x, want %#04x", math.Float32bits(c.in), got, c.want)
		}
	}
	for h := 0; h < 1<<16; h++ {
		got := Float32ToBF16(BF16ToFloat32(uint16(h)))
		want := uint16(h)
		if h&0x7f80 == 0x7f80 && h&0x7f != 0 {
			want |= 0x40
		}
		if got != want {
			t.Fatalf("bf16 %#04x round trip -> %#04x", h, got)
		}
	}
}

func TestDecodeDTypes(t *testing.T) {
	le := binary.LittleEndian
	cases := []struct {
		dtype string
		data  []byte
		want  []float32
	}{
		{F64, le.AppendUint64(le.AppendUint64(nil, math.Float64bits(2.5)), math.Float64bits(-1e300)), []float32{2.5, float32(math.Inf(-1))}},
		{I64, le.AppendUint64(nil, uint64(0xffffffffffffff85)), []float32{-123}},
		{I32, le.AppendUint32(nil, uint32(0xfffffff9)), []float32{-7}},
		{U8, []byte{0, 255}, []float32{0, 255}},
		{BOOL, []byte{1, 0}, []float32{1, 0}},
		{F16, []byte{0x00, 0x3c, 0x00, 0xc0}, []float32{1, -2}},
	}
	for _, c := range cases {
		got, err := DecodeFloat32(c.dtype, c.data)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("DecodeFloat32(%s) = %v, %v; want %v", c.dtype, got, err, c.want)
		}
	}
	if _, err := DecodeFloat32(BOOL, []byte{2}); err == nil {
		t.Error("BOOL byte 2 accepted")
	}
	if _, err := DecodeFloat32(F8E4M3, []byte{2}); err == nil {
		t.Error("F8 conversion should be reported as unsupported")
	}
	ints, err := DecodeInt64(I32, le.AppendUint32(nil, uint32(0xfffffff9)))
	if err != nil || !reflect.DeepEqual(ints, []int64{-7}) {
		t.Errorf("DecodeInt64 = %v %v", ints, err)
	}
	if _, err := DecodeInt64(F32, make([]byte, 4)); err == nil {
		t.Error("DecodeInt64(F32) should fail")
	}
}

// rawFile builds a file from a header string and n data bytes.
func rawFile(header string, n int) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	out = append(out, header...)
	return append(out, make([]byte, n)...)
}

func TestCorruptHeaders(t *testing.T) {
	valid, err := Encode([]Tensor{
		{Name: "w", DType: F32, Shape: []int64{2, 2}, Data: make([]byte, 16)},
		{Name: "b", DType: F16, Shape: []int64{3}, Data: make([]byte, 6)},
	}, map[string]string{"a": "b"})
	if err != nil {
		t.Fatal(err)
	}
	huge := binary.LittleEndian.AppendUint64(nil, 1<<62)
	huge = append(huge, "{}"...)
	past := binary.LittleEndian.AppendUint64(nil, 1000)
	past = append(past, `{}`...)
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "shorter than"},
		{"seven bytes", []byte{1, 2, 3, 4, 5, 6, 7}, "shorter than"},
		{"huge header length", huge, "exceeds"},
		{"header past end", past, "past the end"},
		{"truncated data", valid[:len(valid)-1], "run past"},
		{"truncated header", valid[:20], "past the end"},
		{"not an object", rawFile(`[1,2]   `, 0), "start with"},
		{"bad json", rawFile(`{"w":{"dtype":"F32",`, 0), "bad JSON"},
		{"bad json 2", rawFile(`{"w" 1}`, 0), "bad JSON"},
		{"trailing", rawFile(`{} x`, 0), "trailing"},
		{"unknown dtype", rawFile(`{"w":{"dtype":"F17","shape":[1],"data_offsets":[0,4]}}`, 4), `"w": unknown dtype`},
		{"missing dtype", rawFile(`{"w":{"shape":[1],"data_offsets":[0,4]}}`, 4), "missing \"dtype\""},
		{"missing shape", rawFile(`{"w":{"dtype":"F32","data_offsets":[0,4]}}`, 4), "missing \"shape\""},
		{"missing offsets", rawFile(`{"w":{"dtype":"F32","shape":[1]}}`, 4), "missing \"data_offsets\""},
		{"three offsets", rawFile(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, 8), "2"},
		{"negative offset", rawFile(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, 4), `tensor "w"`},
		{"reversed offsets", rawFile(`{"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, 4), "end before"},
		{"offset out of range", rawFile(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4), "run past"},
		{"size mismatch", rawFile(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, 8), "needs 8"},
		{"negative dim", rawFile(`{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}`, 0), "negative"},
		{"huge shape", rawFile(`{"w":{"dtype":"F64","shape":[4294967296,4294967296,4],"data_offsets":[0,0]}}`, 0), "too"},
		{"float dim", rawFile(`{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, 4), `tensor "w"`},
		{"overlap", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "overlap"},
		{"duplicate", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "duplicate"},
		{"bad metadata", rawFile(`{"__metadata__":{"a":1}}`, 0), "__metadata__"},
		{"invalid utf8", rawFile("{\"\xff\":1}", 0), "UTF-8"},
	}
	for _, c := range cases {
		_, err := Parse(c.data)
		if err == nil {
			t.Errorf("%s: parsed without error", c.name)
			continue
		}
		if !errors.Is(err, ErrInvalidHeader) {
			t.Errorf("%s: error %q does not wrap ErrInvalidHeader", c.name, err)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
	}
	// Every truncation of a valid file is an error, never a panic.
	for n := 0; n < len(valid); n++ {
		if _, err := Parse(valid[:n]); err == nil {
			t.Errorf("truncated to %d bytes: no error", n)
		}
	}
	// Errors from Read name the file.
	path := filepath.Join(t.TempDir(), "broken.safetensors")
	if err := os.WriteFile(path, valid[:len(valid)-3], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Read(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("Read error %v should name the file and tensor b", err)
	}
	if _, err := Read(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("reading a missing file succeeded")
	}
}

func TestGapsAndEmptyTensorsAccepted(t *testing.T) {
	// A gap between tensors and zero-sized tensors at shared offsets are legal.
	data := rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"e":{"dtype":"F32","shape":[0],"data_offsets":[2,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[6,8]}}`, 8)
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Names(); !reflect.DeepEqual(got, []string{"a", "b", "e"}) {
		t.Errorf("names %v", got)
	}
	if _, err := f.Tensor("nope"); err == nil {
		t.Error("missing tensor lookup succeeded")
	}
}

func FuzzParseHeader(f *testing.F) {
	valid, _ := Encode([]Tensor{
		{Name: "w", DType: F32, Shape: []int64{2, 2}, Data: make([]byte, 16)},
		{Name: "b", DType: BF16, Shape: []int64{3}, Data: make([]byte, 6)},
		{Name: "i", DType: I64, Shape: []int64{}, Data: make([]byte, 8)},
	}, map[string]string{"format": "pt"})
	f.Add(valid)
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"e":{"dtype":"F32","shape":[0],"data_offsets":[2,2]}}`, 4))
	f.Add(rawFile(`{}`, 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidHeader) && !strings.Contains(err.Error(), "reading") {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		// A valid file re-encodes to a file with the same tensors.
		ts := file.Tensors()
		for _, tt := range ts {
			n, err := tt.NumElements()
			size, _ := DTypeSize(tt.DType)
			if err != nil || int64(len(tt.Data)) != n*int64(size) {
				t.Fatalf("tensor %q: %d bytes for %v %s", tt.Name, len(tt.Data), tt.Shape, tt.DType)
			}
			if tt.DType == F32 || tt.DType == F16 || tt.DType == BF16 {
				if _, err := tt.Float32(); err != nil {
					t.Fatal(err)
				}
			}
		}
		enc, err := Encode(ts, file.Metadata())
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := Parse(enc)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if len(again.Tensors()) != len(ts) {
			t.Fatalf("re-parse has %d tensors, want %d", len(again.Tensors()), len(ts))
		}
		for _, tt := range ts {
			u, err := again.Tensor(tt.Name)
			if err != nil || u.DType != tt.DType || !bytes.Equal(u.Data, tt.Data) || !reflect.DeepEqual(u.Shape, tt.Shape) {
				t.Fatalf("tensor %q changed in re-encode", tt.Name)
			}
		}
	})
}
