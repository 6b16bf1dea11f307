package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hull-project/hull/internal/testutil"
)

var (
	anonymousName = regexp.MustCompile(`^[0-9a-f]{64}$`)
	createdAtRe   = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$`)
)

func TestVolumeCreateListInspect(t *testing.T) {
	root := t.TempDir()
	if r := mustHull(t, root, "", "volume", "ls"); r.stdout != "DRIVER    VOLUME NAME\n" {
		t.Errorf("ls on an empty store:\n%v", r)
	}
	for _, args := range [][]string{
		{"volume", "create", "vol10"},
		{"volume", "create", "--name", "vol2"},
		{"volume", "create", "-d", "local", "--label", "env=prod", "--label", "flag", "-o", "type=tmpfs", "-o", "device=tmpfs", "--opt", "o=size=64m,uid=1000", "Data"},
		{"volume", "create", "vol10"}, // exists: docker prints it again
	} {
		if r := mustHull(t, root, "", args...); r.stdout != args[len(args)-1]+"\n" || r.stderr != "" {
			t.Errorf("%v:\n%v", args, r)
		}
	}
	r := mustHull(t, root, "", "volume", "create")
	anon := strings.TrimSpace(r.stdout)
	if !anonymousName.MatchString(anon) {
		t.Fatalf("anonymous volume name %q", anon)
	}

	// Natural order: digits first, then by byte ("D" before "a").
	sorted := []string{"Data", "vol2", "vol10"}
	if anon[0] <= '9' {
		sorted = append([]string{anon}, sorted...)
	} else {
		sorted = slices.Insert(sorted, 1, anon)
	}
	r = mustHull(t, root, "", "volume", "ls")
	want := "DRIVER    VOLUME NAME\n"
	for _, name := range sorted {
		want += "local     " + name + "\n"
	}
	if r.stdout != want {
		t.Errorf("ls:\n%s\nwant:\n%s", r.stdout, want)
	}
	if r := mustHull(t, root, "", "volume", "list", "-q"); r.stdout != strings.Join(sorted, "\n")+"\n" {
		t.Errorf("ls -q:\n%v", r)
	}
	r = mustHull(t, root, "", "volume", "ls", "--format", "json", "--filter", "name=Data")
	var row map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &row); err != nil {
		t.Fatalf("ls --format json: %v\n%v", err, r)
	}
	volumes := filepath.Join(root, "volumes")
	if real, err := filepath.EvalSymlinks(volumes); err == nil {
		volumes = real
	}
	wantRow := map[string]string{
		"Availability": "N/A", "Driver": "local", "Group": "N/A", "Labels": "env=prod,flag=", "Links": "N/A",
		"Mountpoint": filepath.Join(volumes, "Data", "_data"), "Name": "Data", "Scope": "local", "Size": "N/A", "Status": "N/A",
	}
	if fmt.Sprint(row) != fmt.Sprint(wantRow) {
		t.Errorf("ls json:\n%v\nwant\n%v", row, wantRow)
	}
	if r := mustHull(t, root, "", "volume", "ls", "--format", "table {{.Name}}\t{{.Scope}}\t{{.Label \"env\"}}", "-f", "label=env"); r.stdout != "VOLUME NAME   SCOPE     \nData          local     prod\n" {
		t.Errorf("ls table format:\n%q", r.stdout)
	}
	for _, tc := range []struct {
		filter []string
		want   string
	}{
		{[]string{"name=vol"}, "vol2 vol10"},
		{[]string{"name=^vol1"}, "vol10"},
		{[]string{"name=vol2", "name=Data"}, "Data vol2"},
		{[]string{"label=env=prod"}, "Data"},
		{[]string{"label=env=dev"}, ""},
		{[]string{"label=com.docker.volume.anonymous"}, anon},
		{[]string{"driver=local", "name=vol"}, "vol2 vol10"},
		{[]string{"driver=other"}, ""},
		{[]string{"dangling=true", "name=vol"}, "vol2 vol10"},
		{[]string{"dangling=0"}, ""},
	} {
		args := []string{"volume", "ls", "--format", "{{.Name}}"}
		for _, f := range tc.filter {
			args = append(args, "--filter", f)
		}
		r := mustHull(t, root, "", args...)
		if got := strings.Join(lines(r.stdout), " "); got != tc.want {
			t.Errorf("ls %v = %q, want %q", tc.filter, got, tc.want)
		}
	}

	r = mustHull(t, root, "", "volume", "inspect", "vol2", "Data")
	var got []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 2 {
		t.Fatalf("inspect: %v\n%v", err, r)
	}
	for _, v := range got {
		if !createdAtRe.MatchString(fmt.Sprint(v["CreatedAt"])) {
			t.Errorf("CreatedAt %v", v["CreatedAt"])
		}
		delete(v, "CreatedAt")
	}
	wantJSON := `[{"Driver":"local","Labels":null,"Mountpoint":"` + filepath.Join(volumes, "vol2", "_data") + `","Name":"vol2","Options":null,"Scope":"local"},` +
		`{"Driver":"local","Labels":{"env":"prod","flag":""},"Mountpoint":"` + filepath.Join(volumes, "Data", "_data") + `","Name":"Data",` +
		`"Options":{"device":"tmpfs","o":"size=64m,uid=1000","type":"tmpfs"},"Scope":"local"}]`
	if b, _ := json.Marshal(got); string(b) != wantJSON {
		t.Errorf("inspect:\n%s\nwant\n%s", b, wantJSON)
	}
	// Docker's field order and indentation.
	wantPrefix := "[\n    {\n        \"CreatedAt\": \""
	wantSuffix := "\",\n        \"Driver\": \"local\",\n        \"Labels\": null,\n        \"Mountpoint\": \"" +
		filepath.Join(volumes, "vol2", "_data") + "\",\n        \"Name\": \"vol2\",\n        \"Options\": null,\n        \"Scope\": \"local\"\n    }\n]\n"
	r = mustHull(t, root, "", "volume", "inspect", "vol2")
	if !strings.HasPrefix(r.stdout, wantPrefix) || !strings.HasSuffix(r.stdout, wantSuffix) {
		t.Errorf("inspect layout:\n%s", r.stdout)
	}
	if r := mustHull(t, root, "", "volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Scope}} {{.Labels}} {{index .Options \"type\"}}", "Data"); r.stdout != "Data local local map[env:prod flag:] tmpfs\n" {
		t.Errorf("inspect -f:\n%v", r)
	}
	if r := mustHull(t, root, "", "volume", "inspect", "--format", "{{json .Labels}}", anon); r.stdout != `{"com.docker.volume.anonymous":""}`+"\n" {
		t.Errorf("inspect anonymous labels:\n%v", r)
	}
	if r := mustHull(t, root, "", "volume", "inspect", "-f", "json", "vol2"); !strings.HasPrefix(r.stdout, `[{"CreatedAt":"`) {
		t.Errorf("inspect -f json:\n%v", r)
	}
	r = hull(t, root, "", "volume", "inspect", "nosuch", "vol2")
	if r.code != 1 || r.stderr != "Error: get nosuch: no such volume\n" || !strings.Contains(r.stdout, `"Name": "vol2"`) {
		t.Errorf("inspect with a missing volume:\n%v", r)
	}
}

func TestVolumeRemoveAndPrune(t *testing.T) {
	root := t.TempDir()
	for _, args := range [][]string{
		{"volume", "create", "keep"},
		{"volume", "create", "--label", "tier=db", "named"},
		{"volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "mounted"},
	} {
		mustHull(t, root, "", args...)
	}
	anon1 := strings.TrimSpace(mustHull(t, root, "", "volume", "create").stdout)
	anon2 := strings.TrimSpace(mustHull(t, root, "", "volume", "create", "--label", "tier=db").stdout)
	data := filepath.Join(root, "volumes", anon1, "_data")
	if err := os.WriteFile(filepath.Join(data, "f"), make([]byte, 1200), 0o644); err != nil {
		t.Fatal(err)
	}

	r := hull(t, root, "", "volume", "rm", "keep", "nosuch", "other")
	if r.code != 1 || r.stdout != "keep\n" || r.stderr != "Error: get nosuch: no such volume\nError: get other: no such volume\n" {
		t.Errorf("rm with missing volumes:\n%v", r)
	}
	if r := mustHull(t, root, "", "volume", "remove", "-f", "nosuch"); r.stdout != "nosuch\n" || r.stderr != "" {
		t.Errorf("rm -f nosuch:\n%v", r)
	}

	const prompt = "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] "
	r = mustHull(t, root, "n\n", "volume", "prune")
	if r.stdout != prompt {
		t.Errorf("prune declined:\n%v", r)
	}
	r = mustHull(t, root, "y\n", "volume", "prune", "--filter", "label=tier=db")
	if r.stdout != prompt+"Deleted Volumes:\n"+anon2+"\n\nTotal reclaimed space: 0B\n" {
		t.Errorf("prune --filter label:\n%v", r)
	}
	r = mustHull(t, root, "", "volume", "prune", "-f", "--filter", "label!=tier")
	if r.stdout != "Deleted Volumes:\n"+anon1+"\n\nTotal reclaimed space: 1.2kB\n" {
		t.Errorf("prune -f:\n%v", r)
	}
	if r := mustHull(t, root, "", "volume", "prune", "-f"); r.stdout != "Total reclaimed space: 0B\n" {
		t.Errorf("prune with nothing to do:\n%v", r)
	}
	r = mustHull(t, root, "", "volume", "prune", "-a")
	if !strings.HasPrefix(r.stdout, "WARNING! This will remove all local volumes not used by at least one container.\n") ||
		!strings.HasSuffix(r.stdout, "[y/N] ") {
		t.Errorf("prune -a without an answer:\n%v", r)
	}
	r = mustHull(t, root, "", "volume", "prune", "-f", "--filter", "all=true")
	if r.stdout != "Deleted Volumes:\nnamed\n\nTotal reclaimed space: 0B\n" {
		t.Errorf("prune --filter all=true:\n%v", r)
	}
	// Volumes with driver options are never pruned, as in docker.
	if r := mustHull(t, root, "", "volume", "ls", "-q"); r.stdout != "mounted\n" {
		t.Errorf("left after prune:\n%v", r)
	}
	if r := mustHull(t, root, "", "volume", "rm", "mounted"); r.stdout != "mounted\n" {
		t.Errorf("rm:\n%v", r)
	}
}

func TestVolumeErrors(t *testing.T) {
	root := t.TempDir()
	mustHull(t, root, "", "volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "tv")
	const chars = `only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"volume", "create", "a/b"}, 125, "", `Error: create a/b: "a/b" includes invalid characters for a local volume name, ` + chars + "\n"},
		{[]string{"volume", "create", "x"}, 125, "", "Error: create x: volume name is too short, names should be at least two alphanumeric characters\n"},
		{[]string{"volume", "create", "--name", "a1", "a2"}, 125, "", "Error: conflicting options: cannot specify a volume-name through both --name and as a positional arg\n"},
		{[]string{"volume", "create", "-d", "nfs", "v1"}, 125, "", "Error: create v1: error looking up volume plugin nfs: plugin \"nfs\" not found\n"},
		{[]string{"volume", "create", "-o", "bogus=1", "v1"}, 125, "", "Error: create v1: invalid option: \"bogus\"\n"},
		{[]string{"volume", "create", "-o", "type=tmpfs", "v1"}, 125, "", "Error: create v1: missing required option: \"device\"\n"},
		{[]string{"volume", "create", "tv"}, 125, "", ""},
		{[]string{"volume", "create", "--label", "=x", "v1"}, 125, "", ""},
		{[]string{"volume", "create", "a", "b"}, 125, "",
			"hull: 'hull volume create' requires at most 1 argument\n\nUsage:  hull volume create [OPTIONS] [VOLUME]\n\nRun 'hull volume create --help' for more information\n"},
		{[]string{"volume", "rm"}, 125, "",
			"hull: 'hull volume rm' requires at least 1 argument\n\nUsage:  hull volume rm [OPTIONS] VOLUME [VOLUME...]\n\nSee 'hull volume rm --help' for more information\n"},
		{[]string{"volume", "inspect"}, 125, "", ""},
		{[]string{"volume", "ls", "x"}, 125, "", ""},
		{[]string{"volume", "nosuchcmd"}, 125, "",
			"hull: unknown command: hull volume nosuchcmd\n\nUsage:  hull volume COMMAND\n\nRun 'hull volume --help' for more information\n"},
		{[]string{"volume", "ls", "--filter", "bogus=1"}, 125, "", "Error: invalid filter 'bogus'\n"},
		{[]string{"volume", "ls", "--filter", "dangling=maybe"}, 125, "", "Error: invalid filter 'dangling=[maybe]'\n"},
		{[]string{"volume", "ls", "--format", "{{.Name"}, 125, "", ""},
		{[]string{"volume", "inspect", "-f", "{{.Name", "tv"}, 64, "", ""},
		{[]string{"volume", "inspect", "-f", "{{.Name}}", "nosuch"}, 1, "\n", "Error: get nosuch: no such volume\n"},
		{[]string{"volume", "prune", "-f", "--filter", "dangling=true"}, 125, "", "Error: invalid filter 'dangling'\n"},
		{[]string{"volume", "prune", "-a", "-f", "--filter", "all=1"}, 125, "", "Error: conflicting options: cannot specify both --all and --filter all=1\n"},
		{[]string{"volume", "prune", "-f", "--filter", "all=maybe"}, 125, "", "Error: invalid filter 'all': strconv.ParseBool: parsing \"maybe\": invalid syntax\n"},
	} {
		r := hull(t, root, "", tc.args...)
		if r.code != tc.code || (tc.stdout != "" && r.stdout != tc.stdout) || (tc.stderr != "" && r.stderr != tc.stderr) {
			t.Errorf("hull %s: want exit %d, stdout %q, stderr %q; got\n%v", strings.Join(tc.args, " "), tc.code, tc.stdout, tc.stderr, r)
		}
		if tc.code != 0 && r.stderr == "" {
			t.Errorf("hull %s: failed without a message", strings.Join(tc.args, " "))
		}
	}
	if r := hull(t, root, "", "volume"); r.code != 0 || !strings.Contains(r.stderr, "Commands:\n  create") || !strings.Contains(r.stderr, "prune") {
		t.Errorf("volume without a command:\n%v", r)
	}
	if r := hull(t, root, "", "volume", "create", "--help"); r.code != 0 || strings.Contains(r.stdout, "--name") || !strings.Contains(r.stdout, "-o, --opt map") {
		t.Errorf("volume create --help:\n%v", r)
	}
	if r := mustHull(t, root, "", "volume", "ls", "-q"); r.stdout != "tv\n" {
		t.Errorf("failed creates left volumes:\n%v", r)
	}
}

// TestVolumeConcurrentProcesses creates volumes from several hull
// processes at once: the store's lock keeps them consistent.
func TestVolumeConcurrentProcesses(t *testing.T) {
	root := t.TempDir()
	testutil.HullBinary(t)
	const n = 8
	results := make([]testutil.Result, 2*n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i] = testutil.Hull(t, root, "volume", "create", "shared") })
		wg.Go(func() { results[n+i] = testutil.Hull(t, root, "volume", "create", fmt.Sprintf("own%d", i)) })
	}
	wg.Wait()
	for i, r := range results {
		if r.ExitCode != 0 {
			t.Errorf("create %d: exit %d: %s", i, r.ExitCode, r.Stderr)
		}
	}
	got := lines(testutil.MustHull(t, root, "volume", "ls", "-q").Stdout)
	want := []string{"own0", "own1", "own2", "own3", "own4", "own5", "own6", "own7", "shared"}
	if !slices.Equal(got, want) {
		t.Errorf("ls -q = %v", got)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "volumes"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp") {
			t.Errorf("temp dir left: %s", e.Name())
		}
	}
}

func TestVolumeNameLess(t *testing.T) {
	in := []string{"vol10", "b", "vol2", "A", "vol02", "vol1", "a1b", "a", "10", "9"}
	slices.SortFunc(in, func(a, b string) int {
		switch {
		case volumeNameLess(a, b):
			return -1
		case volumeNameLess(b, a):
			return 1
		}
		return 0
	})
	want := []string{"9", "10", "A", "a", "a1b", "b", "vol1", "vol2", "vol02", "vol10"}
	if !slices.Equal(in, want) {
		t.Errorf("sorted %v, want %v", in, want)
	}
}
