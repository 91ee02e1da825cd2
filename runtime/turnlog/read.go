package turnlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Log is a turn log as read back.
type Log struct {
	// Turns in the order they were logged; of a turn logged twice, the
	// later line only.
	Turns []Record
	// Versions are the flow versions' sources, by VersionKey.
	Versions map[string]Version
	// Dropped is how many lines the writer had to drop.
	Dropped int64
	// Warnings: lines that could not be read (a last line cut short by a
	// crash).
	Warnings []string
}

// VersionKey is the key of a flow version in Log.Versions.
func VersionKey(flow, version string) string { return flow + " " + version }

// Files are the log files of path: the file itself, or a folder's turn
// files (rotated ones first, oldest first, then the current one).
func Files(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the turn log: %w", err)
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	files, _ := filepath.Glob(filepath.Join(path, "turns-*.jsonl"))
	sort.Strings(files)
	if _, err := os.Stat(filepath.Join(path, CurrentName)); err == nil {
		files = append(files, filepath.Join(path, CurrentName))
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s holds no turn log (%s); give the folder or file given to serve --turn-log", path, CurrentName)
	}
	return files, nil
}

// Read reads the log at path (a file, or a folder as Files lists it).
func Read(path string) (*Log, error) {
	files, err := Files(path)
	if err != nil {
		return nil, err
	}
	l := &Log{Versions: map[string]Version{}}
	at := map[string]int{} // turn ID → index in l.Turns
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("cannot read the turn log: %w", err)
		}
		err = l.read(name, f, at)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return l, nil
}

// read reads one file's lines.
func (l *Log) read(name string, r io.Reader, at map[string]int) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			if perr := l.line(line, at); perr != nil {
				if err == io.EOF { // the last line, cut short
					l.Warnings = append(l.Warnings, fmt.Sprintf("%s:%d: skipped: %v (the line was cut short?)", name, n, perr))
					return nil
				}
				return fmt.Errorf("%s:%d: not a turn log line: %v", name, n, perr)
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("cannot read the turn log: %w", err)
		}
	}
}

// line reads one line.
func (l *Log) line(line []byte, at map[string]int) error {
	var head struct {
		Kind  string `json:"kind"`
		Count int64  `json:"count"`
	}
	if err := json.Unmarshal(line, &head); err != nil {
		return err
	}
	switch head.Kind {
	case KindTurn:
		var rec Record
		if err := json.Unmarshal(line, &rec); err != nil {
			return err
		}
		if i, ok := at[rec.ID]; ok {
			l.Turns[i] = rec
			return nil
		}
		at[rec.ID] = len(l.Turns)
		l.Turns = append(l.Turns, rec)
	case KindVersion:
		var v Version
		if err := json.Unmarshal(line, &v); err != nil {
			return err
		}
		l.Versions[VersionKey(v.Flow, v.Version)] = v
	case KindDropped:
		l.Dropped += head.Count
	default:
		return fmt.Errorf("unknown kind %q (want %s)", head.Kind, strings.Join([]string{KindTurn, KindVersion, KindDropped}, ", "))
	}
	return nil
}

// Conversation is the turns of one conversation, in order.
func (l *Log) Conversation(id string) []Record {
	var out []Record
	for _, t := range l.Turns {
		if t.Conversation == id {
			out = append(out, t)
		}
	}
	return out
}

// Turn is the turn with the given ID (or a unique prefix of it).
func (l *Log) Turn(id string) (Record, bool) {
	var found []Record
	for _, t := range l.Turns {
		if t.ID == id {
			return t, true
		}
		if strings.HasPrefix(t.ID, id) {
			found = append(found, t)
		}
	}
	if len(found) == 1 {
		return found[0], true
	}
	return Record{}, false
}
