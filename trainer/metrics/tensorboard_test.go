package metrics

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMaskedCRC pins the CRC-32C against its standard check value,
// CRC-32C("123456789") = 0xE3069283, through TFRecord's mask.
func TestMaskedCRC(t *testing.T) {
	c := []byte("123456789")
	masked := maskedCRC(c)
	raw := masked - 0xa282ead8
	raw = (raw << 15) | (raw >> 17)
	if raw != 0xe3069283 {
		t.Fatalf("crc32c(123456789) = %08x, want e3069283", raw)
	}
}

func openTB(t *testing.T, dir string, opt TensorBoardOptions) *TensorBoard {
	t.Helper()
	clock := time.Unix(1700000000, 250_000_000)
	opt.Now = func() time.Time { return clock }
	opt.Host = "testhost"
	w, err := OpenTensorBoard(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestTensorBoardRoundTrip(t *testing.T) {
	dir := t.TempDir()
	w := openTB(t, dir, TensorBoardOptions{})
	if !strings.HasPrefix(filepath.Base(w.Path()), "events.out.tfevents.1700000000.testhost.") {
		t.Errorf("file name %s", filepath.Base(w.Path()))
	}
	cfgText := "```yaml\ngrpo:\n  group_size: 8\n```"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.Text("config", cfgText))
	must(w.Scalar(1, "loss", 0.5))
	must(w.Scalar(2, "loss", math.NaN()))
	must(w.WriteRecord(Record{Step: 3, Phase: "grpo", Time: time.Unix(1700000100, 0), Values: map[string]float64{
		"reward/mean": 0.25, "kl": 1e-3, "lr": -2,
	}}))
	must(w.TextAt(4, "config", "second"))
	must(w.Scalar(-1, "neg", 1))
	must(w.Flush())
	must(w.Close())
	must(w.Close())
	if err := w.Scalar(5, "loss", 1); err == nil {
		t.Error("write after Close accepted")
	}

	evs, err := ReadEventFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 7 {
		t.Fatalf("%d events, want 7", len(evs))
	}
	if evs[0].FileVersion != "brain.Event:2" || evs[0].WallTime != 1700000000.25 {
		t.Errorf("first event %+v", evs[0])
	}
	txt := evs[1].Values[0]
	if txt.Tag != "config" || txt.Plugin != "text" || len(txt.Text) != 1 || txt.Text[0] != cfgText || evs[1].Step != 0 {
		t.Errorf("text event %+v", evs[1])
	}
	if v := evs[2].Values[0]; evs[2].Step != 1 || v.Tag != "loss" || !v.HasScalar || v.Scalar != 0.5 {
		t.Errorf("scalar event %+v", evs[2])
	}
	if v := evs[3].Values[0]; !math.IsNaN(float64(v.Scalar)) {
		t.Errorf("NaN scalar read back as %v", v.Scalar)
	}
	rec := evs[4]
	if rec.Step != 3 || rec.WallTime != 1700000100 || len(rec.Values) != 3 {
		t.Fatalf("record event %+v", rec)
	}
	want := map[string]float32{"kl": 1e-3, "lr": -2, "reward/mean": 0.25}
	for _, v := range rec.Values {
		if want[v.Tag] != v.Scalar {
			t.Errorf("%s = %v, want %v", v.Tag, v.Scalar, want[v.Tag])
		}
	}
	// Only the first value of a tag carries the plugin metadata.
	if v := evs[5].Values[0]; evs[5].Step != 4 || v.Plugin != "" || v.Text[0] != "second" {
		t.Errorf("second text event %+v", evs[5])
	}
	if evs[6].Step != -1 {
		t.Errorf("negative step read back as %d", evs[6].Step)
	}
}

func TestTensorBoardResumeAndCorruption(t *testing.T) {
	dir := t.TempDir()
	w := openTB(t, dir, TensorBoardOptions{ResumeStep: 41})
	if err := w.Scalar(41, "loss", 1); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	evs, err := ReadEventFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || !evs[1].SessionStart || evs[1].Step != 41 {
		t.Fatalf("resume events %+v", evs)
	}
	data, err := os.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	// Flip one data byte of the second record: its data checksum fails.
	first := 12 + int(binary.LittleEndian.Uint64(data[:8])) + 4
	bad := bytes.Clone(data)
	bad[first+12] ^= 0x40
	if _, err := ReadEvents(bytes.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "record 1") || !strings.Contains(err.Error(), "data checksum") {
		t.Errorf("corrupted data: %v", err)
	}
	bad = bytes.Clone(data)
	bad[first] ^= 0x01
	if _, err := ReadEvents(bytes.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "length checksum") {
		t.Errorf("corrupted length: %v", err)
	}
	if _, err := ReadEvents(bytes.NewReader(data[:len(data)-2])); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated file: %v", err)
	}
	// Two writers in one folder make two files.
	w2 := openTB(t, dir, TensorBoardOptions{})
	defer w2.Close()
	if w2.Path() == w.Path() {
		t.Error("a second writer reused the file name")
	}
}

