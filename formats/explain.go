package formats

import (
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dataprep/dataprep/formats/card"
	"github.com/dataprep/dataprep/formats/convert"
	"github.com/dataprep/dataprep/formats/cps"
	"github.com/dataprep/dataprep/formats/input"
	"github.com/dataprep/dataprep/formats/profile"
	"github.com/dataprep/dataprep/formats/testgen"
	"github.com/dataprep/dataprep/formats/tlv"
)

// CheckProfile parses a profile of either kind, checks it completely, and
// writes to w what it does with a synthetic sample record, the PAN masked.
// It is `dataprep profile check FILE`.
func CheckProfile(w io.Writer, data []byte, jobDate time.Time) (profile.Profile, error) {
	p, err := profile.Check(data)
	if err != nil {
		return nil, err
	}
	return p, Explain(w, p, jobDate)
}

// Explain writes what profile p does with a synthetic sample record: for
// an issuer profile, a sample input line in its format and the record read
// back from it and validated; for a machine profile, the sample record's
// output field by field. PANs are masked throughout.
func Explain(w io.Writer, p profile.Profile, jobDate time.Time) error {
	if jobDate.IsZero() {
		jobDate = time.Now()
	}
	switch p := p.(type) {
	case *profile.Issuer:
		return explainIssuer(w, p, jobDate)
	case *profile.Machine:
		return explainMachine(w, p)
	}
	return fmt.Errorf("formats: unknown profile type %T", p)
}

// sample is the synthetic record previews use.
var sample = testgen.Sample()

func masked(s string) string { return strings.ReplaceAll(s, sample.PAN, card.Mask(sample.PAN)) }

func explainIssuer(w io.Writer, ip *profile.Issuer, jobDate time.Time) error {
	fmt.Fprintf(w, "issuer profile %q: %s, %s, lines of at most %d bytes\n", ip.Name, describeFormat(ip), ip.Charset, ip.MaxLine)
	pol := ip.Policy(jobDate)
	fmt.Fprintf(w, "  a bad record %s; expired cards %s; accents %s; over-long text %s\n",
		pick(ip.RejectsFile(), "fails the whole file", "is rejected alone"),
		pick(pol.AllowExpired, "allowed", "refused"),
		pick(pol.Transliterate, "transliterated (é→E, ß→SS)", "refused"),
		pick(pol.Truncate, "truncated", "refused"))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  field\tfrom")
	for _, m := range ip.Mappings() {
		fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimPrefix(m.Key, "fields."), describeInput(m.Input, m.Target))
	}
	tw.Flush()

	line, err := sampleInput(ip)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nsample input (synthetic, PAN masked):\n")
	for _, l := range strings.Split(strings.TrimRight(line, "\n"), "\n") {
		fmt.Fprintf(w, "  %s\n", masked(l))
	}
	rd, err := input.New(strings.NewReader(toCharset(line, ip.Charset)), ip)
	if err != nil {
		return err
	}
	rec, err := rd.Next()
	if err != nil {
		return fmt.Errorf("formats: the profile cannot read its own sample: %w", err)
	}
	if err := card.Validate(&rec, &pol); err != nil {
		fmt.Fprintf(w, "\nthe sample record is rejected: %v\n", err)
		return nil
	}
	fmt.Fprintf(w, "\nsample record as read and validated (PAN masked):\n")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "  %s\t%s\n", k, v)
		}
	}
	row("pan", card.Mask(rec.PAN))
	row("pan_seq", rec.PANSeq)
	row("name", rec.Name)
	row("expiry (YYMM)", rec.Expiry)
	row("effective (YYMM)", rec.Effective)
	row("service_code", rec.ServiceCode)
	row("discretionary", rec.Discretionary)
	row("product", rec.Product)
	for i, e := range rec.Emboss {
		row(fmt.Sprintf("emboss%d", i+1), e)
	}
	for i, c := range rec.Carrier {
		row(fmt.Sprintf("carrier%d", i+1), c)
	}
	for _, c := range rec.ChipTags {
		row("chip "+c.Tag.String(), fmt.Sprintf("%X", c.Value))
	}
	for _, d := range rec.DGIs {
		row(fmt.Sprintf("dgi %04X", d.Tag), fmt.Sprintf("%d bytes", len(d.Value)))
	}
	return tw.Flush()
}

