package main

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/hull-project/hull/container"
	mobycontainer "github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
)

func newTopCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:                   "top CONTAINER [ps OPTIONS]",
		Short:                 "Display the running processes of a container",
		Args:                  requiresMinArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			procs, err := c.containerTop(args[0], strings.Join(args[1:], " "))
			if err != nil {
				return withStatus(1, err)
			}
			w := tabwriter.NewWriter(c.out, 20, 1, 3, ' ', 0)
			fmt.Fprintln(w, strings.Join(procs.Titles, "\t"))
			for _, p := range procs.Processes {
				fmt.Fprintln(w, strings.Join(p, "\t"))
			}
			return w.Flush()
		},
	}
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// containerTop runs the host's ps with psArgs (default "-ef") and keeps
// the processes of the container ref, as docker's daemon does.
func (c *cli) containerTop(ref, psArgs string) (*mobycontainer.TopResponse, error) {
	if psArgs == "" {
		psArgs = "-ef"
	}
	if err := validatePSArgs(psArgs); err != nil {
		return nil, err
	}
	cs, err := c.containerStore()
	if err != nil {
		return nil, err
	}
	rec, err := cs.Get(ref)
	if err != nil {
		return nil, err
	}
	switch rec.State.Status {
	case container.Running, container.Paused:
	case container.Restarting:
		return nil, fmt.Errorf("Container %s is restarting, wait until the container is running", rec.ID)
	default:
		return nil, fmt.Errorf("container %s is not running", rec.ID)
	}
	rc, err := cs.Runtime().Load(rec.ID)
	if err != nil {
		return nil, fmt.Errorf("container %s is not running", rec.ID)
	}
	pids, err := rc.Processes()
	if err != nil {
		return nil, err
	}
	args := strings.Split(psArgs, " ")
	out, err := exec.Command("ps", append(slices.Clone(args), psPidsArg(pids))...).Output()
	if err != nil {
		// Some ps options (such as f) cannot be combined with q: retry
		// without it.
		out, err = exec.Command("ps", args...).Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				if line, _, _ := bytes.Cut(ee.Stderr, []byte{'\n'}); len(line) > 0 {
					err = errors.New(string(line))
				}
			}
			return nil, fmt.Errorf("ps: %w", err)
		}
	}
	return parsePSOutput(out, pids)
}

// validatePSArgs rejects ps options that rename the PID column (docker's
// check: "pid=PID" is the only rename allowed).
func validatePSArgs(psArgs string) error {
	re := regexp.MustCompile(`\s+(\S*)=\s*(PID\S*)`)
	for _, group := range re.FindAllStringSubmatch(psArgs, -1) {
		if len(group) >= 3 && group[1] != "pid" {
			return fmt.Errorf("specifying \"%s=%s\" is not allowed", group[1], group[2])
		}
	}
	return nil
}

// psPidsArg is ps's quick pid selection of pids ("-q1,2,3").
func psPidsArg(pids []int) string {
	b := []byte("-q")
	for i, p := range pids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(p), 10)
	}
	return string(b)
}

// fieldsASCII splits s on ASCII white space only.
func fieldsASCII(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		switch r {
		case '\t', '\n', '\f', '\r', ' ':
			return true
		}
		return false
	})
}

// parsePSOutput keeps the lines of ps's output whose PID is one of pids
// (and the thread lines, PID "-", that follow them), the last column
// taking the rest of the line, as docker does.
func parsePSOutput(output []byte, pids []int) (*mobycontainer.TopResponse, error) {
	procs := &mobycontainer.TopResponse{Processes: [][]string{}}
	lines := strings.Split(string(output), "\n")
	procs.Titles = fieldsASCII(lines[0])
	pidIndex := slices.Index(procs.Titles, "PID")
	if pidIndex == -1 {
		//lint:ignore ST1005 Docker's message
		return nil, errors.New("Couldn't find PID field in ps output")
	}
	add := func(fields []string) {
		n := len(procs.Titles)
		if len(fields) < n {
			procs.Processes = append(procs.Processes, fields)
			return
		}
		p := slices.Clone(fields[:n-1])
		procs.Processes = append(procs.Processes, append(p, strings.Join(fields[n-1:], " ")))
	}
	inContainer := false
	for _, line := range lines[1:] {
		if line == "" {
			continue
		}
		fields := fieldsASCII(line)
		if len(fields) <= pidIndex {
			continue
		}
		if fields[pidIndex] == "-" {
			if inContainer {
				add(fields)
			}
			continue
		}
		p, err := strconv.Atoi(fields[pidIndex])
		if err != nil {
			//lint:ignore ST1005 Docker's message
			return nil, fmt.Errorf("Unexpected pid '%s': %s", fields[pidIndex], err)
		}
		inContainer = slices.Contains(pids, p)
		if inContainer {
			add(fields)
		}
	}
	return procs, nil
}
