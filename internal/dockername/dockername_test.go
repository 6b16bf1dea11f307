package dockername

import "testing"

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"ab", true}, {"a1_b.c-d", true}, {"9x", true},
		{"", false}, {"a", false}, {"_ab", false}, {".ab", false}, {"-ab", false},
		{"a b", false}, {"a/b", false}, {"a:b", false}, {"é1", false},
	} {
		if got := Valid(tc.name); got != tc.ok {
			t.Errorf("Valid(%q) = %v, want %v", tc.name, got, tc.ok)
		}
	}
}
