package engine

// Deployment is the current version of a flow together with the earlier
// versions that live conversations may still be on. It decides, for each
// session, which version runs the next event:
//
//   - a new session, or one on the current version: the current version;
//   - one on an earlier version whose state still exists in the current
//     version, or is migrated by its `migrate:` map: the current version
//     (the session moves over);
//   - one on an earlier version whose state is gone: that earlier version,
//     until the conversation reaches a state the current version has.
//
// A session on a version the deployment does not know goes to the current
// version, which migrates or restarts it politely. Deployment is immutable.
type Deployment struct {
	current *Bot
	older   map[string]*Bot // by short hash
	order   []string        // short hashes, oldest first
}

// NewDeployment makes a deployment of current, keeping older versions
// (newest first) for the conversations still on them. Older versions of another flow, or equal
// to current, are ignored.
func NewDeployment(current *Bot, older ...*Bot) *Deployment {
	d := &Deployment{current: current, older: map[string]*Bot{}}
	for i := len(older) - 1; i >= 0; i-- { // older is given newest first
		b := older[i]
		if b == nil || b.flow.Name != current.flow.Name || b.flow.ShortHash() == current.flow.ShortHash() {
			continue
		}
		if _, dup := d.older[b.flow.ShortHash()]; dup {
			continue
		}
		d.older[b.flow.ShortHash()] = b
		d.order = append(d.order, b.flow.ShortHash())
	}
	return d
}

// UsesConversation reports whether any version reads the conversation's
// metadata (conversation.… in templates and conditions).
func (d *Deployment) UsesConversation() bool {
	return d.anyVersion(func(b *Bot) bool { return b.meta })
}

// anyVersion reports whether f holds for the current or an older version.
func (d *Deployment) anyVersion(f func(b *Bot) bool) bool {
	if f(d.current) {
		return true
	}
	for _, b := range d.older {
		if f(b) {
			return true
		}
	}
	return false
}

// UsesContact reports whether any version may read contact data.
func (d *Deployment) UsesContact() bool { return d.anyVersion(func(b *Bot) bool { return b.contact }) }

// Current returns the current version.
func (d *Deployment) Current() *Bot { return d.current }

// Older returns the earlier versions kept, newest first.
func (d *Deployment) Older() []*Bot {
	out := make([]*Bot, 0, len(d.order))
	for i := len(d.order) - 1; i >= 0; i-- {
		out = append(out, d.older[d.order[i]])
	}
	return out
}

// Versions lists the short hashes of the earlier versions kept.
func (d *Deployment) Versions() []string { return sortedKeys(d.older) }

// For returns the version that runs the next event of s.
func (d *Deployment) For(s Session) *Bot {
	f := d.current.flow
	if s.Foreign || s.Flow != f.Name || s.Version == f.ShortHash() || s.State == "" {
		return d.current
	}
	if _, ok := f.States[s.State]; ok {
		return d.current
	}
	if _, ok := f.Migrate[s.State]; ok {
		return d.current
	}
	if old, ok := d.older[s.Version]; ok && !s.Done {
		return old
	}
	return d.current
}
