package main

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// cpuUsage is what the CPUs did: this process's CPU time, and how busy the
// whole machine was (other processes — the database server, or anything
// else running — included).
type cpuUsage struct {
	wall        time.Duration
	process     time.Duration // user + system time of this process
	machineBusy float64       // fraction of the machine's CPU time not idle (Linux; 0 elsewhere)

	at         time.Time
	busy, idle uint64 // /proc/stat ticks
}

// readCPU reads the counters now.
func readCPU() cpuUsage {
	u := cpuUsage{at: time.Now(), process: processCPU()}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		if f := strings.Fields(line); len(f) > 5 && f[0] == "cpu" {
			for i, v := range f[1:] {
				n, _ := strconv.ParseUint(v, 10, 64)
				if i == 3 || i == 4 { // idle, iowait
					u.idle += n
				} else if i < 8 { // user nice system idle iowait irq softirq steal
					u.busy += n
				}
			}
		}
	}
	return u
}

// sub is the usage from o to u.
func (u cpuUsage) sub(o cpuUsage) cpuUsage {
	d := cpuUsage{wall: u.at.Sub(o.at), process: u.process - o.process}
	if busy, idle := u.busy-o.busy, u.idle-o.idle; busy+idle > 0 {
		d.machineBusy = float64(busy) / float64(busy+idle)
	}
	return d
}
