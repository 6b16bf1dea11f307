// Package dockername checks the names Docker allows for containers and
// local volumes: [a-zA-Z0-9][a-zA-Z0-9_.-]+, without a regexp so that
// nothing is compiled when hull starts.
package dockername

// Valid reports whether s matches [a-zA-Z0-9][a-zA-Z0-9_.-]+.
func Valid(s string) bool {
	if len(s) < 2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || (c != '_' && c != '.' && c != '-')) {
			return false
		}
	}
	return true
}
