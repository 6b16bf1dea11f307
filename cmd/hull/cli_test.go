package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
)

// result is what an in-process hull run produced.
type result struct {
	stdout, stderr string
	code           int
}

// hull runs the command line args in-process against the store at root,
// with stdin as standard input.
func hull(t *testing.T, root, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"--root", root}, args...), strings.NewReader(stdin), &out, &errb)
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\nstdout:\n" + r.stdout + "\nstderr:\n" + r.stderr
}

func TestEmptyStore(t *testing.T) {
	root := t.TempDir()
	r := hull(t, root, "", "images")
	if r.code != 0 || r.stdout != "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n" || r.stderr != "" {
		t.Errorf("images on an empty store:\n%v", r)
	}
	for _, args := range [][]string{{"images", "-q"}, {"image", "ls", "--format", "json"}} {
		if r := hull(t, root, "", args...); r.code != 0 || r.stdout != "" {
			t.Errorf("%v:\n%v", args, r)
		}
	}
	if r := hull(t, root, "", "image", "list", "--digests"); r.code != 0 || !strings.Contains(r.stdout, "DIGEST") {
		t.Errorf("image list --digests:\n%v", r)
	}
	if r := hull(t, root, "", "images", "ls"); r.code != 0 || !strings.Contains(r.stderr, `did you mean "hull image ls"?`) {
		t.Errorf("images ls hint:\n%v", r)
	}
	r = hull(t, root, "", "system", "df")
	want := "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n" +
		"Images          0         0         0B        0B\n" +
		"Containers      0         0         0B        0B\n" +
		"Local Volumes   0         0         0B        0B\n" +
		"Build Cache     0         0         0B        0B\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("system df:\n%v", r)
	}
	if r := hull(t, root, "", "image", "prune", "-f"); r.code != 0 || r.stdout != "Total reclaimed space: 0B\n" {
		t.Errorf("prune on empty store:\n%v", r)
	}
}

