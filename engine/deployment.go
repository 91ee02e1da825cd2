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
}

// NewDeployment makes a deployment of current, keeping older versions for
// the conversations still on them. Older versions of another flow, or equal
// to current, are ignored.
func NewDeployment(current *Bot, older ...*Bot) *Deployment {
	d := &Deployment{current: current, older: map[string]*Bot{}}
	for _, b := range older {
		if b == nil || b.flow.Name != current.flow.Name || b.flow.ShortHash() == current.flow.ShortHash() {
			continue
		}
		d.older[b.flow.ShortHash()] = b
	}
	return d
}

// Current returns the current version.
func (d *Deployment) Current() *Bot { return d.current }

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
