package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hull-project/hull/archive"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/internal/testutil"
	"github.com/hull-project/hull/reference"
)

// importBusybox imports the busybox rootfs tar into the store at root,
// tagged tag ("" for none), and returns the image.
func importBusybox(t *testing.T, root, tag string, changes ...string) *image.Image {
	t.Helper()
	tarPath := testutil.BusyboxTar(t)
	s, err := image.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ref reference.Reference
	if tag != "" {
		if ref, err = reference.Parse(tag); err != nil {
			t.Fatal(err)
		}
	}
	img, err := archive.Import(context.Background(), s, f, ref, archive.ImportOptions{Changes: changes})
	if err != nil {
		t.Fatalf("import busybox: %v", err)
	}
	return img
}

func mustHull(t *testing.T, root, stdin string, args ...string) result {
	t.Helper()
	r := hull(t, root, stdin, args...)
	if r.code != 0 {
		t.Fatalf("hull %s:\n%v", strings.Join(args, " "), r)
	}
	return r
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestImageLifecycle(t *testing.T) {
	root := t.TempDir()
	img := importBusybox(t, root, "busybox:latest", `CMD ["sh"]`, "LABEL org.example.kind=test", "ENV A=1")
	id := img.ID.String()
	short := id[7:19]

	r := mustHull(t, root, "", "images")
	rows := lines(r.stdout)
	if len(rows) != 2 || !strings.HasPrefix(rows[1], "busybox   ") || !strings.Contains(rows[1], short) || !strings.HasSuffix(rows[1], humanSize(img.Size)) {
		t.Fatalf("images:\n%s", r.stdout)
	}

	mustHull(t, root, "", "tag", "busybox", "example.com/tools/bb:v1")
	mustHull(t, root, "", "image", "tag", short, "busybox:1.36")
	r = mustHull(t, root, "", "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
	want := []string{"busybox:1.36 " + short, "busybox:latest " + short, "example.com/tools/bb:v1 " + short}
	if got := lines(r.stdout); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("images after tag: %q, want %q", got, want)
	}
	for filter, n := range map[string]int{
		"reference=busybox":            2,
		"reference=busy*:*":            2,
		"reference=example.com/*/*:v1": 1,
		"reference=*:v1":               0,
		"reference=nomatch":            0,
		"dangling=true":                0,
		"dangling=false":               3,
		"label=org.example.kind":       3,
		"label=org.example.kind=no":    0,
		"label=org.example.kind=test":  3,
		"before=busybox":               0,
		"since=busybox":                0,
		"until=1h":                     0,
	} {
		r := mustHull(t, root, "", "images", "-q", "--filter", filter)
		if got := len(lines(r.stdout)); got != n {
			t.Errorf("images --filter %s: %d rows, want %d:\n%s", filter, got, n, r.stdout)
		}
	}
	if r := mustHull(t, root, "", "images", "busybox:1.*"); len(lines(r.stdout)) != 2 {
		t.Errorf("images busybox:1.*:\n%s", r.stdout)
	}

	// inspect
	r = mustHull(t, root, "", "image", "inspect", "busybox")
	var inspected []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &inspected); err != nil || len(inspected) != 1 {
		t.Fatalf("inspect output: %v\n%s", err, r.stdout)
	}
	in := inspected[0]
	if in["Id"] != id || in["Os"] != "linux" || in["Size"] != float64(img.Size) {
		t.Errorf("inspect: Id %v Os %v Size %v", in["Id"], in["Os"], in["Size"])
	}
	if tags := in["RepoTags"].([]any); len(tags) != 3 || tags[0] != "busybox:1.36" {
		t.Errorf("RepoTags %v", tags)
	}
	if d, ok := in["RepoDigests"].([]any); !ok || len(d) != 0 {
		t.Errorf("RepoDigests must be [] not null: %v", in["RepoDigests"])
	}
	cfg := in["Config"].(map[string]any)
	if cmd := cfg["Cmd"].([]any); len(cmd) != 1 || cmd[0] != "sh" {
		t.Errorf("Config.Cmd %v", cfg["Cmd"])
	}
	if _, ok := cfg["Entrypoint"]; !ok {
		t.Errorf("Config lacks the always-present Entrypoint: %v", cfg)
	}
	gd := in["GraphDriver"].(map[string]any)
	lower := gd["Data"].(map[string]any)["LowerDir"].(string)
	if gd["Name"] != "overlay2" || !strings.HasPrefix(lower, filepath.Join(root, "snapshots")) {
		t.Errorf("GraphDriver %v", gd)
	}
	if _, err := os.Stat(filepath.Join(lower, "bin", "busybox")); err != nil {
		t.Errorf("LowerDir is not the unpacked layer: %v", err)
	}
	layers := in["RootFS"].(map[string]any)["Layers"].([]any)
	if len(layers) != 1 || !strings.HasSuffix(lower, strings.TrimPrefix(layers[0].(string), "sha256:")) {
		t.Errorf("RootFS.Layers %v vs LowerDir %s", layers, lower)
	}
	if !strings.Contains(r.stdout, "\n    {\n        \"Id\": ") {
		t.Errorf("inspect is not indented like docker:\n%s", r.stdout)
	}
	r = mustHull(t, root, "", "inspect", "-f", "{{.Id}} {{.Os}} {{index .Config.Labels \"org.example.kind\"}}", "busybox", short)
	if r.stdout != id+" linux test\n"+id+" linux test\n" {
		t.Errorf("inspect -f:\n%s", r.stdout)
	}
	r = mustHull(t, root, "", "image", "inspect", "--format", "json", "busybox")
	if !strings.HasPrefix(r.stdout, `[{"Id":"`+id+`"`) {
		t.Errorf("inspect --format json:\n%s", r.stdout)
	}
	r = hull(t, root, "", "image", "inspect", "busybox", "nosuch")
	if r.code != 1 || !strings.HasPrefix(r.stdout, "[\n    {") || r.stderr != "Error: No such image: nosuch:latest\n" {
		t.Errorf("inspect with one missing:\n%v", r)
	}

	// history
	r = mustHull(t, root, "", "history", "busybox")
	rows = lines(r.stdout)
	if len(rows) != 2 || !strings.HasPrefix(rows[0], "IMAGE          CREATED") || !strings.HasPrefix(rows[1], short+"   ") ||
		!strings.Contains(rows[1], humanSize(img.Size)) {
		t.Errorf("history:\n%s", r.stdout)
	}
	r = mustHull(t, root, "", "history", "--no-trunc", "-q", "busybox")
	if r.stdout != id+"\n" {
		t.Errorf("history -q --no-trunc: %q", r.stdout)
	}
	r = mustHull(t, root, "", "history", "--format", "{{.Size}}", "-H=false", "busybox")
	if strings.TrimSpace(r.stdout) != itoa64(img.Size) {
		t.Errorf("history size %q, want %d", r.stdout, img.Size)
	}

	// rmi
	r = hull(t, root, "", "rmi", short)
	if r.code != 1 || !strings.Contains(r.stderr, "must be forced") || !strings.Contains(r.stderr, "referenced in multiple repositories") {
		t.Errorf("rmi by ID with tags in two repositories:\n%v", r)
	}
	r = mustHull(t, root, "", "rmi", "busybox:1.36", "example.com/tools/bb:v1")
	if r.stdout != "Untagged: busybox:1.36\nUntagged: example.com/tools/bb:v1\n" {
		t.Errorf("rmi tags:\n%s", r.stdout)
	}
	r = hull(t, root, "", "rmi", "busybox", "nosuch")
	if r.code != 1 || r.stdout != "Untagged: busybox:latest\nDeleted: "+id+"\n" || r.stderr != "Error: No such image: nosuch:latest\n" {
		t.Errorf("rmi last tag and a missing image:\n%v", r)
	}
	if r := mustHull(t, root, "", "images", "-a", "-q"); r.stdout != "" {
		t.Errorf("images after rmi: %q", r.stdout)
	}
	s, err := image.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if snaps, err := s.Snapshots().List(); err != nil || len(snaps) != 0 {
		t.Errorf("rmi left snapshots: %v %v", snaps, err)
	}
}

