package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for the throwaway schemas

	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/flowset"
	"github.com/flowbot/flowbot/runtime/netguard"
	"github.com/flowbot/flowbot/runtime/server"
)

const apiKey = "sk_bench_delivery"

// database is a fresh, empty database for one row, how to remove it, and
// how to keep it instead.
type database struct {
	addr    string
	cleanup func()
	release func()
}

// freshDatabase makes a new SQLite file in a temporary folder, or a new
// schema in the PostgreSQL database at base (named in the URL's
// search_path, as runtime/store/storetest does; dropped by cleanup).
func freshDatabase(ctx context.Context, kind, base string) (database, error) {
	if kind == "sqlite" {
		dir, err := os.MkdirTemp("", "flowbot-bench-delivery-")
		if err != nil {
			return database{}, err
		}
		return database{addr: filepath.Join(dir, "platform.db"), cleanup: func() { os.RemoveAll(dir) }, release: func() {}}, nil
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		return database{}, err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return database{}, fmt.Errorf("PostgreSQL at %s: %w", redact(base), err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "flowbot_bench_" + hex.EncodeToString(b[:])
	if _, err := db.ExecContext(pctx, `CREATE SCHEMA `+schema); err != nil {
		db.Close()
		return database{}, fmt.Errorf("create schema: %w", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		db.Close()
		return database{}, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return database{addr: u.String(), cleanup: func() {
		if _, err := db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			fmt.Fprintf(os.Stderr, "delivery: drop schema %s: %v\n", schema, err)
		}
		db.Close()
	}, release: func() { db.Close() }}, nil
}

func redact(addr string) string {
	u, err := url.Parse(addr)
	if err != nil {
		return "the database URL"
	}
	return u.Redacted()
}

// flowEnv is the flows' environment: the webshop's order service is never
// called by the "3" turns, but its URL must be set.
func flowEnv(k string) (string, bool) {
	if k == "ORDER_API_URL" {
		if v, ok := os.LookupEnv(k); ok {
			return v, true
		}
		return "http://127.0.0.1:9/orders-unused", true
	}
	return os.LookupEnv(k)
}

// flowbot is a running flowbot serve.
type flowbot struct {
	url  string
	stop func() error
}

// startInProcess runs runtime/server in this process, as flowbot serve
// builds it (a reloadable flow set, platform mode, the default delivery
// schedule), on a loopback port.
func startInProcess(ctx context.Context, c config, addr, sync string) (*flowbot, error) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if c.logs {
		// flowbot serve's default: text logs at info, one line per turn
		// (written to a discarded writer, so that only their cost counts).
		logger = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	set, lints, err := flowset.Load(ctx, c.flowsDir, flowset.Options{Flows: flows.Options{Env: flowEnv}, Logger: logger})
	if lints.HasErrors() {
		return nil, fmt.Errorf("flows have errors:\n%s", lints.Errors())
	}
	if err != nil {
		return nil, err
	}
	// The receiver is on the loopback interface, which webhooks may reach
	// only when allowed (--allow-network loopback).
	srv, err := server.New(server.Config{FlowSet: set, Logger: logger, Network: netguard.MustParsePolicy("loopback"), Platform: &server.Platform{
		Database: addr, SQLiteSynchronous: sync, APIKeys: []string{apiKey}, Concurrency: c.deliveryConc}})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	return &flowbot{url: "http://" + ln.Addr().String(), stop: func() error { cancel(); return <-done }}, nil
}

// buildBinary builds cmd/flowbot into dir.
func buildBinary(dir string) (string, error) {
	bin := filepath.Join(dir, "flowbot")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/flowbot")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/flowbot (run from the module's root): %w", err)
	}
	return bin, nil
}

// startBinary runs the flowbot binary's serve command on a free loopback
// port and waits for its /healthz.
func startBinary(ctx context.Context, c config, bin, addr, sync string) (*flowbot, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hostPort := ln.Addr().String()
	ln.Close()
	level := "warn"
	if c.logs {
		level = "info"
	}
	args := []string{"serve", "--flows", c.flowsDir, "--addr", hostPort, "--database", addr, "--data", "", "--allow-network", "loopback",
		"--delivery-concurrency", strconv.Itoa(c.deliveryConc), "--log-level", level}
	if sync != "" {
		args = append(args, "--sqlite-sync", sync)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "FLOWBOT_API_KEYS="+apiKey)
	if v, _ := flowEnv("ORDER_API_URL"); v != "" {
		cmd.Env = append(cmd.Env, "ORDER_API_URL="+v)
	}
	var logs strings.Builder
	cmd.Stdout = io.Discard
	cmd.Stderr = &limitedWriter{w: &logs, n: 64 << 10}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fb := &flowbot{url: "http://" + hostPort, stop: func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			return errors.New("flowbot did not stop within 30 s of SIGTERM")
		}
	}}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(fb.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return fb, nil
			}
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("flowbot serve exited (%v):\n%s", err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			fb.stop()
			return nil, fmt.Errorf("flowbot serve not healthy after 15 s:\n%s", logs.String())
		}
	}
}

// limitedWriter keeps the first n bytes written to it.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.n -= k
		_, _ = l.w.Write(p[:k])
	}
	return len(p), nil
}
