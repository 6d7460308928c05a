package gitcred

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

const (
	// MaxLineBytes is the longest attribute line accepted, without its
	// line ending.
	MaxLineBytes = 65535
	// MaxInputBytes bounds the whole input, so that a runaway writer cannot
	// make the helper use unbounded memory.
	MaxInputBytes = 1 << 20
)

var errInputTooLong = fmt.Errorf("input longer than %d bytes", MaxInputBytes)

// Attributes is one credential description as git writes it: key=value lines.
// The zero value is empty and ready to use.
type Attributes struct {
	// Values holds single-valued attributes; a repeated key keeps its last
	// value, as in git.
	Values map[string]string
	// Lists holds multi-valued attributes ("key[]=value" lines), keyed
	// without the brackets. As in git, an empty value clears the list, so a
	// list never holds an empty string and an empty list is absent.
	Lists map[string][]string
}

// Get returns the value of a single-valued attribute, or "".
func (a Attributes) Get(key string) string {
	return a.Values[key]
}

// Has reports whether the multi-valued attribute key lists value.
func (a Attributes) Has(key, value string) bool {
	for _, v := range a.Lists[key] {
		if v == value {
			return true
		}
	}
	return false
}

// Parse reads attributes up to a blank line or the end of r, whichever comes
// first, and reads nothing beyond that blank line. Lines end in "\n" or
// "\r\n". It fails on a line without "=", an empty key, a NUL byte or stray
// carriage return, a line longer than MaxLineBytes or input longer than
// MaxInputBytes. Errors never quote the input, which may hold a password.
func Parse(r io.Reader) (Attributes, error) {
	counted := &countingReader{r: io.LimitReader(r, MaxInputBytes+1)}
	sc := bufio.NewScanner(counted)
	// Room for the longest line plus "\r\n".
	sc.Buffer(make([]byte, 0, 4096), MaxLineBytes+2)
	sc.Split(scanLines)

	var a Attributes
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 {
			return a, nil
		}
		if err := a.parseLine(line); err != nil {
			if counted.n > MaxInputBytes {
				// The bad line is probably the one the limit cut short.
				return Attributes{}, errInputTooLong
			}
			return Attributes{}, fmt.Errorf("line %d: %w", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return Attributes{}, fmt.Errorf("line longer than %d bytes", MaxLineBytes)
		}
		return Attributes{}, fmt.Errorf("read credential attributes: %w", err)
	}
	if counted.n > MaxInputBytes {
		return Attributes{}, errInputTooLong
	}
	return a, nil
}

func (a *Attributes) parseLine(line []byte) error {
	if len(line) > MaxLineBytes {
		return fmt.Errorf("longer than %d bytes", MaxLineBytes)
	}
	if bytes.IndexByte(line, 0) >= 0 {
		return errors.New("contains a NUL byte")
	}
	if bytes.IndexByte(line, '\r') >= 0 {
		return errors.New("contains a carriage return")
	}
	k, v, ok := bytes.Cut(line, []byte("="))
	if !ok {
		return errors.New(`no "=" in attribute line`)
	}
	key, value := string(k), string(v)
	if key == "" || key == "[]" {
		return errors.New("empty attribute name")
	}
	if name, multi := strings.CutSuffix(key, "[]"); multi {
		if value == "" {
			delete(a.Lists, name)
			return nil
		}
		if a.Lists == nil {
			a.Lists = make(map[string][]string)
		}
		a.Lists[name] = append(a.Lists[name], value)
		return nil
	}
	if a.Values == nil {
		a.Values = make(map[string]string)
	}
	a.Values[key] = value
	return nil
}

// scanLines is bufio.ScanLines, except that a final line without "\n" keeps
// any "\r" it ends with, so that Parse can reject it.
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, bytes.TrimSuffix(data[:i], []byte("\r")), nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// MarshalText encodes the attributes as git reads them: single-valued
// attributes first, then lists, each sorted by key, without the terminating
// blank line. It fails on anything Parse would reject, so the output never
// smuggles in extra attributes.
func (a Attributes) MarshalText() ([]byte, error) {
	var fields []field
	for _, k := range sortedKeys(a.Values) {
		fields = append(fields, field{k, a.Values[k]})
	}
	for _, k := range sortedKeys(a.Lists) {
		for _, v := range a.Lists[k] {
			fields = append(fields, field{k + "[]", v})
		}
	}
	return encode(fields)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// field is one attribute line; answers keep git's documented order.
type field struct{ key, value string }

func encode(fields []field) ([]byte, error) {
	var b bytes.Buffer
	for _, f := range fields {
		if f.key == "" || strings.ContainsAny(f.key, "=\n\r\x00") {
			return nil, fmt.Errorf("attribute name %q is not encodable", f.key)
		}
		if strings.ContainsAny(f.value, "\n\r\x00") {
			// Do not quote the value: it may be a token.
			return nil, fmt.Errorf("value of attribute %q contains a newline, carriage return or NUL", f.key)
		}
		if len(f.key)+1+len(f.value) > MaxLineBytes {
			return nil, fmt.Errorf("attribute %q is longer than %d bytes", f.key, MaxLineBytes)
		}
		b.WriteString(f.key)
		b.WriteByte('=')
		b.WriteString(f.value)
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}
