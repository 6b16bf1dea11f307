package spec

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// userRootfs writes a rootfs with /etc/passwd and /etc/group.
func userRootfs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	etc := filepath.Join(root, "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	passwd := "root:x:0:0:root:/root:/bin/sh\n" +
		"app:x:1000:1000:App:/home/app:/bin/sh\n" +
		"nohome:x:1001:1001::/:/bin/sh\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	group := "root:x:0:\n" +
		"wheel:x:10:root,app\n" +
		"app:x:1000:\n" +
		"audio:x:29:app\n" +
		"video:x:44:\n" +
		"nogroup:x:65534:\n"
	if err := os.WriteFile(filepath.Join(etc, "passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(etc, "group"), []byte(group), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestUser(t *testing.T) {
	root := userRootfs(t)
	empty := t.TempDir()
	tests := []struct {
		name     string
		rootfs   string
		user     string
		imgUser  string
		groupAdd []string
		want     specs.User
		home     string
		err      string
	}{
		{name: "default is root with its groups", rootfs: root,
			want: specs.User{UID: 0, GID: 0, AdditionalGids: []uint32{0, 10}}, home: "/root"},
		{name: "named user: primary gid + memberships", rootfs: root, user: "app",
			want: specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 10, 29}}, home: "/home/app"},
		{name: "uid resolves to the passwd entry", rootfs: root, user: "1000",
			want: specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 10, 29}}, home: "/home/app"},
		{name: "image USER used when -u not given", rootfs: root, imgUser: "app",
			want: specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 10, 29}}, home: "/home/app"},
		{name: "-u beats the image USER", rootfs: root, imgUser: "app", user: "nobody",
			want: specs.User{UID: 65534, GID: 65534, AdditionalGids: []uint32{65534}}, home: "/nonexistent"},
		{name: "uid:gid, explicit group: no memberships", rootfs: root, user: "1000:44",
			want: specs.User{UID: 1000, GID: 44, AdditionalGids: []uint32{44}}, home: "/home/app"},
		{name: "name:group", rootfs: root, user: "app:video",
			want: specs.User{UID: 1000, GID: 44, AdditionalGids: []uint32{44}}, home: "/home/app"},
		{name: "unknown numeric uid is fine, gid 0, HOME /", rootfs: root, user: "4242",
			want: specs.User{UID: 4242, GID: 0, AdditionalGids: []uint32{0}}, home: "/"},
		{name: "unknown numeric uid:gid", rootfs: root, user: "4242:4343",
			want: specs.User{UID: 4242, GID: 4343, AdditionalGids: []uint32{4343}}, home: "/"},
		{name: "numeric user without passwd or group files", rootfs: empty, user: "123:456",
			want: specs.User{UID: 123, GID: 456, AdditionalGids: []uint32{456}}, home: "/"},
		{name: "root without passwd file", rootfs: empty,
			want: specs.User{AdditionalGids: []uint32{0}}, home: "/"},
		{name: "no rootfs given: numeric only", user: "7",
			want: specs.User{UID: 7, AdditionalGids: []uint32{0}}, home: "/"},
		{name: "missing named user (Docker's error)", rootfs: root, user: "foo",
			err: "unable to find user foo: no matching entries in passwd file"},
		{name: "named user without passwd file", rootfs: empty, user: "foo",
			err: "unable to find user foo: no matching entries in passwd file"},
		{name: "missing named group", rootfs: root, user: "app:nope",
			err: "unable to find group nope: no matching entries in group file"},
		{name: "--group-add names and numbers, sorted after memberships", rootfs: root, user: "app", groupAdd: []string{"video", "5000", "wheel"},
			want: specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 10, 29, 10, 44, 5000}}, home: "/home/app"},
		{name: "--group-add unknown name", rootfs: root, groupAdd: []string{"nope"},
			err: "unable to find group nope"},
		{name: "--group-add numeric without group file", rootfs: empty, groupAdd: []string{"99"},
			want: specs.User{AdditionalGids: []uint32{0, 99}}, home: "/"},
		{name: "uid out of range", rootfs: root, user: "99999999999", err: "uids and gids must be in range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := &v1.ConfigFile{Config: v1.Config{User: tt.imgUser, Cmd: []string{"sh"}}}
			s, err := generate(img, Options{Rootfs: tt.rootfs, User: tt.user, GroupAdd: tt.groupAdd}, testHost())
			if !checkErr(t, err, tt.err) {
				return
			}
			if !reflect.DeepEqual(s.Process.User, tt.want) {
				t.Errorf("user = %+v, want %+v", s.Process.User, tt.want)
			}
			if !slices.Contains(s.Process.Env, "HOME="+tt.home) {
				t.Errorf("env %q lacks HOME=%s", s.Process.Env, tt.home)
			}
		})
	}
}

// TestUserSymlinkStaysInRootfs: an image whose /etc/passwd is a symlink to
// an absolute path must be resolved inside the rootfs, not on the host.
func TestUserSymlinkStaysInRootfs(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "data", "passwd"), []byte("svc:x:321:321::/srv:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Absolute target: on the host /data/passwd does not exist (and
	// /etc/passwd has no svc user).
	if err := os.Symlink("/data/passwd", filepath.Join(root, "etc", "passwd")); err != nil {
		t.Fatal(err)
	}
	s := mustGen(t, nil, Options{Rootfs: root, User: "svc", Cmd: []string{"sh"}})
	if s.Process.User.UID != 321 || !slices.Contains(s.Process.Env, "HOME=/srv") {
		t.Errorf("user %+v env %q", s.Process.User, s.Process.Env)
	}
	// A relative link climbing out of the rootfs towards a file that exists
	// on the host must stay clamped inside the rootfs, where it is missing.
	parent := t.TempDir()
	root2 := filepath.Join(parent, "rootfs")
	if err := os.MkdirAll(filepath.Join(root2, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(parent, "outside"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(parent, "outside", "passwd"), []byte("evil:x:0:0::/:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../outside/passwd", filepath.Join(root2, "etc", "passwd")); err != nil {
		t.Fatal(err)
	}
	err := genErr(nil, Options{Rootfs: root2, User: "evil", Cmd: []string{"sh"}}, nil)
	checkErr(t, err, "unable to find user evil: no matching entries in passwd file")
}
