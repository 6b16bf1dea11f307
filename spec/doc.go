// Package spec builds the OCI runtime spec (runtime-spec v1.3.0) of a
// container the way Docker does, from the image's configuration and
// `docker run`-style Options.
//
// Generate reproduces Docker's secure defaults: the 14 default
// capabilities (bounding, effective and permitted; inheritable and ambient
// empty), the default mounts (/proc, a tmpfs /dev, /dev/pts, read-only
// /sys and cgroup mounts, /dev/mqueue, a sized /dev/shm), the masked and
// read-only /proc and /sys paths, the device cgroup rules, Docker's default
// seccomp profile (github.com/moby/profiles/seccomp, tailored to the
// capabilities), new mount, network, UTS, PID and IPC namespaces (and a
// cgroup namespace on cgroup v2 hosts) and the sysctls Docker sets in a
// private network namespace. On top come the options — command and
// environment merging, user resolution in the rootfs's /etc/passwd and
// /etc/group (github.com/moby/sys/user), capability changes, privileged
// mode, seccomp and no-new-privileges security options, devices, sysctls,
// ulimits, resource limits, namespace modes and mounts — validated with
// Docker's error messages.
//
// Facts about the host (cgroup version, CPUs, capabilities of the current
// environment, swap accounting, cpusets, devices) are probed once per
// process, as Docker's daemon does at start.
//
// Default gives the template `hull runtime spec` writes.
package spec
