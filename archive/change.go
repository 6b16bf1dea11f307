package archive

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// changeState is what Docker tracks across the changes of one commit or
// import.
type changeState struct {
	cmdSet, entrypointSet bool
}

// ParseChange applies one Dockerfile instruction, as given to
// `docker import --change` or `docker commit --change`, to cfg. The
// instructions Docker allows there are accepted: CMD, ENTRYPOINT, ENV,
// EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME and
// WORKDIR. CMD, ENTRYPOINT and VOLUME take the JSON exec form or the shell
// form (CMD and ENTRYPOINT then run ["/bin/sh", "-c", "…"]); ENV and LABEL
// take key=value pairs with quotes, or the legacy "ENV key value" form;
// arguments of ENV, LABEL, EXPOSE, USER, VOLUME, WORKDIR and STOPSIGNAL
// expand $VAR and ${VAR} from the config's environment. Other instructions
// fail with Docker's "<instruction> is not a valid change command". A
// change may hold several lines (with backslash continuations).
func ParseChange(cfg *v1.Config, change string) error {
	return applyChange(cfg, change, &changeState{})
}

// ApplyChanges applies changes to cfg in order, with Docker's rule for a
// set of changes: an ENTRYPOINT clears the inherited CMD unless one of the
// changes sets CMD.
func ApplyChanges(cfg *v1.Config, changes []string) error {
	st := &changeState{}
	for _, c := range changes {
		if err := applyChange(cfg, c, st); err != nil {
			return err
		}
	}
	if st.entrypointSet && !st.cmdSet {
		cfg.Cmd = nil
	}
	return nil
}

func applyChange(cfg *v1.Config, change string, st *changeState) error {
	lines := splitInstructions(change)
	if len(lines) == 0 {
		return errors.New("dockerfile parse error: empty change instruction")
	}
	for _, line := range lines {
		if err := applyInstruction(cfg, line, st); err != nil {
			return err
		}
	}
	return nil
}

// splitInstructions joins continuation lines and drops blank and comment
// lines.
func splitInstructions(s string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimRight(line, "\r")
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if strings.HasSuffix(t, "\\") {
			cur.WriteString(strings.TrimSuffix(strings.TrimRight(line, " \t"), "\\"))
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, cur.String())
	}
	return out
}

// dockerfileInstructions are all Dockerfile instructions, for ONBUILD.
var dockerfileInstructions = map[string]bool{
	"ADD": true, "ARG": true, "CMD": true, "COPY": true, "ENTRYPOINT": true, "ENV": true,
	"EXPOSE": true, "FROM": true, "HEALTHCHECK": true, "LABEL": true, "MAINTAINER": true,
	"ONBUILD": true, "RUN": true, "SHELL": true, "STOPSIGNAL": true, "USER": true,
	"VOLUME": true, "WORKDIR": true,
}

