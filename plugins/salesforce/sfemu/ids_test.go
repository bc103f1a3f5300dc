package sfemu

import "testing"

func TestIDChecksum(t *testing.T) {
	for _, c := range []struct{ id15, id18 string }{
		{"001000000000001", "001000000000001AAA"}, // no upper-case letters
		{"001A0000006Vm9r", "001A0000006Vm9rIAC"}, // Salesforce's documentation example
		{"003RO0000035WQg", "003RO0000035WQgYAM"}, // the reference's Contact example
		{"001RM000003oLnn", "001RM000003oLnnYAE"}, // the reference's collections example
		{"750R0000000zxr8", "750R0000000zxr8IAA"}, // the reference's Bulk job example
		{"005R0000000UyrW", "005R0000000UyrWIAS"}, // the reference's Bulk CSV example
		{"ABCDEFGHIJKLMNO", "ABCDEFGHIJKLMNO555"}, // every bit set
	} {
		if got := To18(c.id15); got != c.id18 {
			t.Errorf("To18(%s) = %s, want %s", c.id15, got, c.id18)
		}
		if !ValidID(c.id18) || !ValidID(c.id15) {
			t.Errorf("%s not valid", c.id18)
		}
	}
	if ValidID("001A0000006Vm9rIAD") || ValidID("001A0000006Vm9") || ValidID("001A0000006Vm9-IAC") {
		t.Error("invalid IDs accepted")
	}
	for n := uint64(1); n < 5000; n += 97 {
		id := mintID("001", n)
		if !ValidID(id) || idSeq(id) != n || id[:3] != "001" {
			t.Fatalf("mintID(%d) = %s", n, id)
		}
	}
}
