//go:build race

package script

// raceEnabled: the race detector slows goja several times, so a hostile
// script may meet its time limit before the guard that would refuse it.
const raceEnabled = true
