package monitor

import (
	"bytes"
	"os"
	"sync"
	"time"

	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/runtime"
	mobycontainer "github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"
)

// Docker's health check defaults.
const (
	defaultHealthInterval = 30 * time.Second
	defaultHealthTimeout  = 30 * time.Second
	defaultHealthRetries  = 3
	healthLogEntries      = 5
	healthMaxOutput       = 4096
)

// healthConfig is the container's health check, nil if it has none.
func healthConfig(r *container.Record) *mobycontainer.HealthConfig {
	if r.Config == nil || r.Config.Healthcheck == nil {
		return nil
	}
	hc := r.Config.Healthcheck
	if len(hc.Test) == 0 || hc.Test[0] == "NONE" {
		return nil
	}
	return hc
}

// healthChecker runs a container's health check while it runs.
type healthChecker struct {
	sv   *supervisor
	hc   *mobycontainer.HealthConfig
	quit chan struct{}
	once sync.Once
	done chan struct{}
}

// startHealth starts the checks of rec's health check, if it has one.
func startHealth(sv *supervisor, rec *container.Record) *healthChecker {
	hc := healthConfig(rec)
	if hc == nil {
		return nil
	}
	h := &healthChecker{sv: sv, hc: hc, quit: make(chan struct{}), done: make(chan struct{})}
	go h.loop()
	return h
}

// stop ends the checks; safe on a nil checker.
func (h *healthChecker) stop() {
	if h == nil {
		return
	}
	h.once.Do(func() { close(h.quit) })
	<-h.done
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (h *healthChecker) loop() {
	defer close(h.done)
	interval := orDefault(h.hc.Interval, defaultHealthInterval)
	startInterval := orDefault(h.hc.StartInterval, 5*time.Second)
	retries := h.hc.Retries
	if retries <= 0 {
		retries = defaultHealthRetries
	}
	started := time.Now()
	inStart := func() bool { return h.hc.StartPeriod > 0 && time.Since(started) < h.hc.StartPeriod }
	for {
		wait := interval
		if inStart() {
			wait = min(interval, startInterval)
		}
		select {
		case <-h.quit:
			return
		case <-time.After(wait):
		}
		res := h.probe()
		h.record(res, retries, inStart())
	}
}

// probe runs the check once in the container.
func (h *healthChecker) probe() *mobycontainer.HealthcheckResult {
	res := &mobycontainer.HealthcheckResult{Start: time.Now()}
	c := h.sv.container()
	if c == nil {
		res.End, res.ExitCode, res.Output = time.Now(), -1, "container is not running"
		return res
	}
	p := *c.Config().Process
	p.Terminal = false
	switch h.hc.Test[0] {
	case "CMD":
		p.Args = h.hc.Test[1:]
	case "CMD-SHELL":
		p.Args = []string{"/bin/sh", "-c", joinArgs(h.hc.Test[1:])}
	default:
		p.Args = h.hc.Test
	}
	out, err := os.CreateTemp("", "hull-health-*")
	if err != nil {
		res.End, res.ExitCode, res.Output = time.Now(), -1, err.Error()
		return res
	}
	defer out.Close()
	os.Remove(out.Name())
	proc, err := c.Exec(&p, runtime.ExecOptions{Stdout: out, Stderr: out})
	if err != nil {
		res.End, res.ExitCode, res.Output = time.Now(), -1, err.Error()
		return res
	}
	type result struct {
		code int
		err  error
	}
	ch := make(chan result, 1)
	go func() { code, err := proc.Wait(); ch <- result{code, err} }()
	timeout := orDefault(h.hc.Timeout, defaultHealthTimeout)
	select {
	case r := <-ch:
		res.ExitCode = r.code
	case <-time.After(timeout):
		_ = unix.Kill(proc.Pid, unix.SIGKILL)
		<-ch
		res.ExitCode = -1
		res.Output = "Health check exceeded timeout (" + timeout.String() + ")"
	case <-h.quit:
		_ = unix.Kill(proc.Pid, unix.SIGKILL)
		<-ch
		res.ExitCode = -1
	}
	res.End = time.Now()
	if res.Output == "" {
		b := make([]byte, healthMaxOutput)
		n, _ := out.ReadAt(b, 0)
		res.Output = string(bytes.ToValidUTF8(b[:n], nil))
	}
	return res
}

func joinArgs(a []string) string {
	var b bytes.Buffer
	for i, s := range a {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	return b.String()
}

// record stores a probe's result in the container's health state.
func (h *healthChecker) record(res *mobycontainer.HealthcheckResult, retries int, inStart bool) {
	_, _ = h.sv.srv.cfg.Containers.Update(h.sv.id, func(r *container.Record) error {
		if r.State.Status != container.Running {
			return nil
		}
		hs := r.State.Health
		if hs == nil {
			hs = &mobycontainer.Health{Status: mobycontainer.Starting}
			r.State.Health = hs
		}
		hs.Log = append(hs.Log, res)
		if len(hs.Log) > healthLogEntries {
			hs.Log = hs.Log[len(hs.Log)-healthLogEntries:]
		}
		if res.ExitCode == 0 {
			hs.Status = mobycontainer.Healthy
			hs.FailingStreak = 0
			return nil
		}
		if inStart && hs.Status == mobycontainer.Starting {
			return nil // failures in the start period do not count
		}
		hs.FailingStreak++
		if hs.FailingStreak >= retries {
			hs.Status = mobycontainer.Unhealthy
		}
		return nil
	})
}
