package spec

import (
	"fmt"
	"slices"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/sys/user"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// resolveUser resolves userSpec ("", "name", "uid", "name:group",
// "uid:gid", ...) against rootfs's /etc/passwd and /etc/group the way
// Docker does (moby/sys/user.GetExecUserPath): a name must exist, a number
// need not; without an explicit group the user's primary group and its
// memberships in /etc/group apply. groupAdd (--group-add, names or numbers)
// is appended. It returns the process user, whose additionalGids list the
// primary gid, the memberships and the added groups, and the home directory
// ("/" if the user has no passwd entry).
//
// The files are looked up with symlinks resolved inside rootfs. An empty
// rootfs means no files.
func resolveUser(rootfs, userSpec string, groupAdd []string) (specs.User, string, error) {
	var passwdPath, groupPath string
	if rootfs != "" {
		var err error
		if passwdPath, err = securejoin.SecureJoin(rootfs, "/etc/passwd"); err != nil {
			return specs.User{}, "", fmt.Errorf("resolve /etc/passwd in %s: %w", rootfs, err)
		}
		if groupPath, err = securejoin.SecureJoin(rootfs, "/etc/group"); err != nil {
			return specs.User{}, "", fmt.Errorf("resolve /etc/group in %s: %w", rootfs, err)
		}
	}
	// GetExecUserPath treats a file it cannot open as absent.
	eu, err := user.GetExecUserPath(userSpec, nil, passwdPath, groupPath)
	if err != nil {
		return specs.User{}, "", err
	}
	u := specs.User{
		UID:            uint32(eu.Uid),
		GID:            uint32(eu.Gid),
		AdditionalGids: []uint32{uint32(eu.Gid)},
	}
	for _, g := range eu.Sgids {
		u.AdditionalGids = append(u.AdditionalGids, uint32(g))
	}
	if len(groupAdd) > 0 {
		added, err := user.GetAdditionalGroupsPath(groupAdd, groupPath)
		if err != nil {
			return specs.User{}, "", err
		}
		// The library returns them in map order; sort for a stable spec.
		slices.Sort(added)
		for _, g := range added {
			u.AdditionalGids = append(u.AdditionalGids, uint32(g))
		}
	}
	home := eu.Home
	if home == "" {
		home = "/"
	}
	return u, home, nil
}