func itoa64(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestSaveLoadImport(t *testing.T) {
	root := t.TempDir()
	img := importBusybox(t, root, "busybox:latest", `CMD ["sh"]`)
	archivePath := filepath.Join(t.TempDir(), "bb.tar")
	mustHull(t, root, "", "save", "-o", archivePath, "busybox")
	if fi, err := os.Stat(archivePath); err != nil || fi.Size() == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("save -o: %v %v", fi, err)
	}
	stdoutSave := mustHull(t, root, "", "image", "save", "busybox")
	if len(stdoutSave.stdout) < 1024 {
		t.Errorf("save to stdout wrote %d bytes", len(stdoutSave.stdout))
	}
	if r := hull(t, root, "", "save", "-o", archivePath+".2", "nosuch"); r.code == 0 || !strings.Contains(r.stderr, "nosuch") {
		t.Errorf("save of a missing image:\n%v", r)
	} else if _, err := os.Stat(archivePath + ".2"); err == nil {
		t.Error("failed save left a file behind")
	}

	other := t.TempDir()
	r := mustHull(t, other, "", "load", "-i", archivePath)
	if r.stdout != "Loaded image: busybox:latest\n" {
		t.Errorf("load:\n%v", r)
	}
	r = mustHull(t, other, stdoutSave.stdout, "image", "load", "-q")
	if r.stdout != "Loaded image: busybox:latest\n" {
		t.Errorf("load from stdin:\n%v", r)
	}
	if r := mustHull(t, other, "", "images", "-q", "--no-trunc"); r.stdout != img.ID.String()+"\n" {
		t.Errorf("images after load: %q", r.stdout)
	}

	// import through the CLI: from a file, from stdin and from a URL.
	tarPath := testutil.BusyboxTar(t)
	third := t.TempDir()
	r = mustHull(t, third, "", "import", "-m", "hello", "-c", "ENV X=1", tarPath, "imported:v1")
	if !strings.HasPrefix(r.stdout, "sha256:") || len(strings.TrimSpace(r.stdout)) != 71 {
		t.Errorf("import output %q", r.stdout)
	}
	r = mustHull(t, third, "", "history", "--format", "{{.Comment}}", "imported:v1")
	if r.stdout != "hello\n" {
		t.Errorf("import message: %q", r.stdout)
	}
	tarBytes, err := os.ReadFile(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	mustHull(t, third, string(tarBytes), "image", "import", "-", "fromstdin")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/rootfs.tar" {
			http.NotFound(w, r)
			return
		}
		w.Write(tarBytes)
	}))
	defer srv.Close()
	mustHull(t, third, "", "import", srv.URL+"/rootfs.tar", "fromurl")
	if r := hull(t, third, "", "import", srv.URL+"/missing.tar"); r.code != 125 || !strings.Contains(r.stderr, "404") {
		t.Errorf("import of a missing URL:\n%v", r)
	}
	r = mustHull(t, third, "", "images", "--format", "{{.Repository}}:{{.Tag}}")
	if got := strings.Join(lines(r.stdout), ","); !strings.Contains(got, "imported:v1") || !strings.Contains(got, "fromstdin:latest") || !strings.Contains(got, "fromurl:latest") {
		t.Errorf("imported images: %s", got)
	}
}

