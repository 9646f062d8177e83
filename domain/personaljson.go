package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MapPersonal runs on every event sealed on append and opened on read: decoding a
// payload into `any` and encoding it again cost more than the cipher did (a known
// sender's command paid a third of its time for it). So it walks the JSON text once,
// descends only where a personal path leads, and replaces the values it changes in
// place: every other byte, key order included, stays as it was.

// pathNode is one step of the personal paths of an event type, as a tree: "a.b", "a[]"
// and "a.*" share the node of "a".
type pathNode struct {
	fields map[string]*pathNode
	each   *pathNode // "[]": every element of a list
	any    *pathNode // "*": every value of an object
	leaves []string  // the paths that end here, in personalPaths order
}

func newPathTree(paths []string) *pathNode {
	root := &pathNode{}
	for _, p := range paths {
		n := root
		for _, seg := range splitPath(p) {
			n = n.child(seg)
		}
		n.leaves = append(n.leaves, p)
	}
	return root
}

func (n *pathNode) child(seg string) *pathNode {
	next := func(p **pathNode) *pathNode {
		if *p == nil {
			*p = &pathNode{}
		}
		return *p
	}
	switch seg {
	case "[]":
		return next(&n.each)
	case "*":
		return next(&n.any)
	}
	if n.fields == nil {
		n.fields = map[string]*pathNode{}
	}
	c, ok := n.fields[seg]
	if !ok {
		c = &pathNode{}
		n.fields[seg] = c
	}
	return c
}

// splitPath turns "candidates[].values.*" into ["candidates", "[]", "values", "*"].
func splitPath(p string) []string {
	var segs []string
	for _, s := range strings.Split(p, ".") {
		if name, ok := strings.CutSuffix(s, "[]"); ok {
			segs = append(segs, name, "[]")
			continue
		}
		segs = append(segs, s)
	}
	return segs
}

// personalTrees is personalPaths as trees, built once.
var personalTrees = func() map[string]*pathNode {
	trees := make(map[string]*pathNode, len(personalPaths))
	for typ, paths := range personalPaths {
		trees[typ] = newPathTree(paths)
	}
	return trees
}()

// replacement is one personal value's new JSON text, for data[start:end].
type replacement struct {
	start, end int
	text       []byte
}

type personalWalk struct {
	data  []byte
	f     func(path, value string) (string, error)
	edits []replacement
}

// mapPersonalJSON applies f along tree to payload, which must be valid JSON.
func mapPersonalJSON(tree *pathNode, payload []byte, f func(path, value string) (string, error)) ([]byte, error) {
	w := personalWalk{data: payload, f: f}
	var one [1]*pathNode
	one[0] = tree
	i := w.space(0)
	if _, err := w.value(i, one[:]); err != nil {
		return nil, err
	}
	if len(w.edits) == 0 {
		return payload, nil
	}
	size := len(payload)
	for _, e := range w.edits {
		size += len(e.text) - (e.end - e.start)
	}
	out := make([]byte, 0, size)
	last := 0
	for _, e := range w.edits {
		out = append(out, payload[last:e.start]...)
		out = append(out, e.text...)
		last = e.end
	}
	return append(out, payload[last:]...), nil
}

