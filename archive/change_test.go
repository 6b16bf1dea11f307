package archive

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestParseChange(t *testing.T) {
	base := func() v1.Config {
		return v1.Config{Env: []string{"PATH=/usr/bin:/bin", "HOME=/root"}, WorkingDir: "/srv", Cmd: []string{"old"}}
	}
	cases := []struct {
		change string
		check  func(c v1.Config) bool
		want   string // expected config JSON fragment description
	}{
		{`CMD ["sh"]`, func(c v1.Config) bool { return reflect.DeepEqual(c.Cmd, []string{"sh"}) }, "exec form"},
		{`CMD ["sh", "-c", "echo \"hi\""]`, func(c v1.Config) bool { return reflect.DeepEqual(c.Cmd, []string{"sh", "-c", `echo "hi"`}) }, "exec form with escapes"},
		{`cmd echo $HOME "x"`, func(c v1.Config) bool {
			return reflect.DeepEqual(c.Cmd, []string{"/bin/sh", "-c", `echo $HOME "x"`})
		}, "shell form kept verbatim"},
		{`CMD [not json`, func(c v1.Config) bool { return reflect.DeepEqual(c.Cmd, []string{"/bin/sh", "-c", "[not json"}) }, "bad JSON is shell form"},
		{`CMD [1, 2]`, func(c v1.Config) bool { return reflect.DeepEqual(c.Cmd, []string{"/bin/sh", "-c", "[1, 2]"}) }, "non-string JSON is shell form"},
		{`CMD []`, func(c v1.Config) bool { return c.Cmd != nil && len(c.Cmd) == 0 }, "empty exec form"},
		{`ENTRYPOINT ["/bin/busybox", "sh"]`, func(c v1.Config) bool {
			return reflect.DeepEqual(c.Entrypoint, []string{"/bin/busybox", "sh"}) && reflect.DeepEqual(c.Cmd, []string{"old"})
		}, "entrypoint exec"},
		{`ENTRYPOINT top -b`, func(c v1.Config) bool { return reflect.DeepEqual(c.Entrypoint, []string{"/bin/sh", "-c", "top -b"}) }, "entrypoint shell"},
		{`ENV A=b`, func(c v1.Config) bool { return c.Env[2] == "A=b" }, "env"},
		{`ENV A="hello world" B='x y' C=plain\ esc`, func(c v1.Config) bool {
			return strings.Join(c.Env[2:], "|") == "A=hello world|B=x y|C=plain esc"
		}, "env quotes"},
		{`ENV PATH=$PATH:/opt/bin`, func(c v1.Config) bool { return c.Env[0] == "PATH=/usr/bin:/bin:/opt/bin" && len(c.Env) == 2 }, "env expansion replaces in place"},
		{`ENV X=${HOME}/x Y=${NOPE:-def} Z=${HOME:+set} W='$HOME'`, func(c v1.Config) bool {
			return strings.Join(c.Env[2:], "|") == "X=/root/x|Y=def|Z=set|W=$HOME"
		}, "env substitutions"},
		{`ENV LEGACY some value  here`, func(c v1.Config) bool { return c.Env[2] == "LEGACY=some value  here" }, "legacy env"},
		{`ENV A=`, func(c v1.Config) bool { return c.Env[2] == "A=" }, "empty value"},
		{`LABEL a=b "c d"="e f" version=1.0`, func(c v1.Config) bool {
			return c.Labels["a"] == "b" && c.Labels["c d"] == "e f" && c.Labels["version"] == "1.0"
		}, "labels"},
		{`LABEL maintainer Jane Doe`, func(c v1.Config) bool { return c.Labels["maintainer"] == "Jane Doe" }, "legacy label"},
		{`EXPOSE 80 443/tcp 53/UDP 8000-8002`, func(c v1.Config) bool {
			return reflect.DeepEqual(c.ExposedPorts, map[string]struct{}{"80/tcp": {}, "443/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}, "8002/tcp": {}})
		}, "expose"},
		{`WORKDIR /x`, func(c v1.Config) bool { return c.WorkingDir == "/x" }, "abs workdir"},
		{`WORKDIR sub/dir`, func(c v1.Config) bool { return c.WorkingDir == "/srv/sub/dir" }, "relative workdir"},
		{`WORKDIR $HOME`, func(c v1.Config) bool { return c.WorkingDir == "/root" }, "workdir expansion"},
		{`USER nobody:nogroup`, func(c v1.Config) bool { return c.User == "nobody:nogroup" }, "user"},
		{`VOLUME /data`, func(c v1.Config) bool { return reflect.DeepEqual(c.Volumes, map[string]struct{}{"/data": {}}) }, "volume"},
		{`VOLUME ["/a", "/b c"]`, func(c v1.Config) bool {
			return reflect.DeepEqual(c.Volumes, map[string]struct{}{"/a": {}, "/b c": {}})
		}, "volume json"},
		{`VOLUME /a /b`, func(c v1.Config) bool { return len(c.Volumes) == 2 }, "volume words"},
		{`STOPSIGNAL SIGTERM`, func(c v1.Config) bool { return c.StopSignal == "SIGTERM" }, "stopsignal"},
		{`STOPSIGNAL 9`, func(c v1.Config) bool { return c.StopSignal == "9" }, "numeric stopsignal"},
		{`STOPSIGNAL SIGRTMIN+3`, func(c v1.Config) bool { return c.StopSignal == "SIGRTMIN+3" }, "rt stopsignal"},
		{`ONBUILD RUN echo hi`, func(c v1.Config) bool { return reflect.DeepEqual(c.OnBuild, []string{"RUN echo hi"}) }, "onbuild"},
		{`HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://localhost/`, func(c v1.Config) bool {
			h := c.Healthcheck
			return h != nil && h.Interval == 5*time.Second && h.Retries == 3 && reflect.DeepEqual(h.Test, []string{"CMD-SHELL", "curl -f http://localhost/"})
		}, "healthcheck shell"},
		{`HEALTHCHECK CMD ["true"]`, func(c v1.Config) bool { return reflect.DeepEqual(c.Healthcheck.Test, []string{"CMD", "true"}) }, "healthcheck exec"},
		{`HEALTHCHECK NONE`, func(c v1.Config) bool { return reflect.DeepEqual(c.Healthcheck.Test, []string{"NONE"}) }, "healthcheck none"},
		{"ENV A=1 \\\n  B=2", func(c v1.Config) bool { return strings.Join(c.Env[2:], "|") == "A=1|B=2" }, "continuation"},
		{"# comment\nUSER x\nWORKDIR /w", func(c v1.Config) bool { return c.User == "x" && c.WorkingDir == "/w" }, "several lines"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			cfg := base()
			if err := ParseChange(&cfg, c.change); err != nil {
				t.Fatalf("ParseChange(%q): %v", c.change, err)
			}
			if !c.check(cfg) {
				b, _ := json.Marshal(cfg)
				t.Errorf("ParseChange(%q) gave %s", c.change, b)
			}
		})
	}
}

func TestParseChangeErrors(t *testing.T) {
	cases := map[string]string{
		"FOO bar":                          "foo is not a valid change command",
		"RUN echo hi":                      "run is not a valid change command",
		"FROM busybox":                     "from is not a valid change command",
		"COPY a b":                         "copy is not a valid change command",
		"":                                 "empty change instruction",
		"   ":                              "empty change instruction",
		"ENV":                              "ENV requires at least one argument",
		"ENV A":                            "ENV must have two arguments",
		"ENV A=1 B":                        `can't find = in "B"`,
		"ENV =x":                           "ENV names can not be blank",
		`ENV A="unterminated`:              "matching double-quote",
		`ENV A=${B`:                        "missing '}'",
		`ENV A=${B/x/y}`:                   "unsupported modifier",
		`ENV A=${B:?unset}`:                "B: unset",
		"LABEL":                            "LABEL requires at least one argument",
		"EXPOSE":                           "EXPOSE requires at least one argument",
		"EXPOSE 80/foo":                    "invalid proto: foo",
		"EXPOSE abc":                       "invalid containerPort: abc",
		"EXPOSE 99999":                     "invalid containerPort",
		"EXPOSE 90-80":                     "invalid range",
		"USER":                             "USER requires exactly one argument",
		"WORKDIR":                          "WORKDIR requires exactly one argument",
		"VOLUME":                           "VOLUME requires at least one argument",
		`VOLUME [""]`:                      "VOLUME specified can not be an empty string",
		"STOPSIGNAL SIGFOO":                "invalid signal: SIGFOO",
		"STOPSIGNAL 0":                     "invalid signal: 0",
		"CMD":                              "CMD requires at least one argument",
		"ENTRYPOINT":                       "ENTRYPOINT requires at least one argument",
		"ONBUILD ONBUILD RUN x":            "Chaining ONBUILD",
		"ONBUILD FROM x":                   "FROM isn't allowed as an ONBUILD trigger",
		"ONBUILD FOO x":                    "unknown instruction: FOO",
		"ONBUILD":                          "ONBUILD requires at least one argument",
		"HEALTHCHECK":                      "HEALTHCHECK requires at least one argument",
		"HEALTHCHECK NONE x":               "HEALTHCHECK NONE takes no arguments",
		"HEALTHCHECK --bogus=1 CMD x":      "unknown flag: bogus",
		"HEALTHCHECK CMD":                  "missing command after HEALTHCHECK CMD",
		"HEALTHCHECK FOO":                  "unknown type",
		"HEALTHCHECK --interval=1ns CMD x": "cannot be less than 1ms",
		"HEALTHCHECK --retries=-1 CMD x":   "--retries cannot be negative",
	}
	for change, want := range cases {
		cfg := v1.Config{}
		err := ParseChange(&cfg, change)
		if err == nil {
			t.Errorf("ParseChange(%q) succeeded", change)
			continue
		}
		if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(want)) {
			t.Errorf("ParseChange(%q) = %q, want it to mention %q", change, err, want)
		}
	}
}

