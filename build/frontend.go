package build

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// plan is a parsed Dockerfile: its stages, the global ARGs (before the
// first FROM) and which stages the target needs.
type plan struct {
	stages []*stagePlan
	target *stagePlan
	// escape is the Dockerfile's escape character (a shell.Lex is not
	// safe for concurrent use: stages build in parallel).
	escape rune
	// global are the ARGs of the global scope (declared before FROM,
	// with --build-arg values) plus the predefined platform ARGs.
	global *vars
	// used records which --build-arg names some ARG consumed.
	used map[string]bool
}

// stagePlan is one FROM and its instructions.
type stagePlan struct {
	index int
	stage instructions.Stage
	// base is the expanded FROM argument; baseStage the earlier stage
	// it names, if it names one.
	base      string
	baseStage *stagePlan
	// deps are the stages this one needs (FROM, COPY --from,
	// RUN --mount from=).
	deps   []*stagePlan
	needed bool
}

// name is the stage's name for progress lines: its AS name, else
// "stage-N" (as BuildKit says).
func (sp *stagePlan) name() string {
	if sp.stage.Name != "" {
		return sp.stage.Name
	}
	return "stage-" + strconv.Itoa(sp.index)
}

// predefinedArgs are the platform ARGs BuildKit provides in the global
// scope (a stage sees them after declaring them).
func predefinedArgs() map[string]string {
	os, arch := runtime.GOOS, runtime.GOARCH
	platform := os + "/" + arch
	variant := ""
	if arch == "arm" {
		variant = "v7"
	}
	return map[string]string{
		"TARGETPLATFORM": platform, "TARGETOS": os, "TARGETARCH": arch, "TARGETVARIANT": variant,
		"BUILDPLATFORM": platform, "BUILDOS": os, "BUILDARCH": arch, "BUILDVARIANT": variant,
	}
}

// proxyArgs are passed to RUN without being declared, and left out of
// the image's history (as Docker does).
var proxyArgs = []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"}

// parse parses a Dockerfile with BuildKit's parser and works out the
// stages the target needs.
func parse(df []byte, name string, buildArgs map[string]string, target string) (*plan, error) {
	res, err := parser.Parse(bytes.NewReader(df))
	if err != nil {
		return nil, dockerfileError(name, err)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, dockerfileError(name, err)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("%s: no build stage in current context (a Dockerfile needs a FROM)", name)
	}
	p := &plan{escape: res.EscapeToken, global: newVars(), used: map[string]bool{}}
	for k, v := range predefinedArgs() {
		p.global.set(k, v)
	}
	for _, ma := range metaArgs {
		for _, a := range ma.Args {
			v, ok := buildArgs[a.Key]
			if ok {
				p.used[a.Key] = true
			} else if a.Value != nil {
				if v, err = p.expand(*a.Value, p.global); err != nil {
					return nil, dockerfileError(name, err)
				}
				ok = true
			}
			if ok {
				p.global.set(a.Key, v)
			}
		}
	}
	byName := map[string]*stagePlan{}
	for i, st := range stages {
		sp := &stagePlan{index: i, stage: st}
		base, err := p.expand(st.BaseName, p.global)
		if err != nil {
			return nil, dockerfileError(name, err)
		}
		if base == "" {
			return nil, fmt.Errorf("%s: base name (%s) should not be blank", name, st.BaseName)
		}
		sp.base = base
		if b, ok := byName[strings.ToLower(base)]; ok {
			sp.baseStage = b
			sp.deps = append(sp.deps, b)
		}
		for _, c := range st.Commands {
			var from []string
			switch c := c.(type) {
			case *instructions.CopyCommand:
				if c.From != "" {
					from = append(from, c.From)
				}
			case *instructions.RunCommand:
				for _, m := range instructions.GetMounts(c) {
					if m.From != "" {
						from = append(from, m.From)
					}
				}
			}
			for _, f := range from {
				f, err := p.expand(f, p.global)
				if err != nil {
					return nil, dockerfileError(name, err)
				}
				if d := lookupStage(byName, p.stages /* the earlier ones */, f); d != nil && !slices.Contains(sp.deps, d) {
					sp.deps = append(sp.deps, d)
				}
			}
		}
		p.stages = append(p.stages, sp)
		if st.Name != "" {
			byName[strings.ToLower(st.Name)] = sp
		}
	}
	p.target = p.stages[len(p.stages)-1]
	if target != "" {
		t, ok := byName[strings.ToLower(target)]
		if !ok {
			return nil, fmt.Errorf("target stage %q could not be found", target)
		}
		p.target = t
	}
	p.mark(p.target)
	return p, nil
}

// lookupStage finds a stage by name or by index among the earlier ones.
func lookupStage(byName map[string]*stagePlan, earlier []*stagePlan, ref string) *stagePlan {
	if s, ok := byName[strings.ToLower(ref)]; ok {
		return s
	}
	if i, err := strconv.Atoi(ref); err == nil && i >= 0 && i < len(earlier) {
		return earlier[i]
	}
	return nil
}

// mark flags sp and every stage it needs, transitively.
func (p *plan) mark(sp *stagePlan) {
	if sp.needed {
		return
	}
	sp.needed = true
	for _, d := range sp.deps {
		p.mark(d)
	}
}

// expand expands variables in word as the Dockerfile's shell would
// (${VAR:-default} and the other forms), with vars v.
func (p *plan) expand(word string, v *vars) (string, error) {
	out, _, err := shell.NewLex(p.escape).ProcessWord(word, v)
	return out, err
}

// dockerfileError prefixes a parse error with the file name and its line.
func dockerfileError(name string, err error) error {
	var loc *parser.LocationError
	if errors.As(err, &loc) && len(loc.Locations) > 0 && len(loc.Locations[0]) > 0 {
		return fmt.Errorf("%s:%d: %w", name, loc.Locations[0][0].Start.Line, err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// vars is an ordered set of variables (ENV and ARG values) implementing
// shell.EnvGetter.
type vars struct {
	keys []string
	m    map[string]string
}

func newVars() *vars { return &vars{m: map[string]string{}} }

func (v *vars) clone() *vars {
	c := &vars{keys: slices.Clone(v.keys), m: make(map[string]string, len(v.m))}
	for k, x := range v.m {
		c.m[k] = x
	}
	return c
}

// Get returns a variable's value.
func (v *vars) Get(k string) (string, bool) {
	x, ok := v.m[k]
	return x, ok
}

// Keys lists the variables in the order they were first set.
func (v *vars) Keys() []string { return v.keys }

func (v *vars) set(k, x string) {
	if _, ok := v.m[k]; !ok {
		v.keys = append(v.keys, k)
	}
	v.m[k] = x
}
