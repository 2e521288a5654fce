package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestSharedFlags: every command that reads the run configuration declares
// --config and --set through one helper (one help text; doctor words
// --config for its per-file checks), and every command with progress bars
// declares --quiet the same way.
func TestSharedFlags(t *testing.T) {
	root := newRootCmd()
	find := func(path string) *cobra.Command {
		if path == "" {
			return root
		}
		c, _, err := root.Find(strings.Fields(path))
		if err != nil || c == root {
			t.Fatalf("no command %q: %v", path, err)
		}
		return c
	}
	probe := &cobra.Command{Use: "probe"}
	addConfigFlags(probe)
	addQuietFlag(probe)
	want := func(name string) string { return probe.Flags().Lookup(name).Usage }
	for _, path := range []string{"", "eval", "export", "bench rollout", "doctor"} {
		c := find(path)
		for _, name := range []string{"config", "set"} {
			f := c.Flags().Lookup(name)
			if f == nil {
				t.Errorf("%q has no --%s", "trainer "+path, name)
				continue
			}
			if path == "doctor" && name == "config" {
				continue
			}
			if f.Usage != want(name) {
				t.Errorf("trainer %s --%s: help %q, want the shared %q", path, name, f.Usage, want(name))
			}
		}
	}
	for _, path := range []string{"", "eval", "gen", "viubench build"} {
		f := find(path).Flags().Lookup("quiet")
		if f == nil || f.Usage != want("quiet") {
			t.Errorf("trainer %s --quiet: %v, want the shared flag", path, f)
		}
	}
}

// TestConfigFlagsLoad: --config files are layered in order over the
// default, --set applies after them and the extra overrides after --set.
func TestConfigFlagsLoad(t *testing.T) {
	cmd := &cobra.Command{Use: "probe"}
	f := addConfigFlags(cmd)
	if err := cmd.ParseFlags([]string{"--config", "ablations/group-4.yaml", "--set", "grpo.steps=7", "--set", "seed=3"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := f.load("seed=9")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GRPO.GroupSize != 4 || cfg.GRPO.Steps != 7 || cfg.Seed != 9 {
		t.Fatalf("group %d, steps %d, seed %d; want 4, 7, 9", cfg.GRPO.GroupSize, cfg.GRPO.Steps, cfg.Seed)
	}
}