func cutWord(s string) (string, string) {
	s = strings.TrimLeft(s, " \t")
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

func applyInstruction(cfg *v1.Config, line string, st *changeState) error {
	kw, rest := cutWord(line)
	env := cfg.Env
	switch strings.ToUpper(kw) {
	case "CMD":
		cmd, err := commandArgs(rest, "CMD")
		if err != nil {
			return err
		}
		cfg.Cmd, st.cmdSet = cmd, true
	case "ENTRYPOINT":
		ep, err := commandArgs(rest, "ENTRYPOINT")
		if err != nil {
			return err
		}
		cfg.Entrypoint, st.entrypointSet = ep, true
	case "ENV":
		kvs, err := nameValues(rest, "ENV", env)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			cfg.Env = setEnv(cfg.Env, kv[0], kv[1])
		}
	case "LABEL":
		kvs, err := nameValues(rest, "LABEL", env)
		if err != nil {
			return err
		}
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for _, kv := range kvs {
			cfg.Labels[kv[0]] = kv[1]
		}
	case "EXPOSE":
		words := splitWords(rest)
		if len(words) == 0 {
			return errors.New("EXPOSE requires at least one argument")
		}
		for _, w := range words {
			spec, err := processWord(w, env)
			if err != nil {
				return fmt.Errorf("EXPOSE: %w", err)
			}
			ports, err := parsePortSpec(spec)
			if err != nil {
				return err
			}
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = map[string]struct{}{}
			}
			for _, p := range ports {
				cfg.ExposedPorts[p] = struct{}{}
			}
		}
	case "USER":
		u, err := singleArg(rest, "USER", env)
		if err != nil {
			return err
		}
		cfg.User = u
	case "WORKDIR":
		dir, err := singleArg(rest, "WORKDIR", env)
		if err != nil {
			return err
		}
		if !path.IsAbs(dir) {
			dir = path.Join("/", cfg.WorkingDir, dir)
		}
		cfg.WorkingDir = dir
	case "VOLUME":
		vols, ok := jsonArgs(rest)
		if !ok {
			for _, w := range splitWords(rest) {
				v, err := processWord(w, env)
				if err != nil {
					return fmt.Errorf("VOLUME: %w", err)
				}
				vols = append(vols, v)
			}
		}
		if len(vols) == 0 {
			return errors.New("VOLUME requires at least one argument")
		}
		for _, v := range vols {
			v = strings.TrimSpace(v)
			if v == "" {
				return errors.New("VOLUME specified can not be an empty string")
			}
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			cfg.Volumes[v] = struct{}{}
		}
	case "STOPSIGNAL":
		sig, err := singleArg(rest, "STOPSIGNAL", env)
		if err != nil {
			return err
		}
		if !validSignal(sig) {
			return fmt.Errorf("invalid signal: %s", sig)
		}
		cfg.StopSignal = sig
	case "ONBUILD":
		trigger, _ := cutWord(rest)
		switch t := strings.ToUpper(trigger); {
		case t == "":
			return errors.New("ONBUILD requires at least one argument")
		case t == "ONBUILD":
			return errors.New("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
		case t == "FROM" || t == "MAINTAINER":
			return fmt.Errorf("%s isn't allowed as an ONBUILD trigger", t)
		case !dockerfileInstructions[t]:
			return fmt.Errorf("dockerfile parse error: unknown instruction: %s", trigger)
		}
		cfg.OnBuild = append(cfg.OnBuild, rest)
	case "HEALTHCHECK":
		hc, err := parseHealthcheck(rest)
		if err != nil {
			return err
		}
		cfg.Healthcheck = hc
	default:
		return fmt.Errorf("%s is not a valid change command", strings.ToLower(kw))
	}
	return nil
}

// jsonArgs parses the JSON exec form ["a", "b"]; ok is false if s is not
// a JSON array of strings (and so is in shell form).
func jsonArgs(s string) ([]string, bool) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "[") {
		return nil, false
	}
	var raw []any
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, false
	}
	out := make([]string, 0, len(raw))
	for _, v := range raw {
		str, ok := v.(string)
		if !ok {
			return nil, false
		}
		out = append(out, str)
	}
	return out, true
}

// commandArgs parses the exec or shell form of CMD and ENTRYPOINT.
func commandArgs(rest, kw string) ([]string, error) {
	if args, ok := jsonArgs(rest); ok {
		return args, nil
	}
	if rest == "" {
		return nil, fmt.Errorf("%s requires at least one argument", kw)
	}
	return []string{"/bin/sh", "-c", rest}, nil
}

// singleArg processes the whole rest of an instruction as one word.
func singleArg(rest, kw string, env []string) (string, error) {
	if rest == "" {
		return "", fmt.Errorf("%s requires exactly one argument", kw)
	}
	v, err := processWord(rest, env)
	if err != nil {
		return "", fmt.Errorf("%s: %w", kw, err)
	}
	if v == "" {
		return "", fmt.Errorf("%s requires exactly one argument", kw)
	}
	return v, nil
}

// nameValues parses "k=v k2='v 2'" or the legacy "k value with spaces".
func nameValues(rest, kw string, env []string) ([][2]string, error) {
	words := splitWords(rest)
	if len(words) == 0 {
		return nil, fmt.Errorf("%s requires at least one argument", kw)
	}
	var raw [][2]string
	if !strings.Contains(words[0], "=") {
		if len(words) < 2 {
			return nil, fmt.Errorf("%s must have two arguments", kw)
		}
		raw = append(raw, [2]string{words[0], strings.TrimSpace(rest[len(words[0]):])})
	} else {
		for _, w := range words {
			k, v, ok := strings.Cut(w, "=")
			if !ok {
				return nil, fmt.Errorf("syntax error - can't find = in %q. Must be of the form: name=value", w)
			}
			raw = append(raw, [2]string{k, v})
		}
	}
	out := make([][2]string, 0, len(raw))
	for _, kv := range raw {
		k, err := processWord(kv[0], env)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kw, err)
		}
		if k == "" {
			return nil, fmt.Errorf("%s names can not be blank", kw)
		}
		v, err := processWord(kv[1], env)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kw, err)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// setEnv sets key in a "KEY=value" list, replacing an earlier definition.
func setEnv(env []string, key, value string) []string {
	kv := key + "=" + value
	for i, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}

