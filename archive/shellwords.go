package archive

import (
	"errors"
	"fmt"
	"strings"
)

// This file implements the word processing Dockerfile instructions apply
// to their arguments: splitting on unquoted whitespace, removing quotes
// and backslash escapes, and expanding $VAR, ${VAR} and the ${VAR:-word},
// ${VAR:+word} and ${VAR:?word} forms (and their colon-less variants) from
// the image's environment.

// splitWords splits s on whitespace outside quotes and escapes. Quotes and
// escapes stay in the words for processWord to remove.
func splitWords(s string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote byte
	escaped := false
	for i := 0; i < len(s); i++ {
		r := s[i]
		switch {
		case escaped:
			escaped = false
		case r == '\\' && quote != '\'':
			escaped = true
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			continue
		}
		cur.WriteByte(r)
		inWord = true
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// wordLexer processes one word; see processWord.
type wordLexer struct {
	s   []byte
	i   int
	env []string
}

// processWord removes quotes and escapes from word and expands variables
// from env, a list of "KEY=value" strings (the last definition wins).
func processWord(word string, env []string) (string, error) {
	l := &wordLexer{s: []byte(word), env: env}
	return l.process(false)
}

// process reads until the end of input or, if inBrace, an unquoted '}'
// (which it leaves unconsumed).
func (l *wordLexer) process(inBrace bool) (string, error) {
	var b strings.Builder
	for l.i < len(l.s) {
		r := l.s[l.i]
		switch {
		case inBrace && r == '}':
			return b.String(), nil
		case r == '\\':
			if l.i+1 < len(l.s) {
				b.WriteByte(l.s[l.i+1])
				l.i += 2
			} else {
				b.WriteByte(r)
				l.i++
			}
		case r == '\'':
			end := -1
			for j := l.i + 1; j < len(l.s); j++ {
				if l.s[j] == '\'' {
					end = j
					break
				}
			}
			if end < 0 {
				return "", errors.New("unexpected end of statement while looking for matching single-quote")
			}
			b.WriteString(string(l.s[l.i+1 : end]))
			l.i = end + 1
		case r == '"':
			s, err := l.doubleQuoted()
			if err != nil {
				return "", err
			}
			b.WriteString(s)
		case r == '$':
			s, err := l.variable()
			if err != nil {
				return "", err
			}
			b.WriteString(s)
		default:
			b.WriteByte(r)
			l.i++
		}
	}
	return b.String(), nil
}

func (l *wordLexer) doubleQuoted() (string, error) {
	var b strings.Builder
	l.i++ // opening quote
	for l.i < len(l.s) {
		r := l.s[l.i]
		switch r {
		case '"':
			l.i++
			return b.String(), nil
		case '\\':
			if l.i+1 < len(l.s) {
				switch n := l.s[l.i+1]; n {
				case '"', '\\', '$':
					b.WriteByte(n)
				default:
					b.WriteByte('\\')
					b.WriteByte(n)
				}
				l.i += 2
				continue
			}
			b.WriteByte(r)
			l.i++
		case '$':
			s, err := l.variable()
			if err != nil {
				return "", err
			}
			b.WriteString(s)
		default:
			b.WriteByte(r)
			l.i++
		}
	}
	return "", errors.New("unexpected end of statement while looking for matching double-quote")
}

func isNameRune(r byte, first bool) bool {
	return r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (!first && r >= '0' && r <= '9')
}

// variable expands the reference starting at the '$' at l.i.
func (l *wordLexer) variable() (string, error) {
	l.i++ // '$'
	if l.i >= len(l.s) {
		return "$", nil
	}
	if l.s[l.i] != '{' {
		start := l.i
		for l.i < len(l.s) && isNameRune(l.s[l.i], l.i == start) {
			l.i++
		}
		if l.i == start {
			return "$", nil
		}
		v, _ := l.lookup(string(l.s[start:l.i]))
		return v, nil
	}
	l.i++ // '{'
	start := l.i
	for l.i < len(l.s) && isNameRune(l.s[l.i], l.i == start) {
		l.i++
	}
	name := string(l.s[start:l.i])
	if name == "" {
		return "", errors.New("bad substitution: missing variable name after ${")
	}
	if l.i >= len(l.s) {
		return "", errors.New("missing '}' in variable substitution")
	}
	if l.s[l.i] == '}' {
		l.i++
		v, _ := l.lookup(name)
		return v, nil
	}
	colon := false
	if l.s[l.i] == ':' {
		colon = true
		l.i++
		if l.i >= len(l.s) {
			return "", errors.New("missing '}' in variable substitution")
		}
	}
	op := l.s[l.i]
	if op != '-' && op != '+' && op != '?' {
		return "", fmt.Errorf("unsupported modifier (%c) in substitution of %s", op, name)
	}
	l.i++
	word, err := l.process(true)
	if err != nil {
		return "", err
	}
	if l.i >= len(l.s) {
		return "", errors.New("missing '}' in variable substitution")
	}
	l.i++ // '}'
	v, set := l.lookup(name)
	empty := !set || (colon && v == "")
	switch op {
	case '-':
		if empty {
			return word, nil
		}
		return v, nil
	case '+':
		if empty {
			return "", nil
		}
		return word, nil
	default:
		if empty {
			if word == "" {
				word = "is not allowed to be unset"
			}
			return "", fmt.Errorf("%s: %s", name, word)
		}
		return v, nil
	}
}

func (l *wordLexer) lookup(name string) (string, bool) {
	for i := len(l.env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(l.env[i], "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}