func TestPruneAndDiskUsage(t *testing.T) {
	root := t.TempDir()
	tagged := importBusybox(t, root, "busybox:latest")
	dangling := importBusybox(t, root, "", "ENV DANGLING=1")

	r := mustHull(t, root, "", "images", "--filter", "dangling=true", "--no-trunc", "-q")
	if r.stdout != dangling.ID.String()+"\n" {
		t.Errorf("dangling images: %q", r.stdout)
	}
	r = mustHull(t, root, "", "images")
	if !strings.Contains(r.stdout, "\n<none>       <none>    "+dangling.ShortID()) {
		t.Errorf("images does not show the dangling image:\n%s", r.stdout)
	}

	r = mustHull(t, root, "", "system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}")
	if lines(r.stdout)[0] != "Images 2 0" {
		t.Errorf("system df: %q", r.stdout)
	}
	r = mustHull(t, root, "", "system", "df", "-v")
	if !strings.HasPrefix(r.stdout, "Images space usage:\n\nREPOSITORY   TAG       IMAGE ID       CREATED") ||
		!strings.Contains(r.stdout, "SHARED SIZE   UNIQUE SIZE   CONTAINERS") || !strings.Contains(r.stdout, "\nBuild cache usage: 0B\n") {
		t.Errorf("system df -v:\n%s", r.stdout)
	}

	// Declining the prompt (or no answer at all) removes nothing.
	for _, answer := range []string{"n\n", ""} {
		r = hull(t, root, answer, "image", "prune")
		if r.code != 0 || r.stdout != "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] " {
			t.Errorf("prune answered %q:\n%v", answer, r)
		}
	}
	r = mustHull(t, root, "y\n", "image", "prune")
	want := danglingWarning + " [y/N] Deleted Images:\ndeleted: " + dangling.ID.String() + "\n\nTotal reclaimed space: "
	if !strings.HasPrefix(r.stdout, want) {
		t.Errorf("prune:\n%s\nwant prefix:\n%s", r.stdout, want)
	}
	if r := mustHull(t, root, "", "images", "-q", "--no-trunc"); r.stdout != tagged.ID.String()+"\n" {
		t.Errorf("after prune: %q", r.stdout)
	}
	r = mustHull(t, root, "", "image", "prune", "-a", "-f", "--filter", "label=nosuch")
	if r.stdout != "Total reclaimed space: 0B\n" {
		t.Errorf("prune -a with a non-matching label:\n%s", r.stdout)
	}
	r = mustHull(t, root, "", "image", "prune", "-a", "-f")
	if !strings.HasPrefix(r.stdout, "Deleted Images:\nuntagged: busybox:latest\ndeleted: "+tagged.ID.String()+"\n\nTotal reclaimed space: ") ||
		strings.HasSuffix(r.stdout, " 0B\n") {
		t.Errorf("prune -a:\n%s", r.stdout)
	}
	if r := mustHull(t, root, "", "images", "-a", "-q"); r.stdout != "" {
		t.Errorf("after prune -a: %q", r.stdout)
	}
}
