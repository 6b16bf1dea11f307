package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

func TestHumanSize(t *testing.T) {
	for _, tc := range []struct {
		n          int64
		short, cap string
	}{
		{0, "0B", "0B"},
		{999, "999B", "999B"},
		{1000, "1kB", "1kB"},
		{4261937, "4.26MB", "4.262MB"},
		{1982263, "1.98MB", "1.982MB"},
		{1_500_000_000, "1.5GB", "1.5GB"},
	} {
		if got := humanSize(tc.n); got != tc.short {
			t.Errorf("humanSize(%d) = %q, want %q", tc.n, got, tc.short)
		}
		if got := humanSize4(tc.n); got != tc.cap {
			t.Errorf("humanSize4(%d) = %q, want %q", tc.n, got, tc.cap)
		}
	}
}

func TestSince(t *testing.T) {
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		ago  time.Duration
		want string
	}{
		{0, "Less than a second ago"},
		{30 * time.Second, "30 seconds ago"},
		{90 * time.Second, "About a minute ago"},
		{3 * time.Hour, "3 hours ago"},
		{15 * 24 * time.Hour, "2 weeks ago"},
		{100 * 24 * time.Hour, "3 months ago"},
		{3 * 365 * 24 * time.Hour, "3 years ago"},
	} {
		if got := since(now.Add(-tc.ago), now); got != tc.want {
			t.Errorf("since(-%v) = %q, want %q", tc.ago, got, tc.want)
		}
	}
}

func TestTruncateAndEllipsis(t *testing.T) {
	id := "sha256:" + strings.Repeat("ab", 32)
	if got := truncateID(id); got != "abababababab" {
		t.Errorf("truncateID = %q", got)
	}
	if got := truncateID("<missing>"); got != "<missing>" {
		t.Errorf("truncateID(<missing>) = %q", got)
	}
	if got := ellipsis("/bin/sh -c #(nop)  CMD [\"sh\"] and a lot more text", 20); got != "/bin/sh -c #(nop)  …" {
		t.Errorf("ellipsis = %q", got)
	}
	if got := ellipsis("short", 45); got != "short" {
		t.Errorf("ellipsis(short) = %q", got)
	}
}

func TestTemplateString(t *testing.T) {
	for in, want := range map[string]string{
		"table":                     "",
		"json":                      "{{json .}}",
		`table {{.ID}}\t{{.Tag}}`:   "{{.ID}}\t{{.Tag}}",
		"  {{.ID}} ":                "{{.ID}}",
		`{{.Repository}}\n{{.Tag}}`: "{{.Repository}}\n{{.Tag}}",
	} {
		if got := templateString(in); got != want {
			t.Errorf("templateString(%q) = %q, want %q", in, got, want)
		}
	}
}

func testSummary() imageSummary {
	return imageSummary{
		ID:          digest.Digest("sha256:" + strings.Repeat("0123456789abcdef", 4)),
		RepoTags:    []string{"busybox:latest", "busybox:1.36", "example.com/tools/bb:v1"},
		RepoDigests: []string{"busybox@sha256:" + strings.Repeat("f", 64), "other/repo@sha256:" + strings.Repeat("e", 64)},
		Created:     time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).Unix(),
		Size:        4261937,
		SharedSize:  -1,
	}
}

