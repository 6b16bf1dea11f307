package runtime

import (
	"fmt"
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

// mountFlagOpts are the options that set (or, with clear, unset) MS_*
// flags, as mount(8) spells them.
var mountFlagOpts = map[string]struct {
	clear bool
	flag  uintptr
}{
	"defaults":      {false, 0},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"suid":          {true, unix.MS_NOSUID},
	"nosuid":        {false, unix.MS_NOSUID},
	"dev":           {true, unix.MS_NODEV},
	"nodev":         {false, unix.MS_NODEV},
	"exec":          {true, unix.MS_NOEXEC},
	"noexec":        {false, unix.MS_NOEXEC},
	"sync":          {false, unix.MS_SYNCHRONOUS},
	"async":         {true, unix.MS_SYNCHRONOUS},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"remount":       {false, unix.MS_REMOUNT},
	"mand":          {false, unix.MS_MANDLOCK},
	"nomand":        {true, unix.MS_MANDLOCK},
	"atime":         {true, unix.MS_NOATIME},
	"noatime":       {false, unix.MS_NOATIME},
	"diratime":      {true, unix.MS_NODIRATIME},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"bind":          {false, unix.MS_BIND},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
	"relatime":      {false, unix.MS_RELATIME},
	"norelatime":    {true, unix.MS_RELATIME},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"silent":        {false, unix.MS_SILENT},
	"loud":          {true, unix.MS_SILENT},
	"iversion":      {false, unix.MS_I_VERSION},
	"noiversion":    {true, unix.MS_I_VERSION},
	"lazytime":      {false, unix.MS_LAZYTIME},
	"nolazytime":    {true, unix.MS_LAZYTIME},
	"nosymfollow":   {false, unix.MS_NOSYMFOLLOW},
	"symfollow":     {true, unix.MS_NOSYMFOLLOW},
}

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
		if f, ok := mountFlagOpts[opt]; ok {
			if f.clear {
				o.flags &^= f.flag
			} else {
				o.flags |= f.flag
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
	var names []string
	for k := range mountFlagOpts {
		names = append(names, k)
	}
	for k := range propagationOpts {
		names = append(names, k)
	}
	for k := range recursiveOpts {
		names = append(names, k)
	}
	return append(names, "tmpcopyup")
}
