package initproc

import (
	"os"
	"syscall"
)

// pivot makes the rootfs the root: pivot_root(".", ".") then a lazy
// unmount of the old root stacked under it (or, with NoPivot, a move of the
// rootfs onto / and chroot; without a mount namespace, chroot alone).
func (r *rootfs) pivot() error {
	defer syscall.Close(r.fd)
	if r.cfg.HostMountNS {
		// No mount namespace: pivot_root or a move would change the
		// host's root. chroot only changes init's.
		if err := syscall.Chdir(r.path); err != nil {
			return wrap("chdir to rootfs", err)
		}
		if err := syscall.Chroot("."); err != nil {
			return wrap("chroot", err)
		}
		return syscall.Chdir("/")
	}
	if r.cfg.NoPivot {
		if err := syscall.Chdir(r.path); err != nil {
			return wrap("chdir to rootfs", err)
		}
		if err := syscall.Mount(r.path, "/", "", syscall.MS_MOVE, ""); err != nil {
			return wrap("move rootfs to /", err)
		}
		if err := syscall.Chroot("."); err != nil {
			return wrap("chroot", err)
		}
		return syscall.Chdir("/")
	}
	oldroot, err := syscall.Open("/", syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return wrap("open old root", err)
	}
	defer syscall.Close(oldroot)
	newroot, err := syscall.Open(r.path, syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return wrap("open new root", err)
	}
	defer syscall.Close(newroot)
	if err := syscall.Fchdir(newroot); err != nil {
		return wrap("chdir to rootfs", err)
	}
	if err := syscall.PivotRoot(".", "."); err != nil {
		return wrap("pivot_root", err)
	}
	// The old root is now stacked on "."; get to it, make sure the unmount
	// does not propagate to the host, and detach it.
	if err := syscall.Fchdir(oldroot); err != nil {
		return wrap("chdir to old root", err)
	}
	if err := syscall.Mount("", ".", "", syscall.MS_SLAVE|syscall.MS_REC, ""); err != nil {
		return wrap("make old root rslave", err)
	}
	if err := syscall.Unmount(".", syscall.MNT_DETACH); err != nil {
		return wrap("unmount old root", err)
	}
	if err := syscall.Chdir("/"); err != nil {
		return wrap("chdir to new root", err)
	}
	return nil
}

// finalizeRootfs runs after pivot_root: /dev read-only if asked, sysctls,
// read-only and masked paths, the rootfs read-only if asked.
func finalizeRootfs(c *Config) error {
	if c.DevReadonly {
		if err := remountBind("/dev", syscall.MS_RDONLY); err != nil {
			if err := syscall.Mount("", "/dev", "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
				return wrap("remount /dev read-only", err)
			}
		}
	}
	for _, s := range c.Sysctls {
		if err := os.WriteFile(s.Path, []byte(s.Value), 0); err != nil {
			return wrap("set sysctl "+s.Key+"="+s.Value, err)
		}
	}
	for _, p := range c.ReadonlyPaths {
		if err := readonlyPath(p); err != nil {
			return err
		}
	}
	for _, p := range c.MaskedPaths {
		if err := maskPath(p); err != nil {
			return err
		}
	}
	if c.RootReadonly {
		if err := remountBind("/", syscall.MS_RDONLY); err != nil {
			return wrap("remount rootfs read-only", err)
		}
	}
	return nil
}

// readonlyPath bind-mounts p onto itself read-only; a missing p is
// skipped.
func readonlyPath(p string) error {
	if err := syscall.Mount(p, p, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		if errNotExist(err) {
			return nil
		}
		return wrap("make "+p+" read-only", err)
	}
	if err := remountBind(p, syscall.MS_RDONLY); err != nil {
		return wrap("make "+p+" read-only", err)
	}
	return nil
}

// maskPath hides p: /dev/null over a file, a read-only empty tmpfs over a
// directory; a missing p is skipped.
func maskPath(p string) error {
	err := syscall.Mount("/dev/null", p, "", syscall.MS_BIND, "")
	if err == syscall.ENOTDIR {
		err = syscall.Mount("tmpfs", p, "tmpfs", syscall.MS_RDONLY|syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, "size=0k")
	}
	if err != nil && !errNotExist(err) {
		return wrap("mask "+p, err)
	}
	return nil
}
