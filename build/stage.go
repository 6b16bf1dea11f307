package build

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hull-project/hull/build/buildctx"
	"github.com/hull-project/hull/network"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// stageRun is the state of one stage while its instructions run.
type stageRun struct {
	bd *build
	sp *stagePlan
	st *state
	// args are the stage's declared ARGs with their values.
	args *vars
	// cmdSet says this stage set CMD (an ENTRYPOINT then keeps it).
	cmdSet bool
	// total is the number of instructions, for "[name N/total]".
	total int
	n     int
}

// runStage builds one stage.
func (bd *build) runStage(ctx context.Context, sp *stagePlan) (*state, error) {
	step := bd.nextStep()
	bd.printf("#%d [%s 1/%d] FROM %s\n", step, sp.name(), len(sp.stage.Commands)+1, sp.base)
	if pl := sp.stage.Platform; pl != "" {
		pl, err := bd.plan.expand(pl, bd.plan.global)
		if err != nil {
			return nil, bd.located(sp.stage.Location, err)
		}
		if host, _ := bd.plan.global.Get("BUILDPLATFORM"); pl != host && pl != strings.TrimSuffix(host, "/") {
			return nil, bd.located(sp.stage.Location, fmt.Errorf("FROM --platform=%s: hull builds for this host's platform (%s) only", pl, host))
		}
	}
	st, err := bd.baseState(ctx, sp)
	if err != nil {
		return nil, bd.located(sp.stage.Location, err)
	}
	sr := &stageRun{bd: bd, sp: sp, st: st, args: newVars(), total: len(sp.stage.Commands) + 1, n: 1}
	// The base image's ONBUILD triggers run first, then are dropped.
	if triggers := st.cfg.Config.OnBuild; len(triggers) > 0 {
		st.cfg.Config.OnBuild = nil
		for _, t := range triggers {
			res, err := parser.Parse(strings.NewReader(t))
			if err != nil || len(res.AST.Children) != 1 {
				return nil, fmt.Errorf("ONBUILD trigger %q of the base image: %v", t, err)
			}
			cmd, err := instructions.ParseCommand(res.AST.Children[0])
			if err != nil {
				return nil, fmt.Errorf("ONBUILD trigger %q of the base image: %w", t, err)
			}
			if err := sr.exec(ctx, cmd); err != nil {
				return nil, err
			}
		}
	}
	for _, c := range sp.stage.Commands {
		sr.n++
		if err := sr.exec(ctx, c); err != nil {
			return nil, bd.located(c.Location(), err)
		}
	}
	return sr.st, nil
}

// located adds the Dockerfile line to an error.
func (bd *build) located(loc []parser.Range, err error) error {
	if len(loc) == 0 || strings.HasPrefix(err.Error(), bd.opts.DockerfileName+":") {
		return err
	}
	return fmt.Errorf("%s:%d: %w", bd.opts.DockerfileName, loc[0].Start.Line, err)
}

// expandVars are the variables instructions are expanded with: the
// stage's ARGs, overridden by its ENV.
func (sr *stageRun) expandVars() *vars {
	v := sr.args.clone()
	for _, e := range sr.st.cfg.Config.Env {
		k, x, _ := strings.Cut(e, "=")
		v.set(k, x)
	}
	return v
}

// expander is the instructions package's word expander.
func (sr *stageRun) expander() instructions.SingleWordExpander {
	v := sr.expandVars()
	return func(word string) (string, error) { return sr.bd.plan.expand(word, v) }
}

// now is the time of a new history entry.
func (sr *stageRun) now() time.Time {
	if t := sr.bd.opts.SourceDateEpoch; t != nil {
		return t.UTC()
	}
	return time.Now().UTC()
}

// meta applies a metadata-only instruction: the config changes, a
// history entry without a layer, and the key moves on.
func (sr *stageRun) meta(createdBy string, apply func(c *v1.Config)) {
	apply(&sr.st.cfg.Config)
	sr.st.key = stepKey(sr.st.key, "meta", createdBy)
	// The time of a metadata step must not change the image of a
	// rebuild: it is the parent's last time (or the epoch).
	created := time.Unix(0, 0).UTC()
	if n := len(sr.st.cfg.History); n > 0 {
		created = sr.st.cfg.History[n-1].Created.Time
	}
	if t := sr.bd.opts.SourceDateEpoch; t != nil {
		created = t.UTC()
	}
	sr.st.addHistory(createdBy, created, nil)
}