func (w *personalWalk) space(i int) int {
	for i < len(w.data) {
		switch w.data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// value walks the value at i (no space before it) with the path nodes that reach it,
// and returns the index just past it.
func (w *personalWalk) value(i int, nodes []*pathNode) (int, error) {
	if i >= len(w.data) {
		return 0, fmt.Errorf("unexpected end of JSON at offset %d", i)
	}
	switch w.data[i] {
	case '{':
		return w.object(i, nodes)
	case '[':
		return w.array(i, nodes)
	case '"':
		end, err := w.skipString(i)
		if err != nil {
			return 0, err
		}
		if err := w.leaf(i, end, nodes); err != nil {
			return 0, err
		}
		return end, nil
	}
	// A number, true, false or null: nothing personal is ever one of them.
	for i < len(w.data) {
		switch w.data[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i, nil
		}
		i++
	}
	return i, nil
}

func (w *personalWalk) object(i int, nodes []*pathNode) (int, error) {
	i = w.space(i + 1)
	if i < len(w.data) && w.data[i] == '}' {
		return i + 1, nil
	}
	var buf [4]*pathNode
	for {
		if i >= len(w.data) || w.data[i] != '"' {
			return 0, fmt.Errorf("object key expected at offset %d", i)
		}
		end, err := w.skipString(i)
		if err != nil {
			return 0, err
		}
		children := buf[:0]
		if len(nodes) > 0 {
			var err error
			if children, err = w.childrenAt(i, end, nodes, children); err != nil {
				return 0, err
			}
		}
		i = w.space(end)
		if i >= len(w.data) || w.data[i] != ':' {
			return 0, fmt.Errorf("':' expected at offset %d", i)
		}
		if i, err = w.value(w.space(i+1), children); err != nil {
			return 0, err
		}
		var closed bool
		if i, closed, err = w.separator(i, '}'); err != nil || closed {
			return i, err
		}
	}
}

// childrenAt appends the path nodes that the key data[start:end] (quotes included)
// leads to from nodes. A key without an escape is looked up as its bytes are, which
// allocates nothing: the paths' names are ASCII, and only an escape can make a key
// that decodes to one of them out of other bytes (invalid UTF-8, which decoding turns
// into U+FFFD, or a control byte, which JSON refuses, matches none either way).
func (w *personalWalk) childrenAt(start, end int, nodes, children []*pathNode) ([]*pathNode, error) {
	raw := w.data[start+1 : end-1]
	var key string
	escaped := bytes.IndexByte(raw, '\\') >= 0
	if escaped {
		var err error
		if key, err = w.decodeString(start, end); err != nil {
			return nil, err
		}
	}
	for _, n := range nodes {
		var c *pathNode
		if escaped {
			c = n.fields[key]
		} else {
			c = n.fields[string(raw)]
		}
		if c != nil {
			children = append(children, c)
		}
		if n.any != nil {
			children = append(children, n.any)
		}
	}
	return children, nil
}

// separator reads what follows a member of an object or list at i: a ',' (the index
// of the next member), or end (the index past it, closed).
func (w *personalWalk) separator(i int, end byte) (next int, closed bool, err error) {
	i = w.space(i)
	switch {
	case i >= len(w.data):
		return 0, false, fmt.Errorf("unexpected end of JSON before %q", end)
	case w.data[i] == ',':
		return w.space(i + 1), false, nil
	case w.data[i] == end:
		return i + 1, true, nil
	}
	return 0, false, fmt.Errorf("',' or %q expected at offset %d", end, i)
}

func (w *personalWalk) array(i int, nodes []*pathNode) (int, error) {
	i = w.space(i + 1)
	if i < len(w.data) && w.data[i] == ']' {
		return i + 1, nil
	}
	var buf [4]*pathNode
	children := buf[:0]
	for _, n := range nodes {
		if n.each != nil {
			children = append(children, n.each)
		}
	}
	for {
		var err error
		if i, err = w.value(i, children); err != nil {
			return 0, err
		}
		var closed bool
		if i, closed, err = w.separator(i, ']'); err != nil || closed {
			return i, err
		}
	}
}

// skipString returns the index just past the string that starts at i.
func (w *personalWalk) skipString(i int) (int, error) {
	for j := i + 1; j < len(w.data); j++ {
		switch w.data[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated string at offset %d", i)
}

// decodeString is the string data[start:end] (quotes included) says.
func (w *personalWalk) decodeString(start, end int) (string, error) {
	raw := w.data[start+1 : end-1]
	plain := utf8.Valid(raw)
	for _, c := range raw {
		if c == '\\' || c < 0x20 {
			plain = false
			break
		}
	}
	if plain {
		return string(raw), nil
	}
	var s string
	if err := json.Unmarshal(w.data[start:end], &s); err != nil {
		return "", fmt.Errorf("string at offset %d: %w", start, err)
	}
	return s, nil
}

// leaf applies f to the string data[start:end] for every path that ends at it.
func (w *personalWalk) leaf(start, end int, nodes []*pathNode) error {
	var v, was string
	decoded := false
	for _, n := range nodes {
		for _, p := range n.leaves {
			if !decoded {
				s, err := w.decodeString(start, end)
				if err != nil {
					return err
				}
				v, was, decoded = s, s, true
			}
			out, err := w.f(p, v)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			v = out
		}
	}
	if !decoded || v == was {
		return nil
	}
	w.edits = append(w.edits, replacement{start: start, end: end, text: encodeString(v)})
	return nil
}

// encodeString is v as a JSON string, escaped as encoding/json escapes it.
func encodeString(v string) []byte {
	safe := true
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			safe = false
			break
		}
	}
	if safe {
		out := make([]byte, 0, len(v)+2)
		out = append(out, '"')
		out = append(out, v...)
		return append(out, '"')
	}
	out, _ := json.Marshal(v) // a string always encodes
	return out
}

// FieldPaths reads a few string fields of a payload by the same walk: the sealing
// store finds each event's subject by its sender's or match key's fields, and decoding
// the whole payload for them (encoding/json) cost more than the walk that seals it.
type FieldPaths struct {
	tree  *pathNode
	index map[string]int
}

// NewFieldPaths reads paths ("sender.phone", "match_key.identifier"), in that order.
func NewFieldPaths(paths ...string) *FieldPaths {
	index := make(map[string]int, len(paths))
	for i, p := range paths {
		index[p] = i
	}
	return &FieldPaths{tree: newPathTree(paths), index: index}
}

// Strings returns the string at each path of payload, "" where it is absent, null or
// not a string, the last where a key repeats (as decoding keeps it). payload must be
// valid JSON; the walk reports what it finds broken, but does not check every byte.
func (p *FieldPaths) Strings(payload []byte) ([]string, error) {
	out := make([]string, len(p.index))
	_, err := mapPersonalJSON(p.tree, payload, func(path, v string) (string, error) {
		out[p.index[path]] = v
		return v, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
