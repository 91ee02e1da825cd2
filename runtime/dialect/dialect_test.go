package dialect

import "testing"

func TestEncodeDecode(t *testing.T) {
	plain := Reply{MediaURL: "https://x.example/a.png"}
	if got := plain.Stored(); got != "https://x.example/a.png" {
		t.Errorf("a plain media URL is stored as %q", got)
	}
	r := Reply{MediaURL: "https://x.example/v", MediaType: "video", Question: true,
		Choice: &Choice{Text: "Pick", Options: []Option{{ID: "a", Label: "A"}}}}
	s := r.Stored()
	got := Decode(s)
	if got.MediaURL != r.MediaURL || got.MediaType != "video" || !got.Question || got.Choice == nil || got.Choice.Options[0].ID != "a" {
		t.Errorf("Decode(r.Stored()) = %+v", got)
	}
	if Media(s) != "https://x.example/v" || Media("https://y.example") != "https://y.example" || Media("") != "" {
		t.Error("Media does not give the link")
	}
	if d := Decode(scheme + "{broken"); d.Rich() || d.MediaURL != "" {
		t.Errorf("a broken value decodes to %+v", d)
	}
}

func TestMediaTypeOf(t *testing.T) {
	for url, want := range map[string]string{
		"https://x.example/a.JPG?s=1": "image", "https://x.example/v.mp4": "video",
		"https://x.example/s.ogg#t": "audio", "https://x.example/doc.pdf": "file", "https://x.example/": "file",
	} {
		if got := MediaTypeOf(url); got != want {
			t.Errorf("MediaTypeOf(%q) = %q, want %q", url, got, want)
		}
	}
}
