// Package dialect keeps, with a stored bot message of a platform-mode
// conversation that speaks another platform's dialect (the Botpress-style
// endpoint, GPTBots-style replies), what that dialect's reply shows beyond
// the message's text: the media type, a choice's options and whether the
// message asks the user something.
//
// The Chat API stores a message as a text and a media URL (runtime/store).
// For a dialect conversation the media URL column holds a Reply encoded by
// Stored (a "flowbot-reply:" value); Decode reads it back, and reads any
// other value as a plain media URL, so that Media gives the history and
// the Chat API's own webhook body the real link. The package is pure: no
// I/O.
package dialect

import (
	"encoding/json"
	"strings"

	"github.com/flowbot/flowbot/runtime/store"
)

// Reply is what a dialect reply carries beyond the message's text.
type Reply struct {
	// MediaURL and MediaType (image, video, audio or file) are the
	// message's media, if any.
	MediaURL  string `json:"url,omitempty"`
	MediaType string `json:"type,omitempty"`
	// Question: the message is the bot's question (an ask's prompt or a
	// choice) that the user's next message answers.
	Question bool `json:"q,omitempty"`
	// Choice is the choice the message shows as numbered text.
	Choice *Choice `json:"choice,omitempty"`
}

// Choice is a choice as a dialect can show it.
type Choice struct {
	Text    string   `json:"text"`           // the choice's body
	Form    string   `json:"form,omitempty"` // the form the author asked for: carousel makes cards
	Options []Option `json:"options"`
}

// Option is one option of a Choice.
type Option struct {
	ID          string `json:"id"`
	Label       string `json:"label"`
	Description string `json:"description,omitempty"`
	Image       string `json:"image,omitempty"`
}

// scheme starts an encoded Reply in a message's media URL column.
const scheme = "flowbot-reply:"

// Rich reports whether the reply says more than a plain media URL would.
func (r Reply) Rich() bool { return r.Question || r.Choice != nil || r.MediaType != "" }

// Stored returns the value stored in the message's media URL column: the
// plain media URL when the reply says nothing more, else the encoded
// reply.
func (r Reply) Stored() string {
	if !r.Rich() {
		return r.MediaURL
	}
	b, err := json.Marshal(r)
	if err != nil {
		// Strings and a bool always encode.
		panic("dialect: cannot encode a reply: " + err.Error())
	}
	return scheme + string(b)
}

// Decode reads a message's media URL column: an encoded Reply, or a plain
// media URL (or nothing).
func Decode(stored string) Reply {
	rest, ok := strings.CutPrefix(stored, scheme)
	if !ok {
		return Reply{MediaURL: stored}
	}
	var r Reply
	if json.Unmarshal([]byte(rest), &r) != nil {
		return Reply{}
	}
	return r
}

// Media returns the media URL of a stored message's media URL column.
func Media(stored string) string {
	if !strings.HasPrefix(stored, scheme) {
		return stored
	}
	return Decode(stored).MediaURL
}

// MediaTypeOf guesses the media type of a URL from its extension, for
// messages stored without one: image, video, audio or file.
func MediaTypeOf(url string) string {
	path := url
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	ext := strings.ToLower(path[strings.LastIndexByte(path, '.')+1:])
	switch ext {
	case "jpg", "jpeg", "png", "gif", "webp":
		return "image"
	case "mp4", "3gp", "mov", "webm":
		return "video"
	case "mp3", "ogg", "oga", "m4a", "aac", "wav", "opus":
		return "audio"
	}
	return "file"
}

// BotpressUser returns the app's conversationId and userId of a
// Botpress-style conversation's user id (see BotpressUserID); a user id
// stored before userId was honoured is the conversationId alone.
func BotpressUser(userID string) (conversationID, user string) {
	rest := strings.TrimPrefix(userID, store.BotpressUserPrefix)
	var pair [2]string
	if strings.HasPrefix(rest, "[") && json.Unmarshal([]byte(rest), &pair) == nil {
		return pair[0], pair[1]
	}
	return rest, userID
}

// BotpressUserID is the user id of the Botpress-style conversation of an
// app's conversationId and userId: each user of a conversation has a
// conversation (a flow session) of their own, answered in the app's
// conversation.
func BotpressUserID(conversationID, user string) string {
	b, _ := json.Marshal([2]string{conversationID, user}) // strings always encode
	return store.BotpressUserPrefix + string(b)
}
