// Package userlike serves flowbot flows behind the Userlike Chatbot webhook
// protocol (SPEC §5, docs/userlike.md).
//
// Userlike POSTs one event per call:
//
//	{"info": {"cid": "…", "context": {…}, "conversation": {"contact_channel": {"type": "whatsapp_business"}},
//	          "contact": {"name": "…", …}},
//	 "packet": {"name": "message", "payload": {"body": "hello"}}}
//
// and takes the bot's answer as a JSON array of triggerable events, each
// carrying the conversation's cid and the new context:
//
//	[{"info": {"cid": "…", "context": {…}}, "packet": {"name": "message", "payload": {"body": "Hi!"}}}]
//
// The whole conversation state travels in that context (engine.EncodeContext),
// so the Handler keeps nothing per conversation: any instance can answer any
// call, and a restart loses nothing.
//
// One turn is: authenticate (API-SECURITY-TOKEN, constant-time), bound the
// body (1 MiB), DecodeWebhook, then runtime/turn (decode and verify the
// context, pick the version, step, chain jobs, channels.Render, seal),
// then write the events. Resume and FireFollowUp run the same turn. A turn
// that answered but says nothing carries its context in a zero-second
// delay packet, so that the platform does not keep an outdated one. Bad
// input gets a 4xx with {"error": "…"}; nothing a client sends produces a
// 5xx.
//
// Signed contexts: with Options.ContextKeys (engine.ParseContextKeys of
// FLOWBOT_CONTEXT_KEYS) every context the Handler writes — webhook answers
// and Resume's pushes alike — is signed, and optionally encrypted, for the
// conversation's cid (engine.ContextKeys.Encode), and every context it
// reads must verify for the cid of the call (engine.ContextKeys.Decode). A
// context that does not (edited, unsigned, replayed from another cid,
// signed with a retired key) restarts the conversation politely, like a
// context flowbot cannot read, and is counted by kind: ErrKindContextForged,
// ErrKindContextUnsigned, ErrKindContextUnknownKey. The flow's size check
// includes the seal (engine.Bot.StepSealed, through runtime/turn). Without keys, contexts are
// unsigned (engine.EncodeContext, engine.DecodeContext). The format and
// key rotation: package engine and docs/userlike.md.
//
// HTTP and llm steps: a synchronous one runs during the call (at most
// MaxJobsPerTurn in a row without the contact speaking, counted on across
// the background jobs that follow). An async one, when the Handler has a Queue, is
// stored with the turn's context (Queue.Enqueue) before the answer is
// written, and the answer carries what the flow said before the request; a
// background worker (runtime/worker) later calls Resume with the result and
// pushes the events it returns to the bot's API URL (APITarget). A turn
// that leaves a job's wait (the engine says which job a session awaits,
// engine.Bot.Awaits, for http and llm steps) tells the Queue (Supersede),
// so that its result is not pushed. A job whose worker died
// turn.MaxJobAttempts times is not made again: Resume gets an error result
// and the flow takes its error path (turn.GiveUp, as in platform mode). Turns that involve no job never call the Queue.
//
// Follow-ups (`on_silence`): with Timers (Options.Timers, or a Queue that
// implements it, as runtime/worker's Worker does), every answered webhook
// turn of a flow that has `on_silence` rules arms the conversation's
// follow-up for the state it ended in (Timers.SetTimer, with the sealed
// context it answered and the deadline) or cancels it (CancelTimer), before
// the answer is written; turns between states that cannot have one write
// nothing, and flows without `on_silence` never call Timers. A worker
// fires a due follow-up with FireFollowUp (an engine.EvSilence, through the
// same path as Resume) and pushes the events it returns; Resumed.Timer is
// the next follow-up to arm with them. Resume, too, says which follow-up a
// job's result arms. Without Timers, follow-ups are off (logged once per
// flow that has them).
package userlike
