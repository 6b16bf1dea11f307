package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hull-project/hull/internal/testutil"
)

func TestPushPull(t *testing.T) {
	addr := testutil.StartRegistry(t)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	root := t.TempDir()
	img := importBusybox(t, root, "busybox:latest", `CMD ["sh"]`)
	name := addr + "/test/busybox"

	mustHull(t, root, "", "tag", "busybox", name+":v1")
	r := mustHull(t, root, "", "push", name+":v1")
	push := regexp.MustCompile(`^The push refers to repository \[` + regexp.QuoteMeta(name) + `\]
[0-9a-f]{12}: Preparing
[0-9a-f]{12}: Pushed
v1: digest: (sha256:[0-9a-f]{64}) size: \d+
$`)
	m := push.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("push output:\n%s", r.stdout)
	}
	manifestDigest := m[1]
	r = mustHull(t, root, "", "push", name+":v1")
	if !strings.Contains(r.stdout, ": Layer already exists\n") {
		t.Errorf("second push:\n%s", r.stdout)
	}
	r = mustHull(t, root, "", "push", "-q", name+":v1")
	if r.stdout != name+":v1\n" {
		t.Errorf("push -q: %q", r.stdout)
	}
	r = hull(t, root, "", "push", name+":nosuch")
	if r.code != 125 || r.stderr != "Error: An image does not exist locally with the tag: "+name+"\n" {
		t.Errorf("push of a missing tag:\n%v", r)
	}

	// Pull into an empty store.
	other := t.TempDir()
	r = mustHull(t, other, "", "pull", name+":v1")
	pull := regexp.MustCompile(`^v1: Pulling from .*
([0-9a-f]{12}: [A-Za-z ]+\n)+Digest: ` + manifestDigest + `
Status: Downloaded newer image for ` + regexp.QuoteMeta(name) + `:v1
` + regexp.QuoteMeta(name) + `:v1
$`)
	if !pull.MatchString(r.stdout) || !strings.Contains(r.stdout, ": Pull complete\n") || strings.Contains(r.stdout, "Downloading") {
		t.Errorf("pull output:\n%s", r.stdout)
	}
	r = mustHull(t, other, "", "pull", name+":v1")
	if !strings.Contains(r.stdout, "Status: Image is up to date for "+name+":v1\n") {
		t.Errorf("second pull:\n%s", r.stdout)
	}
	r = mustHull(t, other, "", "pull", "-q", name+"@"+manifestDigest)
	if r.stdout != name+"@"+manifestDigest+"\n" {
		t.Errorf("pull -q by digest: %q", r.stdout)
	}
	r = mustHull(t, other, "", "images", "--digests", "--no-trunc", "--format", "{{.Repository}} {{.Tag}} {{.Digest}} {{.ID}}")
	if r.stdout != name+" v1 "+manifestDigest+" "+img.ID.String()+"\n" {
		t.Errorf("images --digests after pull: %q", r.stdout)
	}
	r = mustHull(t, other, "", "image", "inspect", "-f", "{{json .RepoDigests}}", name+":v1")
	if r.stdout != `["`+name+"@"+manifestDigest+`"]`+"\n" {
		t.Errorf("RepoDigests: %q", r.stdout)
	}
	r = hull(t, other, "", "pull", name)
	if r.code != 125 || !strings.HasPrefix(r.stdout, "Using default tag: latest\n") || !strings.HasPrefix(r.stderr, "Error: ") {
		t.Errorf("pull of a missing tag:\n%v", r)
	}
}

func TestLoginLogout(t *testing.T) {
	addr := testutil.StartAuthRegistry(t, "hulluser", "s3cret")
	cfgDir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfgDir)
	root := t.TempDir()

	r := hull(t, root, "wrong\n", "login", "-u", "hulluser", "--password-stdin", addr)
	if r.code != 125 || !strings.HasPrefix(r.stderr, "Error: ") || r.stdout != "" {
		t.Errorf("login with a wrong password:\n%v", r)
	}
	r = mustHull(t, root, "s3cret\n", "login", "-u", "hulluser", "--password-stdin", addr)
	if r.stdout != "Login Succeeded\n" || r.stderr != "" {
		t.Errorf("login:\n%v", r)
	}
	b, err := os.ReadFile(filepath.Join(cfgDir, "config.json"))
	if err != nil || !strings.Contains(string(b), addr) {
		t.Fatalf("credentials not stored: %v\n%s", err, b)
	}
	r = mustHull(t, root, "", "login", "-u", "hulluser", "-p", "s3cret", addr)
	if r.stdout != "Login Succeeded\n" || r.stderr != "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n" {
		t.Errorf("login -p:\n%v", r)
	}

	// The stored credentials let push through.
	importBusybox(t, root, addr+"/private/bb:v1")
	if r := hull(t, root, "", "push", "-q", addr+"/private/bb:v1"); r.code != 0 {
		t.Errorf("push with stored credentials:\n%v", r)
	}

	r = mustHull(t, root, "", "logout", addr)
	if r.stdout != "Removing login credentials for "+addr+"\n" {
		t.Errorf("logout: %q", r.stdout)
	}
	if b, err := os.ReadFile(filepath.Join(cfgDir, "config.json")); err != nil || strings.Contains(string(b), "auth\"") {
		t.Errorf("credentials left after logout: %v\n%s", err, b)
	}
	if r := hull(t, root, "", "push", "-q", addr+"/private/bb:v1"); r.code == 0 {
		t.Errorf("push without credentials succeeded:\n%v", r)
	}
}

func TestPushPullAllTags(t *testing.T) {
	addr := testutil.StartRegistry(t)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	root := t.TempDir()
	importBusybox(t, root, "busybox:latest", `CMD ["sh"]`)
	name := addr + "/all/busybox"
	for _, tag := range []string{"a", "b", "c"} {
		mustHull(t, root, "", "tag", "busybox", name+":"+tag)
	}
	r := mustHull(t, root, "", "push", "-a", name)
	for _, tag := range []string{"a", "b", "c"} {
		if !strings.Contains(r.stdout, "\n"+tag+": digest: sha256:") {
			t.Fatalf("push -a output lacks tag %s:\n%s", tag, r.stdout)
		}
	}
	if r := hull(t, root, "", "push", "-a", name+":a"); r.code != 125 || !strings.Contains(r.stderr, "tag can't be used with --all-tags/-a") {
		t.Errorf("push -a with a tag: %+v", r)
	}
	other := t.TempDir()
	r = mustHull(t, other, "", "pull", "-a", name)
	if !strings.HasSuffix(r.stdout, "Status: Downloaded newer image for "+name+"\n"+name+"\n") {
		t.Errorf("pull -a output:\n%s", r.stdout)
	}
	r = mustHull(t, other, "", "images", "--format", "{{.Tag}}", name)
	if r.stdout != "a\nb\nc\n" && strings.Join(strings.Fields(r.stdout), ",") != "a,b,c" {
		t.Errorf("tags after pull -a: %q", r.stdout)
	}
}
