package twilio

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The forms of a URL twilio-node's validateRequest signs and compares. Twilio signs
// the URL as written in its console; what reaches us may differ in the default port
// and in how characters are percent-encoded, so the library tries several forms and
// so do we, each computed the way Node computes it.

// urlCandidates returns, without duplicates, the URLs validateRequest tries in order:
// removePort(u), addPort(u), then for n = new URL(u).toString(): removePort(n),
// addPort(n), legacy(removePort(n)), legacy(addPort(n)). A URL Node's parser would
// reject (it throws there) gets only the first two.
func urlCandidates(u string) []string {
	out := make([]string, 0, 6)
	add := func(s string) {
		for _, o := range out {
			if o == s {
				return
			}
		}
		out = append(out, s)
	}
	add(removePort(u))
	add(addPort(u))
	n, ok := normalizeURL(u)
	if !ok {
		return out
	}
	without, with := removePort(n), addPort(n)
	add(without)
	add(with)
	add(withLegacyQuerystring(without))
	add(withLegacyQuerystring(with))
	return out
}

// urlParts is twilio-node's splitUrl: the URL cut without normalizing anything.
type urlParts struct {
	scheme   string // "https://"
	userInfo string // "user:pass@" or ""
	host     string
	port     string // ":8443" or ""
	rest     string // everything after the authority
}

// splitURL matches /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)/i.
func splitURL(u string) (urlParts, bool) {
	i := 0
	for i < len(u) && (isAlpha(u[i]) || (i > 0 && (isDigit(u[i]) || u[i] == '+' || u[i] == '.' || u[i] == '-'))) {
		i++
	}
	if i == 0 || !strings.HasPrefix(u[i:], "://") {
		return urlParts{}, false
	}
	scheme := u[:i+3]
	end := len(scheme)
	for end < len(u) && u[end] != '/' && u[end] != '?' && u[end] != '#' {
		end++
	}
	authority := u[len(scheme):end]
	at := strings.LastIndex(authority, "@")
	hostPort := authority[at+1:]
	// A colon only starts the port after the closing bracket of an IPv6 literal.
	from := strings.LastIndex(hostPort, "]") + 1
	p := urlParts{scheme: scheme, userInfo: authority[:at+1], host: hostPort, rest: u[end:]}
	if c := strings.Index(hostPort[from:], ":"); c >= 0 {
		p.host, p.port = hostPort[:from+c], hostPort[from+c:]
	}
	return p, true
}

func addPort(u string) string {
	p, ok := splitURL(u)
	if !ok || p.port != "" {
		return u
	}
	port := ":80"
	if strings.EqualFold(p.scheme, "https://") {
		port = ":443"
	}
	return p.scheme + p.userInfo + p.host + port + p.rest
}

func removePort(u string) string {
	p, ok := splitURL(u)
	if !ok {
		return u
	}
	return p.scheme + p.userInfo + p.host + p.rest
}

// withLegacyQuerystring re-encodes everything after the first "?" through Node's
// querystring.parse and querystring.stringify.
func withLegacyQuerystring(u string) string {
	q := strings.Index(u, "?")
	if q < 0 || q == len(u)-1 {
		return u
	}
	return u[:q+1] + legacyStringify(legacyParse(u[q+1:]))
}

type legacyField struct {
	name   string
	values []string
}

// legacyParse is querystring.parse(s) with its defaults: "&" and "=", "+" as space,
// lenient percent-decoding, at most 1000 pairs. The fields come back in the order
// Object.keys gives them: array-index names ascending first, then insertion order.
func legacyParse(s string) []legacyField {
	var fields []legacyField
	index := map[string]int{}
	pairs := 0
	for _, pair := range strings.Split(s, "&") {
		if pair == "" {
			continue
		}
		if pairs == 1000 {
			break
		}
		pairs++
		name, value, _ := strings.Cut(pair, "=")
		name, value = legacyUnescape(name), legacyUnescape(value)
		if i, ok := index[name]; ok {
			fields[i].values = append(fields[i].values, value)
			continue
		}
		index[name] = len(fields)
		fields = append(fields, legacyField{name: name, values: []string{value}})
	}
	// Array-index keys ("0" … "4294967294", no leading zeros) come first, ascending.
	var indexed, named []legacyField
	for _, f := range fields {
		if _, ok := arrayIndex(f.name); ok {
			indexed = append(indexed, f)
		} else {
			named = append(named, f)
		}
	}
	sortStable(indexed, func(a, b legacyField) bool {
		x, _ := arrayIndex(a.name)
		y, _ := arrayIndex(b.name)
		return x < y
	})
	return append(indexed, named...)
}

