package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Entry is one audit record. The JSON tags name the members of its line in
// the log; audit/README.md defines the line byte by byte.
type Entry struct {
	Seq      uint64            `json:"seq"`
	Time     time.Time         `json:"time"`              // UTC, set by Append
	Event    string            `json:"event"`             // dotted name, e.g. "file.received", "login.failed"
	Outcome  string            `json:"outcome,omitempty"` // "ok", "refused", "failed"
	Actor    string            `json:"actor,omitempty"`
	OSUser   string            `json:"os_user,omitempty"`
	Approver string            `json:"approver,omitempty"`
	Job      string            `json:"job,omitempty"`
	Issuer   string            `json:"issuer,omitempty"`
	Request  string            `json:"request,omitempty"`
	Machine  string            `json:"machine,omitempty"`
	Detail   map[string]string `json:"detail,omitempty"`
	Prev     string            `json:"prev"` // hex SHA-256 of the previous entry (genesis: 64 zeros)
	Hash     string            `json:"hash"` // hex SHA-256 of this entry, see audit/README.md
}

// Events that only this package writes. Append refuses them from callers so
// that nobody can fake a repair record, a checkpoint or a prune record.
const (
	// EventRepaired records that Open cut a torn tail off the log after a
	// crash; Detail says which bytes and where they were kept.
	EventRepaired = "audit.repaired"
	// EventCheckpoint is a signed checkpoint over the entry before it (see
	// Checkpoint and audit/README.md).
	EventCheckpoint = "audit.checkpoint"
	// EventPruned records that Prune removes the oldest segments. It is
	// written before the files are removed; Detail names them.
	EventPruned = "audit.pruned"
)

// reserved reports whether only this package may write event.
func reserved(event string) bool {
	return event == EventRepaired || event == EventCheckpoint || event == EventPruned
}

// Outcomes an entry may carry; empty means "not applicable".
const (
	OutcomeOK      = "ok"
	OutcomeRefused = "refused"
	OutcomeFailed  = "failed"
)

// GenesisHash is the Prev of the first entry: 64 zeros.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// MaxLineLen bounds one line of the log, newline included. Append refuses
// longer entries and Verify refuses longer lines, so that neither the daemon
// nor a verifier can be made to buffer an unbounded line.
const MaxLineLen = 64 << 10

// timeLayout is fixed-width so that times sort as strings, and has
// nanoseconds so that entries written in the same microsecond stay ordered.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// hashSuffixLen is the length of `,"hash":"<64 hex>"}`.
const hashSuffixLen = len(`,"hash":"`) + 64 + len(`"}`)

// The reasons Verify gives. They are part of the golden vectors
// (testdata/audit/*.want), so change them only together.
const (
	reasonTooLong       = "line longer than the maximum"
	reasonEmptyLine     = "empty line"
	reasonNotJSON       = "not a JSON object"
	reasonBadTime       = "time is not in the form 2006-01-02T15:04:05.000000000Z"
	reasonBadEvent      = "event is not a dotted lower-case name"
	reasonBadOutcome    = "outcome is not ok, refused or failed"
	reasonBadDetailKey  = "detail key is not 1 to 64 of [A-Za-z0-9_.-]"
	reasonBadHex        = "prev or hash is not 64 lower-case hex digits"
	reasonNotCanonical  = "not in canonical form"
	reasonPrev          = "prev is not the hash of the previous entry"
	reasonHash          = "hash does not match the entry"
	reasonTimeBackwards = "time is before the previous entry's"

	reasonCkptMalformed    = "checkpoint entry is malformed"
	reasonCkptSeq          = "checkpoint seq is not the previous entry's"
	reasonCkptHead         = "checkpoint head is not the hash of the previous entry"
	reasonCkptUnknownKey   = "checkpoint signed by an unknown key"
	reasonCkptBadSig       = "checkpoint signature does not verify"
	reasonCkptOrigin       = "checkpoint origin is not the expected one"
	reasonPrunedMalformed  = "audit.pruned entry is malformed"
	reasonSegNoStartCkpt   = "segment does not begin with a checkpoint"
	reasonSegNoEndCkpt     = "segment does not end with a checkpoint"
	reasonPrunedUnrecorded = "segments before this one are missing and no audit.pruned entry records their removal"
)