func TestApplyChangesEntrypointResetsCmd(t *testing.T) {
	cfg := v1.Config{Cmd: []string{"old"}}
	if err := ApplyChanges(&cfg, []string{`ENTRYPOINT ["/x"]`}); err != nil {
		t.Fatal(err)
	}
	if cfg.Cmd != nil {
		t.Errorf("inherited CMD kept: %v", cfg.Cmd)
	}
	cfg = v1.Config{Cmd: []string{"old"}}
	if err := ApplyChanges(&cfg, []string{`ENTRYPOINT ["/x"]`, `CMD ["y"]`}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Cmd, []string{"y"}) {
		t.Errorf("CMD = %v", cfg.Cmd)
	}
}

func FuzzParseChange(f *testing.F) {
	for _, s := range []string{
		`CMD ["sh"]`, "CMD echo hi", `ENV A="b c" D=${A:-x}`, "ENV k v", "LABEL a=b", "EXPOSE 80/tcp 1-3",
		"WORKDIR rel", "USER u", "VOLUME /data", "STOPSIGNAL SIGTERM", "ONBUILD RUN x",
		"HEALTHCHECK --interval=1s CMD true", `ENV A=${B:+"$C"}`, "ENV A=\\", `ENV A='`, "FOO",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, change string) {
		cfg := v1.Config{Env: []string{"A=1"}, WorkingDir: "/w"}
		if err := ParseChange(&cfg, change); err != nil {
			return
		}
		// Whatever was accepted must encode as a config.
		if _, err := json.Marshal(cfg); err != nil {
			t.Fatalf("config of %q does not encode: %v", change, err)
		}
		if cfg.WorkingDir != "" && !strings.HasPrefix(cfg.WorkingDir, "/") {
			t.Fatalf("WORKDIR %q is relative after %q", cfg.WorkingDir, change)
		}
	})
}