func sortStable(s []legacyField, less func(a, b legacyField) bool) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && less(s[j], s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func arrayIndex(s string) (uint64, bool) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > 4294967294 {
		return 0, false
	}
	return n, true
}

func legacyStringify(fields []legacyField) string {
	var b strings.Builder
	for _, f := range fields {
		for _, v := range f.values {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(legacyEscape(f.name))
			b.WriteByte('=')
			b.WriteString(legacyEscape(v))
		}
	}
	return b.String()
}

// legacyUnescape is querystring.unescape after "+" → " ": %XX with two hex digits
// becomes that byte, anything else stays, and the bytes are read as UTF-8 the way
// Node's Buffer reads them (each maximal invalid subpart becomes U+FFFD).
func legacyUnescape(s string) string {
	s = strings.ReplaceAll(s, "+", " ")
	if !strings.Contains(s, "%") {
		return s
	}
	raw := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			raw = append(raw, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		raw = append(raw, s[i])
	}
	return decodeUTF8WHATWG(raw)
}

// legacyEscape is querystring.escape: UTF-8 percent-encoding of everything but
// A–Z a–z 0–9 - . _ ~ ! ' ( ) *.
func legacyEscape(s string) string {
	const upper = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlpha(c) || isDigit(c) || strings.IndexByte("-._~!'()*", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upper[c>>4])
		b.WriteByte(upper[c&15])
	}
	return b.String()
}

// decodeUTF8WHATWG decodes like the WHATWG UTF-8 decoder (Node's Buffer#toString):
// each maximal subpart of an invalid sequence is one U+FFFD. Go's utf8 package agrees
// except on truncated sequences, which it replaces byte by byte.
func decodeUTF8WHATWG(b []byte) string {
	var out strings.Builder
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			out.WriteRune(r)
			i += size
			continue
		}
		// Invalid: consume the lead byte and the continuation bytes that still fit a
		// valid sequence, as WHATWG does.
		lead := b[i]
		need, lo, hi := 0, byte(0x80), byte(0xBF)
		switch {
		case lead >= 0xC2 && lead <= 0xDF:
			need = 1
		case lead == 0xE0:
			need, lo = 2, 0xA0
		case lead >= 0xE1 && lead <= 0xEC, lead == 0xEE, lead == 0xEF:
			need = 2
		case lead == 0xED:
			need, hi = 2, 0x9F
		case lead == 0xF0:
			need, lo = 3, 0x90
		case lead >= 0xF1 && lead <= 0xF3:
			need = 3
		case lead == 0xF4:
			need, hi = 3, 0x8F
		}
		i++
		for ; need > 0 && i < len(b) && b[i] >= lo && b[i] <= hi; need-- {
			i++
			lo, hi = 0x80, 0xBF
		}
		out.WriteRune(utf8.RuneError)
	}
	return out.String()
}

// urlTabsAndNewlines removes what the WHATWG parser strips from anywhere in a URL. One
// for the process: a Replacer builds its tables on first use, and built per call it was
// 3.5 % of what `serve` allocated under the open loop (docs/performance.md, "Where the
// open loop's allocations go").
var urlTabsAndNewlines = strings.NewReplacer("\t", "", "\n", "", "\r", "")

