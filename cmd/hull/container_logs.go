package main

import (
	"errors"
	"strconv"
	"time"

	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/logs"
	"github.com/spf13/cobra"
)

func newLogsCommand(c *cli) *cobra.Command {
	var follow, timestamps, details bool
	var sinceFlag, untilFlag, tail string
	cmd := &cobra.Command{
		Use:                   "logs [OPTIONS] CONTAINER",
		Short:                 "Fetch the logs of a container",
		Args:                  exactArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, err := c.containerStore()
			if err != nil {
				return err
			}
			rec, err := cs.Get(args[0])
			if err != nil {
				return err
			}
			now := time.Now()
			o := logs.ReadOptions{Stdout: true, Stderr: true, Tail: -1, Follow: follow}
			if sinceFlag != "" {
				if o.Since, err = parseTimestamp(sinceFlag, now); err != nil {
					return err
				}
			}
			if untilFlag != "" {
				if o.Until, err = parseTimestamp(untilFlag, now); err != nil {
					return err
				}
			}
			if tail != "" && tail != "all" {
				n, err := strconv.Atoi(tail)
				if err != nil {
					return errors.New(`invalid value for "tail": ` + strconv.Quote(tail) + ` is not a valid integer`)
				}
				o.Tail = n
			}
			if follow {
				done := make(chan struct{})
				o.Done = done
				go func() {
					c.waitStopped(cs, rec.ID)
					close(done)
				}()
			}
			return logs.Read(cmd.Context(), cs.LogPath(rec.ID), o, func(e logs.Entry) error {
				w := c.out
				if e.Stream == logs.Stderr {
					w = c.err
				}
				if timestamps {
					if _, err := w.Write([]byte(e.Time.Format(time.RFC3339Nano) + " ")); err != nil {
						return err
					}
				}
				_, err := w.Write(e.Line)
				return err
			})
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&follow, "follow", "f", false, "Follow log output")
	fs.BoolVarP(&timestamps, "timestamps", "t", false, "Show timestamps")
	fs.BoolVar(&details, "details", false, "Show extra details provided to logs")
	fs.StringVar(&sinceFlag, "since", "", `Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)`)
	fs.StringVar(&untilFlag, "until", "", `Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)`)
	fs.StringVarP(&tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	return cmd
}

// waitStopped returns once the container is not running (or is gone).
func (c *cli) waitStopped(cs *container.Store, id string) {
	mc, err := c.monitorClient()
	if err == nil && cs.Monitored(id) {
		if _, running, err := mc.Wait(id); err == nil && running {
			// A restart policy may start it again: keep following then.
			for {
				time.Sleep(50 * time.Millisecond)
				r, err := cs.Get(id)
				if err != nil || !r.State.Status.Alive() || r.State.Status == container.Running {
					if err == nil && r.State.Status == container.Running {
						c.waitStopped(cs, id)
					}
					return
				}
			}
		}
	}
	for {
		r, err := cs.Get(id)
		if err != nil || !r.State.Status.Alive() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
