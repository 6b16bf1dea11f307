package initproc

import (
	"bytes"
	"testing"
)

// FuzzPasswdHome feeds arbitrary passwd content (it comes from the image)
// to the home lookup: it must not panic, and a home it returns must be a
// field of the file.
func FuzzPasswdHome(f *testing.F) {
	f.Add([]byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/false\n"), uint32(0))
	f.Add([]byte("a:b:1000:1000:c:/home/a:/bin/sh"), uint32(1000))
	f.Add([]byte(":::::::\n\n::x:\n"), uint32(0))
	f.Add([]byte("u:x:notanumber:0::/weird:\n"), uint32(0))
	f.Fuzz(func(t *testing.T, b []byte, uid uint32) {
		home := passwdHomeIn(b, uid)
		if home != "" && !bytes.Contains(b, []byte(home)) {
			t.Fatalf("home %q is not in the file", home)
		}
	})
}
