package turnlog

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Funnel formats (WriteFunnel).
const (
	FormatTable = "table" // aligned columns, one row per state
	FormatCSV   = "csv"   // long form for charts: flow,state,outcome,to,conversations
	FormatJSON  = "json"  // {"rows":[FunnelRow…]}
)

// WriteFunnel writes the funnel's rows in format; an unknown format is an
// error naming the known ones.
func WriteFunnel(w io.Writer, rows []FunnelRow, format string) error {
	switch format {
	case FormatTable:
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "FLOW\tSTATE\tENTERED\tDONE\tERROR\tGAVE UP\tSILENT\tLEFT FOR")
		for _, r := range rows {
			var left []string
			for _, to := range leftOrder(r.Left) {
				left = append(left, fmt.Sprintf("%s %d", to, r.Left[to]))
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", r.Flow, r.State, r.Entered, r.Done, r.Error, r.GaveUp, r.Silent, strings.Join(left, ", "))
		}
		return tw.Flush()
	case FormatCSV:
		cw := csv.NewWriter(w)
		cw.Write([]string{"flow", "state", "outcome", "to", "conversations"})
		for _, r := range rows {
			for _, c := range []struct {
				outcome string
				n       int
			}{{FunnelEntered, r.Entered}, {FunnelDone, r.Done}, {FunnelError, r.Error}, {FunnelGaveUp, r.GaveUp}, {FunnelSilent, r.Silent}} {
				cw.Write([]string{r.Flow, r.State, c.outcome, "", strconv.Itoa(c.n)})
			}
			for _, to := range leftOrder(r.Left) {
				cw.Write([]string{r.Flow, r.State, FunnelLeft, to, strconv.Itoa(r.Left[to])})
			}
		}
		cw.Flush()
		return cw.Error()
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if rows == nil {
			rows = []FunnelRow{}
		}
		return enc.Encode(map[string]any{"rows": rows})
	}
	return fmt.Errorf("unknown format %q: use %s, %s or %s", format, FormatTable, FormatCSV, FormatJSON)
}

// leftOrder is the states left for, most taken first.
func leftOrder(left map[string]int) []string {
	out := make([]string, 0, len(left))
	for k := range left {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if left[out[i]] != left[out[j]] {
			return left[out[i]] > left[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}
