package reward

import "testing"

func BenchmarkGrounding(b *testing.B) {
	for b.Loop() {
		Grounding(" 12.5-20.1\n", "10.0-20.0")
	}
}

func BenchmarkCounting(b *testing.B) {
	for b.Loop() {
		Counting("circles: 3, squares: 1, triangles: 2", "3,1,2")
	}
}

func BenchmarkJigsaw(b *testing.B) {
	for b.Loop() {
		Jigsaw("31526478", "31526487")
	}
}

func BenchmarkScore(b *testing.B) {
	rows := [][3]string{
		{"grounding", "12.5-20.1", "10.0-20.0"},
		{"counting", "3,1,2", "3,2,2"},
		{"jigsaw", "315264", "315246"},
		{"strict:jigsaw", "315264", "315264"},
	}
	i := 0
	for b.Loop() {
		r := rows[i%len(rows)]
		if _, err := Score(r[0], r[1], r[2]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkFirstInterval(b *testing.B) {
	const s = "The anomalous segment starts around 12.5 seconds and lasts until 20.1, so: 12.5 - 20.1."
	for b.Loop() {
		FirstInterval(s)
	}
}

func BenchmarkVIUBenchScore(b *testing.B) {
	for b.Loop() {
		if _, err := VIUBenchScore(SubtypeGroundingMirror, "It happens at 12.5 - 20.1 s.", "10.0-20.0"); err != nil {
			b.Fatal(err)
		}
	}
}
