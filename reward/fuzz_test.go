package reward

import (
	"math"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkUnit fails unless v is a number in [0,1].
func checkUnit(t *testing.T, what string, v float64) {
	t.Helper()
	if math.IsNaN(v) || v < 0 || v > 1 {
		t.Fatalf("%s = %v, want a number in [0,1]", what, v)
	}
}

func FuzzGrounding(f *testing.F) {
	for _, s := range [][2]string{
		{"10-20", "10-20"}, {"15-25", "10-20"}, {" 5.-10\n", "0-10"}, {"5-5", "5-5"},
		{"-5-10", "0-10"}, {"1.2.3-4", "1-4"}, {"", ""}, {"0-" + strings.Repeat("9", 320), "0-1"},
		{"10 - 20", "10-20"}, {".5-.6", ".5-.6"}, {"1_0-20", "10-20"},
		{" 12.5 -30 ", "10-30"}, {"１０-２０", "10 - 20"}, {"\x1f1\u3000-\u00a02", "1-2"}, {"1 0-20", "10-20"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, response, gt string) {
		checkIntervalOracle(t, response)
		checkIntervalOracle(t, gt)
		r := Grounding(response, gt)
		checkUnit(t, "Grounding", r)
		st := StrictGrounding(response, gt)
		checkUnit(t, "StrictGrounding", st)
		if st != 0 && st != 1 {
			t.Fatalf("StrictGrounding = %v, want 0 or 1", st)
		}
		if g0, g1, ok := parseOrderedInterval(gt); ok {
			if StrictGrounding(gt, gt) != 1 {
				t.Fatalf("StrictGrounding(gt, gt) != 1 for %q", gt)
			}
			if g0 < g1 && Grounding(gt, gt) != 1 {
				t.Fatalf("Grounding(gt, gt) = %v for %q", Grounding(gt, gt), gt)
			}
			if st == 1 && g0 < g1 && r != 1 {
				t.Fatalf("strict match but Grounding = %v", r)
			}
		} else if r != 0 || st != 0 {
			t.Fatalf("malformed gt %q scored %v / %v", gt, r, st)
		}
	})
}

// refPattern is the reference's grounding pattern
// ^\s*([\d.]+)\s*-\s*([\d.]+)\s*$ with Python's Unicode meaning of \s
// (white space: Zs, the ASCII controls \t..\r and \x1c..\x1f, NEL and the
// line and paragraph separators) and \d (Nd), written for Go's regexp.
var refPattern = regexp.MustCompile(`^[\p{Zs}\t\n\v\f\r\x1c-\x1f\x{85}\x{2028}\x{2029}]*([\p{Nd}.]+)[\p{Zs}\t\n\v\f\r\x1c-\x1f\x{85}\x{2028}\x{2029}]*-[\p{Zs}\t\n\v\f\r\x1c-\x1f\x{85}\x{2028}\x{2029}]*([\p{Nd}.]+)[\p{Zs}\t\n\v\f\r\x1c-\x1f\x{85}\x{2028}\x{2029}]*$`)

// checkIntervalOracle compares parseInterval with the reference pattern:
// s parses exactly when the pattern matches and both groups read as
// floats (one dot at most, one digit at least, finite).
func checkIntervalOracle(t *testing.T, s string) {
	t.Helper()
	_, _, ok := parseInterval(s)
	// Invalid UTF-8 is never accepted (Python text is valid Unicode, and
	// every byte of s is part of a number or of the white space).
	want := false
	if m := refPattern.FindStringSubmatch(s); m != nil && utf8.ValidString(s) {
		_, okA := parseDecimalNumber(m[1])
		_, okB := parseDecimalNumber(m[2])
		want = okA && okB
	}
	if ok != want {
		t.Fatalf("parseInterval(%q) ok = %v, reference pattern says %v", s, ok, want)
	}
}

func FuzzCounting(f *testing.F) {
	for _, s := range [][2]string{
		{"3,1,2", "3,1,2"}, {"2,1,2", "3,1,2"}, {"0,0,5", "0,0,5"}, {"3,1", "3,1,2"},
		{strings.Repeat("9", 400) + ",1,2", "3,1,2"}, {"-3,1,2", "3,1,2"}, {"", ""}, {"3.0,1,2", " 3 , 1 , 2 "},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, response, gt string) {
		r := Counting(response, gt)
		checkUnit(t, "Counting", r)
		st := StrictCounting(response, gt)
		if st != 0 && st != 1 {
			t.Fatalf("StrictCounting = %v", st)
		}
		if _, ok := parseCountsGT(gt); ok {
			if Counting(gt, gt) != 1 || StrictCounting(gt, gt) != 1 {
				t.Fatalf("gt %q against itself: %v / %v", gt, Counting(gt, gt), StrictCounting(gt, gt))
			}
			if st == 1 && r != 1 {
				t.Fatalf("strict match but Counting = %v", r)
			}
		} else if r != 0 || st != 0 {
			t.Fatalf("malformed gt %q scored %v / %v", gt, r, st)
		}
		v, err := VIUBenchScore(SubtypeCountingEasy, response, gt)
		if err == nil {
			checkUnit(t, "VIUBenchScore(counting)", v)
		}
	})
}