// parsePortSpec parses "80", "80/udp" or "8000-8010/tcp" into "port/proto"
// keys of ExposedPorts.
func parsePortSpec(spec string) ([]string, error) {
	ports, proto, hasProto := strings.Cut(spec, "/")
	proto = strings.ToLower(proto)
	if !hasProto {
		proto = "tcp"
	}
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return nil, fmt.Errorf("invalid proto: %s", proto)
	}
	lo, hi, isRange := strings.Cut(ports, "-")
	start, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("invalid containerPort: %s", ports)
	}
	end := start
	if isRange {
		if end, err = strconv.ParseUint(hi, 10, 16); err != nil || end < start {
			return nil, fmt.Errorf("invalid range specified for containerPort: %s", ports)
		}
	}
	out := make([]string, 0, end-start+1)
	for p := start; p <= end; p++ {
		out = append(out, strconv.FormatUint(p, 10)+"/"+proto)
	}
	return out, nil
}

// linuxSignals are the signal names STOPSIGNAL accepts (without "SIG").
var linuxSignals = map[string]bool{
	"ABRT": true, "ALRM": true, "BUS": true, "CHLD": true, "CLD": true, "CONT": true,
	"FPE": true, "HUP": true, "ILL": true, "INT": true, "IO": true, "IOT": true,
	"KILL": true, "PIPE": true, "POLL": true, "PROF": true, "PWR": true, "QUIT": true,
	"SEGV": true, "STKFLT": true, "STOP": true, "SYS": true, "TERM": true, "TRAP": true,
	"TSTP": true, "TTIN": true, "TTOU": true, "URG": true, "USR1": true, "USR2": true,
	"VTALRM": true, "WINCH": true, "XCPU": true, "XFSZ": true, "RTMIN": true, "RTMAX": true,
	"UNUSED": true,
}

// validSignal reports whether s is a signal number or a Linux signal
// name, with or without "SIG" ("SIGTERM", "TERM", "15", "SIGRTMIN+3").
func validSignal(s string) bool {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return n > 0 && n <= 64
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if linuxSignals[name] {
		return true
	}
	if rest, ok := strings.CutPrefix(name, "RTMIN+"); ok {
		n, err := strconv.Atoi(rest)
		return err == nil && n >= 1 && n <= 15
	}
	if rest, ok := strings.CutPrefix(name, "RTMAX-"); ok {
		n, err := strconv.Atoi(rest)
		return err == nil && n >= 1 && n <= 14
	}
	return false
}

// parseHealthcheck parses the arguments of HEALTHCHECK.
func parseHealthcheck(rest string) (*v1.HealthConfig, error) {
	hc := &v1.HealthConfig{}
	for {
		word, after := cutWord(rest)
		if !strings.HasPrefix(word, "--") {
			break
		}
		rest = after
		if word == "--" {
			break
		}
		name, val, _ := strings.Cut(word[2:], "=")
		switch name {
		case "interval", "timeout", "start-period":
			d, err := parseHealthDuration(name, val)
			if err != nil {
				return nil, err
			}
			switch name {
			case "interval":
				hc.Interval = d
			case "timeout":
				hc.Timeout = d
			default:
				hc.StartPeriod = d
			}
		case "retries":
			n, err := strconv.Atoi(val)
			if err != nil {
				return nil, fmt.Errorf("invalid --retries value %q: %w", val, err)
			}
			if n < 0 {
				return nil, errors.New("--retries cannot be negative")
			}
			hc.Retries = n
		default:
			return nil, fmt.Errorf("unknown flag: %s", name)
		}
	}
	typ, args := cutWord(rest)
	switch strings.ToUpper(typ) {
	case "NONE":
		if args != "" {
			return nil, errors.New("HEALTHCHECK NONE takes no arguments")
		}
		return &v1.HealthConfig{Test: []string{"NONE"}}, nil
	case "CMD":
		if cmd, ok := jsonArgs(args); ok {
			hc.Test = append([]string{"CMD"}, cmd...)
		} else if args == "" {
			return nil, errors.New("missing command after HEALTHCHECK CMD")
		} else {
			hc.Test = []string{"CMD-SHELL", args}
		}
		return hc, nil
	case "":
		return nil, errors.New("HEALTHCHECK requires at least one argument")
	}
	return nil, fmt.Errorf("unknown type %q in HEALTHCHECK (try CMD)", typ)
}

func parseHealthDuration(name, val string) (time.Duration, error) {
	if val == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(val)
	if err != nil {
		return 0, fmt.Errorf("invalid --%s value %q: %w", name, val, err)
	}
	if d != 0 && d < time.Millisecond {
		return 0, fmt.Errorf("interval %q cannot be less than 1ms", name)
	}
	return d, nil
}
