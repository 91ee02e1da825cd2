// Package engine runs one chat event through a compiled flow.
//
// Each flow becomes a looplab/fsm machine whose states are the flow's states
// and whose events are the triggers that move between them (next, an option
// id, give_up, a command, a platform event). Step restores the machine from
// the Session, fires the event, runs the states it enters and returns the
// actions to send and the new Session.
//
// The engine is pure and deterministic: it does no I/O and never reads the
// clock (the event carries the time). The same flow, session and event always
// give the same result.
package engine
