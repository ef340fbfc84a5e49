//go:build !unix

package main

import "time"

// Without getrusage, CPU and memory are not measured (reported as 0).

func cpuTime() time.Duration     { return 0 }
func maxRSS() uint64             { return 0 }
func currentRSS() (uint64, bool) { return 0, false }
