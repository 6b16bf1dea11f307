package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	units "github.com/docker/go-units"
	"github.com/hull-project/hull/progress"
)

// newReporter returns the progress renderer for out: nothing when quiet,
// docker's redrawn per-layer lines on a terminal, plain status lines
// otherwise.
func newReporter(out io.Writer, quiet bool) progress.Reporter {
	switch {
	case quiet:
		return progress.Discard
	case isTerminal(out):
		return newTTYRenderer(out, func() int { return terminalWidth(out) })
	default:
		return newPlainRenderer(out)
	}
}

// isStatusLine reports whether e is a one-off status line ("latest:
// Pulling from library/busybox", "Digest: …") rather than a layer whose
// line is updated in place.
func isStatusLine(e progress.Event) bool {
	return e.ID == "" || strings.HasPrefix(e.Action, "Pulling from ")
}

func eventText(e progress.Event) string {
	if e.Action == "" {
		return e.Message
	}
	return e.Action
}

// plainRenderer prints a line whenever an item's status changes, as
// docker does when its output is not a terminal: byte progress
// ("Downloading", "Extracting" with counts) is not shown.
type plainRenderer struct {
	mu   sync.Mutex
	w    io.Writer
	last map[string]string
}

func newPlainRenderer(w io.Writer) *plainRenderer {
	return &plainRenderer{w: w, last: map[string]string{}}
}

// Report implements progress.Reporter.
func (p *plainRenderer) Report(e progress.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.ID == "" {
		if t := eventText(e); t != "" {
			fmt.Fprintln(p.w, t)
		}
		return
	}
	if e.Current > 0 || e.Total > 0 {
		return
	}
	if p.last[e.ID] == e.Action {
		return
	}
	p.last[e.ID] = e.Action
	fmt.Fprintf(p.w, "%s: %s\n", e.ID, e.Action)
}

// ttyRenderer draws docker's terminal progress: one line per item,
// rewritten in place by moving the cursor up to it and back.
type ttyRenderer struct {
	mu    sync.Mutex
	w     io.Writer
	width func() int
	now   func() time.Time
	lines map[string]int
	start map[string]time.Time
}

func newTTYRenderer(w io.Writer, width func() int) *ttyRenderer {
	return &ttyRenderer{w: w, width: width, now: time.Now, lines: map[string]int{}, start: map[string]time.Time{}}
}

// Report implements progress.Reporter.
func (t *ttyRenderer) Report(e progress.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if isStatusLine(e) {
		// A status line ends the current block of item lines.
		t.lines = map[string]int{}
		if e.ID != "" {
			fmt.Fprintf(t.w, "%s: ", e.ID)
		}
		fmt.Fprintf(t.w, "%s\n", eventText(e))
		return
	}
	line, ok := t.lines[e.ID]
	if !ok {
		line = len(t.lines)
		t.lines[e.ID] = line
		fmt.Fprint(t.w, "\n")
	}
	diff := len(t.lines) - line
	if _, ok := t.start[e.ID]; !ok && (e.Current > 0 || e.Total > 0) {
		t.start[e.ID] = t.now()
	}
	bar := progressBar(e.Current, e.Total, t.width(), t.start[e.ID], t.now())
	fmt.Fprintf(t.w, "\x1b[%dA\x1b[2K\r%s: %s %s\r\x1b[%dB", diff, e.ID, e.Action, bar, diff)
}

// progressBar renders docker's progress detail: a 50-column bar on wide
// terminals, byte counts, and the estimated time left.
func progressBar(current, total int64, width int, start, now time.Time) string {
	if current <= 0 && total <= 0 {
		return ""
	}
	if total <= 0 {
		return fmt.Sprintf("%8v", units.HumanSize(float64(current)))
	}
	percentage := min(int(float64(current)/float64(total)*100)/2, 50)
	var bar string
	if width > 110 {
		bar = fmt.Sprintf("[%s>%s] ", strings.Repeat("=", percentage), strings.Repeat(" ", max(50-percentage, 0)))
	}
	numbers := fmt.Sprintf("%8v/%v", units.HumanSize(float64(current)), units.HumanSize(float64(total)))
	if current > total {
		numbers = fmt.Sprintf("%8v", units.HumanSize(float64(current)))
	}
	var left string
	if width > 50 && current > 0 && !start.IsZero() && percentage < 50 {
		perByte := now.Sub(start) / time.Duration(current)
		left = " " + (time.Duration(total-current) * perByte).Round(time.Second).String()
	}
	return bar + numbers + left
}