// pyCheck decodes an event file with an independent decoder: Python's
// protobuf runtime (Debian's python3-protobuf) with the TensorBoard
// message descriptors declared field by field, and a pure-Python CRC-32C.
// It prints one line per value: step, tag, and the scalar or the text.
const pyCheck = `
import struct, sys
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

fd = descriptor_pb2.FileDescriptorProto(name="tb_check.proto", package="tensorflow", syntax="proto3")
def msg(name, fields):
    m = fd.message_type.add(name=name)
    for (fname, num, typ, label, tname) in fields:
        f = m.field.add(name=fname, number=num, type=typ, label=label)
        if tname:
            f.type_name = tname
    return m
F = descriptor_pb2.FieldDescriptorProto
OPT, REP = F.LABEL_OPTIONAL, F.LABEL_REPEATED
msg("PluginData", [("plugin_name", 1, F.TYPE_STRING, OPT, None), ("content", 2, F.TYPE_BYTES, OPT, None)])
msg("SummaryMetadata", [("plugin_data", 1, F.TYPE_MESSAGE, OPT, ".tensorflow.PluginData")])
msg("Dim", [("size", 1, F.TYPE_INT64, OPT, None), ("name", 2, F.TYPE_STRING, OPT, None)])
msg("TensorShapeProto", [("dim", 2, F.TYPE_MESSAGE, REP, ".tensorflow.Dim")])
msg("TensorProto", [("dtype", 1, F.TYPE_INT32, OPT, None), ("tensor_shape", 2, F.TYPE_MESSAGE, OPT, ".tensorflow.TensorShapeProto"),
                    ("string_val", 8, F.TYPE_BYTES, REP, None)])
msg("Value", [("tag", 1, F.TYPE_STRING, OPT, None), ("simple_value", 2, F.TYPE_FLOAT, OPT, None),
              ("tensor", 8, F.TYPE_MESSAGE, OPT, ".tensorflow.TensorProto"), ("metadata", 9, F.TYPE_MESSAGE, OPT, ".tensorflow.SummaryMetadata")])
msg("Summary", [("value", 1, F.TYPE_MESSAGE, REP, ".tensorflow.Value")])
msg("SessionLog", [("status", 1, F.TYPE_INT32, OPT, None)])
msg("Event", [("wall_time", 1, F.TYPE_DOUBLE, OPT, None), ("step", 2, F.TYPE_INT64, OPT, None),
              ("file_version", 3, F.TYPE_STRING, OPT, None), ("summary", 5, F.TYPE_MESSAGE, OPT, ".tensorflow.Summary"),
              ("session_log", 7, F.TYPE_MESSAGE, OPT, ".tensorflow.SessionLog")])
pool = descriptor_pool.DescriptorPool()
pool.Add(fd)
Event = message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName("tensorflow.Event"))

def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
    return c ^ 0xFFFFFFFF
def masked(b):
    c = crc32c(b)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF

data = open(sys.argv[1], "rb").read()
off = 0
while off < len(data):
    (n,) = struct.unpack_from("<Q", data, off)
    (hc,) = struct.unpack_from("<I", data, off + 8)
    assert hc == masked(data[off:off + 8]), "length crc"
    body = data[off + 12: off + 12 + n]
    (dc,) = struct.unpack_from("<I", data, off + 12 + n)
    assert dc == masked(body), "data crc"
    off += 12 + n + 4
    ev = Event()
    ev.ParseFromString(body)
    if ev.file_version:
        print("version", ev.file_version)
    if ev.HasField("session_log"):
        print("session", ev.step, ev.session_log.status)
    for v in ev.summary.value:
        if v.HasField("tensor"):
            print(ev.step, v.tag, "text", v.metadata.plugin_data.plugin_name, v.tensor.dtype, v.tensor.string_val[0].decode())
        else:
            print(ev.step, v.tag, "scalar", repr(v.simple_value))
`

// TestTensorBoardPythonProtobuf cross-checks the file with Python's
// protobuf runtime when the machine has it (Debian: python3-protobuf;
// the TensorBoard package itself is not packaged by Debian).
func TestTensorBoardPythonProtobuf(t *testing.T) {
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	if err := exec.Command(py, "-c", "import google.protobuf").Run(); err != nil {
		t.Skip("python3-protobuf not installed")
	}
	dir := t.TempDir()
	w := openTB(t, dir, TensorBoardOptions{ResumeStep: 7})
	for _, err := range []error{
		w.Text("config", "model: tiny"),
		w.Scalar(7, "loss", 0.125),
		w.WriteRecord(Record{Step: 8, Values: map[string]float64{"reward/mean": 0.75, "kl": 2}}),
		w.Close(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	script := filepath.Join(dir, "check.py")
	if err := os.WriteFile(script, []byte(pyCheck), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, script, w.Path()).CombinedOutput()
	if err != nil {
		t.Fatalf("python decoder: %v\n%s", err, out)
	}
	want := "version brain.Event:2\nsession 7 1\n0 config text text 7 model: tiny\n7 loss scalar 0.125\n8 kl scalar 2.0\n8 reward/mean scalar 0.75\n"
	if string(out) != want {
		t.Fatalf("python decoder printed\n%s\nwant\n%s", out, want)
	}
}
