package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes shared by every command.
const (
	exitOK      = 0
	exitError   = 1
	exitChanges = 2 // plan --detailed-exitcode: the plan has changes
)

func main() {
	os.Exit(mainExit())
}

// mainExit runs dmplan with the process's arguments and streams. The first
// SIGINT/SIGTERM cancels the context (a clean shutdown); the second exits
// at once.
func mainExit() int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "dmplan: second signal, exiting now")
		os.Exit(130)
	}()
	defer startProfiles()()
	return run(ctx, os.Args[1:], streams{in: os.Stdin, out: os.Stdout, err: os.Stderr}, os.LookupEnv)
}

// streams are the process's standard files, passed down so that tests can
// run commands in-process.
type streams struct {
	in  io.Reader
	out io.Writer
	err io.Writer
}

// run executes one dmplan command line and returns the exit code.
func run(ctx context.Context, args []string, s streams, lookupEnv func(string) (string, bool)) int {
	app := &app{streams: s, lookupEnv: lookupEnv}
	root := app.rootCommand()
	root.SetArgs(args)
	root.SetIn(s.in)
	root.SetOut(s.out)
	root.SetErr(s.err)
	err := root.ExecuteContext(ctx)
	app.closeShared()
	if err == nil {
		return app.exitCode
	}
	if ec, ok := err.(exitCodeError); ok {
		return int(ec)
	}
	fmt.Fprintf(s.err, "Error: %v\n", err)
	return exitError
}

// exitCodeError ends a command with a specific exit code and no message.
type exitCodeError int

func (e exitCodeError) Error() string { return fmt.Sprintf("exit code %d", int(e)) }
