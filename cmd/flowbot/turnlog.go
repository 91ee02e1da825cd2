package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/turn"
	"github.com/flowbot/flowbot/runtime/turnlog"
)

// turnLogFlags are serve's turn log options.
type turnLogFlags struct {
	path     string
	personal bool
	maxSize  string
}

func (f *turnLogFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.path, "turn-log", "", "log every turn, to replay it (flowbot replay) and count funnels (flowbot stats): a FILE, or a DIR/ (turns.jsonl, rotated); off by default")
	fl.BoolVar(&f.personal, "turn-log-personal-data", false, "keep texts, variables and bodies in the turn log, so every turn can be replayed (personal data!); by default they are hashed")
	fl.StringVar(&f.maxSize, "turn-log-max-size", "100MiB", "rotate the turn log file when it reaches this size")
}

// openedLog is serve's turn log, or nil when it is off.
type openedLog struct{ *turnlog.Writer }

// Observer is the log as a turn observer; nil when off.
func (l *openedLog) Observer() turn.Observer {
	if l == nil {
		return nil
	}
	return l.Writer
}

// check reports a usage error in the flags.
func (f *turnLogFlags) check() error {
	if f.path == "" && f.personal {
		return usagef("--turn-log-personal-data needs --turn-log FILE|DIR")
	}
	if _, err := flows.ParseSize(f.maxSize); err != nil {
		return usagef("--turn-log-max-size: %v", err)
	}
	return nil
}

// open opens the turn log the flags ask for (checked); nil when off.
func (f *turnLogFlags) open(logger *slog.Logger) (*openedLog, error) {
	if f.path == "" {
		return nil, nil
	}
	size, _ := flows.ParseSize(f.maxSize)
	w, err := turnlog.Open(f.path, turnlog.Options{PersonalData: f.personal, MaxBytes: size, Logger: logger})
	if err != nil {
		return nil, err
	}
	if f.personal {
		logger.Warn("--turn-log-personal-data is on: the turn log holds message texts, variables and request bodies", "file", w.Path())
	} else {
		logger.Info("turn log on; personal data hashed", "file", w.Path())
	}
	return &openedLog{w}, nil
}
