package reward

import (
	"errors"
	"math"
	"strings"
	"testing"
)

const tol = 1e-12

func near(a, b float64) bool { return math.Abs(a-b) <= tol }

// ct is the spec's per-class counting credit for an error of d on a true
// count g: 1 - d/(g+1e-9), without clipping. Values: ct(1,3) ~ 2/3,
// ct(3,3) ~ 0 (3.3e-10), ct(1,5) ~ 0.8.
func ct(d, g float64) float64 { return 1 - d/(g+1e-9) }

// TestCountingHandValues pins the hand-computed values to within 1e-8 of
// the round fractions (the 1e-9 in the denominator moves them slightly).
func TestCountingHandValues(t *testing.T) {
	for _, c := range []struct {
		response, gt string
		want         float64
	}{
		{"2,1,2", "3,1,2", 8.0 / 9},
		{"6,1,2", "3,1,2", 2.0 / 3},
		{"0,0,0", "3,1,2", 0},
		{"2,2,1", "4,1,2", 1.0 / 3},
		{"0,0,4", "0,0,5", 2.8 / 3},
	} {
		if got := Counting(c.response, c.gt); math.Abs(got-c.want) > 1e-8 {
			t.Errorf("Counting(%q, %q) = %v, want about %v", c.response, c.gt, got, c.want)
		}
	}
}

type rewardCase struct {
	name, response, gt string
	want               float64
}

func runRewardCases(t *testing.T, f func(string, string) float64, cases []rewardCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := f(c.response, c.gt); !near(got, c.want) {
				t.Errorf("(%q, %q) = %v, want %v", c.response, c.gt, got, c.want)
			}
		})
	}
}

func TestGrounding(t *testing.T) {
	big := strings.Repeat("9", 300) // about 1e300: large but finite
	runRewardCases(t, Grounding, []rewardCase{
		{"exact", "10-20", "10-20", 1},
		{"exact decimals", "14.5-26.2", "14.5-26.2", 1},
		{"same numbers other spelling", "10.0-20.00", "10-20", 1},
		{"leading zeros", "010-020", "10-20", 1},
		{"trailing dot", "5.-10", "0-10", 0.5},
		{"leading dot", ".5-1", "0-1", 0.5},
		{"surrounding whitespace and newlines", " \t\n10-20\r\n ", "10-20", 1},
		{"gt whitespace", "10-20", " 10-20\n", 1},
		{"partial overlap", "15-25", "10-20", 5.0 / 15.0},
		{"partial overlap decimals", "12.5-20", "10-20", 0.75},
		{"contained", "12-14", "10-20", 0.2},
		{"containing", "0-40", "10-20", 0.25},
		{"disjoint", "0-5", "10-20", 0},
		{"touching", "0-10", "10-20", 0},
		{"start after end", "20-10", "10-20", 0},
		{"gt start after end", "10-20", "20-10", 0},
		{"spaces around dash (reference pattern)", "10 - 20", "10-20", 1},
		{"space before dash", "10 -20", "10-20", 1},
		{"spaces everywhere", " 12.5 -30 ", "10-30", 17.5 / 20},
		{"tabs and newlines around dash", "10\t-\n20", "10-20", 1},
		{"unicode spaces around dash", "10\u00a0-\u300020", "10-20", 1},
		{"python-only space (U+001F)", "\x1f10\x1c-\x1d20\x1e", "10-20", 1},
		{"gt spaces around dash", "10-20", "10 - 20", 1},
		{"space inside a number", "1 0-20", "10-20", 0},
		{"space after sign-like dash in number", "10- -20", "10-20", 0},
		{"zero-width space is not white space", "10\u200b-20", "10-20", 0},
		{"unit", "10-20s", "10-20", 0},
		{"sentence", "The anomaly is at 10-20", "10-20", 0},
		{"trailing period is part of the number", "10-20.", "10-20", 1},
		{"trailing sentence period after a decimal", "10-20.5.", "10-20.5", 0},
		{"negative start", "-5-10", "0-10", 0},
		{"plus sign", "+5-10", "5-10", 0},
		{"exponent", "1e1-20", "10-20", 0},
		{"underscore", "1_0-20", "10-20", 0},
		{"two dots", "1.2.3-5", "1-5", 0},
		{"only dots", ".-.", "0-1", 0},
		{"double dash", "10--20", "10-20", 0},
		{"three numbers", "10-20-30", "10-20", 0},
		{"missing end", "10-", "10-20", 0},
		{"missing start", "-20", "10-20", 0},
		{"no dash", "1020", "10-20", 0},
		{"empty", "", "10-20", 0},
		{"whitespace only", " \n\t", "10-20", 0},
		{"comma decimal", "10,5-20", "10-20", 0},
		{"fullwidth digits (Python's \\d)", "１０-２０", "10-20", 1},
		{"arabic-indic digits", "١٠.٥-٢٠", "10.5-20", 1},
		{"fullwidth dot is not a dot", "10．5-20", "10-20", 0},
		{"en dash", "10–20", "10-20", 0},
		{"overflowing number", "0-1" + strings.Repeat("0", 400), "0-10", 0},
		{"huge finite numbers", "0-" + big, "0-" + big, 1},
		{"huge vs small", "0-" + big, "0-10", 0},
		{"zero-length identical (spec: union ~0, intersection 0)", "5-5", "5-5", 0},
		{"zero-length inside gt", "5-5", "0-10", 0},
		{"gt zero-length inside prediction", "0-10", "5-5", 0},
		{"tiny overlapping intervals (union < 1e-9, intersection > 0)", "0-0.0000000005", "0-0.0000000001", 1},
		{"malformed gt", "10-20", "ten-twenty", 0},
		{"empty gt", "10-20", "", 0},
	})
}

