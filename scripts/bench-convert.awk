# bench-convert.awk: the "what bureaus do with scripts" baseline of make bench.
# Reads the dataprep-testgen CSV (header line, then PAN,PAN_SEQ,TRACK_NAME,
# EXPIRY,EFFECTIVE,SERVICE_CODE,DISCRETIONARY,PRODUCT,EMBOSS_NAME,EMBOSS_LINE2,
# CARRIER1,CARRIER2,CHIP_TLV) and writes one fixed-width line per card in the
# shape of the embedded machine-fixed layout: record type, sequence, grouped
# card number, MM/YY, two emboss lines, track 1, track 2, carrier, product.
#
# Like a typical bureau script it validates nothing (no Luhn, no character
# sets, no lengths), does not transliterate, and handles CSV quoting only as
# far as "a quoted field may hold commas" (no doubled quotes). POSIX awk
# (mawk, gawk, busybox).
BEGIN { FS = "," }
NR == 1 { next }                       # header
{
	line = $0
	if (index(line, "\"") > 0) {       # hide commas inside quotes, drop the quotes
		n = split(line, part, "\"")
		line = ""
		for (i = 1; i <= n; i++) {
			if (i % 2 == 0) gsub(/,/, "\001", part[i])
			line = line part[i]
		}
	}
	nf = split(line, f, ",")
	for (i = 1; i <= nf; i++) gsub(/\001/, ",", f[i])
	pan = f[1]; name = f[3]; expiry = f[4]; sc = f[6]; disc = f[7]
	yymm = substr(expiry, 4, 2) substr(expiry, 1, 2)
	grouped = substr(pan, 1, 4) " " substr(pan, 5, 4) " " substr(pan, 9, 4) " " substr(pan, 13)
	t1 = "%B" pan "^" name "^" yymm sc disc "?"
	t2 = ";" pan "=" yymm sc disc "?"
	carrier = toupper(f[11] " / " f[12])
	printf "C1%08d%-23s%-5s%-27.27s%-27.27s%-79.79s%-40.40s%-60.60s%-4.4s\n",
		NR - 1, grouped, expiry, f[9], f[10], t1, t2, carrier, f[8]
}
