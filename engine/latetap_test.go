package engine

import "testing"

// lateTapFlow has a menu, then a size choice, then a question: WhatsApp
// sends a tap on an old button as a message with its label.
const lateTapFlow = `
name: shop
start: menu
states:
  menu:
    choice:
      text: "How can I help?"
      options:
        - {id: order, label: Order a pizza, goto: size}
        - {id: hours, label: Opening hours, goto: hours}
  hours:
    say: "We open at 11."
    next: menu
  size:
    choice:
      text: "Which size?"
      save: size
      options:
        - {id: small, label: Small}
        - {id: large, label: Large}
    next: email
  email:
    ask: "Your email?"
    expect: email
    save: email
    retries: 2
    on_give_up: menu
    next: done
  done: {say: "Thanks!", do: [end]}
`

// TestLateTaps: a click or typed label of an option of the last two
// earlier choices goes back to that choice and takes the option, without
// using up a retry; the current state's valid answers win.
func TestLateTaps(t *testing.T) {
	c := &convo{t: t, bot: load(t, lateTapFlow)}
	c.send(start())
	c.send(click("order"))
	c.send(click("small"))
	// A late tap on the size choice while the email question waits.
	expect(t, c.send(Event{Name: EvMessage, Text: "Large", Channel: "whatsapp_business"}), "Your email?")
	if s := c.res.Session; s.Vars["size"] != "large" || s.Retries != 0 || s.State != "email" {
		t.Errorf("session %+v: want size=large, no retry used, back in email", s)
	}
	// A late tap on the menu, two choices back, as a real click (web).
	expect(t, c.send(click("hours")), "We open at 11.", "choice bubbles order,hours")
	// The current choice wins over an earlier one.
	c.send(click("order"))
	expect(t, c.send(msg("small")), "Your email?")
	// Not an option anywhere: an invalid answer, as before.
	expect(t, c.send(msg("pizza")), "Sorry, I didn't get that.", "Your email?")
	if c.res.Session.Retries != 1 {
		t.Errorf("retries = %d, want 1", c.res.Session.Retries)
	}
}

// TestLateTapDepth: a choice more than LateTapDepth choices back is not
// read; its label is an ordinary answer.
func TestLateTapDepth(t *testing.T) {
	s := Session{State: "email"}
	if LateTapDepth != 2 {
		t.Fatalf("LateTapDepth = %d; the docs say 2", LateTapDepth)
	}
	bot := load(t, lateTapFlow)
	s.Flow, s.Version = bot.Flow().Name, bot.Flow().ShortHash()
	s.Recent = "size size2 menu"
	r := bot.Step(s, msg("Opening hours"))
	if r.Session.State != "email" || r.Session.Retries != 1 {
		t.Errorf("a choice three back must not be read: state %q retries %d", r.Session.State, r.Session.Retries)
	}
}
