package domain

import "testing"

func TestNormalizeUsername(t *testing.T) {
	tests := []struct{ in, want string }{
		{"@Ana_B", "ana_b"}, // SPEC §5: matches the username ana_b
		{"ana_b", "ana_b"},
		{"Ana_B", "ana_b"},
		{"  @ana_b  ", "ana_b"},
		{"@@ana", "ana"},
		{" @ @ana", "ana"},
		{"ana@b", "ana@b"}, // only leading @ go
		{"ana_b@", "ana_b@"},
		{"\u00a0@Ana\t", "ana"},
		{"JOÃO.Silva", "joão.silva"},
		{"ÄNNE", "änne"},
		{"@", ""},
		{"", ""},
		{"   ", ""},
	}
	for _, tt := range tests {
		if got := NormalizeUsername(tt.in); got != tt.want {
			t.Errorf("NormalizeUsername(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// Both sides: the stored value and the sender's username meet in the same form.
	if NormalizeUsername("@Ana_B") != NormalizeUsername("ana_b") {
		t.Errorf("@Ana_B and ana_b differ")
	}
	if NormalizeUsername("ana_b") == NormalizeUsername("ana_c") {
		t.Errorf("ana_b and ana_c are equal")
	}
}

func TestNormalizeUserID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"U024BE7LH", "U024BE7LH"}, // Slack ids are case-sensitive
		{" u024be7lh ", "u024be7lh"},
		{"1254459154682919", "1254459154682919"},
		{"@ana", "@ana"}, // ids are opaque: no @ removal
		{"", ""},
	}
	for _, tt := range tests {
		if got := NormalizeUserID(tt.in); got != tt.want {
			t.Errorf("NormalizeUserID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if NormalizeUserID("U024BE7LH") == NormalizeUserID("u024be7lh") {
		t.Errorf("user ids must compare case-sensitively")
	}
}
