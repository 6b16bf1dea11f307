package mountflag

import "testing"

func TestNamesAllKnown(t *testing.T) {
	for _, n := range Names() {
		if _, _, ok := Lookup(n); !ok {
			t.Errorf("Names lists %q but Lookup does not know it", n)
		}
	}
	if _, _, ok := Lookup("rprivate"); ok {
		t.Error("propagation options are the callers'")
	}
	if f, clear, ok := Lookup("rw"); !ok || !clear || f == 0 {
		t.Errorf("rw = %#x, %v, %v", f, clear, ok)
	}
}
