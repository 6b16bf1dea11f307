package runtime

import (
	"fmt"
	"github.com/hull-project/hull/internal/mountflag"
	"strings"

	"golang.org/x/sys/unix"
)

// mountOpts is a spec mount's options sorted into what mount(2) and
// mount_setattr(2) take.
type mountOpts struct {
	// flags are the MS_* flags to set.
	flags uintptr
	// propagation are propagation changes (MS_PRIVATE, MS_SLAVE|MS_REC,
	// ...), applied one by one after the mount.
	propagation []uintptr
	// attrSet and attrClr are recursive MOUNT_ATTR_* changes ("rro" and
	// friends), applied with mount_setattr(AT_RECURSIVE).
	attrSet, attrClr uint64
	// data are the options mount(2) does not know, passed to the file
	// system as its data string.
	data []string
	// tmpcopyup asks to copy the shadowed directory's contents into a new
	// tmpfs.
	tmpcopyup bool
}

// isBind reports whether the mount is a bind mount.
func (o *mountOpts) isBind() bool { return o.flags&unix.MS_BIND != 0 }

// dataString is the file system data argument of mount(2).
func (o *mountOpts) dataString() string { return strings.Join(o.data, ",") }

// propagationOpts are the propagation options.
var propagationOpts = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// recursiveOpts are the recursive mount attributes (runc's "rro" and
// friends): clear says the option clears the attribute.
var recursiveOpts = map[string]struct {
	clear bool
	attr  uint64
}{
	"rro":            {false, unix.MOUNT_ATTR_RDONLY},
	"rrw":            {true, unix.MOUNT_ATTR_RDONLY},
	"rnosuid":        {false, unix.MOUNT_ATTR_NOSUID},
	"rsuid":          {true, unix.MOUNT_ATTR_NOSUID},
	"rnodev":         {false, unix.MOUNT_ATTR_NODEV},
	"rdev":           {true, unix.MOUNT_ATTR_NODEV},
	"rnoexec":        {false, unix.MOUNT_ATTR_NOEXEC},
	"rexec":          {true, unix.MOUNT_ATTR_NOEXEC},
	"rnodiratime":    {false, unix.MOUNT_ATTR_NODIRATIME},
	"rdiratime":      {true, unix.MOUNT_ATTR_NODIRATIME},
	"rnosymfollow":   {false, unix.MOUNT_ATTR_NOSYMFOLLOW},
	"rsymfollow":     {true, unix.MOUNT_ATTR_NOSYMFOLLOW},
	"rrelatime":      {false, unix.MOUNT_ATTR_RELATIME},
	"rnoatime":       {false, unix.MOUNT_ATTR_NOATIME},
	"rstrictatime":   {false, unix.MOUNT_ATTR_STRICTATIME},
	"rnorelatime":    {true, unix.MOUNT_ATTR_RELATIME},
	"ratime":         {true, unix.MOUNT_ATTR_NOATIME},
	"rnostrictatime": {true, unix.MOUNT_ATTR_STRICTATIME},
}

// parseMountOptions sorts a spec mount's options. Options for features hull
// lacks (id-mapped mounts) are errors; other unknown options go to the
// file system.
func parseMountOptions(options []string) (*mountOpts, error) {
	o := &mountOpts{}
	for _, opt := range options {
		if flag, clear, ok := mountflag.Lookup(opt); ok {
			if clear {
				o.flags &^= flag
			} else {
				o.flags |= flag
			}
			continue
		}
		if p, ok := propagationOpts[opt]; ok {
			o.propagation = append(o.propagation, p)
			continue
		}
		if r, ok := recursiveOpts[opt]; ok {
			if r.clear {
				o.attrClr |= r.attr
				o.attrSet &^= r.attr
			} else {
				o.attrSet |= r.attr
				o.attrClr &^= r.attr
			}
			// The atime modes are one field: setting one clears it.
			// (MOUNT_ATTR_RELATIME is 0, so test the name.)
			if strings.HasSuffix(opt, "atime") && !strings.HasSuffix(opt, "diratime") {
				o.attrClr |= unix.MOUNT_ATTR__ATIME
			}
			continue
		}
		switch {
		case opt == "tmpcopyup":
			o.tmpcopyup = true
		case opt == "idmap" || opt == "ridmap" || strings.HasPrefix(opt, "idmap=") || strings.HasPrefix(opt, "ridmap="):
			return nil, fmt.Errorf("mount option %q: id-mapped mounts are not supported yet", opt)
		case opt == "":
		default:
			o.data = append(o.data, opt)
		}
	}
	return o, nil
}

// mountOptionNames lists every option parseMountOptions understands, for
// `hull runtime features`.
func mountOptionNames() []string {
	names := mountflag.Names()
	for k := range propagationOpts {
		names = append(names, k)
	}
	for k := range recursiveOpts {
		names = append(names, k)
	}
	return append(names, "tmpcopyup")
}
