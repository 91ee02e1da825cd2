package main

import (
	"bufio"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, url string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if resp, err := http.DefaultClient.Do(req); err == nil {
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			return resp.StatusCode, string(b)
		}
	}
	t.Fatalf("GET %s failed", url)
	return 0, ""
}

// TestServePlayground: off by default; with --playground the page is at
// /playground/, behind the API keys when they are set.
func TestServePlayground(t *testing.T) {
	off := startServe(t, nil, "--flows", examples(t), "--database", "")
	if code, _ := get(t, "http://"+off.addr+"/playground/"); code != http.StatusNotFound {
		t.Errorf("without --playground: %d, want 404", code)
	}
	p := startServe(t, []string{"FLOWBOT_API_KEYS=sk_pg"}, "--flows", examples(t), "--database", "", "--playground")
	base := "http://" + p.addr + "/playground/"
	if code, body := get(t, base); code != http.StatusUnauthorized || !strings.Contains(body, "?key=") {
		t.Errorf("without a key: %d %s", code, body)
	}
	if code, body := get(t, base+"?key=sk_pg"); code != http.StatusOK || !strings.Contains(body, "flowbot playground") {
		t.Errorf("with ?key=: %d %.200s", code, body)
	}
	if code, body := get(t, base+"api/flows", "Authorization", "Bearer sk_pg"); code != http.StatusOK || !strings.Contains(body, `"name":"webshop"`) {
		t.Errorf("the API with a bearer key: %d %s", code, body)
	}
}

// TestPlaygroundCommand: flowbot playground serves the page and says where.
func TestPlaygroundCommand(t *testing.T) {
	if code, _, errOut := flowbot(t, nil, "playground", "--flows", "/no/such/folder"); code != exitUsage || !strings.Contains(errOut, "is not a folder") {
		t.Fatalf("a missing folder: exit %d %s", code, errOut)
	}
	cmd := exec.Command(binary, "playground", "--flows", examples(t), "--addr", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`on (http://\S+/) `)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	var url string
	select {
	case url = <-addr:
	case <-time.After(60 * time.Second):
		t.Fatal("flowbot playground did not say where it serves")
	}
	if code, body := get(t, url); code != http.StatusOK || !strings.Contains(body, `src="vendor/viz-global.js"`) {
		t.Fatalf("the page: %d %.300s", code, body)
	}
	if code, body := get(t, url+"vendor/viz-global.js"); code != http.StatusOK || !strings.Contains(body[:200], "Viz.js") {
		t.Fatalf("the embedded graph library: %d", code)
	}
}
