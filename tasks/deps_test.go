package tasks

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestPurePackagesLinkNoNativeLibrary: the packages that generate tasks,
// hold frames, build and read datasets, score answers and load the
// configuration do not link OpenCV (gocv) or ONNX Runtime
// (onnxruntime_go), even in a cgo build; rollout does not link OpenCV.
// (tasks/video and model/ort are the two native leaves; tasks/dataset
// reaches the video decoder and JPEG codec through the Backend its callers
// pass, tasks/dataset/opencv being OpenCV's.)
func TestPurePackagesLinkNoNativeLibrary(t *testing.T) {
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		if goTool, err = exec.LookPath("go"); err != nil {
			t.Skipf("no go command to list dependencies: %v", err)
		}
	}
	const mod = "github.com/videossr/videossr-go/"
	native := []string{"gocv.io/x/gocv", "github.com/yalue/onnxruntime_go"}
	cases := []struct {
		pkg    string
		refuse []string
	}{
		{"tasks", native},
		{"tasks/frame", native},
		{"tasks/media", native},
		{"tasks/dataset", native},
		{"tasks/perturb", native},
		{"tasks/shapes", native},
		{"reward", native},
		{"configs", native},
		{"rollout", native[:1]},
	}
	for _, c := range cases {
		cmd := exec.Command(goTool, "list", "-deps", mod+c.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", c.pkg, err, out)
		}
		deps := strings.Fields(string(out))
		for _, bad := range c.refuse {
			for _, d := range deps {
				if d == bad {
					t.Errorf("%s depends on %s", c.pkg, bad)
				}
			}
		}
	}
}
