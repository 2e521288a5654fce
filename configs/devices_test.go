package configs

import (
	"slices"
	"strings"
	"testing"
)

// TestDeviceList: device.devices defaults to [device_id], takes a list of
// ordinals, and refuses negative, fractional, repeated and non-numeric
// entries and a device_id outside the list, each naming the key.
func TestDeviceList(t *testing.T) {
	for _, tc := range []struct {
		sets []string
		want []int
	}{
		{nil, []int{0}},
		{[]string{"device.device_id=3"}, []int{3}},
		{[]string{"device.devices=[0, 1]"}, []int{0, 1}},
		{[]string{"device.devices=[2, 0, 1]", "device.device_id=1"}, []int{2, 0, 1}},
		{[]string{"device.devices=[3]"}, []int{3}},
	} {
		c, err := Load(nil, tc.sets)
		if err != nil {
			t.Fatalf("%v: %v", tc.sets, err)
		}
		if got := c.Device.DeviceIDs(); !slices.Equal(got, tc.want) {
			t.Errorf("%v: devices %v, want %v", tc.sets, got, tc.want)
		}
	}
	for set, want := range map[string]string{
		"device.devices=[0, -1]":  "device.devices.1: -1, want 1 >= 0 (a device ordinal)",
		"device.devices=[0.5]":    "device.devices[0]",
		"device.devices=[1, 1]":   "device.devices: device 1 is listed twice",
		"device.devices=[gpu0]":   "device.devices[0]",
		"device.devices=3":        "device.devices: 3 is a number, want a list such as [3]",
		"device.devices=[true]":   "device.devices[0]: true is a boolean",
		"device.devices.0=1":      `unknown key "device.devices.0"`,
		"device.devices=[0, 1.5]": "1.5 is not an integer",
	} {
		if msg := loadErr(t, nil, set); !strings.Contains(msg, want) {
			t.Errorf("--set %s: error %q lacks %q", set, msg, want)
		}
	}
	if msg := loadErr(t, nil, "device.devices=[0, 1]", "device.resident=false"); !strings.Contains(msg, "device.devices: [0 1]: several devices need device.resident: true") {
		t.Errorf("several host-fed devices: %q", msg)
	}
	if msg := loadErr(t, nil, "device.devices=[1]", "device.resident=false"); msg != "" {
		t.Errorf("one host-fed device refused: %q", msg)
	}
	msg := loadErr(t, nil, "device.devices=[0, 1]", "device.device_id=2")
	if !strings.Contains(msg, "device.device_id: 2 is not in device.devices [0 1]") {
		t.Errorf("device_id outside the list: %q", msg)
	}
	// The resolved config keeps the list.
	c, err := Load(nil, []string{"device.devices=[0, 1]"})
	if err != nil {
		t.Fatal(err)
	}
	y, err := c.YAML()
	if err != nil || !strings.Contains(string(y), "devices:\n        - 0\n        - 1") && !strings.Contains(string(y), "devices: [0, 1]") {
		t.Errorf("rendered config lacks the device list (%v):\n%s", err, y)
	}
}
