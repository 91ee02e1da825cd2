package engine

// Awaits is the number of the job (an http or llm step's request) whose
// result the session s waits for, or 0 when it waits for none: a result
// with another number, or for a session that is done, foreign, of another
// flow or in a state without an http or llm step, is ignored by Step. It
// is the engine's own answer to "is this result still awaited?", so that
// adapters which must drop a superseded result (Userlike mode's queue) do
// not re-derive it.
func (b *Bot) Awaits(s Session) int {
	if s.AwaitSeq == 0 || s.Done || s.Foreign || s.Flow != b.flow.Name {
		return 0
	}
	if st := b.flow.States[s.State]; st == nil || (st.HTTP == nil && st.LLM == nil) {
		return 0
	}
	return s.AwaitSeq
}
