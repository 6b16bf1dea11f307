package reference

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in, full, familiar, tag string
		wantErr                 string
	}{
		{in: "busybox", full: "docker.io/library/busybox:latest", familiar: "busybox:latest", tag: "latest"},
		{in: "busybox:1.36", full: "docker.io/library/busybox:1.36", familiar: "busybox:1.36", tag: "1.36"},
		{in: "user/app", full: "docker.io/user/app:latest", familiar: "user/app:latest", tag: "latest"},
		{in: "ghcr.io/o/r:v1", full: "ghcr.io/o/r:v1", familiar: "ghcr.io/o/r:v1", tag: "v1"},
		{in: "127.0.0.1:5000/x/y", full: "127.0.0.1:5000/x/y:latest", familiar: "127.0.0.1:5000/x/y:latest", tag: "latest"},
		{in: "quay.io/a/b@sha256:" + strings.Repeat("a", 64), full: "quay.io/a/b@sha256:" + strings.Repeat("a", 64), familiar: "quay.io/a/b@sha256:" + strings.Repeat("a", 64)},
		{in: "", wantErr: "empty"},
		{in: "UPPER", wantErr: "invalid reference format"},
		{in: "a b", wantErr: "invalid reference format"},
		{in: "sha256:" + strings.Repeat("a", 64), wantErr: "image ID"},
		{in: "x@sha256:zz", wantErr: "invalid reference format"},
		{in: "x:", wantErr: "invalid reference format"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if r.String() != tt.full || r.Familiar() != tt.familiar || r.Tag() != tt.tag {
				t.Fatalf("Parse(%q) = %q / %q / tag %q, want %q / %q / %q", tt.in, r.String(), r.Familiar(), r.Tag(), tt.full, tt.familiar, tt.tag)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"busybox", "a/b:c", "localhost:5000/x@sha256:" + strings.Repeat("0", 64), "::", "a//b", strings.Repeat("a", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		// A parsed reference must round-trip through its full form.
		r2, err := Parse(r.String())
		if err != nil {
			t.Fatalf("reparse of %q (from %q): %v", r.String(), s, err)
		}
		if r2.String() != r.String() {
			t.Fatalf("round trip %q -> %q", r.String(), r2.String())
		}
		if r.Repository() == "" {
			t.Fatalf("empty repository for %q", s)
		}
	})
}
