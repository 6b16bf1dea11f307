package main

import (
	"errors"
	"testing"
	"time"
)

func TestFilterArgs(t *testing.T) {
	f := newFilterArgs()
	for _, v := range []string{"dangling=true", " Label = a=b ", "label=c", "reference=busy*:*"} {
		if err := f.Set(v); err != nil {
			t.Fatalf("Set(%q): %v", v, err)
		}
	}
	if err := f.Set("nonsense"); err == nil || err.Error() != "bad format of filter (expected name=value)" {
		t.Errorf("Set(nonsense) = %v", err)
	}
	if got := f.get("label"); len(got) != 2 || got[0] != "a=b" || got[1] != "c" {
		t.Errorf("label values %q", got)
	}
	if err := f.validate("dangling", "label", "reference"); err != nil {
		t.Errorf("validate: %v", err)
	}
	var inv *invalidFilterError
	if err := f.validate("dangling", "label"); !errors.As(err, &inv) || err.Error() != "invalid filter 'reference'" {
		t.Errorf("validate = %v", err)
	}
	if d, err := f.boolOr("dangling", false); err != nil || !d {
		t.Errorf("dangling = %v, %v", d, err)
	}
	f.add("dangling", "false")
	if _, err := f.boolOr("dangling", false); err == nil || err.Error() != "invalid filter 'dangling=[false true]'" {
		t.Errorf("conflicting dangling: %v", err)
	}
	if v, err := newFilterArgs().boolOr("dangling", true); err != nil || !v {
		t.Errorf("absent dangling = %v, %v", v, err)
	}
	bad := newFilterArgs()
	bad.add("dangling", "maybe")
	if _, err := bad.boolOr("dangling", false); err == nil || err.Error() != "invalid filter 'dangling=[maybe]'" {
		t.Errorf("dangling=maybe: %v", err)
	}
}

func TestMatchKVList(t *testing.T) {
	f := newFilterArgs()
	f.add("label", "a=b")
	f.add("label", "c")
	for _, tc := range []struct {
		labels map[string]string
		want   bool
	}{
		{map[string]string{"a": "b", "c": "x"}, true},
		{map[string]string{"a": "x", "c": "x"}, false},
		{map[string]string{"a": "b"}, false},
		{nil, false},
	} {
		if got := f.matchKVList("label", tc.labels); got != tc.want {
			t.Errorf("matchKVList(%v) = %v", tc.labels, got)
		}
	}
	if !newFilterArgs().matchKVList("label", nil) {
		t.Error("no label filter must match")
	}
}

func TestParseTimestamp(t *testing.T) {
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"10m":                       now.Add(-10 * time.Minute),
		"1h30m":                     now.Add(-90 * time.Minute),
		"2024-05-01":                time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC),
		"2024-05-01T10:20:30Z":      time.Date(2024, 5, 1, 10, 20, 30, 0, time.UTC),
		"2024-05-01T10:20:30+02:00": time.Date(2024, 5, 1, 8, 20, 30, 0, time.UTC),
		"2024-05-01T10:20":          time.Date(2024, 5, 1, 10, 20, 0, 0, time.UTC),
		"1714557600":                time.Unix(1714557600, 0),
		"1714557600.5":              time.Unix(1714557600, 500000000),
	} {
		got, err := parseTimestamp(in, now)
		if err != nil {
			t.Errorf("parseTimestamp(%q): %v", in, err)
			continue
		}
		if !got.Equal(want) {
			t.Errorf("parseTimestamp(%q) = %v, want %v", in, got, want)
		}
	}
	for _, bad := range []string{"yesterday", "2024-13-01", "12x"} {
		if _, err := parseTimestamp(bad, now); err == nil {
			t.Errorf("parseTimestamp(%q) succeeded", bad)
		}
	}
}

func TestFamiliarMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, ref string
		want         bool
	}{
		{"busybox", "docker.io/library/busybox:latest", true},
		{"busybox:latest", "docker.io/library/busybox:latest", true},
		{"busy*:*", "docker.io/library/busybox:1.36", true},
		{"busybox:1.*", "docker.io/library/busybox:latest", false},
		{"alpine", "docker.io/library/busybox:latest", false},
		{"*/bb", "example.com/tools/bb:v1", false},
		{"example.com/*/bb", "example.com/tools/bb:v1", true},
		{"busybox", "docker.io/library/busybox@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true},
	} {
		got, err := familiarMatch(tc.pattern, tc.ref)
		if err != nil || got != tc.want {
			t.Errorf("familiarMatch(%q, %q) = %v, %v", tc.pattern, tc.ref, got, err)
		}
	}
	if _, err := familiarMatch("[", "docker.io/library/busybox:latest"); err == nil {
		t.Error("bad pattern accepted")
	}
}