// validate checks the fields a caller controls. It never echoes a value in
// its error: the value may be the very PAN it refuses.
func validate(e *Entry) error {
	if !validEvent(e.Event) {
		return fmt.Errorf("%w: %s", ErrInvalidEntry, reasonBadEvent)
	}
	if !validOutcome(e.Outcome) {
		return fmt.Errorf("%w: %s", ErrInvalidEntry, reasonBadOutcome)
	}
	fields := [...]struct{ name, v string }{
		{"event", e.Event}, {"outcome", e.Outcome}, {"actor", e.Actor}, {"os_user", e.OSUser},
		{"approver", e.Approver}, {"job", e.Job}, {"issuer", e.Issuer}, {"request", e.Request},
		{"machine", e.Machine},
	}
	for _, f := range fields {
		if err := checkValue(f.name, f.v); err != nil {
			return err
		}
	}
	for k, v := range e.Detail {
		if !validDetailKey(k) {
			return fmt.Errorf("%w: %s", ErrInvalidEntry, reasonBadDetailKey)
		}
		if ContainsPAN(k) {
			return fmt.Errorf("%w: a detail key looks like a card number (PAN)", ErrInvalidEntry)
		}
		if err := checkValue("detail."+k, v); err != nil {
			return err
		}
	}
	return nil
}

func checkValue(name, v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidEntry, name)
	}
	if ContainsPAN(v) {
		return fmt.Errorf("%w: %s looks like it holds a card number (PAN); mask it", ErrInvalidEntry, name)
	}
	return nil
}

// validEvent: one or more segments of [a-z][a-z0-9_]* joined by dots.
func validEvent(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, seg := range strings.Split(s, ".") {
		if seg == "" || seg[0] < 'a' || seg[0] > 'z' {
			return false
		}
		for i := 1; i < len(seg); i++ {
			c := seg[i]
			if !('a' <= c && c <= 'z') && !isDigit(c) && c != '_' {
				return false
			}
		}
	}
	return true
}

func validOutcome(s string) bool {
	switch s {
	case "", OutcomeOK, OutcomeRefused, OutcomeFailed:
		return true
	}
	return false
}

func validDetailKey(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !isWordByte(c) && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func validHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) && !('a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// appendBody appends the entry's body: the canonical JSON object without the
// hash member, `{"seq":…,…,"prev":"…"}`. The hash is SHA-256 over exactly
// these bytes. Strings must be valid UTF-8 (validate and parseLine see to it).
func appendBody(b []byte, e *Entry) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"time":"`...)
	b = e.Time.UTC().AppendFormat(b, timeLayout)
	b = append(b, `","event":`...)
	b = appendString(b, e.Event)
	b = appendOpt(b, "outcome", e.Outcome)
	b = appendOpt(b, "actor", e.Actor)
	b = appendOpt(b, "os_user", e.OSUser)
	b = appendOpt(b, "approver", e.Approver)
	b = appendOpt(b, "job", e.Job)
	b = appendOpt(b, "issuer", e.Issuer)
	b = appendOpt(b, "request", e.Request)
	b = appendOpt(b, "machine", e.Machine)
	if len(e.Detail) > 0 {
		keys := make([]string, 0, len(e.Detail))
		for k := range e.Detail {
			keys = append(keys, k)
		}
		sort.Strings(keys) // byte order, so another language can reproduce it
		b = append(b, `,"detail":{`...)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, e.Detail[k])
		}
		b = append(b, '}')
	}
	b = append(b, `,"prev":`...)
	b = appendString(b, e.Prev)
	return append(b, '}')
}

