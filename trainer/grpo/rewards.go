package grpo

// Reward plug-ins from the config (reward.plugins): each is a command that
// scores the responses of its data sources, registered in the run's
// reward registry beside the built-in rewards.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/videossr/videossr-go/reward/plugin"
	"github.com/videossr/videossr-go/tasks"
)

// addPlugins registers a plug-in for the data sources of each
// reward.plugins entry (a built-in data source is replaced). The commands
// start on their first batch; Close stops them.
func (t *Trainer) addPlugins() error {
	for i, pc := range t.cfg.Reward.Plugins {
		key := fmt.Sprintf("reward.plugins[%d]", i)
		timeout, err := pc.TimeoutDuration()
		if err != nil {
			return fmt.Errorf("%s.timeout: %w", key, err)
		}
		name := fmt.Sprintf("%s (%s)", key, strings.Join(pc.Command, " "))
		p, err := plugin.New(plugin.Config{
			Name: name, Command: pc.Command, Timeout: timeout, MaxBatch: pc.Batch,
			Stderr: &lineLog{log: t.log, name: key},
		})
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		t.plugins = append(t.plugins, p)
		for _, src := range pc.DataSources {
			var err error
			if _, builtin := tasks.ParseDataSource(src); builtin == nil {
				err = t.rewards.Replace(src, p)
				t.log.Info("reward plug-in replaces a built-in reward", "data_source", src, "plugin", key)
			} else {
				err = t.rewards.Register(src, p)
			}
			if err != nil {
				return fmt.Errorf("%s.data_sources: %w", key, err)
			}
		}
	}
	return nil
}

// closePlugins stops the plug-in processes the run started.
func (t *Trainer) closePlugins() error {
	var first error
	for _, p := range t.plugins {
		if err := p.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// extraInfo is the extra_info sent with a sample's responses to a reward
// plug-in (verl's extra_info keys that a sample carries).
func extraInfo(s *tasks.Sample) json.RawMessage {
	b, err := json.Marshal(map[string]any{
		"id": s.ID, "index": s.Index, "split": s.Split, "subtype": s.Subtype,
		"question": s.Question, "video_id": s.VideoID,
	})
	if err != nil {
		return nil
	}
	return b
}

// lineLog passes a plug-in's standard error on to the run's log, a line
// at a time.
type lineLog struct {
	mu   sync.Mutex
	log  *slog.Logger
	name string
	buf  []byte
}

// Write implements io.Writer.
func (l *lineLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.log.Info("reward plug-in stderr", "plugin", l.name, "line", string(bytes.TrimRight(l.buf[:i], "\r")))
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 4096 { // a long line without newline: pass it on in parts
		l.log.Info("reward plug-in stderr", "plugin", l.name, "line", string(l.buf))
		l.buf = l.buf[:0]
	}
	return len(b), nil
}
