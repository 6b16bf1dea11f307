package procstat

import (
	"os"
	"os/exec"
	"testing"
)

func TestReadSelfAndGone(t *testing.T) {
	st, err := Read(os.Getpid())
	if err != nil || st.State == 0 || st.StartTime == 0 {
		t.Fatalf("Read(self) = %+v, %v", st, err)
	}
	if !Alive(os.Getpid(), st.StartTime) {
		t.Fatal("Alive(self) = false")
	}
	if Alive(os.Getpid(), st.StartTime+1) {
		t.Fatal("Alive with another start time = true (a reused pid would pass)")
	}
	if _, err := Read(1 << 30); err == nil {
		t.Fatal("Read of a missing pid succeeded")
	}
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	start, err := StartTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if Alive(pid, start) {
		t.Fatal("Alive of a reaped process = true")
	}
}
