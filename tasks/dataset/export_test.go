package dataset

// Helpers of the internal tests that the external tests (package
// dataset_test, which may import the OpenCV back end) use too.
var (
	CheckAnswers = checkAnswers
	SameTree     = sameTree
)
