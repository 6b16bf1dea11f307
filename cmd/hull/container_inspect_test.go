package main

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	mobycontainer "github.com/moby/moby/api/types/container"
)

// decodeInspect decodes the JSON array `inspect` prints.
func decodeInspect(t *testing.T, out string) []mobycontainer.InspectResponse {
	t.Helper()
	var v []mobycontainer.InspectResponse
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("decode inspect output: %v\n%s", err, out)
	}
	return v
}

func TestContainerInspect(t *testing.T) {
	e := newLC(t)
	e.must("run", "-d", "--name", "web", "-v", "insp-data:/data", "-e", "FOO=bar", "--label", "tier=front", "busybox", "sleep", "100")

	r := e.must("container", "inspect", "web")
	got := decodeInspect(t, r.stdout)
	if len(got) != 1 {
		t.Fatalf("want one object:\n%s", r.stdout)
	}
	ci := got[0]
	if len(ci.ID) != 64 || ci.Name != "/web" || ci.Path != "sleep" || !slices.Equal(ci.Args, []string{"100"}) {
		t.Errorf("Id %q Name %q Path %q Args %q", ci.ID, ci.Name, ci.Path, ci.Args)
	}
	if ci.Driver != "overlay2" || ci.Platform != "linux" || !strings.HasPrefix(ci.Image, "sha256:") {
		t.Errorf("Driver %q Platform %q Image %q", ci.Driver, ci.Platform, ci.Image)
	}
	if _, err := time.Parse(time.RFC3339Nano, ci.Created); err != nil {
		t.Errorf("Created: %v", err)
	}
	st := ci.State
	if st == nil || st.Status != "running" || !st.Running || st.Paused || st.Pid <= 0 || st.ExitCode != 0 {
		t.Fatalf("State: %+v", st)
	}
	if _, err := time.Parse(time.RFC3339Nano, st.StartedAt); err != nil || st.FinishedAt != "0001-01-01T00:00:00Z" {
		t.Errorf("StartedAt %q FinishedAt %q", st.StartedAt, st.FinishedAt)
	}
	if ci.Config == nil || !slices.Contains(ci.Config.Env, "FOO=bar") || ci.Config.Labels["tier"] != "front" || ci.Config.Image != "busybox" {
		t.Errorf("Config: %+v", ci.Config)
	}
	if len(ci.Mounts) != 1 || ci.Mounts[0].Type != "volume" || ci.Mounts[0].Name != "insp-data" || ci.Mounts[0].Destination != "/data" || !ci.Mounts[0].RW {
		t.Errorf("Mounts: %+v", ci.Mounts)
	}
	if ci.HostConfig == nil || ci.HostConfig.RestartPolicy.Name != "no" {
		t.Errorf("HostConfig: %+v", ci.HostConfig)
	}
	gd := ci.GraphDriver
	if gd == nil || gd.Name != "overlay2" || !strings.HasSuffix(gd.Data["UpperDir"], ci.ID+"/diff") ||
		!strings.HasSuffix(gd.Data["WorkDir"], ci.ID+"/work") || !strings.HasSuffix(gd.Data["MergedDir"], ci.ID+"/rootfs") || gd.Data["LowerDir"] == "" {
		t.Errorf("GraphDriver: %+v", gd)
	}
	for _, p := range []string{ci.HostnamePath, ci.HostsPath, ci.ResolvConfPath, ci.LogPath} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%v", err)
		}
	}
	if ci.NetworkSettings == nil || ci.NetworkSettings.Networks == nil || ci.SizeRw != nil {
		t.Errorf("NetworkSettings %+v SizeRw %v", ci.NetworkSettings, ci.SizeRw)
	}
	// Raw JSON: docker's field names and the zero time.
	for _, want := range []string{`"Id": "` + ci.ID + `"`, `"Name": "/web"`, `"RestartCount": 0`, `"FinishedAt": "0001-01-01T00:00:00Z"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %s", want)
		}
	}

	// Templates: on the typed response, falling back to the JSON keys.
	r = e.must("container", "inspect", "-f", "{{.State.Running}} {{.Name}} {{.Id}} {{index .Config.Labels \"tier\"}} {{json .Config.Cmd}}", "web")
	if r.stdout != "true /web "+ci.ID+` front ["sleep","100"]`+"\n" {
		t.Errorf("template: %q", r.stdout)
	}
	if r := e.must("inspect", "-s", "-f", "{{.SizeRw}} {{if .SizeRootFs}}sized{{end}}", "web"); !strings.HasSuffix(r.stdout, " sized\n") {
		t.Errorf("-s: %q", r.stdout)
	}
	if r := e.must("inspect", "-f", "json", "web"); !strings.HasPrefix(r.stdout, `[{"Id":"`+ci.ID+`"`) {
		t.Errorf("json: %.80s", r.stdout)
	}

	// The generic inspect: containers, then images, then volumes.
	r = e.must("inspect", "-f", "{{.Name}}", "web", "insp-data")
	if r.stdout != "/web\ninsp-data\n" {
		t.Errorf("generic inspect: %q", r.stdout)
	}
	if r := e.must("inspect", "-f", "{{.Id}} {{.Os}}", "busybox"); !strings.HasPrefix(r.stdout, "sha256:") || !strings.HasSuffix(r.stdout, " linux\n") {
		t.Errorf("generic inspect of an image: %q", r.stdout)
	}
	// A container shadows an image or volume of the same name.
	e.must("volume", "create", "web")
	e.must("create", "--name", "busybox", "busybox")
	if r := e.must("inspect", "-f", "{{.Name}}", "web", "busybox"); r.stdout != "/web\n/busybox\n" {
		t.Errorf("containers first: %q", r.stdout)
	}
	if r := e.must("inspect", "--type", "image", "-f", "{{.Id}}", "busybox"); !strings.HasPrefix(r.stdout, "sha256:") {
		t.Errorf("--type image: %q", r.stdout)
	}
	e.must("rm", "busybox")
	if r := e.must("inspect", "-s", "-f", "{{.Id}}", "busybox"); r.stderr != "WARNING: --size ignored for image\n" {
		t.Errorf("-s on an image: %v", r)
	}
	if r := e.must("inspect", "--type", "container", "-f", "{{.Name}}", ci.ID[:10]); r.stdout != "/web\n" {
		t.Errorf("--type container by ID prefix: %v", r)
	}
	if r := e.must("inspect", "--type", "volume", "-f", "{{.Name}}", "insp-data"); r.stdout != "insp-data\n" {
		t.Errorf("--type volume: %v", r)
	}
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"inspect", "-f", "{{.Name}}", "nosuch", "web"}, 1, "/web\n", "Error: No such object: nosuch\n"},
		{[]string{"container", "inspect", "nosuch"}, 1, "[]\n", "Error: No such container: nosuch\n"},
		{[]string{"container", "inspect", "busybox"}, 1, "[]\n", "Error: No such container: busybox\n"},
		{[]string{"inspect", "--type", "container", "insp-data"}, 1, "[]\n", "Error: No such container: insp-data\n"},
		{[]string{"inspect", "--type", "image", "web"}, 1, "[]\n", "Error: No such image: web:latest\n"},
		{[]string{"inspect", "--type", "network", "web"}, 125, "", "Error: unknown type: \"network\": must be one of \"container\", \"image\", \"volume\"\n"},
		{[]string{"inspect", "--type", "", "web"}, 125, "", "Error: type is empty: must be one of \"container\", \"image\", \"volume\"\n"},
	} {
		r := e.hull(tc.args...)
		if r.code != tc.code || r.stdout != tc.stdout || r.stderr != tc.stderr {
			t.Errorf("want exit %d, stdout %q, stderr %q:\n%v", tc.code, tc.stdout, tc.stderr, r)
		}
	}
	r = e.hull("container", "inspect", "web", "nosuch")
	if r.code != 1 || len(decodeInspect(t, r.stdout)) != 1 || r.stderr != "Error: No such container: nosuch\n" {
		t.Errorf("found and missing:\n%v", r)
	}

	// A stopped container.
	e.must("stop", "-t", "0", "web")
	ci = decodeInspect(t, e.must("container", "inspect", "web").stdout)[0]
	if st := ci.State; st.Running || st.Status != "exited" || st.Pid != 0 || st.ExitCode != 137 || st.FinishedAt == "0001-01-01T00:00:00Z" {
		t.Errorf("stopped State: %+v", st)
	}
	e.must("create", "--name", "fresh", "busybox")
	if r := e.must("inspect", "-f", "{{.State.Status}} {{.State.StartedAt}} {{.State.Pid}}", "fresh"); r.stdout != "created 0001-01-01T00:00:00Z 0\n" {
		t.Errorf("created: %q", r.stdout)
	}
}
