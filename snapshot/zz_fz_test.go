package snapshot

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

var dumpOnce sync.Once

func FuzzB(f *testing.F) {
	f.Add([]byte("abc"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dumpOnce.Do(func() {
			go func() {
				time.Sleep(6 * time.Second)
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				os.WriteFile(fmt.Sprintf("/tmp/stack-%d", os.Getpid()), buf[:n], 0o644)
			}()
		})
		d := t.TempDir() + "/d"
		Extract(d, bytes.NewReader(data), ExtractOptions{})
	})
}
