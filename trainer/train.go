package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// errTrainNotBuilt is returned until the GRPO loop lands.
var errTrainNotBuilt = errors.New("the GRPO training loop is not built yet (issue 6); use the subcommands (see --help)")

func addTrainFlags(cmd *cobra.Command) {}

func runTrain(cmd *cobra.Command, args []string) error { return errTrainNotBuilt }
