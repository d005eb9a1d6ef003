package fleet

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kiln-os/kiln/store"
)

// Table is the status table of a deploy: a line per host, then the
// reason of each host that did not switch.
func Table(res []HostResult) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "HOST\tTARGET\tSTATUS\tCOPIED\tSUBSTITUTED\tSENT\tTIME\tTOPLEVEL")
	for _, r := range res {
		copied, subst, sent, took, top := "-", "-", "-", "-", "-"
		if r.Closure > 0 {
			copied = fmt.Sprintf("%d/%d", r.Copied, r.Closure)
			subst = fmt.Sprint(r.Substituted)
		}
		if r.Sent > 0 {
			sent = store.FormatBytes(r.Sent)
		}
		if r.Took > 0 {
			took = r.Took.Round(100 * time.Millisecond).String()
		}
		if !r.Toplevel.IsZero() {
			top = r.Toplevel.Base()
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Host.Name, r.Host.Target, r.Status, copied, subst, sent, took, top)
	}
	w.Flush()
	for _, r := range res {
		if err := r.Err(); err != nil {
			fmt.Fprintf(&b, "%s: %v\n", r.Host.Name, err)
		}
	}
	return b.String()
}

// JSONResult is a HostResult as kiln deploy --json prints it.
type JSONResult struct {
	Host        string     `json:"host"`
	Target      string     `json:"target"`
	Tags        []string   `json:"tags"`
	Status      Status     `json:"status"`
	Batch       int        `json:"batch"`
	Toplevel    store.Path `json:"toplevel,omitzero"`
	Closure     int        `json:"closure"`
	Copied      int        `json:"copied"`
	Substituted int        `json:"substituted"`
	SentBytes   int64      `json:"sent_bytes"`
	ExitCode    int        `json:"exit_code"`
	Seconds     float64    `json:"seconds"`
	Error       string     `json:"error,omitempty"`
}

// JSON turns results into what --json prints.
func JSON(res []HostResult) []JSONResult {
	out := make([]JSONResult, len(res))
	for i, r := range res {
		j := JSONResult{Host: r.Host.Name, Target: r.Host.Target.String(), Tags: append([]string{}, r.Host.Tags...),
			Status: r.Status, Batch: r.Batch, Toplevel: r.Toplevel, Closure: r.Closure, Copied: r.Copied,
			Substituted: r.Substituted, SentBytes: r.Sent, ExitCode: r.ExitCode, Seconds: r.Took.Seconds()}
		if err := r.Err(); err != nil {
			j.Error = err.Error()
		}
		out[i] = j
	}
	return out
}
