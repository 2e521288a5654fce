package configs

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestPluginKeys: reward.plugins entries load with their data sources,
// command, timeout and batch; each mistake is an error naming the key.
func TestPluginKeys(t *testing.T) {
	c, err := Load(nil, []string{
		`reward.plugins=[{data_sources: [number, keyword], command: [python3, -u, p.py], timeout: 90s, batch: 8}]`,
		"data.mix.number=2",
	})
	if err != nil {
		t.Fatal(err)
	}
	p := c.Reward.Plugins[0]
	d, err := p.TimeoutDuration()
	if err != nil || d != 90*time.Second || p.Batch != 8 || len(p.Command) != 3 || c.Data.Mix["number"] != 2 {
		t.Fatalf("plugin %+v (timeout %v, %v), mix %v", p, d, err, c.Data.Mix)
	}
	if got := c.PluginSources(); strings.Join(got, ",") != "number,keyword" {
		t.Errorf("plugin sources %v", got)
	}
	// The resolved config (RUN_DIR/config.yaml, read again by --resume)
	// loads back with the plug-in.
	y, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	p2 := filepath.Join(t.TempDir(), "resolved.yaml")
	if err := os.WriteFile(p2, y, 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := Load([]string{p2}, nil)
	if err != nil || !reflect.DeepEqual(back.Reward, c.Reward) {
		t.Fatalf("round trip: %v, %+v", err, back)
	}
	cases := []struct{ set, want string }{
		{`reward.plugins=[{data_sources: [n], command: [x], batch: -1}]`, "reward.plugins[0].batch: -1, want batch >= 0"},
		{`reward.plugins=[{data_sources: [n], command: [x], batch: 1.5}]`, "batch"},
		{`reward.plugins=[{data_sources: [n], command: [x], timeout: 60}]`, `reward.plugins[0].timeout: "60", want a positive duration`},
		{`reward.plugins=[{data_sources: [n], command: []}]`, "reward.plugins[0].command: empty"},
		{`reward.plugins=[{data_sources: [], command: [x]}]`, "reward.plugins[0].data_sources: empty"},
		{`reward.plugins=[{data_sources: ["strict:n"], command: [x]}]`, "strict: names"},
		{`reward.plugins=[{data_sources: [n], command: [x]}, {data_sources: [n], command: [y]}]`, `reward.plugins[1].data_sources: "n" is also scored by reward.plugins[0]`},
		{`reward.plugins=[{data_sources: [n], command: [x], retries: 3}]`, "retries"},
	}
	for _, tc := range cases {
		if msg := loadErr(t, nil, tc.set); !strings.Contains(msg, tc.want) {
			t.Errorf("--set %s: error %q lacks %q", tc.set, msg, tc.want)
		}
	}
	// A data.mix entry needs a reward: built-in or a plug-in's.
	if msg := loadErr(t, nil, "data.mix.number=1"); !strings.Contains(msg, "data.mix.number: unknown data source") {
		t.Errorf("mix without plug-in: %q", msg)
	}
}

// TestFileKeys: data.train_files, data.val_files and data.source_aliases
// load; an empty path or a self alias is an error naming the key.
func TestFileKeys(t *testing.T) {
	c, err := Load(nil, []string{"data.train_files=[a.jsonl, 'b/*.parquet']", "data.val_files=[v.jsonl]", "data.source_aliases={temporal_jigsaw: jigsaw}"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Data.TrainFiles) != 2 || c.Data.ValFiles[0] != "v.jsonl" || c.Data.SourceAliases["temporal_jigsaw"] != "jigsaw" {
		t.Fatalf("data %+v", c.Data)
	}
	for set, want := range map[string]string{
		"data.train_files=['']":       "data.train_files[0]: empty path",
		"data.val_files=[a, ' ']":     "data.val_files[1]: empty path",
		"data.source_aliases.x=x":     "data.source_aliases.x",
		"data.source_aliases={a: ''}": "data.source_aliases.a",
	} {
		if msg := loadErr(t, nil, set); !strings.Contains(msg, want) {
			t.Errorf("--set %s: error %q lacks %q", set, msg, want)
		}
	}
}

// TestLoggingKeys: logging.backends takes jsonl and tensorboard; jsonl is
// required, an unknown backend is an error.
func TestLoggingKeys(t *testing.T) {
	c, err := Load(nil, []string{"logging.backends=[jsonl, tensorboard]"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.LogsTo("tensorboard") || !c.LogsTo("jsonl") {
		t.Fatalf("backends %v", c.Logging.Backends)
	}
	if d, _ := Load(nil, nil); d.LogsTo("tensorboard") || !d.LogsTo("jsonl") {
		t.Fatalf("default backends %v", d.Logging.Backends)
	}
	for set, want := range map[string]string{
		"logging.backends=[jsonl, wandb]": `logging.backends: "wandb", want some of jsonl, tensorboard`,
		"logging.backends=[tensorboard]":  "lacks jsonl",
		"logging.backends=[jsonl, jsonl]": `"jsonl" twice`,
	} {
		if msg := loadErr(t, nil, set); !strings.Contains(msg, want) {
			t.Errorf("--set %s: error %q lacks %q", set, msg, want)
		}
	}
}