func TestExitCodes(t *testing.T) {
	root := t.TempDir()
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"rmi", "nosuch"}, 1, "", "Error: No such image: nosuch:latest\n"},
		{[]string{"rmi", "nosuch", "sha256:" + strings.Repeat("a", 64)}, 1, "",
			"Error: No such image: nosuch:latest\nError: No such image: sha256:" + strings.Repeat("a", 64) + "\n"},
		{[]string{"rmi", "-f", "nosuch"}, 0, "", "Error: No such image: nosuch:latest\n"},
		{[]string{"image", "inspect", "nosuch"}, 1, "[]\n", "Error: No such image: nosuch:latest\n"},
		{[]string{"inspect", "nosuch"}, 1, "[]\n", "Error: No such object: nosuch\n"},
		{[]string{"inspect", "-f", "{{.Id}}", "nosuch"}, 1, "\n", "Error: No such object: nosuch\n"},
		{[]string{"inspect", "--type", "network", "x"}, 125, "", "Error: unknown type: \"network\": must be one of \"container\", \"image\", \"volume\"\n"},
		{[]string{"history", "nosuch"}, 125, "", "Error: No such image: nosuch:latest\n"},
		{[]string{"tag", "nosuch", "foo"}, 125, "", "Error: No such image: nosuch:latest\n"},
		{[]string{"tag", "nosuch", "foo@sha256:" + strings.Repeat("a", 64)}, 125, "", "Error: refusing to create a tag with a digest reference\n"},
		{[]string{"images", "--badflag"}, 125, "",
			"unknown flag: --badflag\n\nUsage:  hull images [OPTIONS] [REPOSITORY[:TAG]]\n\nRun 'hull images --help' for more information\n"},
		{[]string{"image", "ls", "-x"}, 125, "",
			"unknown shorthand flag: 'x' in -x\n\nUsage:  hull image ls [OPTIONS] [REPOSITORY[:TAG]]\n\nRun 'hull image ls --help' for more information\n"},
		{[]string{"images", "a", "b"}, 125, "",
			"hull: 'hull images' requires at most 1 argument\n\nUsage:  hull images [OPTIONS] [REPOSITORY[:TAG]]\n\nRun 'hull images --help' for more information\n"},
		{[]string{"rmi"}, 125, "",
			"hull: 'hull rmi' requires at least 1 argument\n\nUsage:  hull rmi [OPTIONS] IMAGE [IMAGE...]\n\nSee 'hull rmi --help' for more information\n"},
		{[]string{"tag", "a"}, 125, "",
			"hull: 'hull tag' requires 2 arguments\n\nUsage:  hull tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]\n\nRun 'hull tag --help' for more information\n"},
		{[]string{"nosuchcmd"}, 125, "", "hull: unknown command: hull nosuchcmd\n\nRun 'hull --help' for more information\n"},
		{[]string{"image", "nosuchcmd"}, 125, "",
			"hull: unknown command: hull image nosuchcmd\n\nUsage:  hull image COMMAND\n\nRun 'hull image --help' for more information\n"},
		{[]string{"images", "--filter", "bogus=1"}, 125, "", "Error: invalid filter 'bogus'\n"},
		{[]string{"images", "--filter", "dangling"}, 125, "",
			"invalid argument \"dangling\" for \"-f, --filter\" flag: bad format of filter (expected name=value)\n\nUsage:  hull images [OPTIONS] [REPOSITORY[:TAG]]\n\nRun 'hull images --help' for more information\n"},
		{[]string{"images", "--filter", "dangling=maybe"}, 125, "", "Error: invalid filter 'dangling=[maybe]'\n"},
		{[]string{"images", "--filter", "before=nosuch"}, 125, "", "Error: No such image: nosuch:latest\n"},
		{[]string{"image", "prune", "--filter", "reference=x"}, 125, "", "Error: invalid filter 'reference'\n"},
		{[]string{"--log-level", "bogus", "images"}, 125, "", "Unable to parse logging level: bogus\n"},
		{[]string{"pull", "-a", "busybox:latest"}, 125, "", "Error: tag can't be used with --all-tags/-a\n"},
		{[]string{"pull", "BusyBox"}, 125, "", ""},
		{[]string{"load"}, 125, "", ""}, // empty stdin is not an archive
		{[]string{"save", "nosuch"}, 125, "", ""},
		{[]string{"login", "--password-stdin"}, 125, "", "Error: the --password-stdin option requires --username to be set\n"},
		{[]string{"login", "-u", "me", "example.com"}, 125, "", "Error: Cannot perform an interactive login from a non TTY device\n"},
		{[]string{"images", "--format", "{{.ID"}, 125, "", ""},
		{[]string{"image", "inspect", "-f", "{{.Id", "x"}, 64, "", ""},
	} {
		r := hull(t, root, "", tc.args...)
		if r.code != tc.code || (tc.stdout != "" && r.stdout != tc.stdout) || (tc.stderr != "" && r.stderr != tc.stderr) {
			t.Errorf("hull %s: want exit %d, stdout %q, stderr %q; got\n%v", strings.Join(tc.args, " "), tc.code, tc.stdout, tc.stderr, r)
		}
		if tc.code != 0 && r.stderr == "" {
			t.Errorf("hull %s: failed without a message", strings.Join(tc.args, " "))
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	root := t.TempDir()
	r := hull(t, root, "", "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "hull version "+version+", build ") {
		t.Errorf("--version:\n%v", r)
	}
	r = hull(t, root, "", "version", "--format", "{{.Client.Version}}")
	if r.code != 0 || r.stdout != version+"\n" {
		t.Errorf("version --format:\n%v", r)
	}
	r = hull(t, root, "", "version")
	if r.code != 0 || !strings.Contains(r.stdout, "Client:\n Version:           "+version+"\n") {
		t.Errorf("version:\n%v", r)
	}
	r = hull(t, root, "")
	if r.code != 0 || !strings.Contains(r.stderr, "Usage:") {
		t.Errorf("no arguments:\n%v", r)
	}
	r = hull(t, root, "", "images", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "--digests") {
		t.Errorf("images --help:\n%v", r)
	}
	r = hull(t, root, "", "info", "--format", "{{.DockerRootDir}} {{.Driver}} {{.Images}}")
	if r.code != 0 || r.stdout != root+" overlay2 0\n" {
		t.Errorf("info --format:\n%v", r)
	}
	r = hull(t, root, "", "info")
	if r.code != 0 || !strings.Contains(r.stdout, " Images: 0\n") || !strings.Contains(r.stdout, " Storage Driver: overlay2\n") ||
		!strings.Contains(r.stdout, " Docker Root Dir: "+root+"\n") {
		t.Errorf("info:\n%v", r)
	}
}

func TestRootFromEnv(t *testing.T) {
	root := t.TempDir()
	t.Setenv("HULL_ROOT", root)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"info", "--format", "{{.DockerRootDir}}"}, strings.NewReader(""), &out, &errb)
	if code != 0 || out.String() != root+"\n" {
		t.Errorf("HULL_ROOT not used: exit %d, %q %q", code, out.String(), errb.String())
	}
}
