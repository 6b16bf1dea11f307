package spec

import "github.com/opencontainers/runtime-spec/specs-go"

// ResolveUser resolves a user as `docker exec -u` does ("name", "uid",
// "name:group", "uid:gid", "" for root) against the /etc/passwd and
// /etc/group of rootfs (symlinks resolved inside rootfs), returning the
// process user and its home directory.
func ResolveUser(rootfs, user string) (specs.User, string, error) {
	return resolveUser(rootfs, user, nil)
}

// AllCapabilities lists every capability the host supports (what
// --privileged gives).
func AllCapabilities() []string {
	caps, _ := capabilities(currentHost(), nil, nil, true)
	return caps
}
