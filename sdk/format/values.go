package format

import (
	"math"
	"slices"
	"strconv"
	"time"
	"unsafe"
)

// Hand-written parsers and formatters for the hot path. strconv and time
// are correct but allocate (string conversions) or walk generic layouts;
// on a 10M-row CSV those costs dominate, so the common shapes are handled
// here on raw bytes and anything unusual falls back to the standard library.

// bstr views b as a string without copying. Callers only pass the result to
// functions that do not retain it (strconv parsers).
func bstr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func parseInt(b []byte) (int64, bool) {
	i := 0
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		i = 1
	}
	if i == len(b) {
		return 0, false
	}
	// 18 digits cannot overflow int64; longer input needs the careful path.
	if len(b)-i > 18 {
		v, err := strconv.ParseInt(bstr(b), 10, 64)
		return v, err == nil
	}
	var n int64
	for ; i < len(b); i++ {
		c := b[i] - '0'
		if c > 9 {
			return 0, false
		}
		n = n*10 + int64(c)
	}
	if neg {
		n = -n
	}
	return n, true
}

// exactPow10 are the powers of ten a float64 holds exactly.
var exactPow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

func parseFloat(b []byte) (float64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	if f, ok := parseSimpleFloat(b); ok {
		return f, true
	}
	v, err := strconv.ParseFloat(bstr(b), 64)
	return v, err == nil
}

// parseSimpleFloat is the common case of parseFloat: [+-]digits[.digits]
// with at most 15 digits in all. The digits then form an integer a float64
// holds exactly, and one division by an exact power of ten rounds
// correctly, giving what strconv.ParseFloat gives (its own exact fast
// path). ok is false for anything else, which strconv then decides.
func parseSimpleFloat(b []byte) (float64, bool) {
	i := 0
	neg := false
	if b[0] == '-' || b[0] == '+' {
		neg = b[0] == '-'
		i = 1
	}
	// The integer digits, then the fraction's: two tight loops rather
	// than one that tests every byte for the point.
	var mant uint64
	start := i
	for ; i < len(b); i++ {
		c := b[i] - '0'
		if c > 9 {
			break
		}
		mant = mant*10 + uint64(c)
	}
	digits, frac := i-start, 0
	if i < len(b) {
		if b[i] != '.' {
			return 0, false
		}
		i++
		fracStart := i
		for ; i < len(b); i++ {
			c := b[i] - '0'
			if c > 9 {
				return 0, false
			}
			mant = mant*10 + uint64(c)
		}
		frac = i - fracStart
		digits += frac
	}
	if digits == 0 || digits > 15 {
		return 0, false
	}
	f := float64(int64(mant)) // at most 15 digits; int64 converts in one instruction
	if frac > 0 {
		f /= exactPow10[frac]
	}
	if neg {
		f = -f
	}
	return f, true
}

// looksNumeric keeps inference from calling a column of "nan", "inf" or
// "Infinity" words float64: strconv accepts them, people rarely mean them.
func looksNumeric(b []byte) bool {
	for _, c := range b {
		if c >= '0' && c <= '9' {
			return true
		}
	}
	return false
}

func parseBool(b []byte) (v, ok bool) {
	switch string(b) {
	case "true", "True", "TRUE", "t", "T", "1":
		return true, true
	case "false", "False", "FALSE", "f", "F", "0":
		return false, true
	}
	return false, false
}

// isBoolWord is the stricter test inference uses, so that a 0/1 column
// stays int64.
func isBoolWord(b []byte) bool {
	switch string(b) {
	case "true", "True", "TRUE", "false", "False", "FALSE":
		return true
	}
	return false
}

func digits2(b []byte, i int) (int, bool) {
	c0, c1 := b[i]-'0', b[i+1]-'0'
	if c0 > 9 || c1 > 9 {
		return 0, false
	}
	return int(c0)*10 + int(c1), true
}

