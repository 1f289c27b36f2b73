/* Forced into every C file of the Windows cross build (scripts/windows-cross.sh) when the
 * mingw-w64 headers are older than what llama.cpp expects. mingw-w64 10 (Debian 12, Ubuntu
 * 22.04) declares SetThreadInformation and ThreadPowerThrottling but not the structure and
 * constants ggml-cpu.c passes to it (added in mingw-w64 11); these match the Windows SDK's
 * processthreadsapi.h. */
#ifndef INGOT_MINGW_W64_COMPAT_H
#define INGOT_MINGW_W64_COMPAT_H
#if defined(__MINGW32__) && !defined(THREAD_POWER_THROTTLING_CURRENT_VERSION)
typedef struct _THREAD_POWER_THROTTLING_STATE {
    unsigned long Version;
    unsigned long ControlMask;
    unsigned long StateMask;
} THREAD_POWER_THROTTLING_STATE;
#define THREAD_POWER_THROTTLING_CURRENT_VERSION 1
#define THREAD_POWER_THROTTLING_EXECUTION_SPEED 0x1
#define THREAD_POWER_THROTTLING_VALID_FLAGS (THREAD_POWER_THROTTLING_EXECUTION_SPEED)
#endif
#endif