func appendOpt(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

// appendString writes s as a JSON string with the fewest escapes: `\"`,
// `\\`, `\n`, `\r`, `\t`, and `\u00xx` (lower-case hex) for the other bytes
// below 0x20. Everything else, including non-ASCII UTF-8, is copied as is.
// This is narrower than encoding/json (which escapes <, >, & and U+2028) on
// purpose: the form must be reproducible without Go.
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// hashBody is the entry hash: lower-case hex SHA-256 of the body.
func hashBody(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// appendLine turns a body into the line written to the log: the body with
// `,"hash":"<hash>"` inserted before its closing brace, and a newline.
func appendLine(b, body []byte, hash string) []byte {
	b = append(b, body[:len(body)-1]...)
	b = append(b, `,"hash":"`...)
	b = append(b, hash...)
	return append(b, '"', '}', '\n')
}

// seal sets e.Hash and returns the line to write, newline included.
func seal(e *Entry) []byte {
	body := appendBody(make([]byte, 0, 512), e)
	e.Hash = hashBody(body)
	return appendLine(make([]byte, 0, len(body)+hashSuffixLen+1), body, e.Hash)
}

// wireEntry is Entry as it is decoded: Time stays a string so that its exact
// form can be checked, and no time.Time parsing leniency creeps in.
type wireEntry struct {
	Seq      uint64            `json:"seq"`
	Time     string            `json:"time"`
	Event    string            `json:"event"`
	Outcome  string            `json:"outcome"`
	Actor    string            `json:"actor"`
	OSUser   string            `json:"os_user"`
	Approver string            `json:"approver"`
	Job      string            `json:"job"`
	Issuer   string            `json:"issuer"`
	Request  string            `json:"request"`
	Machine  string            `json:"machine"`
	Detail   map[string]string `json:"detail"`
	Prev     string            `json:"prev"`
	Hash     string            `json:"hash"`
}

// parseLine decodes one line (without its newline) and checks everything
// that can be checked without the previous entry: that it is the canonical
// encoding of a valid entry, and that its hash is right. It returns a reason
// (one of the reason constants, or a sanitised decoding error) when not.
//
// The canonical check is what makes the format strict: the line must be
// byte-for-byte what appendLine would write for the decoded values. That
// refuses duplicate members (which parsers resolve differently), members in
// another order or case, needless escapes, white space, and invalid UTF-8.
//
// Lines the daemon wrote take a fast path (decodeCanonical); anything else
// is decoded with encoding/json to find out what is wrong with it. The
// results are the same either way (FuzzParseLineFastSlow).
func parseLine(line []byte) (Entry, string) {
	e, ok := decodeCanonical(line)
	if !ok {
		var reason string
		if e, reason = decodeJSON(line); reason != "" {
			return Entry{}, reason
		}
	}
	return checkDecoded(line, e)
}

// parseLineSlow is parseLine without the fast path, for the tests.
func parseLineSlow(line []byte) (Entry, string) {
	e, reason := decodeJSON(line)
	if reason != "" {
		return Entry{}, reason
	}
	return checkDecoded(line, e)
}

// decodeJSON decodes a line with encoding/json.
func decodeJSON(line []byte) (Entry, string) {
	if len(line) == 0 {
		return Entry{}, reasonEmptyLine
	}
	if line[0] != '{' {
		return Entry{}, reasonNotJSON
	}
	// One pass: the Decoder checks the syntax of the value it reads. What
	// follows the object is not looked at here; the canonical check
	// refuses it.
	var w wireEntry
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Entry{}, reasonNotJSON
		}
		return Entry{}, decodeReason(line)
	}
	t, err := time.Parse(timeLayout, w.Time)
	if err != nil {
		return Entry{}, reasonBadTime
	}
	return Entry{
		Seq: w.Seq, Time: t, Event: w.Event, Outcome: w.Outcome, Actor: w.Actor,
		OSUser: w.OSUser, Approver: w.Approver, Job: w.Job, Issuer: w.Issuer,
		Request: w.Request, Machine: w.Machine, Detail: w.Detail, Prev: w.Prev, Hash: w.Hash,
	}, ""
}

// checkDecoded checks the values of a decoded line, its canonical form and
// its hash.
func checkDecoded(line []byte, e Entry) (Entry, string) {
	if !validEvent(e.Event) {
		return Entry{}, reasonBadEvent
	}
	if !validOutcome(e.Outcome) {
		return Entry{}, reasonBadOutcome
	}
	for k := range e.Detail {
		if !validDetailKey(k) {
			return Entry{}, reasonBadDetailKey
		}
	}
	if !validHex64(e.Prev) || !validHex64(e.Hash) {
		return Entry{}, reasonBadHex
	}
	// The body must be the line minus its hash member, byte for byte.
	body := appendBody(make([]byte, 0, len(line)), &e)
	if len(body)-1+hashSuffixLen != len(line) ||
		!bytes.Equal(body[:len(body)-1], line[:len(body)-1]) ||
		string(line[len(body)-1:]) != `,"hash":"`+e.Hash+`"}` {
		return Entry{}, reasonNotCanonical
	}
	if hashBody(body) != e.Hash {
		return Entry{}, reasonHash
	}
	return e, ""
}

// decodeCanonical decodes a line laid out exactly as appendBody and
// appendLine write it, without reflection. It reports false for anything
// else; it need not be strict beyond that, since checkDecoded re-encodes
// what it returns and compares bytes.
func decodeCanonical(line []byte) (Entry, bool) {
	c := cursor{b: line, ok: true}
	var e Entry
	c.expect(`{"seq":`)
	e.Seq = c.uint()
	c.expect(`,"time":"`)
	if c.ok && len(c.b)-c.i >= len(timeLayout) {
		t, err := time.Parse(timeLayout, string(c.b[c.i:c.i+len(timeLayout)]))
		e.Time, c.ok = t, err == nil
		c.i += len(timeLayout)
	} else {
		c.ok = false
	}
	c.expect(`","event":`)
	e.Event = c.str()
	for _, m := range [...]struct {
		name string
		v    *string
	}{{`,"outcome":`, &e.Outcome}, {`,"actor":`, &e.Actor}, {`,"os_user":`, &e.OSUser},
		{`,"approver":`, &e.Approver}, {`,"job":`, &e.Job}, {`,"issuer":`, &e.Issuer},
		{`,"request":`, &e.Request}, {`,"machine":`, &e.Machine}} {
		if c.peek(m.name) {
			*m.v = c.str()
		}
	}
	if c.peek(`,"detail":{`) {
		e.Detail = map[string]string{}
		for c.ok {
			k := c.str()
			c.expect(":")
			e.Detail[k] = c.str()
			if !c.peek(",") {
				break
			}
		}
		c.expect("}")
	}
	c.expect(`,"prev":`)
	e.Prev = c.str()
	c.expect(`,"hash":`)
	e.Hash = c.str()
	c.expect("}")
	return e, c.ok && c.i == len(c.b)
}

