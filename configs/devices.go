package configs

import "slices"

// DeviceIDs returns the devices a run uses, one policy replica each:
// device.devices, or [device_id] when that list is empty.
func (d DeviceConfig) DeviceIDs() []int {
	if len(d.Devices) == 0 {
		return []int{d.DeviceID}
	}
	return slices.Clone(d.Devices)
}

// checkDevices checks the relations of device.devices (each entry's range
// is in ranges): no device twice, several devices only with
// device.resident, and device_id, when set, among them.
func (d DeviceConfig) checkDevices(bad func(key, format string, a ...any)) {
	seen := map[int]bool{}
	for _, id := range d.Devices {
		if seen[id] {
			bad("device.devices", "device %d is listed twice in %v", id, d.Devices)
			return
		}
		seen[id] = true
	}
	if len(d.Devices) > 1 && !d.Resident {
		bad("device.devices", "%v: several devices need device.resident: true (one device-resident replica per device, docs/multi-device.md); set device.resident=true or list one device", d.Devices)
	}
	if len(d.Devices) > 0 && d.DeviceID != 0 && !seen[d.DeviceID] {
		bad("device.device_id", "%d is not in device.devices %v: with a device list, device_id is not used (leave it 0 or list it)", d.DeviceID, d.Devices)
	}
}