// exec runs one instruction.
func (sr *stageRun) exec(ctx context.Context, c instructions.Command) error {
	if e, ok := c.(instructions.SupportsSingleWordExpansion); ok {
		if _, isRun := c.(*instructions.RunCommand); !isRun {
			if err := e.Expand(sr.expander()); err != nil {
				return err
			}
		}
	}
	if e, ok := c.(instructions.SupportsSingleWordExpansionRaw); ok {
		if err := e.ExpandRaw(sr.expander()); err != nil {
			return err
		}
	}
	switch c := c.(type) {
	case *instructions.EnvCommand:
		var parts []string
		for _, kv := range c.Env {
			parts = append(parts, kv.Key+"="+kv.Value)
		}
		sr.meta("ENV "+strings.Join(parts, " "), func(cfg *v1.Config) {
			for _, kv := range c.Env {
				cfg.Env = setEnv(cfg.Env, kv.Key, kv.Value)
			}
		})
	case *instructions.ArgCommand:
		var parts []string
		for _, a := range c.Args {
			v, ok := sr.bd.opts.BuildArgs[a.Key]
			switch {
			case ok:
				sr.bd.mu.Lock()
				sr.bd.plan.used[a.Key] = true
				sr.bd.mu.Unlock()
			case a.Value != nil:
				v, ok = *a.Value, true
			default:
				v, ok = sr.bd.plan.global.Get(a.Key)
			}
			if !ok {
				// Declared without a value: not set at all.
				parts = append(parts, a.Key)
				continue
			}
			sr.args.set(a.Key, v)
			parts = append(parts, a.Key+"="+v)
		}
		// ARG values reach RUN steps' environment: they are part of
		// later keys through it (and through the history entry).
		sr.meta("ARG "+strings.Join(parts, " "), func(*v1.Config) {})
	case *instructions.LabelCommand:
		var parts []string
		for _, kv := range c.Labels {
			parts = append(parts, kv.Key+"="+kv.Value)
		}
		sr.meta("LABEL "+strings.Join(parts, " "), func(cfg *v1.Config) {
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			for _, kv := range c.Labels {
				cfg.Labels[kv.Key] = kv.Value
			}
		})
	case *instructions.MaintainerCommand:
		sr.st.cfg.Author = c.Maintainer
		sr.meta("MAINTAINER "+c.Maintainer, func(*v1.Config) {})
	case *instructions.ExposeCommand:
		var ports []string
		for _, p := range c.Ports {
			p, err := sr.bd.plan.expand(p, sr.expandVars())
			if err != nil {
				return err
			}
			num, proto, _ := strings.Cut(strings.ToLower(p), "/")
			if proto == "" {
				proto = "tcp"
			}
			first, last, err := network.ParsePortRange(num)
			if err != nil {
				return fmt.Errorf("invalid containerPort: %s", p)
			}
			for n := int(first); n <= int(last); n++ {
				ports = append(ports, strconv.Itoa(n)+"/"+proto)
			}
		}
		sort.Strings(ports)
		sr.meta(fmt.Sprintf("EXPOSE %v", ports), func(cfg *v1.Config) {
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = map[string]struct{}{}
			}
			for _, p := range ports {
				cfg.ExposedPorts[p] = struct{}{}
			}
		})
	case *instructions.WorkdirCommand:
		return sr.workdir(ctx, c.Path)
	case *instructions.UserCommand:
		sr.meta("USER "+c.User, func(cfg *v1.Config) { cfg.User = c.User })
	case *instructions.VolumeCommand:
		sr.meta(fmt.Sprintf("VOLUME %v", c.Volumes), func(cfg *v1.Config) {
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			for _, v := range c.Volumes {
				if v != "" {
					cfg.Volumes[v] = struct{}{}
				}
			}
		})
	case *instructions.StopSignalCommand:
		sr.meta("STOPSIGNAL "+c.Signal, func(cfg *v1.Config) { cfg.StopSignal = c.Signal })
	case *instructions.HealthCheckCommand:
		h := c.Health
		sr.meta(fmt.Sprintf("HEALTHCHECK %+v", *h), func(cfg *v1.Config) {
			cfg.Healthcheck = &v1.HealthConfig{Test: slices.Clone(h.Test), Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
		})
	case *instructions.ShellCommand:
		sr.meta(fmt.Sprintf("SHELL %v", c.Shell), func(cfg *v1.Config) { cfg.Shell = slices.Clone(c.Shell) })
	case *instructions.OnbuildCommand:
		// BuildKit records no history entry for ONBUILD.
		sr.st.cfg.Config.OnBuild = append(sr.st.cfg.Config.OnBuild, c.Expression)
		sr.st.key = stepKey(sr.st.key, "onbuild", c.Expression)
	case *instructions.CmdCommand:
		argv := sr.argv(c.ShellDependantCmdLine)
		sr.cmdSet = true
		sr.meta(fmt.Sprintf("CMD %q", argv), func(cfg *v1.Config) {
			cfg.Cmd = argv
			cfg.ArgsEscaped = true // as BuildKit records it
		})
	case *instructions.EntrypointCommand:
		argv := sr.argv(c.ShellDependantCmdLine)
		sr.meta(fmt.Sprintf("ENTRYPOINT %q", argv), func(cfg *v1.Config) {
			cfg.Entrypoint = argv
			cfg.ArgsEscaped = true
			if !sr.cmdSet {
				// An inherited CMD does not survive a new
				// ENTRYPOINT (Docker's rule).
				cfg.Cmd = nil
			}
		})
	case *instructions.RunCommand:
		return sr.runCmd(ctx, c)
	case *instructions.CopyCommand:
		return sr.copyCmd(ctx, c.SourcesAndDest, copyFlags{from: c.From, chown: c.Chown, chmod: c.Chmod, exclude: c.ExcludePatterns, link: c.Link, parents: c.Parents}, "COPY", c.String())
	case *instructions.AddCommand:
		return sr.copyCmd(ctx, c.SourcesAndDest, copyFlags{chown: c.Chown, chmod: c.Chmod, exclude: c.ExcludePatterns, link: c.Link, add: true, checksum: c.Checksum, unpack: c.Unpack}, "ADD", c.String())
	default:
		return fmt.Errorf("instruction %s is not supported", strings.ToUpper(c.Name()))
	}
	return nil
}

