package hostedui

import "testing"

func TestFocusFirstError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		errors []string
		want   int // the field focused, -1 for none
	}{
		{"no error", []string{"", "", ""}, -1},
		{"first", []string{"bad", "bad", ""}, 0},
		{"middle", []string{"", "bad", "bad"}, 1},
		{"last", []string{"", "", "bad"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fields := make([]field, len(tc.errors))
			for i, e := range tc.errors {
				fields[i].Error = e
			}
			if got := focusFirstError(fieldPtrs(fields)...); got != (tc.want >= 0) {
				t.Errorf("focusFirstError = %v", got)
			}
			for i, f := range fields {
				if f.Autofocus != (i == tc.want) {
					t.Errorf("field %d: Autofocus %v, want only field %d", i, f.Autofocus, tc.want)
				}
			}
		})
	}
}
