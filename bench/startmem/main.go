// Command startmem writes the OCI bundle configs of the start benchmark
// (bench/start.sh) without jq.
//
//	startmem config [-from FILE] -rootfs PATH -out FILE [-hostname NAME] [-oci-version V] [-seccomp=false] -- ARG...
//
// Without -from it starts from spec.Default(), the template `hull runtime
// spec` writes (Docker's default capabilities, mounts, masked and read-only
// paths, device rules, namespaces, sysctls and seccomp profile). With -from
// it starts from that file instead (the output of `hull runtime spec` when
// the runtime CLI has it). Either way it then sets process.args to ARG...,
// turns the terminal off (dropping TERM from the environment), and points
// root.path at PATH, so all the runtimes run the same, non-interactive
// container. -seccomp=false drops the seccomp profile; -hostname and
// -oci-version override those fields (crun 1.8 refuses ociVersion 1.3.0,
// the template's, with "unknown version specified"). The result is written
// to FILE, and its source on stdout.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hull-project/hull/spec"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "config" {
		fmt.Fprintln(os.Stderr, "usage: startmem config [-from FILE] -rootfs PATH -out FILE -- ARG...")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("config", flag.ExitOnError)
	from := fs.String("from", "", "start from this config.json instead of spec.Default()")
	rootfs := fs.String("rootfs", "rootfs", "root.path of the container")
	out := fs.String("out", "config.json", "where to write the config")
	hostname := fs.String("hostname", "", "hostname (empty keeps the template's)")
	ociVersion := fs.String("oci-version", "", "ociVersion to write (empty keeps the template's)")
	seccomp := fs.Bool("seccomp", true, "keep the template's seccomp profile (false drops linux.seccomp)")
	_ = fs.Parse(os.Args[2:])
	args := fs.Args()
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "startmem config: no process arguments")
		os.Exit(2)
	}

	var s *specs.Spec
	source := "spec.Default() (= hull runtime spec)"
	if *from != "" {
		b, err := os.ReadFile(*from)
		if err != nil {
			fail(err)
		}
		s = new(specs.Spec)
		if err := json.Unmarshal(b, s); err != nil {
			fail(fmt.Errorf("%s: %w", *from, err))
		}
		source = *from
	} else {
		s = spec.Default()
	}
	if s.Process == nil {
		s.Process = &specs.Process{Cwd: "/"}
	}
	s.Process.Args = args
	s.Process.Terminal = false
	s.Process.ConsoleSize = nil
	env := s.Process.Env[:0]
	for _, e := range s.Process.Env {
		if !strings.HasPrefix(e, "TERM=") {
			env = append(env, e)
		}
	}
	s.Process.Env = env
	if s.Root == nil {
		s.Root = &specs.Root{}
	}
	s.Root.Path = *rootfs
	if *hostname != "" {
		s.Hostname = *hostname
	}
	if *ociVersion != "" {
		s.Version = *ociVersion
	}
	if !*seccomp && s.Linux != nil {
		s.Linux.Seccomp = nil
	}
	b, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		fail(err)
	}
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		fail(err)
	}
	fmt.Println(source)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "startmem:", err)
	os.Exit(1)
}
