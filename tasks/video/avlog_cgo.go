//go:build cgo

package video

/*
#cgo pkg-config: libavutil
#include <stdarg.h>
#include <stdatomic.h>
#include <libavutil/log.h>

static atomic_long videossr_av_errors;

// videossr_log counts FFmpeg's messages of level error or worse, then
// prints them as FFmpeg's default callback would.
static void videossr_log(void *avcl, int level, const char *fmt, va_list vl) {
	if (level <= AV_LOG_ERROR) {
		atomic_fetch_add(&videossr_av_errors, 1);
	}
	av_log_default_callback(avcl, level, fmt, vl);
}

static void videossr_install_log(void) { av_log_set_callback(videossr_log); }
static long videossr_av_error_count(void) { return atomic_load(&videossr_av_errors); }
*/
import "C"

// installDecodeErrorCounter makes FFmpeg's log go through a callback that
// counts its error messages (the libavutil OpenCV's FFmpeg backend uses is
// the system one we link). It is called after every open, since OpenCV may
// install its own callback when it first initialises FFmpeg; messages are
// still printed by FFmpeg's default callback.
func installDecodeErrorCounter() { C.videossr_install_log() }

// decodeErrors returns the number of FFmpeg error messages logged so far
// in this process, by any decoder on any thread.
func decodeErrors() int64 { return int64(C.videossr_av_error_count()) }
