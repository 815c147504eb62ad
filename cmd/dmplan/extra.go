package main

import "github.com/spf13/cobra"

// extraCommands are the commands of the agent side (agent, up).
func (a *app) extraCommands() []*cobra.Command {
	return []*cobra.Command{a.agentCommand(), a.upCommand()}
}
