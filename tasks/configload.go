package tasks

import (
	"fmt"
	"strings"

	"github.com/spf13/viper"
)

// LoadGenConfig reads generator settings from a YAML file on top of base:
// keys the file omits keep base's values, a list given in the file
// replaces base's list, and an unknown key is an error naming it. The
// result is validated.
func LoadGenConfig(path string, base GenConfig) (GenConfig, error) {
	cfg := base
	v := viper.New()
	v.SetConfigFile(path)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		return cfg, fmt.Errorf("read config %s: %w", path, err)
	}
	if v.IsSet("grounding.perturbations") {
		cfg.Grounding.Perturbations = nil
	}
	if err := v.UnmarshalExact(&cfg); err != nil {
		// mapstructure spreads its message over lines; keep one line.
		return cfg, fmt.Errorf("config %s: %s", path, strings.Join(strings.Fields(err.Error()), " "))
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}