// argv is the command line of CMD, ENTRYPOINT or RUN: the exec form as
// written, the shell form run by the stage's SHELL (/bin/sh -c).
func (sr *stageRun) argv(c instructions.ShellDependantCmdLine) []string {
	if !c.PrependShell {
		return slices.Clone(c.CmdLine)
	}
	shell := sr.st.cfg.Config.Shell
	if len(shell) == 0 {
		shell = []string{"/bin/sh", "-c"}
	}
	return append(slices.Clone(shell), strings.Join(c.CmdLine, " "))
}

// setEnv sets k=v in env, replacing an earlier k.
func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if name, _, _ := strings.Cut(e, "="); name == k {
			out := slices.Clone(env)
			out[i] = k + "=" + v
			return out
		}
	}
	return append(slices.Clone(env), k+"="+v)
}

// jsonArray is a string list as Docker writes it in history entries.
func jsonArray(s []string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSpace(b.String())
}

// workdir sets WORKDIR (relative to the current one) and, as BuildKit
// does, makes the directory if the image does not have it.
func (sr *stageRun) workdir(ctx context.Context, p string) error {
	if !path.IsAbs(p) {
		cur := sr.st.cfg.Config.WorkingDir
		if cur == "" {
			cur = "/"
		}
		p = path.Join(cur, p)
	}
	p = path.Clean(p)
	sr.st.cfg.Config.WorkingDir = p
	createdBy := "WORKDIR " + p
	if fi, err := newLowerFS(sr.bd.images.Snapshots(), sr.st.diffIDs()).Lstat(p); err == nil && fi.IsDir() {
		// An existing directory: nothing changes, so no layer (BuildKit
		// adds an empty one; hull adds layers only for changes).
		sr.meta(createdBy, func(*v1.Config) {})
		return nil
	}
	lower := newLowerFS(sr.bd.images.Snapshots(), sr.st.diffIDs())
	var owner buildctx.Owner
	if u := sr.st.cfg.Config.User; u != "" {
		var err error
		if owner, err = resolveOwner(lower, u); err != nil {
			return err
		}
	}
	return sr.layerStep(ctx, "workdir\x00"+p+"\x00"+sr.st.cfg.Config.User, createdBy, func(int) (*cachedLayer, error) {
		return sr.bd.storeLayer(ctx, mkdirLayer(lower, p, owner, sr.epoch()))
	})
}

// epoch is SOURCE_DATE_EPOCH, or the zero time.
func (sr *stageRun) epoch() time.Time {
	if t := sr.bd.opts.SourceDateEpoch; t != nil {
		return *t
	}
	return time.Time{}
}

// layerStep runs a file system step through the cache: a hit reuses the
// layer (CACHED), a miss runs make and records the result.
func (sr *stageRun) layerStep(ctx context.Context, key, createdBy string, make func(step int) (*cachedLayer, error)) error {
	step := sr.bd.nextStep()
	sr.bd.printf("#%d [%s %d/%d] %s\n", step, sr.sp.name(), sr.n, sr.total, createdBy)
	k := stepKey(sr.st.key, key)
	if !sr.bd.opts.NoCache {
		if e, ok := sr.bd.cache.get(k); ok {
			sr.bd.printf("#%d CACHED\n", step)
			sr.st.key = k
			sr.st.addHistory(createdBy, e.Created, e.Layer)
			return nil
		}
	}
	start := time.Now()
	l, err := make(step)
	if err != nil {
		sr.bd.printf("#%d ERROR: %v\n", step, err)
		return err
	}
	e := &cacheEntry{Layer: l, Created: sr.now()}
	if err := sr.bd.cache.put(k, e); err != nil {
		return err
	}
	sr.bd.printf("#%d DONE %.1fs\n", step, time.Since(start).Seconds())
	sr.st.key = k
	sr.st.addHistory(createdBy, e.Created, l)
	_ = ctx
	return nil
}
