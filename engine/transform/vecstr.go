package transform

import (
	"math"
	"regexp"
	"strings"
	"unicode/utf8"
)

// String kernels. Arrow compute in arrow-go has none (no utf8_lower,
// starts_with, ...), so these are plain loops over the offsets.

// strPredNode is contains / startsWith / endsWith.
type strPredNode struct {
	op   string
	l, r vnode
}

func (n *strPredNode) kind() vkind { return vkBool }
func (n *strPredNode) eval(c *vctx) *vec {
	l, r := n.l.eval(c), n.r.eval(c)
	size, scalar := resultN(c, l, r)
	out := &vec{kind: vkBool, n: size, scalar: scalar, valid: mergeValid(c.a, size, l, r), err: mergeErr(size, l, r), b: c.a.newBools(size)}
	var f func(s, sub string) bool
	switch n.op {
	case "contains":
		f = strings.Contains
	case "startsWith":
		f = strings.HasPrefix
	default:
		f = strings.HasSuffix
	}
	for i := range out.b {
		out.b[i] = f(l.s.at(l.idx(i)), r.s.at(r.idx(i)))
	}
	return out
}

// matchNode is `s matches "literal"`; the pattern was compiled (and
// checked) when the flow loaded.
type matchNode struct {
	x  vnode
	re *regexp.Regexp
}

func (n *matchNode) kind() vkind { return vkBool }
func (n *matchNode) eval(c *vctx) *vec {
	x := n.x.eval(c)
	out := &vec{kind: vkBool, n: x.n, scalar: x.scalar, valid: x.valid, err: x.err, b: c.a.newBools(x.n)}
	for i := range out.b {
		if x.valid != nil && !x.valid[i] {
			continue
		}
		out.b[i] = n.re.MatchString(x.s.at(i))
	}
	return out
}

// strMapNode applies a string -> string function: lower, upper, trim.
// It writes straight into Arrow's utf8 layout (offsets + bytes), so a
// million rows cost two growing buffers, not a million strings.
type strMapNode struct {
	fn func(dst []byte, s string) []byte
	x  vnode
}

func (n *strMapNode) kind() vkind { return vkStr }
func (n *strMapNode) eval(c *vctx) *vec {
	x := n.x.eval(c)
	offs := make([]int32, x.n+1)
	data := make([]byte, 0, estimateBytes(x))
	for i := 0; i < x.n; i++ {
		if x.valid == nil || x.valid[i] {
			data = n.fn(data, x.s.at(i))
		}
		offs[i+1] = int32(len(data))
	}
	return &vec{kind: vkStr, n: x.n, scalar: x.scalar, valid: x.valid, err: x.err, s: strVals{offs: offs, data: data, owned: true}}
}

// estimateBytes guesses the output size of a length-preserving string
// kernel from its input.
func estimateBytes(x *vec) int {
	if x.s.vals == nil && len(x.s.offs) > x.n {
		return int(x.s.offs[x.n] - x.s.offs[0])
	}
	return 16 * x.n
}

// appendLower is strings.ToLower appended to dst. ASCII, the usual case,
// is copied once and fixed in place; anything else goes through strings.
func appendLower(dst []byte, s string) []byte { return appendCase(dst, s, 'A', strings.ToLower) }

func appendUpper(dst []byte, s string) []byte { return appendCase(dst, s, 'a', strings.ToUpper) }

// appendCase shifts the 26 letters from first by 32 ('A'<->'a').
func appendCase(dst []byte, s string, first byte, slow func(string) string) []byte {
	start := len(dst)
	dst = append(dst, s...)
	out := dst[start:]
	for i, c := range out {
		if c >= utf8.RuneSelf {
			return append(dst[:start], slow(s)...)
		}
		if c-first < 26 {
			out[i] = c ^ 0x20
		}
	}
	return dst
}

func appendTrim(dst []byte, s string) []byte { return append(dst, strings.TrimSpace(s)...) }

// lenNode is len(string): the number of runes, as in the per-row function.
type lenNode struct{ x vnode }

func (n *lenNode) kind() vkind { return vkInt }
func (n *lenNode) eval(c *vctx) *vec {
	x := n.x.eval(c)
	out := &vec{kind: vkInt, n: x.n, scalar: x.scalar, valid: x.valid, err: x.err, i: c.a.newInts(x.n)}
	for i := range out.i {
		if x.valid != nil && !x.valid[i] {
			continue
		}
		out.i[i] = int64(utf8.RuneCountInString(x.s.at(i)))
	}
	return out
}

// absNode is abs(int) or abs(float).
type absNode struct{ x vnode }

func (n *absNode) kind() vkind { return n.x.kind() }
func (n *absNode) eval(c *vctx) *vec {
	x := n.x.eval(c)
	out := &vec{kind: x.kind, n: x.n, scalar: x.scalar, valid: x.valid, err: x.err}
	if x.kind == vkInt {
		out.i = c.a.newInts(len(x.i))
		for i, v := range x.i {
			if v < 0 {
				v = -v
			}
			out.i[i] = v
		}
		return out
	}
	out.f = c.a.newFloats(len(x.f))
	for i, v := range x.f {
		out.f[i] = math.Abs(v)
	}
	return out
}