func digits4(b []byte, i int) (int, bool) {
	hi, ok1 := digits2(b, i)
	lo, ok2 := digits2(b, i+2)
	return hi*100 + lo, ok1 && ok2
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(y, m int) int {
	switch m {
	case 2:
		if isLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is Howard Hinnant's algorithm: days since 1970-01-01 for a
// proleptic Gregorian date.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := m + 9
	if m > 2 {
		mp = m - 3
	}
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

func civilFromDays(z int64) (y, m, d int) {
	z += 719468
	era := z
	if era < 0 {
		era -= 146096
	}
	era /= 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	yy := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		m = int(mp + 3)
	} else {
		m = int(mp - 9)
	}
	if m <= 2 {
		yy++
	}
	return int(yy), m, d
}

// parseDate accepts YYYY-MM-DD and returns days since the epoch.
func parseDate(b []byte) (int32, bool) {
	if len(b) != 10 || b[4] != '-' || b[7] != '-' {
		return 0, false
	}
	days, ok := parseYMD(b)
	return int32(days), ok
}

// parseTimestamp returns microseconds since the epoch, UTC. It accepts
// RFC 3339 ("2024-05-01T12:30:00.123Z", "...+02:00") and the SQL-ish
// "2024-05-01 12:30:00[.fff]" (no zone means UTC). With allowDate a bare
// date is midnight UTC; inference passes false so that date columns stay
// date32.
func parseTimestamp(b []byte, allowDate bool) (us int64, ok bool) {
	if len(b) < 10 || b[4] != '-' || b[7] != '-' {
		return slowTimestamp(b)
	}
	days, ok := parseYMD(b)
	if !ok {
		return 0, false
	}
	return timeOfDay(b, days, allowDate)
}

// parseYMD reads the date at the start of b, YYYY-MM-DD with b[4] and
// b[7] already known to be '-', as days since the epoch.
func parseYMD(b []byte) (int64, bool) {
	y, ok1 := digits4(b, 0)
	mo, ok2 := digits2(b, 5)
	d, ok3 := digits2(b, 8)
	if !ok1 || !ok2 || !ok3 || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) {
		return 0, false
	}
	return daysFromCivil(y, mo, d), true
}

// dayMemo remembers the last date a column parsed: timestamps and dates
// in a file mostly repeat the day of the row before, and the calendar
// arithmetic is most of their parsing.
type dayMemo struct {
	ymd  [10]byte
	days int64
	ok   bool
}

// day is parseYMD through the memo.
func (m *dayMemo) day(b []byte) (int64, bool) {
	if m.ok && string(b[:10]) == string(m.ymd[:]) {
		return m.days, true
	}
	days, ok := parseYMD(b)
	if ok {
		copy(m.ymd[:], b)
		m.days, m.ok = days, true
	}
	return days, ok
}

// parseTimestamp is the package's parseTimestamp with allowDate, the
// date part through the memo.
func (m *dayMemo) parseTimestamp(b []byte) (int64, bool) {
	if len(b) < 10 || b[4] != '-' || b[7] != '-' {
		return slowTimestamp(b)
	}
	days, ok := m.day(b)
	if !ok {
		return 0, false
	}
	return timeOfDay(b, days, true)
}

// parseDate is the package's parseDate through the memo.
func (m *dayMemo) parseDate(b []byte) (int32, bool) {
	if len(b) != 10 || b[4] != '-' || b[7] != '-' {
		return 0, false
	}
	days, ok := m.day(b)
	return int32(days), ok
}

// timeOfDay reads what follows the date in a timestamp's text b: the
// time of day and the zone.
func timeOfDay(b []byte, days int64, allowDate bool) (us int64, ok bool) {
	if len(b) == 10 {
		return days * 86400e6, allowDate
	}
	if len(b) < 19 || (b[10] != 'T' && b[10] != ' ' && b[10] != 't') || b[13] != ':' || b[16] != ':' {
		return slowTimestamp(b)
	}
	h, ok1 := digits2(b, 11)
	mi, ok2 := digits2(b, 14)
	s, ok3 := digits2(b, 17)
	if !ok1 || !ok2 || !ok3 || h > 23 || mi > 59 || s > 59 {
		return 0, false
	}
	i := 19
	var frac int64
	if i < len(b) && b[i] == '.' {
		i++
		start := i
		scale := int64(100000)
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			// Digits past microseconds are truncated: the column is timestamp[us].
			frac += int64(b[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == start {
			return 0, false
		}
	}
	offset := 0
	if i < len(b) {
		switch b[i] {
		case 'Z', 'z':
			i++
		case '+', '-':
			sign := 1
			if b[i] == '-' {
				sign = -1
			}
			rest := b[i+1:]
			var oh, om int
			var ok1, ok2 bool
			switch {
			case len(rest) == 5 && rest[2] == ':':
				oh, ok1 = digits2(rest, 0)
				om, ok2 = digits2(rest, 3)
			case len(rest) == 4:
				oh, ok1 = digits2(rest, 0)
				om, ok2 = digits2(rest, 2)
			case len(rest) == 2:
				oh, ok1 = digits2(rest, 0)
				ok2 = true
			}
			if !ok1 || !ok2 || oh > 23 || om > 59 {
				return 0, false
			}
			offset = sign * (oh*3600 + om*60)
			i = len(b)
		default:
			return 0, false
		}
	}
	if i != len(b) {
		return 0, false
	}
	secs := days*86400 + int64(h*3600+mi*60+s) - int64(offset)
	return secs*1e6 + frac, true
}

// slowTimestamp covers whatever the fast path does not (years beyond four
// digits, say) through the time package.
func slowTimestamp(b []byte) (int64, bool) {
	t, err := time.Parse(time.RFC3339Nano, bstr(b))
	if err != nil {
		return 0, false
	}
	return t.UnixMicro(), true
}

// isTimestampText is inference's test: a full timestamp with a time part.
func isTimestampText(b []byte) bool {
	if len(b) <= 10 {
		return false
	}
	_, ok := parseTimestamp(b, false)
	return ok
}

func append2(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}

func appendDate(dst []byte, days int64) []byte {
	y, m, d := civilFromDays(days)
	if y < 0 || y > 9999 {
		return time.Unix(days*86400, 0).UTC().AppendFormat(dst, time.DateOnly)
	}
	return appendYMD(dst, y, m, d)
}

func appendYMD(dst []byte, y, m, d int) []byte {
	dst = append2(dst, y/100)
	dst = append2(dst, y%100)
	dst = append(dst, '-')
	dst = append2(dst, m)
	dst = append(dst, '-')
	return append2(dst, d)
}

// appendTimestamp writes RFC 3339 with nanoseconds trimmed of trailing
// zeros, in UTC — the same text time.RFC3339Nano gives, without the
// generic layout interpreter.
func appendTimestamp(dst []byte, sec int64, nsec int64) []byte {
	var c dayCache
	return c.appendTimestamp(dst, sec, nsec)
}

// dayCache remembers the date text of the last day formatted: a column of
// timestamps mostly repeats its day from one row to the next, and the
// civil-calendar arithmetic is the costly part.
type dayCache struct {
	days int64
	ymd  [10]byte
	ok   bool
}

func (c *dayCache) appendTimestamp(dst []byte, sec int64, nsec int64) []byte {
	days := sec / 86400
	rem := sec % 86400
	if rem < 0 {
		rem += 86400
		days--
	}
	if !c.ok || c.days != days {
		y, m, d := civilFromDays(days)
		if y < 0 || y > 9999 {
			return time.Unix(sec, nsec).UTC().AppendFormat(dst, time.RFC3339Nano)
		}
		appendYMD(c.ymd[:0], y, m, d)
		c.days, c.ok = days, true
	}
	// The fixed part, "YYYY-MM-DDTHH:MM:SS", is written in place.
	dst = slices.Grow(dst, 20)
	out := dst[len(dst) : len(dst)+19]
	copy(out, c.ymd[:])
	h, m, sec2 := rem/3600, rem/60%60, rem%60
	out[10] = 'T'
	out[11], out[12] = digitPairs[2*h], digitPairs[2*h+1]
	out[13] = ':'
	out[14], out[15] = digitPairs[2*m], digitPairs[2*m+1]
	out[16] = ':'
	out[17], out[18] = digitPairs[2*sec2], digitPairs[2*sec2+1]
	dst = dst[:len(dst)+19]
	if nsec != 0 {
		var frac [9]byte
		n := nsec
		for i := 8; i >= 0; i-- {
			frac[i] = byte('0' + n%10)
			n /= 10
		}
		end := 9
		for end > 0 && frac[end-1] == '0' {
			end--
		}
		dst = append(dst, '.')
		dst = append(dst, frac[:end]...)
	}
	return append(dst, 'Z')
}

// splitUnit turns a timestamp value in the given unit into seconds and
// non-negative nanoseconds.
func splitUnit(v int64, perSec int64) (sec, nsec int64) {
	// Each unit gets its own constant divisor, which compiles to a
	// multiplication; a division by a variable costs tens of cycles.
	switch perSec {
	case 1e6:
		return splitBy(v, 1e6)
	case 1e3:
		return splitBy(v, 1e3)
	case 1e9:
		return splitBy(v, 1e9)
	case 1:
		return v, 0
	}
	return splitBy(v, perSec)
}

func splitBy(v, perSec int64) (sec, nsec int64) {
	sec = v / perSec
	r := v % perSec
	if r < 0 {
		r += perSec
		sec--
	}
	return sec, r * (1e9 / perSec)
}

// appendFloat keeps a decimal point or exponent in the text so that a
// float64 column written and read back is inferred as float64 again.
func appendFloat(dst []byte, f float64) []byte {
	if out, ok := appendShortDecimal(dst, f); ok {
		return out
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
	for _, c := range dst[start:] {
		if c == '.' || c == 'e' || c == 'N' || c == 'I' {
			return dst
		}
	}
	return append(dst, '.', '0')
}

// appendShortDecimal is appendFloat's fast path for values in [1e-4, 1e6)
// that are a decimal with at most 6 fraction digits: most measured and
// monetary data. With n = round(|f|*1e6) (below 1e12, so exact) and
// float64(n)/1e6 == |f| (a division of exact values rounds correctly, as
// parsing the text would), n/1e6 is a decimal that reads back as f, and
// with its trailing zeros dropped it is the one with the fewest digits:
// a shorter decimal m/10^k reading back as f would have made n equal
// m*10^(6-k), whose zeros are the ones dropped. No other decimal of 15
// digits or fewer reads back as f, so it is the shortest text strconv's
// 'g' with precision -1 finds, and in this range (exponent -4 to 5) 'g'
// writes it without an exponent. ok is false for everything else.
func appendShortDecimal(dst []byte, f float64) ([]byte, bool) {
	a := math.Abs(f)
	if !(a >= 1e-4 && a < 1e6) {
		return dst, false
	}
	// int64, not uint64: Go converts between float64 and uint64 with
	// branches around the one instruction it uses for int64.
	n := int64(a*1e6 + 0.5)
	if float64(n)/1e6 != a {
		return dst, false
	}
	// At most "-999999.999999": the text is written in place, digit
	// pairs from a table, with no append per piece.
	dst = slices.Grow(dst, 16)
	out := dst[len(dst) : len(dst)+16]
	i := 0
	if f < 0 {
		out[0] = '-'
		i = 1
	}
	i += putSmall(out[i:], uint32(n/1e6))
	out[i] = '.'
	r := n % 1e6
	if r == 0 {
		out[i+1] = '0'
		return dst[:len(dst)+i+2], true
	}
	hi, mid, lo := r/10000, r/100%100, r%100
	out[i+1], out[i+2] = digitPairs[2*hi], digitPairs[2*hi+1]
	out[i+3], out[i+4] = digitPairs[2*mid], digitPairs[2*mid+1]
	out[i+5], out[i+6] = digitPairs[2*lo], digitPairs[2*lo+1]
	end := i + 7
	for out[end-1] == '0' {
		end--
	}
	return dst[:len(dst)+end], true
}

// putSmall writes v, below 1e6, in decimal at the start of b (at least
// six bytes long) and returns how many bytes it took.
func putSmall(b []byte, v uint32) int {
	_ = b[5]
	switch {
	case v < 10:
		b[0] = byte('0' + v)
		return 1
	case v < 100:
		b[0], b[1] = digitPairs[2*v], digitPairs[2*v+1]
		return 2
	case v < 1000:
		q, r := v/100, v%100
		b[0], b[1], b[2] = byte('0'+q), digitPairs[2*r], digitPairs[2*r+1]
		return 3
	case v < 10000:
		q, r := v/100, v%100
		b[0], b[1], b[2], b[3] = digitPairs[2*q], digitPairs[2*q+1], digitPairs[2*r], digitPairs[2*r+1]
		return 4
	case v < 100000:
		q, r := v/10000, v%10000
		m, l := r/100, r%100
		b[0] = byte('0' + q)
		b[1], b[2], b[3], b[4] = digitPairs[2*m], digitPairs[2*m+1], digitPairs[2*l], digitPairs[2*l+1]
		return 5
	}
	q, r := v/10000, v%10000
	m, l := r/100, r%100
	b[0], b[1] = digitPairs[2*q], digitPairs[2*q+1]
	b[2], b[3], b[4], b[5] = digitPairs[2*m], digitPairs[2*m+1], digitPairs[2*l], digitPairs[2*l+1]
	return 6
}

const digitPairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// appendUint is strconv.AppendUint(dst, v, 10), written in place: the
// digits go straight into dst's spare room, two at a time from a table,
// where strconv formats into a scratch array and appends that.
func appendUint(dst []byte, v uint64) []byte {
	if v < 1e6 {
		dst = slices.Grow(dst, 6)
		return dst[:len(dst)+putSmall(dst[len(dst):len(dst)+6], uint32(v))]
	}
	return strconv.AppendUint(dst, v, 10)
}

// appendInt is strconv.AppendInt(dst, v, 10) through appendUint.
func appendInt(dst []byte, v int64) []byte {
	if v < 0 {
		if v == math.MinInt64 {
			return strconv.AppendInt(dst, v, 10)
		}
		return appendUint(append(dst, '-'), uint64(-v))
	}
	return appendUint(dst, uint64(v))
}
