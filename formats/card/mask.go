package card

// Mask returns pan with all but at most the first 6 and last 4 digits
// replaced by '*', the most PCI DSS allows to be shown.
//
// Short PANs show fewer digits so that at least 6 stay hidden, and input
// that is not all digits (a misplaced column may hold a name) is hidden
// entirely: Mask is what error messages use for whatever sat in the PAN
// field.
func Mask(pan string) string {
	n := len(pan)
	if n > 19 {
		n = 19 // the length past 19 tells nothing useful
	}
	var buf [19]byte
	for i := range n {
		buf[i] = '*'
	}
	if len(pan) > 19 || !isDigits(pan) {
		return string(buf[:n])
	}
	head, tail := 6, 4
	if hidden := n - head - tail; hidden < 6 {
		head -= 6 - hidden
		if head < 0 {
			tail += head
			head = 0
			if tail < 0 {
				tail = 0
			}
		}
	}
	copy(buf[:head], pan[:head])
	copy(buf[n-tail:n], pan[n-tail:])
	return string(buf[:n])
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Luhn reports whether the digit string s passes the Luhn (mod 10) check
// of ISO/IEC 7812-1. It is false for empty or non-digit input.
func Luhn(s string) bool {
	sum, digits := luhnSum(s)
	return s != "" && digits && sum%10 == 0
}

// luhnDouble[d] is 2d with its digits added (the Luhn step for every
// second digit from the right), for the digits 0 to 9.
var luhnDouble = [256]uint8{0, 2, 4, 6, 8, 1, 3, 5, 7, 9}

// luhnSum returns the Luhn sum of s and whether s is all digits (the sum
// means nothing if it is not).
func luhnSum(s string) (sum int, digits bool) {
	// Two digits a step from the right: the last as it is, the one before
	// it doubled; then the first digit alone when the count is odd.
	i := len(s) - 1
	for ; i >= 1; i -= 2 {
		last, before := s[i]-'0', s[i-1]-'0' // as bytes: above 9 unless a digit
		if last > 9 || before > 9 {
			return 0, false
		}
		sum += int(last) + int(luhnDouble[before])
	}
	if i == 0 {
		d := s[0] - '0'
		if d > 9 {
			return 0, false
		}
		sum += int(d)
	}
	return sum, true
}

// LuhnDigit returns the check digit that makes partial+digit pass Luhn;
// partial must be digits. Test generators use it.
func LuhnDigit(partial string) byte {
	sum := 0
	double := true
	for i := len(partial) - 1; i >= 0; i-- {
		d := int(partial[i]) - '0'
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return byte('0' + (10-sum%10)%10)
}