func pick(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

func describeFormat(ip *profile.Issuer) string {
	switch ip.Format {
	case profile.FormatCSV:
		return fmt.Sprintf("CSV (%s, delimiter %q, %s)", pick(ip.CSV.Header, "header line", "no header"),
			string(ip.Delimiter()), pick(ip.Quoting(), "quoted fields allowed", "no quoting"))
	case profile.FormatFixed:
		return "fixed-width"
	}
	return "JSON Lines"
}

func describeInput(in *profile.Input, t profile.Target) string {
	var s string
	switch {
	case in.Value != nil:
		s = fmt.Sprintf("constant %q", *in.Value)
	case in.Column != "":
		s = fmt.Sprintf("column %q", in.Column)
	case in.Index > 0:
		s = fmt.Sprintf("field %d", in.Index)
	case in.Key != "":
		s = fmt.Sprintf("key %q", in.Key)
	default:
		s = fmt.Sprintf("characters %d–%d", in.Start, in.Start+in.Length-1)
	}
	if t == profile.TargetExpiry || t == profile.TargetEffective {
		s += " as " + in.DateFormat().String()
	}
	return s
}

// sampleValue is the text the sample record has for mapping m, as the
// issuer would write it.
func sampleValue(ip *profile.Issuer, m *profile.Mapping) string {
	r := &sample
	switch m.Target {
	case profile.TargetPAN:
		return r.PAN
	case profile.TargetPANSeq:
		return r.PANSeq
	case profile.TargetName:
		return r.Name
	case profile.TargetExpiry:
		return string(m.Input.DateFormat().Append(nil, r.Expiry))
	case profile.TargetEffective:
		return string(m.Input.DateFormat().Append(nil, r.Effective))
	case profile.TargetServiceCode:
		return r.ServiceCode
	case profile.TargetDiscretionary:
		return r.Discretionary
	case profile.TargetProduct:
		return r.Product
	case profile.TargetEmboss:
		return r.Emboss[m.N]
	case profile.TargetCarrier:
		if m.N < len(r.Carrier) {
			return r.Carrier[m.N]
		}
	case profile.TargetChipTLV:
		var b []byte
	tags:
		for _, c := range r.ChipTags {
			for _, other := range ip.Mappings() {
				if other.Target == profile.TargetChip && other.Tag == c.Tag {
					continue tags // mapped on its own: a tag may appear once
				}
			}
			b = tlv.Append(b, c.Tag, c.Value)
		}
		return strings.ToUpper(hex.EncodeToString(b))
	case profile.TargetChip:
		if v, ok := r.Chip(m.Tag); ok {
			return strings.ToUpper(hex.EncodeToString(v))
		}
		return "00"
	case profile.TargetDGI:
		return "00112233445566778899AABBCCDDEEFF"
	}
	return ""
}

// sampleInput writes the sample record in the issuer's format.
func sampleInput(ip *profile.Issuer) (string, error) {
	maps := ip.Mappings()
	switch ip.Format {
	case profile.FormatCSV:
		var header, fields []string
		if ip.CSV.Header {
			seen := map[string]bool{}
			for i := range maps {
				m := &maps[i]
				if m.Input.Value != nil || seen[m.Input.Column] {
					continue
				}
				seen[m.Input.Column] = true
				header = append(header, m.Input.Column)
				fields = append(fields, sampleValue(ip, m))
			}
		} else {
			for i := range maps {
				m := &maps[i]
				if m.Input.Value != nil {
					continue
				}
				for len(fields) < m.Input.Index {
					fields = append(fields, "")
				}
				fields[m.Input.Index-1] = sampleValue(ip, m)
			}
		}
		var b bytes.Buffer
		if !ip.Quoting() {
			sep := string(ip.Delimiter())
			if header != nil {
				b.WriteString(strings.Join(header, sep) + "\n")
			}
			b.WriteString(strings.Join(fields, sep) + "\n")
			return b.String(), nil
		}
		cw := csv.NewWriter(&b)
		cw.Comma = ip.Delimiter()
		if header != nil {
			cw.Write(header)
		}
		cw.Write(fields)
		cw.Flush()
		return b.String(), cw.Error()
	case profile.FormatFixed:
		var line []rune
		for i := range maps {
			m := &maps[i]
			if m.Input.Value != nil {
				continue
			}
			for len(line) < m.Input.Start+m.Input.Length-1 {
				line = append(line, ' ')
			}
			v := []rune(sampleValue(ip, m))
			for k := 0; k < m.Input.Length; k++ {
				c := ' '
				if k < len(v) {
					c = v[k]
				}
				line[m.Input.Start-1+k] = c
			}
		}
		return string(line) + "\n", nil
	default:
		obj := map[string]string{}
		for i := range maps {
			m := &maps[i]
			if m.Input.Value == nil {
				obj[m.Input.Key] = sampleValue(ip, m)
			}
		}
		b, err := json.Marshal(obj) // keys sorted: stable output
		return string(b) + "\n", err
	}
}

// toCharset encodes the sample as the profile's charset says the file is.
func toCharset(s, charset string) string {
	if charset != profile.CharsetLatin1 {
		return s
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xFF {
			r = '?'
		}
		b = append(b, byte(r))
	}
	return string(b)
}

func explainMachine(w io.Writer, m *profile.Machine) error {
	rec := sample.Clone()
	for _, g := range m.ChipLayout() {
		if g.Issuer { // a stand-in for what the issuer would supply
			rec.DGIs = append(rec.DGIs, card.DGI{Tag: g.DGI, Value: bytes.Repeat([]byte{0xA5}, 16)})
		}
	}
	if m.Format == profile.OutCPS {
		fmt.Fprintf(w, "machine profile %q: EMV CPS chip data, %s, %d DGIs per card\n", m.Name, m.CPSEncoding, len(m.ChipLayout()))
		return explainDGIs(w, m.ChipLayout(), &rec, "  ")
	}
	end := map[string]string{"\n": "LF", "\r\n": "CR LF"}[m.LineEndBytes()]
	fmt.Fprintf(w, "machine profile %q: fixed-width lines, %d fields, %s, line end %s, track LRC %s\n",
		m.Name, len(m.Fields), pick(m.Charset == "utf-8", "UTF-8", "ASCII"), end, pick(m.TrackLRC, "on", "off"))
	fmt.Fprintf(w, "\nsample record (synthetic, PAN masked):\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tfield\tfrom\twidth\tvalue")
	for i := range m.Fields {
		f := &m.Fields[i]
		one := *m
		one.Fields, one.Separator = m.Fields[i:i+1], ""
		out, err := convert.NewPreview(&one).Append(nil, &rec)
		val := fmt.Sprintf("%q", strings.TrimSuffix(string(out), m.LineEndBytes()))
		if err != nil {
			val = "REJECTED: " + err.Error()
		}
		from := strings.Join(f.From, " + ")
		if f.Value != nil {
			from = fmt.Sprintf("constant %q", *f.Value)
		}
		if len(f.Transform) > 0 {
			from += " → " + strings.Join(f.Transform, ", ")
		}
		width := "as is"
		if f.Width > 0 {
			width = fmt.Sprint(f.Width)
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", i+1, f.Name, from, width, val)
	}
	tw.Flush()
	out, err := convert.NewPreview(m).Append(nil, &rec)
	if err != nil {
		fmt.Fprintf(w, "\nthe sample record is rejected: %v\n", err)
		return nil
	}
	fmt.Fprintf(w, "\nsample line (%d characters):\n%s", len([]rune(string(out)))-len(m.LineEndBytes()), out)
	if len(m.ChipLayout()) > 0 {
		fmt.Fprintf(w, "\nchip data in the line (source \"cps\"):\n")
		return explainDGIs(w, m.ChipLayout(), &rec, "  ")
	}
	return nil
}

// tagNames are the EMV tags previews name.
var tagNames = map[tlv.Tag]string{
	0x57: "track 2 equivalent", 0x5A: "PAN", 0x5F20: "cardholder name", 0x5F24: "expiry YYMMDD",
	0x5F25: "effective YYMMDD", 0x5F28: "issuer country", 0x5F30: "service code", 0x5F34: "PAN sequence",
	0x70: "record template", 0x9F07: "application usage control", 0x9F08: "application version",
	0x9F1F: "track 1 discretionary",
}

func explainDGIs(w io.Writer, l cps.Layout, rec *card.Record, indent string) error {
	b, err := l.Append(nil, rec)
	if err != nil {
		fmt.Fprintf(w, "%sthe sample record is rejected: %v\n", indent, err)
		return nil
	}
	dgis, err := cps.ParseDGIs(b)
	if err != nil {
		return err
	}
	for _, d := range dgis {
		if cps.Sensitive(d.Tag) {
			fmt.Fprintf(w, "%sDGI %04X (sensitive, %d bytes, not shown)\n", indent, d.Tag, len(d.Value))
			continue
		}
		fmt.Fprintf(w, "%sDGI %04X (%d bytes)\n", indent, d.Tag, len(d.Value))
		objs, err := tlv.Decode(d.Value)
		if err != nil {
			fmt.Fprintf(w, "%s  %X\n", indent, d.Value)
			continue
		}
		dumpTLV(w, objs, indent+"  ")
	}
	return nil
}

func dumpTLV(w io.Writer, objs []tlv.Object, indent string) {
	for _, o := range objs {
		name := tagNames[o.Tag]
		if o.Tag.Constructed() {
			fmt.Fprintf(w, "%s%v %s\n", indent, o.Tag, name)
			dumpTLV(w, o.Children, indent+"  ")
			continue
		}
		v := masked(fmt.Sprintf("%X", o.Value))
		if o.Tag == 0x5F20 {
			v = fmt.Sprintf("%q", o.Value)
		}
		fmt.Fprintf(w, "%s%-6v %-26s %s\n", indent, o.Tag, name, v)
	}
}