// normalizeURL is new URL(u).toString() for http and https URLs with an ASCII host:
// scheme and host lower-cased, the default port dropped, dot segments resolved,
// characters outside the WHATWG percent-encode sets of path, query and fragment
// encoded as UTF-8 (existing escapes left as they are). Other URLs, and those the
// WHATWG parser refuses, report false.
func normalizeURL(u string) (string, bool) {
	u = strings.TrimFunc(u, func(r rune) bool { return r <= 0x20 })
	u = urlTabsAndNewlines.Replace(u)
	colon := strings.Index(u, ":")
	if colon <= 0 {
		return "", false
	}
	scheme := strings.ToLower(u[:colon])
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	for i := 0; i < colon; i++ {
		if !isAlpha(u[i]) {
			return "", false
		}
	}
	rest := u[colon+1:]
	// Special schemes skip any run of slashes and backslashes before the authority.
	rest = strings.TrimLeft(rest, `/\`)
	end := strings.IndexAny(rest, `/\?#`)
	if end < 0 {
		end = len(rest)
	}
	authority, rest := rest[:end], rest[end:]
	userInfo := ""
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		user, pass, _ := strings.Cut(authority[:at], ":")
		user, pass = percentEncode(user, userinfoSet), percentEncode(pass, userinfoSet)
		if user != "" || pass != "" {
			userInfo = user
			if pass != "" {
				userInfo += ":" + pass
			}
			userInfo += "@"
		}
		authority = authority[at+1:]
	}
	hostPart, port := authority, ""
	from := strings.LastIndex(authority, "]") + 1
	if c := strings.Index(authority[from:], ":"); c >= 0 {
		hostPart, port = authority[:from+c], authority[from+c+1:]
	}
	host, ok := normalizeHost(hostPart)
	if !ok {
		return "", false
	}
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 32)
		if err != nil || n > 65535 || strings.TrimLeft(port, "0123456789") != "" {
			return "", false
		}
		if (scheme == "http" && n == 80) || (scheme == "https" && n == 443) {
			port = ""
		} else {
			port = ":" + strconv.FormatUint(n, 10)
		}
	}
	path, query, fragment := rest, "", ""
	hasQuery, hasFragment := false, false
	if i := strings.Index(path, "#"); i >= 0 {
		path, fragment, hasFragment = path[:i], path[i+1:], true
	}
	if i := strings.Index(path, "?"); i >= 0 {
		path, query, hasQuery = path[:i], path[i+1:], true
	}
	out := scheme + "://" + userInfo + host + port + normalizePath(path)
	if hasQuery {
		out += "?" + percentEncode(query, specialQuerySet)
	}
	if hasFragment {
		out += "#" + percentEncode(fragment, fragmentSet)
	}
	return out, true
}

// normalizeHost handles the hosts a webhook URL has: ASCII names (lower-cased),
// IPv4 addresses (including the shorthand forms WHATWG accepts) and IPv6 literals.
// A non-ASCII or percent-encoded name would need IDNA processing: not supported.
func normalizeHost(h string) (string, bool) {
	if h == "" {
		return "", false
	}
	if strings.HasPrefix(h, "[") {
		if !strings.HasSuffix(h, "]") {
			return "", false
		}
		a, err := netip.ParseAddr(h[1 : len(h)-1])
		if err != nil || a.Zone() != "" {
			return "", false
		}
		return "[" + ipv6String(a) + "]", true
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c >= 0x80 || c == '%' || c <= 0x20 || strings.IndexByte("#/:<>?@[\\]^|", c) >= 0 {
			return "", false
		}
	}
	h = strings.ToLower(h)
	if v4, isV4, ok := parseIPv4(h); isV4 {
		return v4, ok
	}
	return h, true
}

