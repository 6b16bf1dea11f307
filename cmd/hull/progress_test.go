package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/hull-project/hull/progress"
)

func TestPlainRenderer(t *testing.T) {
	var out bytes.Buffer
	r := newPlainRenderer(&out)
	for _, e := range []progress.Event{
		{ID: "latest", Action: "Pulling from library/busybox"},
		{ID: "aaaaaaaaaaaa", Action: "Pulling fs layer"},
		{ID: "bbbbbbbbbbbb", Action: "Already exists"},
		{ID: "aaaaaaaaaaaa", Action: "Downloading", Current: 10, Total: 100},
		{ID: "aaaaaaaaaaaa", Action: "Downloading", Current: 100, Total: 100},
		{ID: "aaaaaaaaaaaa", Action: "Verifying Checksum"},
		{ID: "aaaaaaaaaaaa", Action: "Verifying Checksum"},
		{ID: "aaaaaaaaaaaa", Action: "Pull complete"},
		{Message: "Digest: sha256:abc"},
	} {
		r.Report(e)
	}
	want := `latest: Pulling from library/busybox
aaaaaaaaaaaa: Pulling fs layer
bbbbbbbbbbbb: Already exists
aaaaaaaaaaaa: Verifying Checksum
aaaaaaaaaaaa: Pull complete
Digest: sha256:abc
`
	if out.String() != want {
		t.Errorf("plain output:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestTTYRenderer(t *testing.T) {
	var out bytes.Buffer
	r := newTTYRenderer(&out, func() int { return 200 })
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := start
	r.now = func() time.Time { return clock }
	r.Report(progress.Event{ID: "latest", Action: "Pulling from library/busybox"})
	r.Report(progress.Event{ID: "aaaaaaaaaaaa", Action: "Pulling fs layer"})
	r.Report(progress.Event{ID: "bbbbbbbbbbbb", Action: "Pulling fs layer"})
	r.Report(progress.Event{ID: "aaaaaaaaaaaa", Action: "Downloading", Current: 1000, Total: 4000})
	clock = start.Add(3 * time.Second)
	r.Report(progress.Event{ID: "aaaaaaaaaaaa", Action: "Downloading", Current: 2000, Total: 4000})
	r.Report(progress.Event{ID: "bbbbbbbbbbbb", Action: "Pull complete"})
	got := out.String()
	want := "latest: Pulling from library/busybox\n" +
		"\n\x1b[1A\x1b[2K\raaaaaaaaaaaa: Pulling fs layer \r\x1b[1B" +
		"\n\x1b[1A\x1b[2K\rbbbbbbbbbbbb: Pulling fs layer \r\x1b[1B" +
		"\x1b[2A\x1b[2K\raaaaaaaaaaaa: Downloading [" + strings.Repeat("=", 12) + ">" + strings.Repeat(" ", 38) + "]      1kB/4kB 0s\r\x1b[2B" +
		"\x1b[2A\x1b[2K\raaaaaaaaaaaa: Downloading [" + strings.Repeat("=", 25) + ">" + strings.Repeat(" ", 25) + "]      2kB/4kB 3s\r\x1b[2B" +
		"\x1b[1A\x1b[2K\rbbbbbbbbbbbb: Pull complete \r\x1b[1B"
	if got != want {
		t.Errorf("tty output:\n%q\nwant:\n%q", got, want)
	}
	// A status line starts a new block.
	out.Reset()
	r.Report(progress.Event{Message: "Digest: sha256:abc"})
	r.Report(progress.Event{ID: "cccccccccccc", Action: "Pushed"})
	if got := out.String(); got != "Digest: sha256:abc\n\n\x1b[1A\x1b[2K\rcccccccccccc: Pushed \r\x1b[1B" {
		t.Errorf("after a status line: %q", got)
	}
}

func TestProgressBar(t *testing.T) {
	now := time.Now()
	if got := progressBar(0, 0, 200, now, now); got != "" {
		t.Errorf("no progress: %q", got)
	}
	if got := progressBar(1500, 0, 200, now, now); got != "   1.5kB" {
		t.Errorf("unknown total: %q", got)
	}
	if got := progressBar(50, 100, 80, time.Time{}, now); got != "     50B/100B" {
		t.Errorf("narrow terminal: %q", got)
	}
	if got := progressBar(100, 100, 200, now, now); !strings.HasPrefix(got, "[==================================================>]") {
		t.Errorf("complete: %q", got)
	}
	if got := progressBar(200, 100, 200, now, now); !strings.HasSuffix(got, "]     200B") {
		t.Errorf("overrun: %q", got)
	}
}

func TestNewReporterQuiet(t *testing.T) {
	var out bytes.Buffer
	newReporter(&out, true).Report(progress.Event{ID: "x", Action: "Pull complete"})
	newReporter(&out, false).Report(progress.Event{ID: "y", Action: "Pull complete"})
	if out.String() != "y: Pull complete\n" {
		t.Errorf("reporters wrote %q", out.String())
	}
}