func renderImages(t *testing.T, images []imageSummary, format string, quiet, digests, trunc bool) string {
	t.Helper()
	var out bytes.Buffer
	c := newCLI(strings.NewReader(""), &out, &out)
	if err := writeImages(c, images, format, quiet, digests, trunc); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func fixNow(t *testing.T, now time.Time) {
	old := nowFunc
	nowFunc = func() time.Time { return now }
	t.Cleanup(func() { nowFunc = old })
}

func TestImagesTable(t *testing.T) {
	fixNow(t, time.Date(2024, 5, 15, 0, 0, 0, 0, time.UTC))
	got := renderImages(t, []imageSummary{testSummary(), {ID: digest.Digest("sha256:" + strings.Repeat("9", 64)), Size: 1000, SharedSize: -1, Created: time.Date(2024, 5, 14, 23, 0, 0, 0, time.UTC).Unix()}}, "table", false, false, true)
	row := func(a, b, c, d, e string) string { return fmt.Sprintf("%-23s%-10s%-15s%-20s%s\n", a, b, c, d, e) }
	want := row("REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE") +
		row("busybox", "latest", "0123456789ab", "2 weeks ago", "4.26MB") +
		row("busybox", "1.36", "0123456789ab", "2 weeks ago", "4.26MB") +
		row("example.com/tools/bb", "v1", "0123456789ab", "2 weeks ago", "4.26MB") +
		row("other/repo", "<none>", "0123456789ab", "2 weeks ago", "4.26MB") +
		row("<none>", "<none>", "999999999999", "About an hour ago", "1kB")
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestImagesDigestsAndQuiet(t *testing.T) {
	fixNow(t, time.Date(2024, 5, 15, 0, 0, 0, 0, time.UTC))
	img := testSummary()
	got := renderImages(t, []imageSummary{img}, "table", false, true, true)
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if !strings.HasPrefix(lines[0], "REPOSITORY") || !strings.Contains(lines[0], "DIGEST") {
		t.Fatalf("header %q", lines[0])
	}
	// busybox has two tags × one digest, bb one tag without digest, and
	// other/repo is known only by digest.
	if len(lines) != 5 {
		t.Fatalf("want 4 rows, got:\n%s", got)
	}
	if !strings.Contains(lines[1], "sha256:ffff") || !strings.Contains(lines[4], "sha256:eeee") || !strings.Contains(lines[3], "<none>") {
		t.Errorf("digest rows wrong:\n%s", got)
	}
	q := renderImages(t, []imageSummary{img}, "table", true, false, true)
	if q != strings.Repeat("0123456789ab\n", 4) {
		t.Errorf("quiet output %q", q)
	}
	full := renderImages(t, []imageSummary{img}, "table", true, false, false)
	if !strings.HasPrefix(full, img.ID.String()+"\n") {
		t.Errorf("no-trunc quiet output %q", full)
	}
}

func TestImagesTemplateAndJSON(t *testing.T) {
	fixNow(t, time.Date(2024, 5, 15, 0, 0, 0, 0, time.UTC))
	img := testSummary()
	img.RepoTags = img.RepoTags[:1]
	img.RepoDigests = nil
	got := renderImages(t, []imageSummary{img}, "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}} {{upper .Tag}}", false, false, true)
	if got != "busybox:latest 0123456789ab 4.26MB LATEST\n" {
		t.Errorf("template output %q", got)
	}
	got = renderImages(t, []imageSummary{img}, `table {{.ID}}\t{{.Repository}}`, false, false, true)
	if got != "IMAGE ID       REPOSITORY\n0123456789ab   busybox\n" {
		t.Errorf("custom table %q", got)
	}
	got = renderImages(t, []imageSummary{img}, "json", false, false, true)
	var m map[string]string
	if err := json.Unmarshal([]byte(got), &m); err != nil {
		t.Fatalf("json output %q: %v", got, err)
	}
	want := map[string]string{
		"Containers": "0", "CreatedSince": "2 weeks ago", "Digest": "<none>", "ID": "0123456789ab",
		"Repository": "busybox", "SharedSize": "N/A", "Size": "4.26MB", "Tag": "latest",
		"UniqueSize": "N/A", "VirtualSize": "4.262MB",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("json %s = %q, want %q", k, m[k], v)
		}
	}
	if _, ok := m["CreatedAt"]; !ok || len(m) != 11 {
		t.Errorf("json keys: %v", m)
	}
	if !strings.Contains(got, `"Digest":"\u003cnone\u003e"`) {
		t.Errorf("docker escapes <none> in json output: %s", got)
	}
	if _, err := parseTemplate("{{.ID"); err == nil {
		t.Error("bad template parsed")
	}
	var out bytes.Buffer
	err := formatter{out: &out, format: "{{.Nope}}", header: imageHeader}.write([]any{&imageRow{img: img}})
	if err == nil || !strings.Contains(err.Error(), "template parsing error") {
		t.Errorf("unknown field: err %v", err)
	}
}

func TestImagesTableEmpty(t *testing.T) {
	if got := renderImages(t, nil, "table", false, false, true); got != "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n" {
		t.Errorf("empty table %q", got)
	}
	if got := renderImages(t, nil, "json", false, false, true); got != "" {
		t.Errorf("empty json %q", got)
	}
}

func TestSplitTag(t *testing.T) {
	for in, want := range map[string][2]string{
		"busybox:latest":            {"busybox", "latest"},
		"localhost:5000/a/b:v1":     {"localhost:5000/a/b", "v1"},
		"localhost:5000/a/b":        {"", ""},
		"busybox@sha256:0123456789": {"", ""},
	} {
		n, tag, _ := splitTag(in)
		if n != want[0] || tag != want[1] {
			t.Errorf("splitTag(%q) = %q %q", in, n, tag)
		}
	}
}

func TestJoinAndPad(t *testing.T) {
	if s, _ := joinElements([]string{"a", "b"}, ","); s != "a,b" {
		t.Errorf("join %q", s)
	}
	if s, _ := joinElements(map[string]int{"x": 2, "y": 1}, " "); s != "1 2" {
		t.Errorf("join map %q", s)
	}
	if s := padWithSpace("x", 1, 2); s != " x  " {
		t.Errorf("pad %q", s)
	}
	if s := truncateWithLength("abcdef", 3); s != "abc" {
		t.Errorf("truncate %q", s)
	}
}
