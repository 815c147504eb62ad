package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
)

// startProfiles writes a CPU profile of the whole command to
// $DMPLAN_CPUPROFILE and a heap profile at its end to $DMPLAN_MEMPROFILE,
// when set (bench/controlplane uses them to find where a plan or an apply
// of a large state spends its time and memory), and the process's peak
// resident memory in kB at its end to $DMPLAN_PEAKRSS. The returned
// function finishes them.
func startProfiles() func() {
	var stops []func()
	if path := os.Getenv("DMPLAN_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "dmplan: DMPLAN_CPUPROFILE:", err)
		} else {
			stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
		}
	}
	if path := os.Getenv("DMPLAN_MEMPROFILE"); path != "" {
		stops = append(stops, func() {
			f, err := os.Create(path)
			if err == nil {
				runtime.GC()
				err = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "dmplan: DMPLAN_MEMPROFILE:", err)
			}
		})
	}
	if path := os.Getenv("DMPLAN_PEAKRSS"); path != "" {
		stops = append(stops, func() {
			if err := writePeakRSS(path); err != nil {
				fmt.Fprintln(os.Stderr, "dmplan: DMPLAN_PEAKRSS:", err)
			}
		})
	}
	return func() {
		for _, stop := range stops {
			stop()
		}
	}
}

// writePeakRSS writes the process's VmHWM (kB). The rusage maximum a
// parent reads is no measure of a child started by Go: Go starts it with
// vfork, and Linux counts the parent's resident memory into the child's
// maximum at exec; VmHWM belongs to the memory the process execs into.
func writePeakRSS(path string) error {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err
	}
	for line := range strings.Lines(string(status)) {
		if kb, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return os.WriteFile(path, []byte(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB"))+"\n"), 0o644)
		}
	}
	return fmt.Errorf("no VmHWM in /proc/self/status")
}
