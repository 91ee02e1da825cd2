package delivery

import (
	"testing"
	"time"

	"github.com/flowbot/flowbot/runtime/store"
)

// TestGPTBotsBody: the gptbots format is seed 002's reply body, byte for
// byte, and a media link joins the text (the format carries text only).
func TestGPTBotsBody(t *testing.T) {
	d := store.Delivery{MessageID: "m1", ConversationID: "c1", Text: "Hi <you> & me", Format: store.FormatGPTBots, CreatedAt: time.Unix(1679587005, 0)}
	want := `{"message_id":"m1","message_type":"ANSWER","text":"Hi <you> & me","flow_output":[{"content":"Hi <you> & me","branch":"1","from_component_name":"flowbot"}],"create_time":1679587005,"conversation_id":"c1"}`
	if got := string(Body(d)); got != want {
		t.Fatalf("body\n got %s\nwant %s", got, want)
	}
	d.Text, d.MediaURL = "A photo", "https://cdn.example/p.jpg"
	if got := string(Body(d)); got != `{"message_id":"m1","message_type":"ANSWER","text":"A photo\nhttps://cdn.example/p.jpg","flow_output":[{"content":"A photo\nhttps://cdn.example/p.jpg","branch":"1","from_component_name":"flowbot"}],"create_time":1679587005,"conversation_id":"c1"}` {
		t.Fatalf("media body %s", got)
	}
}