func TestStrictGrounding(t *testing.T) {
	runRewardCases(t, StrictGrounding, []rewardCase{
		{"exact", "10-20", "10-20", 1},
		{"same numbers other spelling", "10.0-20.00", "10-20", 1},
		{"whitespace", "\n 14.5-26.2 \n", "14.5-26.2", 1},
		{"high IoU is not enough", "10-20.1", "10-20", 0},
		{"spaces around dash (same parser as Grounding)", "10 - 20", "10-20", 1},
		{"spaces around dash, other numbers", "10 - 21", "10-20", 0},
		{"reversed", "20-10", "20-10", 0},
		{"zero-length identical", "5-5", "5-5", 1},
		{"malformed", "abc", "10-20", 0},
		{"gt with spaces around the dash", "10-20", "10 - 20", 1},
	})
}

func TestCounting(t *testing.T) {
	huge := strings.Repeat("9", 400) // overflows float64 to +Inf
	runRewardCases(t, Counting, []rewardCase{
		{"exact", "3,1,2", "3,1,2", 1},
		{"exact with spaces", "3, 1, 2", "3,1,2", 1},
		{"exact in words", "circles: 3, squares: 1, triangles: 2.", "3,1,2", 1},
		{"exact multiline", "\n3\n1\n2\n", "3,1,2", 1},
		{"leading zeros", "003,01,2", "3,1,2", 1},
		{"gt with spaces", "3,1,2", " 3 , 1 , 2 ", 1},
		{"one off on 3", "2,1,2", "3,1,2", (ct(1, 3) + 1 + 1) / 3},
		{"one over on 3", "4,1,2", "3,1,2", (ct(1, 3) + 1 + 1) / 3},
		{"double", "6,1,2", "3,1,2", (ct(3, 3) + 2) / 3},
		{"far over is clipped to 0", "9,1,2", "3,1,2", 2.0 / 3},
		{"all wrong (the 1e-9 leaves a hair of credit)", "0,0,0", "3,1,2", (ct(3, 3) + ct(1, 1) + ct(2, 2)) / 3},
		{"mixed partial", "2,2,1", "4,1,2", (ct(2, 4) + ct(1, 1) + ct(1, 2)) / 3},
		{"zero class exact", "0,0,5", "0,0,5", 1},
		{"zero class missed", "1,0,5", "0,0,5", 2.0 / 3},
		{"zero class and partial", "0,0,4", "0,0,5", (1 + 1 + ct(1, 5)) / 3},
		{"sign ignored", "-3,1,2", "3,1,2", 1},
		{"two counts", "3,1", "3,1,2", 0},
		{"four counts", "3,1,2,4", "3,1,2", 0},
		{"decimal point makes four runs", "3.0,1,2", "3,1,2", 0},
		{"no digits", "three, one, two", "3,1,2", 0},
		{"empty", "", "3,1,2", 0},
		{"fullwidth digit counts (Python's \\d+)", "３,1,2", "3,1,2", 1},
		{"mixed-script run is one count", "1١,1,2", "11,1,2", 1},
		{"fullwidth comma separates", "3，1，2", "3,1,2", 1},
		{"huge count", huge + ",1,2", "3,1,2", 2.0 / 3},
		{"huge finite count", "100000000000000000000,1,2", "3,1,2", 2.0 / 3},
		{"gt two fields", "3,1,2", "3,1", 0},
		{"gt four fields", "3,1,2", "3,1,2,0", 0},
		{"gt negative", "1,1,2", "-1,1,2", 0},
		{"gt decimal", "3,1,2", "3.0,1,2", 0},
		{"gt semicolons", "3,1,2", "3;1;2", 0},
		{"gt empty field", "3,1,2", "3,,2", 0},
	})
}

