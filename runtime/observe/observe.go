// Package observe holds Nop, the one observer that measures nothing: it
// implements every Observer interface of flowbot's runtime (userlike,
// platform, delivery, worker), so that each uses it when it is given none.
// runtime/metrics implements the same interfaces with Prometheus.
package observe

import "time"

// Nop discards every measurement.
type Nop struct{}

// Request discards a webhook request's status (userlike.Observer).
func (Nop) Request(int) {}

// Turn discards a turn (userlike.Observer, platform.Observer).
func (Nop) Turn(string, string, time.Duration) {}

// Error discards a problem (userlike.Observer, platform.Observer).
func (Nop) Error(string, string) {}

// Recovery discards a recovered context (userlike.Observer).
func (Nop) Recovery(string, string) {}

// Timer discards a timer's outcome (platform.Observer).
func (Nop) Timer(string, string) {}

// Cancelled discards messages cancelled by an interruption (platform.Observer).
func (Nop) Cancelled(int) {}

// Attempt discards a webhook delivery attempt (delivery.Observer).
func (Nop) Attempt(int, bool, time.Duration) {}

// JobFinished discards a background job's outcome (worker.Observer).
func (Nop) JobFinished(string, string, time.Duration) {}

// PushAttempt discards a push's outcome (worker.Observer).
func (Nop) PushAttempt(string) {}

// FollowUp discards a follow-up's outcome (worker.FollowUpObserver).
func (Nop) FollowUp(string, string) {}