func FuzzJigsaw(f *testing.F) {
	for _, s := range [][2]string{
		{"315264", "315264"}, {"654321", "123456"}, {"87654321", "12345678"}, {"315265", "315264"},
		{"3 1 5", "315"}, {"", ""}, {"1", "1"}, {"\xff\xfe", "12"}, {"112345", "112345"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, response, gt string) {
		r := Jigsaw(response, gt)
		checkUnit(t, "Jigsaw", r)
		st := StrictJigsaw(response, gt)
		if st != 0 && st != 1 {
			t.Fatalf("StrictJigsaw = %v", st)
		}
		if validJigsawAnswer(strings.TrimSpace(gt)) {
			if Jigsaw(gt, gt) != 1 || StrictJigsaw(gt, gt) != 1 {
				t.Fatalf("gt %q against itself: %v / %v", gt, Jigsaw(gt, gt), StrictJigsaw(gt, gt))
			}
			if st == 1 && r != 1 {
				t.Fatalf("strict match but Jigsaw = %v", r)
			}
		} else if r != 0 || st != 0 {
			t.Fatalf("malformed gt %q scored %v / %v", gt, r, st)
		}
	})
}

func FuzzFirstInterval(f *testing.F) {
	for _, s := range []string{
		"12.5 - 20.1", "at 3 s then 10-20", "1.2.3-4", "-5-10", "3–7", "", "10 -\n 20",
		strings.Repeat("9", 400) + "-1 2-3", "12.-.5",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, response string) {
		s, e, ok := FirstInterval(response)
		if !ok {
			if s != 0 || e != 0 {
				t.Fatalf("not found but returned %v, %v", s, e)
			}
			return
		}
		if !finite(s) || !finite(e) || s < 0 || e < 0 {
			t.Fatalf("FirstInterval(%q) = %v, %v", response, s, e)
		}
		// The lenient evaluation score built on it stays in [0,1].
		iou, err := EvalGroundingIoU(response, "0-1")
		if err != nil {
			t.Fatal(err)
		}
		checkUnit(t, "EvalGroundingIoU", iou)
	})
}

func FuzzIoU(f *testing.F) {
	f.Add(0.0, 1.0, 0.5, 2.0)
	f.Add(5.0, 5.0, 5.0, 5.0)
	f.Add(-math.MaxFloat64, math.MaxFloat64, 0.0, 1.0)
	f.Add(math.Inf(1), 0.0, math.NaN(), 1.0)
	f.Fuzz(func(t *testing.T, a0, a1, b0, b1 float64) {
		v := IoU(a0, a1, b0, b1)
		checkUnit(t, "IoU", v)
		if w := IoU(b0, b1, a0, a1); w != v {
			t.Fatalf("IoU not symmetric: %v vs %v", v, w)
		}
		if finite(a0) && finite(a1) && a0 < a1 && IoU(a0, a1, a0, a1) != 1 {
			t.Fatalf("IoU of [%v,%v] with itself = %v", a0, a1, IoU(a0, a1, a0, a1))
		}
	})
}

func FuzzMultipleChoice(f *testing.F) {
	f.Add("A", "A")
	f.Add(" b. x", "B")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, response, answer string) {
		v := MultipleChoice(response, answer)
		if v != 0 && v != 1 {
			t.Fatalf("MultipleChoice = %v", v)
		}
		if r, _ := utf8.DecodeRuneInString(strings.TrimSpace(answer)); r != utf8.RuneError && MultipleChoice(answer, answer) != 1 {
			t.Fatalf("answer %q against itself scored 0", answer)
		}
	})
}

func FuzzVIUBenchScore(f *testing.F) {
	f.Add(uint8(0), "3,1,2", "3,1,2")
	f.Add(uint8(3), "it is 10 - 20", "10-20")
	f.Add(uint8(8), "31526487", "31526487")
	f.Fuzz(func(t *testing.T, k uint8, response, answer string) {
		subs := VIUBenchSubtypes()
		sub := subs[int(k)%len(subs)]
		v, err := VIUBenchScore(sub, response, answer)
		if err != nil {
			if v != 0 {
				t.Fatalf("error with score %v", v)
			}
			return
		}
		checkUnit(t, "VIUBenchScore", v)
		var a VIUBenchAccumulator
		if err := a.Add(sub, v); err != nil {
			t.Fatal(err)
		}
		checkUnit(t, "Overall", a.Report("x").Overall)
	})
}
