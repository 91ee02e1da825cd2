package playground_test

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/flowtest"
	"github.com/flowbot/flowbot/runtime/playground"
)

// chromium is Debian's Chromium, which the browser test drives.
const chromium = "/usr/bin/chromium"

// TestBrowser plays the webshop and the campaign flow in headless
// Chromium (e2e/playground.mjs, with playwright-core): every channel
// column, the graph's highlighted state, a saved test file, a reload on an
// edit, and no request to another host. It writes the screenshots of
// docs/. Without node, Chromium or `npm ci` in e2e/ it is skipped, except
// in CI (CI=true), where it fails.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser test is not short")
	}
	missing := func(what string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and %s: .ci/run installs it", what)
		}
		t.Skipf("skipped: %s (apt-get install chromium; cd runtime/playground/e2e && npm ci)", what)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed")
	}
	if _, err := os.Stat(chromium); err != nil {
		missing(chromium + " is not installed")
	}
	if _, err := os.Stat(filepath.Join("e2e", "node_modules", "playwright-core")); err != nil {
		missing("playwright-core is not installed in e2e/")
	}
	dir := flowsDir(t, "webshop.yaml", "campaign-signup.yaml")
	srv := httptest.NewServer(playground.New(playground.Options{Dir: dir, WriteTests: true}))
	defer srv.Close()
	shots, err := filepath.Abs(filepath.Join("..", "..", "docs"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "playground.mjs")
	cmd.Dir = "e2e"
	cmd.Env = append(os.Environ(), "PLAYGROUND_URL="+srv.URL+"/", "SHOTS_DIR="+shots, "FLOWS_DIR="+dir, "CHROMIUM="+chromium)
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("the browser test failed: %v", err)
	}
	// The file the page saved passes flowbot test.
	rep, err := flowtest.RunFile(filepath.Join(dir, "webshop_playground_test.yaml"), flows.Options{})
	if err != nil || rep.Passed != 4 || len(rep.Failures) != 0 {
		t.Fatalf("flowbot test on the saved file: %v, %d passed, %v", err, rep.Passed, rep.Failures)
	}
}