func TestStrictCounting(t *testing.T) {
	runRewardCases(t, StrictCounting, []rewardCase{
		{"exact", "3,1,2", "3,1,2", 1},
		{"leading zeros and words", "circles 03, squares 1, triangles 2", "3,1,2", 1},
		{"one off", "2,1,2", "3,1,2", 0},
		{"four counts", "3,1,2,0", "3,1,2", 0},
		{"malformed gt", "3,1,2", "3,1", 0},
	})
}

func TestJigsaw(t *testing.T) {
	runRewardCases(t, Jigsaw, []rewardCase{
		{"exact", "315264", "315264", 1},
		{"exact n=8", "31526487", "31526487", 1},
		{"whitespace", " \n315264\t\n", "315264", 1},
		{"n=6 reversed", "654321", "123456", 0},
		{"n=6 reversed, shuffled answer", "462513", "315264", 0},
		{"n=8 reversed", "87654321", "12345678", 0},
		{"n=8 reversed, shuffled answer", "78462513", "31526487", 0},
		{"n=6 one adjacent swap (E=2)", "213456", "123456", 1 - 2.0/18},
		{"n=8 one adjacent swap (E=2)", "21345678", "12345678", 1 - 2.0/32},
		{"n=6 rotation (E=10)", "234561", "123456", 1 - 10.0/18},
		{"n=8 rotation (E=14)", "23456781", "12345678", 1 - 14.0/32},
		{"n=6 ends swapped (E=10)", "623451", "123456", 1 - 10.0/18},
		{"n=1", "1", "1", 1},
		{"n=1 wrong", "2", "1", 0},
		{"too short", "31526", "315264", 0},
		{"too long", "3152644", "315264", 0},
		{"repeated digit", "315265", "315264", 0},
		{"foreign character", "31526a", "315264", 0},
		{"separated by spaces", "3 1 5 2 6 4", "315264", 0},
		{"separated by commas", "3,1,5,2,6,4", "315264", 0},
		{"non-ASCII", "31526４", "315264", 0},
		{"empty", "", "315264", 0},
		{"gt with repeated digits", "112345", "112345", 0},
		{"empty gt", "", "", 0},
		{"gt with inner space", "1 2", "1 2", 0},
	})
}

func TestStrictJigsaw(t *testing.T) {
	runRewardCases(t, StrictJigsaw, []rewardCase{
		{"exact", "315264", "315264", 1},
		{"whitespace", "\n315264 ", "315264", 1},
		{"one swap", "135264", "315264", 0},
		{"separators", "3,1,5,2,6,4", "315264", 0},
		{"gt with repeated digits", "112345", "112345", 0},
	})
}

// TestJigsawReversedIsMaxError checks that floor(n*n/2) is the error of the
// reversed order for every n, so the reversed order scores exactly 0.
func TestJigsawReversedIsMaxError(t *testing.T) {
	const alphabet = "123456789ABCDEFGHIJ"
	for n := 2; n <= len(alphabet); n++ {
		gt := alphabet[:n]
		rev := []byte(gt)
		for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
			rev[i], rev[j] = rev[j], rev[i]
		}
		if got := Jigsaw(string(rev), gt); got != 0 {
			t.Errorf("n=%d: Jigsaw(reversed) = %v, want 0", n, got)
		}
	}
}

