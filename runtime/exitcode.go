package runtime

import "strings"

// StartExitCode is the exit status Docker reports when a container's
// process, or an exec'd one, could not be started: 127 when the command
// does not exist, 126 when it cannot be run, 125 for anything else. It
// reads the errors Create and Exec return.
func StartExitCode(err error) int {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return 127
	case strings.Contains(msg, "permission denied"), strings.Contains(msg, "is a directory"), strings.Contains(msg, "exec format error"):
		return 126
	}
	return 125
}
