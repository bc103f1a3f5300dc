package sfemu

import (
	"strings"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// checksumAlphabet maps a 5-bit case mask to the checksum character.
const checksumAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

// IDChecksum returns the three-character case checksum Salesforce appends to a
// 15-character ID: the ID is split into three chunks of five; bit i of a
// chunk's value is set when character i is an upper-case letter.
func IDChecksum(id15 string) string {
	var out [3]byte
	for c := 0; c < 3; c++ {
		v := 0
		for i := 0; i < 5; i++ {
			ch := id15[c*5+i]
			if ch >= 'A' && ch <= 'Z' {
				v |= 1 << i
			}
		}
		out[c] = checksumAlphabet[v]
	}
	return string(out[:])
}

// To18 turns a 15-character ID into its 18-character form; an 18-character
// ID is returned unchanged. Anything else yields "".
func To18(id string) string {
	switch len(id) {
	case 18:
		return id
	case 15:
		return id + IDChecksum(id)
	}
	return ""
}

// ValidID reports whether id is a well-formed 15- or 18-character ID (an
// 18-character one must carry the right checksum, compared case-insensitively
// as Salesforce does).
func ValidID(id string) bool {
	if len(id) != 15 && len(id) != 18 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if strings.IndexByte(base62, id[i]) < 0 {
			return false
		}
	}
	if len(id) == 18 {
		return strings.EqualFold(id[15:], IDChecksum(id[:15]))
	}
	return true
}

// normID returns the canonical 18-character form of a 15- or 18-character ID
// (the checksum's case is normalized), or "" when id is not an ID.
func normID(id string) string {
	if !ValidID(id) {
		return ""
	}
	return id[:15] + IDChecksum(id[:15])
}

// podID is the two characters after the key prefix in every minted ID.
const podID = "RO"

// mintID builds the 18-character ID of the n-th record (n ≥ 1) with prefix.
func mintID(prefix string, n uint64) string {
	var b [18]byte
	copy(b[:3], prefix)
	copy(b[3:5], podID)
	for i := 14; i >= 5; i-- {
		b[i] = base62[n%62]
		n /= 62
	}
	copy(b[15:], IDChecksum(string(b[:15])))
	return string(b[:])
}

// idSeq returns the sequence number encoded in an ID minted by mintID, or 0.
func idSeq(id string) uint64 {
	if len(id) < 15 || id[3:5] != podID {
		return 0
	}
	var n uint64
	for i := 5; i < 15; i++ {
		d := strings.IndexByte(base62, id[i])
		if d < 0 {
			return 0
		}
		n = n*62 + uint64(d)
	}
	return n
}