// cursor reads a line front to back; after the first mismatch ok is false
// and every further read is a no-op.
type cursor struct {
	b  []byte
	i  int
	ok bool
}

func (c *cursor) peek(s string) bool {
	if !c.ok || len(c.b)-c.i < len(s) || string(c.b[c.i:c.i+len(s)]) != s {
		return false
	}
	c.i += len(s)
	return true
}

func (c *cursor) expect(s string) {
	if !c.peek(s) {
		c.ok = false
	}
}

// uint reads a decimal without leading zeros that fits in a uint64.
func (c *cursor) uint() uint64 {
	if !c.ok {
		return 0
	}
	j := c.i
	for j < len(c.b) && isDigit(c.b[j]) {
		j++
	}
	n, err := strconv.ParseUint(string(c.b[c.i:j]), 10, 64)
	if err != nil || (c.b[c.i] == '0' && j-c.i > 1) {
		c.ok = false
		return 0
	}
	c.i = j
	return n
}

// str reads a JSON string with only the escapes appendString writes (and
// \u00xx for any control byte); anything else ends the fast path.
func (c *cursor) str() string {
	if !c.ok || c.i >= len(c.b) || c.b[c.i] != '"' {
		c.ok = false
		return ""
	}
	j := c.i + 1
	for j < len(c.b) && c.b[j] != '"' && c.b[j] != '\\' && c.b[j] >= 0x20 {
		j++
	}
	if j < len(c.b) && c.b[j] == '"' { // no escapes: the common case
		s := c.b[c.i+1 : j]
		if !utf8.Valid(s) {
			c.ok = false
			return ""
		}
		c.i = j + 1
		return string(s)
	}
	out := append([]byte(nil), c.b[c.i+1:j]...)
	for j < len(c.b) {
		ch := c.b[j]
		switch {
		case ch == '"':
			if !utf8.Valid(out) {
				c.ok = false
				return ""
			}
			c.i = j + 1
			return string(out)
		case ch < 0x20:
			c.ok = false
			return ""
		case ch != '\\':
			out = append(out, ch)
			j++
			continue
		}
		if j+1 >= len(c.b) {
			break
		}
		switch c.b[j+1] {
		case '"', '\\':
			out = append(out, c.b[j+1])
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if j+6 > len(c.b) || c.b[j+2] != '0' || c.b[j+3] != '0' || !isLowerHex(c.b[j+4]) || !isLowerHex(c.b[j+5]) {
				c.ok = false
				return ""
			}
			out = append(out, unhex(c.b[j+4])<<4|unhex(c.b[j+5]))
			if out[len(out)-1] >= 0x20 {
				c.ok = false
				return ""
			}
			j += 6
			continue
		default:
			c.ok = false
			return ""
		}
		j += 2
	}
	c.ok = false
	return ""
}

func isLowerHex(c byte) bool { return isDigit(c) || ('a' <= c && c <= 'f') }

func unhex(c byte) byte {
	if isDigit(c) {
		return c - '0'
	}
	return c - 'a' + 10
}

// decodeReason explains why a line that is valid JSON did not decode as an
// entry. It does not echo what the line holds, except an unknown member's
// name when that is short and harmless, and it does not depend on the text
// of encoding/json's errors.
func decodeReason(line []byte) string {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(line, &members); err != nil {
		return reasonNotJSON
	}
	names := make([]string, 0, len(members))
	for name := range members {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !knownMember[name] {
			if len(name) <= 32 && validDetailKey(name) && !ContainsPAN(name) {
				return "unknown member " + strconv.Quote(name)
			}
			return "unknown member"
		}
	}
	for _, name := range names {
		if !memberTypeOK(name, members[name]) {
			return "member " + strconv.Quote(name) + " has the wrong type"
		}
	}
	return reasonNotJSON
}

func memberTypeOK(name string, raw json.RawMessage) bool {
	switch name {
	case "seq":
		var n uint64
		return json.Unmarshal(raw, &n) == nil
	case "detail":
		var m map[string]string
		return json.Unmarshal(raw, &m) == nil
	default:
		var s string
		return len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil
	}
}

var knownMember = map[string]bool{
	"seq": true, "time": true, "event": true, "outcome": true, "actor": true,
	"os_user": true, "approver": true, "job": true, "issuer": true, "request": true,
	"machine": true, "detail": true, "prev": true, "hash": true,
}
