// Package progress carries progress reports from hull's packages to the
// CLI, which decides how to show them (bars on a terminal, plain lines
// otherwise, nothing with -q). Packages below the CLI never print.
package progress

// Event is one progress report about one item (usually a layer, named by
// its short digest) or about the whole operation (empty ID).
type Event struct {
	// ID names the item, e.g. a 12-character short digest.
	ID string
	// Action is a Docker-style status such as "Downloading",
	// "Extracting", "Pull complete", "Already exists", "Pushing",
	// "Pushed", "Layer already exists" or "Mounted from library/x".
	Action string
	// Current and Total are byte counts for actions that move data; Total
	// is 0 when unknown.
	Current, Total int64
	// Message is free text for events with no ID (e.g. "Digest: sha256:…").
	Message string
}

// Reporter receives progress events. Implementations must be safe for
// concurrent use: layers are reported from several goroutines.
type Reporter interface {
	Report(Event)
}

// Discard is a Reporter that ignores every event.
var Discard Reporter = discard{}

type discard struct{}

func (discard) Report(Event) {}

// Func adapts a function to a Reporter.
type Func func(Event)

// Report calls f(e).
func (f Func) Report(e Event) { f(e) }

// OrDiscard returns r, or Discard if r is nil.
func OrDiscard(r Reporter) Reporter {
	if r == nil {
		return Discard
	}
	return r
}
