/*
Package profile reads the TOML profiles that tell dataprep, without code,
how to read an issuer's file (an issuer profile) and what a
personalization machine wants for each card (a machine profile).

Parsing is strict: an unknown key is an error (a misspelt key silently
ignored would change production data), and every problem is reported
with the key it is about, all at once.

# Reference

Both kinds are TOML. Unknown keys are errors. defaults/*.toml are commented
examples of each.

# Issuer profile

	profile  = "issuer"
	name     = "…"                  # required
	format   = "csv" | "fixed" | "jsonl"
	charset  = "utf-8" | "iso-8859-1"   # default utf-8
	max_line = N                    # bytes per line/record, default 8192; longer fails the file

	[csv]                           # format = "csv" only
	delimiter = ","                 # one character
	quote     = '"' | ""            # "" = no quoting: every delimiter splits
	header    = true | false        # with a header, fields name a column; without, an index

	[fields]                        # where each record field comes from
	pan, pan_seq, name, expiry, effective, service_code, discretionary,
	product, chip_tlv               = <input>
	emboss  = [<input>, …]          # up to 4 name/address lines
	carrier = [<input>, …]          # carrier (mailer) lines
	[fields.chip]  "9F08" = <input> # an EMV tag, value in hex
	[fields.dgi]   "8000" = <input> # a whole CPS DGI, value in hex, carried through

	<input> is one of
	  { column = "PAN" }            # CSV with header
	  { index = 1 }                 # CSV without header, 1-based
	  { key = "pan" }               # JSON Lines
	  { start = 1, length = 19 }    # fixed-width, 1-based characters
	  { value = "201" }             # a constant
	plus, for expiry and effective, date = "YYMM" (default) | "MM/YY" | "MMYY" |
	"YYYY-MM" | … (YYYY, YY, MM and the separators / - . space).

	[validation]
	allow_expired = false           # expiry before the job's month is a reject unless true
	reject        = "record" | "file"   # does one bad record fail the whole file?
	transliterate = true            # é→E, ß→SS, Ø→O in name and emboss lines; else refuse
	overlong      = "refuse" | "truncate"   # name > 26, emboss line > 27

pan and expiry must be mapped. Values are trimmed of spaces and tabs.

# Machine profile

	profile   = "machine"
	name      = "…"
	format    = "fixed" | "cps"
	charset   = "ascii" | "utf-8"   # fixed: what lines may hold (widths count characters)
	line_end  = "lf" | "crlf"
	separator = ""                  # fixed: between fields
	track_lrc = false               # write the LRC after the track end sentinel
	cps_encoding = "hex" | "binary" # cps only; see below

	[emboss]
	patterns = { "15" = "4-6-5" }   # card number grouping by PAN length

	[[field]]                       # fixed: one per field, in order
	name      = "…"                 # label for messages and previews
	from      = ["source", …]       # concatenated with sep ("concat")
	sep       = ""
	value     = "…"                 # a constant instead of from ("constant")
	transform = ["upper", "transliterate", "mask", "trim", "date:MM/YY"]
	width     = N                   # 0 = as long as the value
	align     = "left" | "right"    # left pads on the right ("pad")
	pad       = " "                 # one printable ASCII character
	overflow  = "refuse" | "truncate"   # a longer value rejects the record, or is cut

	sources: pan pan_seq name expiry effective service_code discretionary
	product line emboss1…emboss4 carrier1…carrierN track1 track2
	emboss_number (grouped) emboss_expiry (MM/YY) chip:TAG (hex) cps (hex DGIs)

	[[dgi]]                         # chip data, for format = "cps" or source "cps"
	number   = "0101"
	template = "70"                 # or none
	tags     = ["57", "5F20", …]    # 5A 5F24 5F25 5F20 57 5F30 5F34 are built from
	                                # the record; others come from the issuer's chip data
	optional = ["5F25"]             # may be absent; any other missing tag rejects the record
	issuer   = true                 # take the issuer-supplied DGI of this number whole

# CPS output encoding

format = "cps" writes, per card, the concatenated DGIs (2-byte number,
length 1 byte or FF + 2 bytes, value). With cps_encoding = "hex" each card is
one line of upper-case hex; with "binary" each card is a 4-byte big-endian
length followed by the DGI bytes. Hex is the default because it survives
every transfer and diff tool and is what most bureau machine software imports.

Sensitive DGIs (8000 series: keys, PIN blocks) can only be carried through as
the issuer supplied them (issuer = true). Encrypting them under the machine's
transport key needs the HSM and is later work; a layout that would build an
8000-series DGI in the clear is refused.
*/
package profile