// parseIPv4 is WHATWG's IPv4 parser, applied when the last label is a number:
// labels in decimal, 0x hex or 0 octal, the last one filling the remaining bytes.
func parseIPv4(h string) (string, bool, bool) {
	labels := strings.Split(h, ".")
	if labels[len(labels)-1] == "" && len(labels) > 1 {
		labels = labels[:len(labels)-1]
	}
	last := labels[len(labels)-1]
	if _, ok := ipv4Number(last); !ok {
		if strings.TrimLeft(last, "0123456789") == "" && last != "" {
			return "", true, false
		}
		return "", false, false
	}
	if len(labels) > 4 {
		return "", true, false
	}
	nums := make([]uint64, len(labels))
	for i, l := range labels {
		n, ok := ipv4Number(l)
		if !ok {
			return "", true, false
		}
		nums[i] = n
	}
	for _, n := range nums[:len(nums)-1] {
		if n > 255 {
			return "", true, false
		}
	}
	if nums[len(nums)-1] >= 1<<(8*(5-len(nums))) {
		return "", true, false
	}
	addr := nums[len(nums)-1]
	for i, n := range nums[:len(nums)-1] {
		addr += n << (8 * (3 - i))
	}
	return strconv.FormatUint(addr>>24, 10) + "." + strconv.FormatUint(addr>>16&255, 10) + "." +
		strconv.FormatUint(addr>>8&255, 10) + "." + strconv.FormatUint(addr&255, 10), true, true
}

func ipv4Number(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	base := 10
	switch {
	case len(s) >= 2 && (s[:2] == "0x" || s[:2] == "0X"):
		s, base = s[2:], 16
		if s == "" {
			return 0, true
		}
	case len(s) >= 2 && s[0] == '0':
		s, base = s[1:], 8
	}
	n, err := strconv.ParseUint(s, base, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// ipv6String serializes as WHATWG does: lower-case hex pieces, the first longest run
// of two or more zero pieces compressed, never the dotted IPv4 tail.
func ipv6String(a netip.Addr) string {
	b := a.As16()
	var pieces [8]uint16
	for i := range pieces {
		pieces[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	best, bestLen := -1, 1
	for i := 0; i < 8; {
		if pieces[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && pieces[j] == 0 {
			j++
		}
		if j-i > bestLen {
			best, bestLen = i, j-i
		}
		i = j
	}
	var s strings.Builder
	for i := 0; i < 8; i++ {
		if i == best {
			s.WriteString("::")
			i += bestLen - 1
			continue
		}
		if s.Len() > 0 && !strings.HasSuffix(s.String(), "::") {
			s.WriteByte(':')
		}
		s.WriteString(strconv.FormatUint(uint64(pieces[i]), 16))
	}
	return s.String()
}

// normalizePath resolves "." and ".." segments (also written %2e) and encodes the
// path percent-encode set; backslashes are slashes in http(s) URLs.
func normalizePath(p string) string {
	p = strings.ReplaceAll(p, `\`, "/")
	if p == "" {
		return "/"
	}
	segments := strings.Split(p[1:], "/")
	var out []string
	for i, seg := range segments {
		lastSeg := i == len(segments)-1
		switch strings.ToLower(seg) {
		case "..", ".%2e", "%2e.", "%2e%2e":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if lastSeg {
				out = append(out, "")
			}
		case ".", "%2e":
			if lastSeg {
				out = append(out, "")
			}
		default:
			out = append(out, percentEncode(seg, pathSet))
		}
	}
	return "/" + strings.Join(out, "/")
}

// WHATWG percent-encode sets beyond the C0 controls and everything above U+007E.
const (
	fragmentSet     = " \"<>`"
	specialQuerySet = " \"#<>'"
	pathSet         = " \"#<>?`{}"
	userinfoSet     = " \"#<>?`{}/:;=@[\\]^|"
)

func percentEncode(s, set string) string {
	const upper = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7E || strings.IndexByte(set, c) >= 0 {
			b.WriteByte('%')
			b.WriteByte(upper[c>>4])
			b.WriteByte(upper[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// formDecode is application/x-www-form-urlencoded decoding as URLSearchParams does it.
func formDecode(s string) string { return legacyUnescape(s) }

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'f') }

func unhex(c byte) byte {
	if isDigit(c) {
		return c - '0'
	}
	return c | 0x20 - 'a' + 10
}
