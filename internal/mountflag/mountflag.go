// Package mountflag maps the options of mount(8) that are mount(2) flags
// ("ro", "nosuid", "bind", ...) to their MS_* flags, for the OCI runtime's
// mounts and for volumes created with mount options. Propagation options
// ("rprivate", ...) are not here: each caller applies them its own way.
// It is a switch rather than a map so nothing is built at start-up.
package mountflag

import "golang.org/x/sys/unix"

// Names lists every option Lookup knows.
func Names() []string {
	return []string{
		"defaults", "ro", "rw", "suid", "nosuid", "dev", "nodev", "exec", "noexec",
		"sync", "async", "dirsync", "remount", "mand", "nomand", "atime", "noatime",
		"diratime", "nodiratime", "bind", "rbind", "relatime", "norelatime",
		"strictatime", "nostrictatime", "silent", "loud", "iversion", "noiversion",
		"lazytime", "nolazytime", "nosymfollow", "symfollow",
	}
}

// Lookup returns the flag the option sets or, when clear is true, clears;
// ok is false for an option that is not a mount(2) flag.
func Lookup(opt string) (flag uintptr, clear, ok bool) {
	switch opt {
	case "defaults":
		return 0, false, true
	case "ro":
		return unix.MS_RDONLY, false, true
	case "rw":
		return unix.MS_RDONLY, true, true
	case "suid":
		return unix.MS_NOSUID, true, true
	case "nosuid":
		return unix.MS_NOSUID, false, true
	case "dev":
		return unix.MS_NODEV, true, true
	case "nodev":
		return unix.MS_NODEV, false, true
	case "exec":
		return unix.MS_NOEXEC, true, true
	case "noexec":
		return unix.MS_NOEXEC, false, true
	case "sync":
		return unix.MS_SYNCHRONOUS, false, true
	case "async":
		return unix.MS_SYNCHRONOUS, true, true
	case "dirsync":
		return unix.MS_DIRSYNC, false, true
	case "remount":
		return unix.MS_REMOUNT, false, true
	case "mand":
		return unix.MS_MANDLOCK, false, true
	case "nomand":
		return unix.MS_MANDLOCK, true, true
	case "atime":
		return unix.MS_NOATIME, true, true
	case "noatime":
		return unix.MS_NOATIME, false, true
	case "diratime":
		return unix.MS_NODIRATIME, true, true
	case "nodiratime":
		return unix.MS_NODIRATIME, false, true
	case "bind":
		return unix.MS_BIND, false, true
	case "rbind":
		return unix.MS_BIND | unix.MS_REC, false, true
	case "relatime":
		return unix.MS_RELATIME, false, true
	case "norelatime":
		return unix.MS_RELATIME, true, true
	case "strictatime":
		return unix.MS_STRICTATIME, false, true
	case "nostrictatime":
		return unix.MS_STRICTATIME, true, true
	case "silent":
		return unix.MS_SILENT, false, true
	case "loud":
		return unix.MS_SILENT, true, true
	case "iversion":
		return unix.MS_I_VERSION, false, true
	case "noiversion":
		return unix.MS_I_VERSION, true, true
	case "lazytime":
		return unix.MS_LAZYTIME, false, true
	case "nolazytime":
		return unix.MS_LAZYTIME, true, true
	case "nosymfollow":
		return unix.MS_NOSYMFOLLOW, false, true
	case "symfollow":
		return unix.MS_NOSYMFOLLOW, true, true
	}
	return 0, false, false
}
