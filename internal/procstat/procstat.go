// Package procstat reads what hull needs from /proc/<pid>/stat: a
// process's state and start time, which together tell a live process
// from one that ended and a pid the kernel handed to another process.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Stat is the part of /proc/<pid>/stat hull uses.
type Stat struct {
	// State is the one-letter state (R, S, D, Z, T, X, …).
	State byte
	// StartTime is when the process started, in clock ticks after boot:
	// with the pid it identifies one process for the life of the host.
	StartTime uint64
}

// Read parses /proc/<pid>/stat.
func Read(pid int) (Stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, err
	}
	// The command name is in parentheses and may contain anything.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return Stat{}, fmt.Errorf("parse /proc/%d/stat: no command", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 || len(f[0]) != 1 {
		return Stat{}, fmt.Errorf("parse /proc/%d/stat: too short", pid)
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return Stat{}, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return Stat{State: f[0][0], StartTime: st}, nil
}

// Zombie reports whether the state is one of a process that ended.
func (s Stat) Zombie() bool { return s.State == 'Z' || s.State == 'X' || s.State == 'x' }

// Alive reports whether the process pid that started at startTime still
// runs: it exists, has not ended, and is not another process that got
// the same pid.
func Alive(pid int, startTime uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := Read(pid)
	return err == nil && !st.Zombie() && st.StartTime == startTime
}

// StartTime is the start time of the running process pid.
func StartTime(pid int) (uint64, error) {
	st, err := Read(pid)
	if err != nil {
		return 0, err
	}
	return st.StartTime, nil
}
