// Package boundedbuf is a buffer that keeps at most a bound of what is
// written to it and says whether more came: for the output of a program
// this one runs, which must not grow without end in memory.
package boundedbuf

import "bytes"

// Buffer keeps the first Limit bytes written to it and takes the rest
// without keeping it, so that the writer runs to its end. It holds its
// buffer in a field, not embedded: an embedded bytes.Buffer's ReadFrom would
// let io.Copy write past the bound.
type Buffer struct {
	// Limit is how many bytes are kept.
	Limit int
	buf   bytes.Buffer
	over  bool
}

// Write keeps what of p fits under the bound and reports all of p taken.
func (b *Buffer) Write(p []byte) (int, error) {
	n := len(p)
	if room := b.Limit - b.buf.Len(); len(p) > room {
		b.over = true
		p = p[:max(room, 0)]
	}
	b.buf.Write(p)
	return n, nil
}

// Over reports whether more than Limit bytes were written.
func (b *Buffer) Over() bool { return b.over }

// Bytes is what was kept. It aliases the buffer until the next Write.
func (b *Buffer) Bytes() []byte { return b.buf.Bytes() }

// String is what was kept, as a string.
func (b *Buffer) String() string { return b.buf.String() }
