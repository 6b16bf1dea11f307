// Package testutil holds helpers shared by hull's tests: environment checks
// (RequireRoot, RequireBinary), a deterministic busybox base image built from
// Debian's busybox-static package (BusyboxRootfs, BusyboxTar), a real
// distribution registry (Debian's docker-registry) on a free 127.0.0.1 port
// (StartRegistry, StartAuthRegistry, StartRegistryWith), and a way to run the
// hull binary itself (HullBinary, Hull, MustHull, HullCmd).
//
// Skips never hide a broken CI setup: when the environment variable CI is
// true, every check that would skip a test locally fails it instead.
//
// The package is Linux-only, like hull.
package testutil
