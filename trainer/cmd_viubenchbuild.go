package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: replaced by the owner of this file.
func newViubenchBuildCmd() *cobra.Command {
	return &cobra.Command{Use: "viubenchbuild", Short: "not built yet", RunE: func(*cobra.Command, []string) error { return errors.New("viubenchbuild: not built yet") }}
}