// TestJigsawExhaustiveN6 checks every permutation of 6 clips against a
// direct computation of the formula.
func TestJigsawExhaustiveN6(t *testing.T) {
	gt := "315264"
	perm := []byte(gt)
	count, zeros := 0, 0
	var rec func(k int)
	rec = func(k int) {
		if k == len(perm) {
			count++
			e := 0
			for i := range perm {
				j := strings.IndexByte(gt, perm[i])
				e += max(i-j, j-i)
			}
			want := 1 - float64(e)/18
			got := Jigsaw(string(perm), gt)
			if !near(got, want) || got < 0 || got > 1 {
				t.Fatalf("Jigsaw(%q) = %v, want %v", perm, got, want)
			}
			if got == 0 {
				zeros++
			}
			return
		}
		for i := k; i < len(perm); i++ {
			perm[k], perm[i] = perm[i], perm[k]
			rec(k + 1)
			perm[k], perm[i] = perm[i], perm[k]
		}
	}
	rec(0)
	if count != 720 {
		t.Fatalf("visited %d permutations, want 720", count)
	}
	if zeros == 0 {
		t.Fatal("no permutation reached the maximum error")
	}
}

func TestScoreDispatch(t *testing.T) {
	cases := []struct {
		source, response, gt string
		want                 float64
	}{
		{"grounding", "15-25", "10-20", 1.0 / 3},
		{"counting", "2,1,2", "3,1,2", (ct(1, 3) + 2) / 3},
		{"jigsaw", "213456", "123456", 8.0 / 9},
		{"strict:grounding", "15-25", "10-20", 0},
		{"strict:grounding", "10-20", "10-20", 1},
		{"strict:counting", "3,1,2", "3,1,2", 1},
		{"strict:counting", "2,1,2", "3,1,2", 0},
		{"strict:jigsaw", "123456", "123456", 1},
		{"strict:jigsaw", "213456", "123456", 0},
	}
	for _, c := range cases {
		got, err := Score(c.source, c.response, c.gt)
		if err != nil {
			t.Errorf("Score(%q, %q, %q): %v", c.source, c.response, c.gt, err)
			continue
		}
		if !near(got, c.want) {
			t.Errorf("Score(%q, %q, %q) = %v, want %v", c.source, c.response, c.gt, got, c.want)
		}
		f, err := Func(c.source)
		if err != nil {
			t.Fatalf("Func(%q): %v", c.source, err)
		}
		if got := f(c.response, c.gt); !near(got, c.want) {
			t.Errorf("Func(%q)(%q, %q) = %v, want %v", c.source, c.response, c.gt, got, c.want)
		}
	}
	if len(Sources()) != 6 {
		t.Errorf("Sources() = %v, want 6 names", Sources())
	}
	for _, s := range Sources() {
		if _, err := Func(s); err != nil {
			t.Errorf("Func(%q) for a listed source: %v", s, err)
		}
	}
}

func TestScoreErrors(t *testing.T) {
	for _, src := range []string{"", "Grounding", "jigsaw_6", "strict:", "strict:strict:jigsaw", "anomaly"} {
		_, err := Score(src, "1", "1")
		if !errors.Is(err, ErrUnknownSource) {
			t.Errorf("Score(%q): err = %v, want ErrUnknownSource", src, err)
			continue
		}
		for _, name := range Sources() {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("Score(%q) error %q does not list %q", src, err, name)
			}
		}
		if _, err := Func(src); !errors.Is(err, ErrUnknownSource) {
			t.Errorf("Func(%q): err = %v, want ErrUnknownSource", src, err)
		}
	}
	bad := []struct{ source, gt string }{
		{"grounding", "20-10"},
		{"grounding", "10 to 20"},
		{"strict:grounding", ""},
		{"counting", "3,1"},
		{"strict:counting", "a,b,c"},
		{"jigsaw", "112345"},
		{"strict:jigsaw", ""},
	}
	for _, b := range bad {
		_, err := Score(b.source, "anything", b.gt)
		if !errors.Is(err, ErrBadGroundTruth) {
			t.Errorf("Score(%q, gt %q): err = %v, want ErrBadGroundTruth", b.source, b.gt, err)
		}
	}
	// A bad response is never an error: it scores 0.
	for _, src := range Sources() {
		gt := map[string]string{"grounding": "10-20", "counting": "3,1,2", "jigsaw": "315264"}[strings.TrimPrefix(src, StrictPrefix)]
		got, err := Score(src, "I cannot tell.", gt)
		if err != nil || got != 0 {
			t.Errorf("Score(%q, garbage) = %v, %v; want 0, nil", src, got, err)
		}
	}
}
